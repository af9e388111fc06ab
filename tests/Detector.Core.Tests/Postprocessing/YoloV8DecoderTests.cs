using Detector.Core.Postprocessing;
using NUnit.Framework;

namespace Detector.Core.Tests.Postprocessing;

[TestFixture]
public class YoloV8DecoderTests
{
    private const int Classes = 80;

    [Test]
    public void Each_vector_width_finds_the_same_candidates_as_the_scalar_reference_for_1_to_70_anchors(
        [Range(1, 70)] int anchors, [Values(128, 256, 512)] int vectorBits, [Values] ScoreLayout layout)
    {
        AssertVectorMatchesScalar(Classes, anchors, (SimdWidth)vectorBits, layout, seed: anchors * 7919 + (int)layout);
    }

    [Test]
    public void Each_vector_width_finds_the_same_candidates_as_the_scalar_reference_for_8400_anchors(
        [Values(128, 256, 512)] int vectorBits, [Values] ScoreLayout layout)
    {
        AssertVectorMatchesScalar(Classes, 8400, (SimdWidth)vectorBits, layout, seed: 8400 + (int)layout);
    }

    [Test]
    public void Each_vector_width_finds_the_same_candidates_as_the_scalar_reference_for_few_or_odd_class_counts(
        [Values(1, 2, 7, 33)] int classes, [Values(3, 31, 67, 130)] int anchors, [Values(128, 256, 512)] int vectorBits)
    {
        AssertVectorMatchesScalar(classes, anchors, (SimdWidth)vectorBits, ScoreLayout.Ties, seed: classes * 31 + anchors);
    }

    [Test]
    public void The_public_decoder_agrees_with_its_scalar_twin_on_a_full_frame([Values] ScoreLayout layout)
    {
        float[] output = TestTensors.YoloV8Output(seed: 42 + (int)layout, Classes, 8400, layout);
        var expected = new CandidateBuffer();
        var actual = new CandidateBuffer();

        YoloV8Decoder.DecodeScalar(output, Classes, 8400, TestTensors.Threshold, expected);
        YoloV8Decoder.Decode(output, Classes, 8400, TestTensors.Threshold, actual);

        TestTensors.AssertIdentical(expected, actual, $"best width {SimdWidths.Best}");
        if (layout == ScoreLayout.FewObjects)
        {
            Assert.That(expected.Count, Is.InRange(100, 1000), "a sparse frame should hold a few hundred hits");
        }
    }

    [Test]
    public void A_hand_built_anchor_decodes_to_centre_plus_minus_half_the_size()
    {
        // [4+3, 5]: anchor 2 holds class 1 at 0.9 with cx 100, cy 50, w 20, h 10; everything else scores 0.1.
        const int classes = 3, anchors = 5;
        float[] output = Filled((4 + classes) * anchors, 0.1f);
        SetBox(output, anchors, anchor: 2, cx: 100f, cy: 50f, w: 20f, h: 10f);
        output[(4 + 1) * anchors + 2] = 0.9f;

        var dest = new CandidateBuffer();
        YoloV8Decoder.Decode(output, classes, anchors, 0.25f, dest);

        Assert.That(dest.Count, Is.EqualTo(1));
        Candidate c = dest[0];
        Assert.That((c.X1, c.Y1, c.X2, c.Y2), Is.EqualTo((90f, 45f, 110f, 55f)));
        Assert.That(c.ClassId, Is.EqualTo(1));
        Assert.That(c.Score, Is.EqualTo(0.9f));
    }

    [Test]
    public void A_score_exactly_at_the_threshold_is_kept_and_ties_go_to_the_earlier_class(
        [Values(0, 128, 256, 512)] int vectorBits)
    {
        // 20 anchors so that the vector widths run whole vectors and a scalar tail; anchor 17 is in the tail
        // for every width, anchor 3 in the first vector.
        const int classes = 4, anchors = 20;
        float[] output = Filled((4 + classes) * anchors, 0f);
        foreach (int anchor in new[] { 3, 17 })
        {
            SetBox(output, anchors, anchor, cx: 10f * anchor, cy: 5f, w: 4f, h: 2f);
            output[(4 + 2) * anchors + anchor] = 0.5f;
            output[(4 + 3) * anchors + anchor] = 0.5f;
        }

        var dest = new CandidateBuffer();
        YoloV8Decoder.Decode(output, classes, anchors, 0.5f, dest, (SimdWidth)vectorBits);

        Assert.That(dest.Count, Is.EqualTo(2));
        Assert.That(dest[0].ClassId, Is.EqualTo(2));
        Assert.That(dest[0].X1, Is.EqualTo(28f));
        Assert.That(dest[1].ClassId, Is.EqualTo(2));
        Assert.That(dest[1].X1, Is.EqualTo(168f));
    }

    [Test]
    public void An_output_of_the_wrong_length_is_rejected()
    {
        var dest = new CandidateBuffer();
        Assert.That(() => YoloV8Decoder.Decode(new float[83 * 10], 80, 10, 0.25f, dest), Throws.ArgumentException);
    }

    [Test]
    public void Decoding_appends_to_the_buffer_without_clearing_it()
    {
        float[] output = Filled(5 * 1, 1f);
        var dest = new CandidateBuffer();
        dest.Add(new Candidate(1, 2, 3, 4, 0.5f, 9));

        YoloV8Decoder.Decode(output, 1, 1, 0.25f, dest);

        Assert.That(dest.Count, Is.EqualTo(2));
        Assert.That(dest[0].ClassId, Is.EqualTo(9));
    }

    private static void AssertVectorMatchesScalar(int classes, int anchors, SimdWidth width, ScoreLayout layout, int seed)
    {
        float[] output = TestTensors.YoloV8Output(seed, classes, anchors, layout);
        var expected = new CandidateBuffer();
        var actual = new CandidateBuffer();

        YoloV8Decoder.DecodeScalar(output, classes, anchors, TestTensors.Threshold, expected);
        YoloV8Decoder.Decode(output, classes, anchors, TestTensors.Threshold, actual, width);

        TestTensors.AssertIdentical(expected, actual, $"{width}, {classes} classes, {anchors} anchors, {layout}");
    }

    private static float[] Filled(int length, float value)
    {
        var values = new float[length];
        Array.Fill(values, value);
        return values;
    }

    private static void SetBox(float[] output, int anchors, int anchor, float cx, float cy, float w, float h)
    {
        output[anchor] = cx;
        output[anchors + anchor] = cy;
        output[2 * anchors + anchor] = w;
        output[3 * anchors + anchor] = h;
    }
}
