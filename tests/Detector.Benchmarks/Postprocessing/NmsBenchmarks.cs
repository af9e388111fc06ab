using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Detector.Core.Postprocessing;
using OpenCvSharp;
using OpenCvSharp.Dnn;

namespace Detector.Benchmarks.Postprocessing;

/// <summary>
/// NMS alone against OpenCV's <see cref="CvDnn.NMSBoxes(IEnumerable{Rect2d}, IEnumerable{float}, float, float, out int[], float, int)"/>.
/// NMSBoxes is class-agnostic over the boxes it is given, so the candidates are of one class and ours runs
/// class-agnostic too; with one class, per-class NMS keeps the same boxes. The rules match: both take the boxes
/// by score, best first (ties by index), and suppress a box whose IoU with a kept one is strictly greater than the
/// threshold; NMSBoxes first drops scores not strictly greater than its score threshold, which is 0 here, below
/// every candidate's score. Ours keeps every box (no cap) to match. The global setup checks that both keep the
/// very same boxes in the same order.
/// </summary>
[MemoryDiagnoser]
public class NmsBenchmarks
{
    private const float Iou = 0.45f;

    private readonly CandidateBuffer _boxes = new();
    private readonly NmsScratch _scratch = new();
    private Candidate[] _input = [];
    private Rect2d[] _rects = [];
    private float[] _scores = [];

    [Params(100, 1_000, 10_000)]
    public int Candidates { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _input = ClusteredCandidates(Candidates, seed: Candidates);

        // OpenCV's own input form, made once: x, y, width, height in double (exact for float corners).
        _rects = _input.Select(c => new Rect2d(c.X1, c.Y1, (double)c.X2 - c.X1, (double)c.Y2 - c.Y1)).ToArray();
        _scores = _input.Select(c => c.Score).ToArray();

        int kept = Vector();
        Candidate[] ours = _boxes.AsSpan().ToArray();
        if (Scalar() != kept || !MemoryMarshal.AsBytes(ours.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(_boxes.AsSpan())))
        {
            throw new InvalidOperationException("The scalar and vector NMS kept different boxes.");
        }

        CvDnn.NMSBoxes(_rects, _scores, 0f, Iou, out int[] indices);
        Candidate[] theirs = indices.Select(i => _input[i]).ToArray();
        if (!MemoryMarshal.AsBytes(ours.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(theirs.AsSpan())))
        {
            throw new InvalidOperationException(
                $"NMS kept {ours.Length} boxes, CvDnn.NMSBoxes {theirs.Length}: the kept sets differ.");
        }

        Console.WriteLine($"// {Candidates} candidates: ours and CvDnn.NMSBoxes both keep the same {kept} boxes, in the same order");
    }

    [Benchmark(Baseline = true)]
    public int OpenCvNmsBoxes()
    {
        CvDnn.NMSBoxes(_rects, _scores, 0f, Iou, out int[] indices);
        return indices.Length;
    }

    [Benchmark]
    public int Scalar()
    {
        Refill();
        Nms.ApplyScalar(_boxes, Iou, true, int.MaxValue, _scratch);
        return _boxes.Count;
    }

    [Benchmark]
    public int Vector()
    {
        Refill();
        Nms.Apply(_boxes, Iou, true, int.MaxValue, _scratch);
        return _boxes.Count;
    }

    /// <summary>
    /// Candidates as a decoder leaves them at a low threshold: one object per ten candidates, each object's
    /// candidates its box with 4% / 6% jitter of centre / size and a score up to its confidence, objects of 3-30% of
    /// a 640 input spread over it (they overlap each other more as the count grows). Float corners, so an IoU
    /// landing on the threshold exactly, where float and double rounding could disagree, is vanishingly unlikely.
    /// </summary>
    internal static Candidate[] ClusteredCandidates(int count, int seed)
    {
        var random = new Random(seed);
        float Normal() => (float)(Math.Sqrt(-2d * Math.Log(1d - random.NextDouble())) * Math.Cos(2d * Math.PI * random.NextDouble()));
        var result = new Candidate[count];
        int objects = Math.Max(1, count / 10);
        var centres = Enumerable.Range(0, objects).Select(_ =>
        {
            float size = 640f * 0.03f * MathF.Pow(10f, random.NextSingle());
            return (X: 640f * random.NextSingle(), Y: 640f * random.NextSingle(), W: size * (0.6f + 0.8f * random.NextSingle()),
                H: size * (0.6f + 0.8f * random.NextSingle()), Peak: 0.3f + 0.65f * random.NextSingle());
        }).ToArray();
        for (int i = 0; i < count; i++)
        {
            var o = centres[random.Next(objects)];
            float cx = o.X + 0.04f * o.W * Normal(), cy = o.Y + 0.04f * o.H * Normal();
            float w = o.W * MathF.Exp(0.06f * Normal()), h = o.H * MathF.Exp(0.06f * Normal());
            result[i] = new Candidate(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, o.Peak * (0.3f + 0.7f * random.NextSingle()), 0);
        }

        return result;
    }

    private void Refill()
    {
        // NMS works in place: every call starts again from the decoder's candidates (a copy, counted in ours).
        _boxes.Clear();
        foreach (ref readonly var c in _input.AsSpan())
        {
            _boxes.Add(c);
        }
    }
}
