using Detector.Core.Postprocessing;
using NUnit.Framework;

namespace Detector.Core.Tests.Postprocessing;

[TestFixture]
public class NmsTests
{
    /// <summary>Every implementation: 0 is the scalar twin, the others the vector path at that width.</summary>
    private static readonly int[] s_allWidths = [0, 128, 256, 512];

    [Test]
    public void Two_overlapping_boxes_of_one_class_leave_the_better_one([ValueSource(nameof(s_allWidths))] int vectorBits)
    {
        CandidateBuffer boxes = Boxes(
            new Candidate(0, 0, 10, 10, 0.6f, 3),
            new Candidate(1, 1, 11, 11, 0.9f, 3));

        Run(boxes, 0.45f, classAgnostic: false, maxDetections: 100, vectorBits);

        Assert.That(Scores(boxes), Is.EqualTo(new[] { 0.9f }));
    }

    [Test]
    public void The_same_two_boxes_in_different_classes_both_stay_unless_agnostic([ValueSource(nameof(s_allWidths))] int vectorBits)
    {
        CandidateBuffer perClass = Boxes(new Candidate(0, 0, 10, 10, 0.6f, 3), new Candidate(1, 1, 11, 11, 0.9f, 4));
        CandidateBuffer agnostic = Boxes(new Candidate(0, 0, 10, 10, 0.6f, 3), new Candidate(1, 1, 11, 11, 0.9f, 4));

        Run(perClass, 0.45f, classAgnostic: false, maxDetections: 100, vectorBits);
        Run(agnostic, 0.45f, classAgnostic: true, maxDetections: 100, vectorBits);

        Assert.That(Scores(perClass), Is.EqualTo(new[] { 0.9f, 0.6f }), "per class: best first");
        Assert.That(Scores(agnostic), Is.EqualTo(new[] { 0.9f }), "agnostic");
    }

    [Test]
    public void A_box_whose_iou_is_exactly_the_threshold_is_kept([ValueSource(nameof(s_allWidths))] int vectorBits)
    {
        // [0,0,4,1] and [0,0,2,1]: intersection 2, union 4 + 2 - 2 = 4, IoU exactly 0.5. A third box, IoU 2/3,
        // is suppressed.
        CandidateBuffer boxes = Boxes(
            new Candidate(0, 0, 4, 1, 0.9f, 0),
            new Candidate(0, 0, 2, 1, 0.8f, 0),
            new Candidate(0, 0, 3, 1, 0.7f, 0));

        Run(boxes, 0.5f, classAgnostic: false, maxDetections: 100, vectorBits);

        Assert.That(Scores(boxes), Is.EqualTo(new[] { 0.9f, 0.8f }));
    }

    [Test]
    public void No_more_than_max_detections_are_kept_and_they_are_the_best([ValueSource(nameof(s_allWidths))] int vectorBits)
    {
        // 40 disjoint boxes with scores 0.01 .. 0.40 in scrambled order.
        var boxes = new CandidateBuffer();
        for (int i = 0; i < 40; i++)
        {
            int k = i * 17 % 40;
            boxes.Add(new Candidate(20 * k, 0, 20 * k + 10, 10, (k + 1) / 100f, 0));
        }

        Run(boxes, 0.45f, classAgnostic: false, maxDetections: 5, vectorBits);

        Assert.That(Scores(boxes), Is.EqualTo(new[] { 0.40f, 0.39f, 0.38f, 0.37f, 0.36f }));
    }

    [Test]
    public void Max_detections_of_zero_keeps_nothing_and_an_empty_input_stays_empty([ValueSource(nameof(s_allWidths))] int vectorBits)
    {
        CandidateBuffer some = Boxes(new Candidate(0, 0, 10, 10, 0.6f, 3));
        var none = new CandidateBuffer();

        Run(some, 0.45f, classAgnostic: false, maxDetections: 0, vectorBits);
        Run(none, 0.45f, classAgnostic: false, maxDetections: 100, vectorBits);

        Assert.That(some.Count, Is.Zero);
        Assert.That(none.Count, Is.Zero);
    }

    [Test]
    public void Equal_scores_keep_the_earlier_candidate([ValueSource(nameof(s_allWidths))] int vectorBits)
    {
        // Two identical-score, identical boxes: the first one in the input survives. -0 and +0 count as equal.
        CandidateBuffer boxes = Boxes(
            new Candidate(0, 0, 10, 10, 0.5f, 1),
            new Candidate(0, 0, 10, 10, 0.5f, 2),
            new Candidate(50, 0, 60, 10, -0f, 1),
            new Candidate(50, 0, 60, 10, 0f, 2));

        Run(boxes, 0.45f, classAgnostic: true, maxDetections: 100, vectorBits);

        Assert.That(boxes.AsSpan().ToArray().Select(c => c.ClassId), Is.EqualTo(new[] { 1, 1 }));
    }

    [Test]
    public void A_box_suppressed_by_a_suppressed_box_survives([ValueSource(nameof(s_allWidths))] int vectorBits)
    {
        // A overlaps B, B overlaps C, A does not overlap C: greedy NMS keeps A and C.
        CandidateBuffer boxes = Boxes(
            new Candidate(0, 0, 10, 10, 0.9f, 0),
            new Candidate(5, 0, 15, 10, 0.8f, 0),
            new Candidate(10, 0, 20, 10, 0.7f, 0));

        Run(boxes, 0.3f, classAgnostic: false, maxDetections: 100, vectorBits);

        Assert.That(Scores(boxes), Is.EqualTo(new[] { 0.9f, 0.7f }));
    }

    [Test]
    public void Zero_area_boxes_have_iou_zero_and_never_suppress([ValueSource(nameof(s_allWidths))] int vectorBits)
    {
        CandidateBuffer boxes = Boxes(new Candidate(5, 5, 5, 5, 0.9f, 0), new Candidate(5, 5, 5, 5, 0.8f, 0));

        Run(boxes, 0f, classAgnostic: false, maxDetections: 100, vectorBits);

        Assert.That(boxes.Count, Is.EqualTo(2));
    }

    [Test]
    public void Each_vector_width_keeps_the_same_boxes_in_the_same_order_as_the_scalar_reference(
        [Range(1, 70)] int count, [Values(128, 256, 512)] int vectorBits, [Values] bool classAgnostic)
    {
        foreach (BoxLayout layout in Enum.GetValues<BoxLayout>())
        {
            AssertVectorMatchesScalar(count, (SimdWidth)vectorBits, classAgnostic, layout, seed: count * 7919 + (int)layout);
        }
    }

    [Test]
    public void Each_vector_width_keeps_the_same_boxes_as_the_scalar_reference_for_8400_candidates(
        [Values(128, 256, 512)] int vectorBits, [Values] bool classAgnostic, [Values] BoxLayout layout)
    {
        AssertVectorMatchesScalar(8400, (SimdWidth)vectorBits, classAgnostic, layout, seed: 8400 + (int)layout);
    }

    [Test]
    public void The_public_nms_agrees_with_its_scalar_twin_on_a_crowded_frame([Values] bool classAgnostic)
    {
        CandidateBuffer expected = RandomBoxes(seed: 3, 3000, BoxLayout.Crowded);
        CandidateBuffer actual = RandomBoxes(seed: 3, 3000, BoxLayout.Crowded);

        Nms.ApplyScalar(expected, 0.45f, classAgnostic, 300, new NmsScratch());
        Nms.Apply(actual, 0.45f, classAgnostic, 300, new NmsScratch());

        TestTensors.AssertIdentical(expected, actual, $"best width {SimdWidths.Best}");
        Assert.That(expected.Count, Is.InRange(2, 300));
    }

    [Test]
    public void Kept_boxes_of_one_class_never_overlap_beyond_the_threshold_and_every_dropped_box_was_overlapped(
        [Values(5, 64, 500)] int count, [Values] bool classAgnostic, [Values(BoxLayout.Spread, BoxLayout.Crowded)] BoxLayout layout)
    {
        // The reference IoU here is computed in double, the code under test in float: a pair whose IoU is the
        // threshold to within float rounding may fall either way, hence the tolerance.
        const float iouThreshold = 0.45f;
        const double tolerance = 1e-6;
        CandidateBuffer input = RandomBoxes(seed: count + (int)layout, count, layout);
        Candidate[] before = input.AsSpan().ToArray();
        Nms.Apply(input, iouThreshold, classAgnostic, int.MaxValue, new NmsScratch());
        Candidate[] kept = input.AsSpan().ToArray();

        bool Competes(in Candidate a, in Candidate b) => classAgnostic || a.ClassId == b.ClassId;

        for (int i = 0; i < kept.Length; i++)
        {
            for (int j = i + 1; j < kept.Length; j++)
            {
                Assert.That(kept[j].Score, Is.LessThanOrEqualTo(kept[i].Score), "best first");
                if (Competes(kept[i], kept[j]))
                {
                    Assert.That(Iou(kept[i], kept[j]), Is.LessThanOrEqualTo(iouThreshold + tolerance), $"kept {i} and {j} overlap");
                }
            }
        }

        int dropped = 0;
        foreach (Candidate c in before)
        {
            if (Array.IndexOf(kept, c) >= 0)
            {
                continue;
            }

            dropped++;
            Assert.That(
                kept.Any(k => Competes(k, c) && k.Score >= c.Score && Iou(k, c) > iouThreshold - tolerance),
                Is.True,
                $"{TestTensors.Describe(c)} was dropped without a better overlapping box");
        }

        Assert.That(kept.Length + dropped, Is.EqualTo(before.Length));
    }

    [Test]
    public void The_scratch_grows_to_the_largest_input_it_has_seen()
    {
        var scratch = new NmsScratch(16);
        CandidateBuffer boxes = RandomBoxes(seed: 1, 1000, BoxLayout.Spread);

        Nms.Apply(boxes, 0.45f, false, 300, scratch);

        Assert.That(scratch.Capacity, Is.GreaterThanOrEqualTo(1000));
    }

    /// <summary>How random test boxes are laid out.</summary>
    public enum BoxLayout
    {
        /// <summary>Boxes of many sizes over a 640 x 640 frame, 80 classes: little suppression.</summary>
        Spread,

        /// <summary>Boxes on a coarse 8 px lattice around a few centres, 3 classes, scores in 1/8 steps:
        /// heavy suppression, exact duplicates, IoUs exactly at the threshold, equal scores.</summary>
        Crowded,

        /// <summary>Crowded plus zero-size, inverted and NaN boxes and NaN scores.</summary>
        Degenerate,
    }

    internal static CandidateBuffer RandomBoxes(int seed, int count, BoxLayout layout)
    {
        var random = new Random(seed);
        var boxes = new CandidateBuffer(count);
        for (int i = 0; i < count; i++)
        {
            Candidate c;
            if (layout == BoxLayout.Spread)
            {
                float x = 640f * random.NextSingle(), y = 640f * random.NextSingle();
                c = new Candidate(x, y, x + 5f + 200f * random.NextSingle(), y + 5f + 200f * random.NextSingle(), random.NextSingle(), random.Next(80));
            }
            else
            {
                float cx = 160 * random.Next(4), cy = 160 * random.Next(4);
                float x1 = cx + 8 * random.Next(8), y1 = cy + 8 * random.Next(8);
                c = new Candidate(x1, y1, x1 + 8 * random.Next(1, 12), y1 + 8 * random.Next(1, 12), random.Next(1, 9) / 8f, random.Next(3));
                if (layout == BoxLayout.Degenerate && random.Next(8) == 0)
                {
                    switch (random.Next(5))
                    {
                        case 0: c.X2 = c.X1; break;
                        case 1: (c.Y1, c.Y2) = (c.Y2, c.Y1); break;
                        case 2: c.X1 = float.NaN; break;
                        case 3: c.Score = float.NaN; break;
                        default: c.Y2 = float.PositiveInfinity; break;
                    }
                }
            }

            boxes.Add(c);
        }

        return boxes;
    }

    private static void AssertVectorMatchesScalar(int count, SimdWidth width, bool classAgnostic, BoxLayout layout, int seed)
    {
        CandidateBuffer expected = RandomBoxes(seed, count, layout);
        CandidateBuffer actual = RandomBoxes(seed, count, layout);

        Nms.ApplyScalar(expected, 0.5f, classAgnostic, 1000, new NmsScratch());
        Nms.Apply(actual, 0.5f, classAgnostic, 1000, new NmsScratch(), width);

        TestTensors.AssertIdentical(expected, actual, $"{width}, {count} boxes, {layout}, agnostic {classAgnostic}");
    }

    private static void Run(CandidateBuffer boxes, float iouThreshold, bool classAgnostic, int maxDetections, int vectorBits)
    {
        if (vectorBits == 0)
        {
            Nms.ApplyScalar(boxes, iouThreshold, classAgnostic, maxDetections, new NmsScratch());
        }
        else
        {
            Nms.Apply(boxes, iouThreshold, classAgnostic, maxDetections, new NmsScratch(), (SimdWidth)vectorBits);
        }
    }

    private static CandidateBuffer Boxes(params Candidate[] candidates)
    {
        var buffer = new CandidateBuffer();
        foreach (Candidate c in candidates)
        {
            buffer.Add(c);
        }

        return buffer;
    }

    private static float[] Scores(CandidateBuffer boxes) => boxes.AsSpan().ToArray().Select(c => c.Score).ToArray();

    /// <summary>IoU in double, independently of the code under test.</summary>
    private static double Iou(in Candidate a, in Candidate b)
    {
        double w = Math.Max(0, Math.Min(a.X2, b.X2) - Math.Max(a.X1, b.X1));
        double h = Math.Max(0, Math.Min(a.Y2, b.Y2) - Math.Max(a.Y1, b.Y1));
        double inter = w * h;
        double union = (double)a.Area + b.Area - inter;
        return union == 0 ? 0 : inter / union;
    }
}
