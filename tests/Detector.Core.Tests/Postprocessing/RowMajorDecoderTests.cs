using Detector.Core.Models;
using Detector.Core.Postprocessing;
using NUnit.Framework;

namespace Detector.Core.Tests.Postprocessing;

[TestFixture]
public class RowMajorDecoderTests
{
    private static readonly OutputFamily[] s_families = [OutputFamily.Yolox, OutputFamily.YoloV5, OutputFamily.YoloV5Decoded];

    [Test]
    public void Each_vector_width_finds_the_same_candidates_as_the_scalar_reference_for_1_to_70_rows(
        [Range(1, 70)] int rows, [Values(128, 256, 512)] int vectorBits, [Values] ScoreLayout layout)
    {
        foreach (OutputFamily family in s_families)
        {
            AssertVectorMatchesScalar(family, 80, rows, (SimdWidth)vectorBits, layout, seed: rows * 7919 + (int)layout);
        }
    }

    [Test]
    public void Each_vector_width_finds_the_same_candidates_as_the_scalar_reference_for_1_to_70_classes(
        [Range(1, 70)] int classes, [Values(128, 256, 512)] int vectorBits, [Values] ScoreLayout layout)
    {
        // The vector work in this decoder runs along a row's classes, so the class count is what meets the
        // vector widths: below one vector, whole vectors, and every possible tail length.
        AssertVectorMatchesScalar(OutputFamily.YoloV5, classes, 200, (SimdWidth)vectorBits, layout, seed: classes * 104729 + (int)layout);
    }

    [Test]
    public void Each_vector_width_finds_the_same_candidates_as_the_scalar_reference_for_8400_rows(
        [Values(128, 256, 512)] int vectorBits, [Values] ScoreLayout layout)
    {
        AssertVectorMatchesScalar(OutputFamily.Yolox, 80, 8400, (SimdWidth)vectorBits, layout, seed: 8400 + (int)layout);
    }

    [Test]
    public void The_public_decoder_agrees_with_its_scalar_twin_on_full_frames_of_the_real_models()
    {
        int[] strides = [8, 16, 32];
        GridTable yolox = GridTable.ForYolox(416, 416, strides);
        GridTable v5 = GridTable.ForYoloV5(320, 320, strides, GridTableTests.V5Anchors);
        foreach ((OutputFamily family, GridTable? grid, int rows) in new[]
                 {
                     (OutputFamily.Yolox, (GridTable?)yolox, 3549), (OutputFamily.YoloV5, v5, 6300), (OutputFamily.YoloV5Decoded, null, 6300),
                 })
        {
            float[] output = TestTensors.RowMajorOutput(seed: rows, 80, rows, ScoreLayout.FewObjects);
            var expected = new CandidateBuffer();
            var actual = new CandidateBuffer();

            RowMajorDecoder.DecodeScalar(output, rows, 80, family, grid, TestTensors.Threshold, expected);
            RowMajorDecoder.Decode(output, rows, 80, family, grid, TestTensors.Threshold, actual);

            TestTensors.AssertIdentical(expected, actual, $"{family}");
            Assert.That(expected.Count, Is.GreaterThan(10), $"{family}: the frame should hold some hits");
        }
    }

    [Test]
    public void A_yolox_row_decodes_with_its_cell_and_stride([Values(0, 128, 256, 512)] int vectorBits)
    {
        // Level stride 16 starts at row 52*52 = 2704 and is 26 cells wide: gx 5, gy 3 is row 2704 + 3*26 + 5.
        GridTable grid = GridTable.ForYolox(416, 416, [8, 16, 32]);
        const int row = 2704 + 3 * 26 + 5;
        float[] output = new float[3549 * 85];
        Span<float> r = output.AsSpan(row * 85, 85);
        r[0] = 0.5f;              // cx = (0.5 + 5) * 16 = 88
        r[1] = 0.25f;             // cy = (0.25 + 3) * 16 = 52
        r[2] = MathF.Log(2f);     // w = exp(ln 2) * 16 = 32
        r[3] = 0f;                // h = exp(0) * 16 = 16
        r[4] = 0.8f;
        r[5 + 7] = 0.5f;          // score = 0.8 * 0.5 = 0.4, class 7

        var dest = new CandidateBuffer();
        RowMajorDecoder.Decode(output, 3549, 80, OutputFamily.Yolox, grid, 0.25f, dest, (SimdWidth)vectorBits);

        Assert.That(dest.Count, Is.EqualTo(1));
        AssertBox(dest[0], 72f, 44f, 104f, 60f, 0.4f, 7);
    }

    [Test]
    public void A_yolov5_row_decodes_with_its_cell_stride_and_anchor([Values(0, 128, 256, 512)] int vectorBits)
    {
        // Level stride 16 (20x20) starts at row 3*40*40 = 4800; its anchor 2 is (59, 119) and starts 2*400 rows
        // later; gx 4, gy 7 adds 7*20 + 4.
        GridTable grid = GridTable.ForYoloV5(320, 320, [8, 16, 32], GridTableTests.V5Anchors);
        const int row = 4800 + 2 * 400 + 7 * 20 + 4;
        float[] output = new float[6300 * 85];
        Span<float> r = output.AsSpan(row * 85, 85);
        r[0] = 0.5f;              // cx = (2*0.5 - 0.5 + 4) * 16 = 72
        r[1] = 0.75f;             // cy = (2*0.75 - 0.5 + 7) * 16 = 128
        r[2] = 0.5f;              // w = (2*0.5)^2 * 59 = 59
        r[3] = 0.25f;             // h = (2*0.25)^2 * 119 = 29.75
        r[4] = 0.9f;
        r[5 + 2] = 0.5f;          // class 2 at 0.5 ...
        r[5 + 3] = 0.5f;          // ... tied with class 3: the earlier one wins; score 0.45

        var dest = new CandidateBuffer();
        RowMajorDecoder.Decode(output, 6300, 80, OutputFamily.YoloV5, grid, 0.25f, dest, (SimdWidth)vectorBits);

        Assert.That(dest.Count, Is.EqualTo(1));
        AssertBox(dest[0], 72f - 29.5f, 128f - 14.875f, 72f + 29.5f, 128f + 14.875f, 0.45f, 2);
    }

    [Test]
    public void A_decoded_yolov5_row_is_already_centre_and_size_in_pixels([Values(0, 128, 256, 512)] int vectorBits)
    {
        float[] output = new float[2 * 85];
        Span<float> r = output.AsSpan(85, 85);
        r[0] = 200f;
        r[1] = 100f;
        r[2] = 50f;
        r[3] = 40f;
        r[4] = 1f;
        r[5 + 79] = 0.3f;

        var dest = new CandidateBuffer();
        RowMajorDecoder.Decode(output, 2, 80, OutputFamily.YoloV5Decoded, null, 0.25f, dest, (SimdWidth)vectorBits);

        Assert.That(dest.Count, Is.EqualTo(1));
        AssertBox(dest[0], 175f, 80f, 225f, 120f, 0.3f, 79);
    }

    [Test]
    public void A_row_whose_objectness_misses_the_threshold_is_dropped_even_with_a_sure_class()
    {
        float[] output = new float[85];
        output[4] = 0.2f;
        output[5] = 1f;
        var dest = new CandidateBuffer();

        RowMajorDecoder.Decode(output, 1, 80, OutputFamily.YoloV5Decoded, null, 0.25f, dest);

        Assert.That(dest.Count, Is.Zero);
    }

    [Test]
    public void A_grid_that_does_not_match_the_row_count_or_a_missing_grid_is_rejected()
    {
        var dest = new CandidateBuffer();
        float[] output = new float[10 * 85];
        GridTable grid = GridTable.ForYolox(88, 8, [8]);

        Assert.That(() => RowMajorDecoder.Decode(output, 10, 80, OutputFamily.Yolox, grid, 0.25f, dest), Throws.ArgumentException);
        Assert.That(() => RowMajorDecoder.Decode(output, 10, 80, OutputFamily.YoloV5, null, 0.25f, dest), Throws.ArgumentNullException);
        Assert.That(() => RowMajorDecoder.Decode(output, 10, 80, OutputFamily.YoloV8, null, 0.25f, dest), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    private static void AssertVectorMatchesScalar(OutputFamily family, int classes, int rows, SimdWidth width, ScoreLayout layout, int seed)
    {
        float[] output = TestTensors.RowMajorOutput(seed, classes, rows, layout);
        GridTable? grid = TestTensors.GridFor(family, rows);
        var expected = new CandidateBuffer();
        var actual = new CandidateBuffer();

        RowMajorDecoder.DecodeScalar(output, rows, classes, family, grid, TestTensors.Threshold, expected);
        RowMajorDecoder.Decode(output, rows, classes, family, grid, TestTensors.Threshold, actual, width);

        TestTensors.AssertIdentical(expected, actual, $"{family} {width}, {classes} classes, {rows} rows, {layout}");
    }

    private static void AssertBox(Candidate c, float x1, float y1, float x2, float y2, float score, int classId)
    {
        // The formulas' float rounding (exp, products) stays well inside 1e-4 px here.
        Assert.That(c.X1, Is.EqualTo(x1).Within(1e-4f), "x1");
        Assert.That(c.Y1, Is.EqualTo(y1).Within(1e-4f), "y1");
        Assert.That(c.X2, Is.EqualTo(x2).Within(1e-4f), "x2");
        Assert.That(c.Y2, Is.EqualTo(y2).Within(1e-4f), "y2");
        Assert.That(c.Score, Is.EqualTo(score).Within(1e-6f), "score");
        Assert.That(c.ClassId, Is.EqualTo(classId), "class");
    }
}
