using Detector.Core.Postprocessing;
using NUnit.Framework;

namespace Detector.Core.Tests.Postprocessing;

[TestFixture]
public class RawHeadDecoderTests
{
    private const int Classes = 80;

    /// <summary>Yolo-FastestV2's stride-16 anchors (weights/README.md).</summary>
    private static readonly float[] s_anchors16 = [12.64f, 19.39f, 37.88f, 51.48f, 55.71f, 138.31f];

    private static readonly float[] s_thresholds = [0.25f, 0.5f, 0.001f, 0.999f];

    [Test]
    public void Each_vector_width_finds_the_same_candidates_as_the_scalar_reference_for_1_to_70_cells(
        [Range(1, 70)] int cells, [Values(128, 256, 512)] int vectorBits, [Values] ScoreLayout layout)
    {
        // A 1 x cells plane walks the cell count through every vector width and tail length; a 2-row plane
        // checks that gy follows.
        foreach (float threshold in s_thresholds)
        {
            AssertVectorMatchesScalar(1, cells, (SimdWidth)vectorBits, layout, threshold, seed: cells * 7919 + (int)layout);
        }

        AssertVectorMatchesScalar(2, cells, (SimdWidth)vectorBits, layout, 0.25f, seed: cells * 31 + (int)layout);
    }

    [Test]
    public void Each_vector_width_finds_the_same_candidates_as_the_scalar_reference_on_the_real_grids(
        [Values(22, 11)] int size, [Values(128, 256, 512)] int vectorBits, [Values] ScoreLayout layout)
    {
        foreach (float threshold in s_thresholds)
        {
            AssertVectorMatchesScalar(size, size, (SimdWidth)vectorBits, layout, threshold, seed: size + (int)layout);
        }
    }

    [Test]
    public void Each_vector_width_agrees_with_the_scalar_reference_at_extreme_thresholds(
        [Values(0f, -1f, 1e-7f, 0.999999f, 1f, 2f, float.NaN)] float threshold, [Values(128, 256, 512)] int vectorBits)
    {
        foreach (ScoreLayout layout in Enum.GetValues<ScoreLayout>())
        {
            AssertVectorMatchesScalar(5, 13, (SimdWidth)vectorBits, layout, threshold, seed: 5 + (int)layout);
        }
    }

    [Test]
    public void The_public_decoder_agrees_with_its_scalar_twin_on_a_level([Values] ScoreLayout layout)
    {
        var (reg, obj, cls) = TestTensors.RawHeadLevel(seed: 7, 22, 22, 3, Classes, 0.25f, layout);
        var expected = new CandidateBuffer();
        var actual = new CandidateBuffer();

        RawHeadDecoder.DecodeLevelScalar(reg, obj, cls, 22, 22, Classes, 16, s_anchors16, 0.25f, expected);
        RawHeadDecoder.DecodeLevel(reg, obj, cls, 22, 22, Classes, 16, s_anchors16, 0.25f, actual);

        TestTensors.AssertIdentical(expected, actual, $"best width {SimdWidths.Best}, {layout}");
        if (layout is ScoreLayout.FewObjects or ScoreLayout.ManyObjects)
        {
            Assert.That(expected.Count, Is.GreaterThan(layout == ScoreLayout.FewObjects ? 3 : 100), "the level should hold some hits");
        }
    }

    [Test]
    public void No_logit_below_the_prefilter_bound_can_reach_the_threshold(
        [Values(1e-30f, 1e-6f, 0.001f, 0.1f, 0.25f, 0.4f, 0.5f, 0.6f, 0.9f, 0.99f, 0.999f, 0.9999f, 0.99999f, 0.99999994f, 1f)] float threshold)
    {
        // The vector pre-filter skips a cell when all its objectness logits are below this bound, so no float
        // below it may have a float sigmoid at or above the threshold. Checks the 20000 floats just below the
        // bound and an even sweep of the 10 logit units below that.
        float bound = DecodeMath.LogitLowerBound(threshold);
        float x = bound;
        for (int i = 0; i < 20000; i++)
        {
            x = MathF.BitDecrement(x);
            Assert.That(DecodeMath.Sigmoid(x), Is.LessThan(threshold), $"logit {x:R} below bound {bound:R}");
        }

        for (int i = 1; i <= 100000; i++)
        {
            float y = x - i * 1e-4f;
            Assert.That(DecodeMath.Sigmoid(y), Is.LessThan(threshold), $"logit {y:R} below bound {bound:R}");
        }
    }

    [Test]
    public void The_prefilter_bound_sits_just_below_the_logit_of_the_threshold()
    {
        // Not so low that it lets everything through: within a few hundredths of the exact logit.
        Assert.That(DecodeMath.LogitLowerBound(0.5f), Is.LessThan(0f).And.GreaterThan(-0.05f));
        Assert.That(DecodeMath.LogitLowerBound(0.25f), Is.LessThan(-MathF.Log(3f)).And.GreaterThan(-MathF.Log(3f) - 0.05f));
        Assert.That(DecodeMath.LogitLowerBound(0f), Is.EqualTo(float.NegativeInfinity));
    }

    [Test]
    public void A_hand_built_cell_decodes_with_sigmoid_softmax_grid_and_anchor([Values(0, 128, 256, 512)] int vectorBits)
    {
        // A 2 x 3 level at stride 16 with 4 classes; cell (gx 2, gy 1) is cell 5 and only its anchor 1 fires.
        const int h = 2, w = 3, cells = 6, classes = 4, cell = 5, anchor = 1;
        float[] reg = new float[3 * 4 * cells];
        float[] obj = Enumerable.Repeat(-10f, 3 * cells).ToArray();
        float[] cls = new float[classes * cells];
        reg[(anchor * 4 + 0) * cells + cell] = 0f;              // sigmoid 0.5: cx = (2*0.5 - 0.5 + 2) * 16 = 40
        reg[(anchor * 4 + 1) * cells + cell] = 0f;              // cy = (2*0.5 - 0.5 + 1) * 16 = 24
        reg[(anchor * 4 + 2) * cells + cell] = 0f;              // w = (2*0.5)^2 * 37.88 = 37.88
        reg[(anchor * 4 + 3) * cells + cell] = MathF.Log(3f);   // sigmoid 0.75: h = (2*0.75)^2 * 51.48 = 115.83
        obj[anchor * cells + cell] = MathF.Log(9f);             // sigmoid 0.9
        cls[1 * cells + cell] = MathF.Log(3f);                  // softmax of (0, ln 3, 0, 0) = (1, 3, 1, 1) / 6: class 1 at 0.5

        var dest = new CandidateBuffer();
        RawHeadDecoder.DecodeLevel(reg, obj, cls, h, w, classes, 16, s_anchors16, 0.25f, dest, (SimdWidth)vectorBits);

        Assert.That(dest.Count, Is.EqualTo(1));
        Candidate c = dest[0];
        Assert.That(c.X1, Is.EqualTo(40f - 37.88f / 2).Within(1e-3f), "x1");
        Assert.That(c.Y1, Is.EqualTo(24f - 115.83f / 2).Within(1e-3f), "y1");
        Assert.That(c.X2, Is.EqualTo(40f + 37.88f / 2).Within(1e-3f), "x2");
        Assert.That(c.Y2, Is.EqualTo(24f + 115.83f / 2).Within(1e-3f), "y2");
        Assert.That(c.Score, Is.EqualTo(0.45f).Within(1e-6f), "score = 0.9 * 0.5");
        Assert.That(c.ClassId, Is.EqualTo(1));
    }

    [Test]
    public void A_cell_whose_softmax_is_spread_thin_is_dropped_despite_a_sure_objectness()
    {
        // Objectness sigmoid(20) ~ 1, but 80 equal class logits give each class 1/80.
        float[] reg = new float[12];
        float[] obj = [20f, -20f, -20f];
        float[] cls = new float[Classes];
        var dest = new CandidateBuffer();

        RawHeadDecoder.DecodeLevel(reg, obj, cls, 1, 1, Classes, 32, s_anchors16, 0.25f, dest);

        Assert.That(dest.Count, Is.Zero);
    }

    [Test]
    public void Planes_of_the_wrong_size_are_rejected()
    {
        var dest = new CandidateBuffer();
        Assert.That(
            () => RawHeadDecoder.DecodeLevel(new float[11 * 4], new float[3 * 4], new float[Classes * 4], 2, 2, Classes, 16, s_anchors16, 0.25f, dest),
            Throws.ArgumentException);
        Assert.That(
            () => RawHeadDecoder.DecodeLevel(new float[12 * 4], new float[3 * 4], new float[Classes * 4], 2, 2, Classes, 16, [1f, 2f, 3f], 0.25f, dest),
            Throws.ArgumentException);
    }

    private static void AssertVectorMatchesScalar(int h, int w, SimdWidth width, ScoreLayout layout, float threshold, int seed)
    {
        var (reg, obj, cls) = TestTensors.RawHeadLevel(seed, h, w, 3, Classes, threshold, layout);
        var expected = new CandidateBuffer();
        var actual = new CandidateBuffer();

        RawHeadDecoder.DecodeLevelScalar(reg, obj, cls, h, w, Classes, 16, s_anchors16, threshold, expected);
        RawHeadDecoder.DecodeLevel(reg, obj, cls, h, w, Classes, 16, s_anchors16, threshold, actual, width);

        TestTensors.AssertIdentical(expected, actual, $"{width}, {h}x{w}, {layout}, threshold {threshold:R}");
    }
}
