using Detector.Core.Models;
using Detector.Core.Postprocessing;
using NUnit.Framework;

namespace Detector.Core.Tests.Postprocessing;

/// <summary>
/// The per-frame path must not allocate once its buffers have grown to the busiest frame: each function is
/// called once to warm up (JIT, buffer growth), then the bytes this thread allocates around a second call
/// must be zero.
/// </summary>
[TestFixture]
[NonParallelizable]
public class AllocationTests
{
    [Test]
    public void The_yolov8_decoder_allocates_nothing_after_warm_up([Values] bool scalar)
    {
        float[] output = TestTensors.YoloV8Output(seed: 1, 80, 8400, ScoreLayout.FewObjects);
        var dest = new CandidateBuffer(16);

        long bytes = AllocatedBySecondCall(() =>
        {
            dest.Clear();
            if (scalar)
            {
                YoloV8Decoder.DecodeScalar(output, 80, 8400, 0.25f, dest);
            }
            else
            {
                YoloV8Decoder.Decode(output, 80, 8400, 0.25f, dest);
            }
        });

        Assert.That(dest.Count, Is.GreaterThan(16), "the warm-up call had to grow the buffer");
        Assert.That(bytes, Is.Zero);
    }

    [Test]
    public void The_row_major_decoder_allocates_nothing_after_warm_up(
        [Values(OutputFamily.Yolox, OutputFamily.YoloV5, OutputFamily.YoloV5Decoded)] OutputFamily family, [Values] bool scalar)
    {
        float[] output = TestTensors.RowMajorOutput(seed: 1, 80, 3549, ScoreLayout.FewObjects);
        GridTable? grid = TestTensors.GridFor(family, 3549);
        var dest = new CandidateBuffer(16);

        long bytes = AllocatedBySecondCall(() =>
        {
            dest.Clear();
            if (scalar)
            {
                RowMajorDecoder.DecodeScalar(output, 3549, 80, family, grid, 0.25f, dest);
            }
            else
            {
                RowMajorDecoder.Decode(output, 3549, 80, family, grid, 0.25f, dest);
            }
        });

        Assert.That(dest.Count, Is.GreaterThan(16), "the warm-up call had to grow the buffer");
        Assert.That(bytes, Is.Zero);
    }

    [Test]
    public void The_raw_head_decoder_allocates_nothing_after_warm_up([Values] bool scalar)
    {
        var (reg, obj, cls) = TestTensors.RawHeadLevel(seed: 1, 22, 22, 3, 80, 0.25f, ScoreLayout.ManyObjects);
        float[] anchors = [12.64f, 19.39f, 37.88f, 51.48f, 55.71f, 138.31f];
        var dest = new CandidateBuffer(16);

        long bytes = AllocatedBySecondCall(() =>
        {
            dest.Clear();
            if (scalar)
            {
                RawHeadDecoder.DecodeLevelScalar(reg, obj, cls, 22, 22, 80, 16, anchors, 0.25f, dest);
            }
            else
            {
                RawHeadDecoder.DecodeLevel(reg, obj, cls, 22, 22, 80, 16, anchors, 0.25f, dest);
            }
        });

        Assert.That(dest.Count, Is.GreaterThan(16), "the warm-up call had to grow the buffer");
        Assert.That(bytes, Is.Zero);
    }

    [Test]
    public void Nms_allocates_nothing_after_warm_up([Values] bool scalar)
    {
        Candidate[] input = NmsTests.RandomBoxes(seed: 1, 2000, NmsTests.BoxLayout.Crowded).AsSpan().ToArray();
        var boxes = new CandidateBuffer(input.Length);
        var scratch = new NmsScratch(16);

        long bytes = AllocatedBySecondCall(() =>
        {
            boxes.Clear();
            foreach (Candidate c in input)
            {
                boxes.Add(c);
            }

            if (scalar)
            {
                Nms.ApplyScalar(boxes, 0.45f, false, 300, scratch);
            }
            else
            {
                Nms.Apply(boxes, 0.45f, false, 300, scratch);
            }
        });

        Assert.That(scratch.Capacity, Is.GreaterThanOrEqualTo(2000), "the warm-up call had to grow the scratch");
        Assert.That(boxes.Count, Is.GreaterThan(1));
        Assert.That(bytes, Is.Zero);
    }

    private static long AllocatedBySecondCall(Action call)
    {
        call();
        long before = GC.GetAllocatedBytesForCurrentThread();
        call();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
