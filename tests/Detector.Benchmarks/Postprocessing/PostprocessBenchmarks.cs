using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Detector.Core.Models;
using Detector.Core.Postprocessing;

namespace Detector.Benchmarks.Postprocessing;

/// <summary>
/// The per-frame post-processing of one image, decode + NMS, with the thresholds the engine uses by default
/// (confidence 0.25, IoU 0.45, per class, at most 300 boxes): the scalar twins as the baseline, the vector kernels,
/// and one plain read of every output tensor (a sum), the floor any decoder that looks at every score stands on.
/// </summary>
[MemoryDiagnoser]
public abstract class PostprocessBenchmarks
{
    public const float Confidence = 0.25f;
    public const float Iou = 0.45f;
    public const int MaxDetections = 300;

    private readonly CandidateBuffer _candidates = new();
    private readonly NmsScratch _scratch = new();
    private float[][] _tensors = [];

    [Benchmark(Baseline = true)]
    public int ScalarDecodeNms()
    {
        _candidates.Clear();
        DecodeScalar(_candidates);
        Nms.ApplyScalar(_candidates, Iou, false, MaxDetections, _scratch);
        return _candidates.Count;
    }

    [Benchmark]
    public int VectorDecodeNms()
    {
        _candidates.Clear();
        Decode(_candidates);
        Nms.Apply(_candidates, Iou, false, MaxDetections, _scratch);
        return _candidates.Count;
    }

    [Benchmark]
    public float ReadOnce()
    {
        float sum = 0f;
        foreach (var tensor in _tensors)
        {
            sum += TensorPrimitives.Sum(tensor);
        }

        return sum;
    }

    /// <summary>Candidates above the confidence before NMS, and boxes kept after it, for the current tensors.</summary>
    internal (int Candidates, int Kept) Count()
    {
        _candidates.Clear();
        Decode(_candidates);
        int candidates = _candidates.Count;
        return (candidates, VectorDecodeNms());
    }

    /// <summary>
    /// Takes the tensors of the current case, checks that both twins keep the same boxes, and grows the buffers to
    /// this case's size so that the measured calls never allocate.
    /// </summary>
    protected void Use(string caseName, params float[][] tensors)
    {
        _tensors = tensors;
        int scalar = ScalarDecodeNms();
        var scalarKept = _candidates.AsSpan().ToArray();
        int vector = VectorDecodeNms();
        if (scalar != vector || !MemoryMarshal.AsBytes(scalarKept.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(_candidates.AsSpan())))
        {
            throw new InvalidOperationException($"{caseName}: the vector path kept {vector} boxes, the scalar one {scalar}, or different ones.");
        }

        var (candidates, kept) = Count();
        Console.WriteLine($"// {caseName}: {candidates} candidates above {Confidence}, {kept} kept by NMS");
    }

    protected abstract void DecodeScalar(CandidateBuffer dest);

    protected abstract void Decode(CandidateBuffer dest);
}

/// <summary>YOLOv8 at 640: channel-major <c>[1, 84, 8400]</c>.</summary>
public class YoloV8Postprocess : PostprocessBenchmarks
{
    private static readonly int[] s_strides = [8, 16, 32];
    private float[] _output = [];
    private int _anchors;

    [Params(Scene.FewObjects, Scene.ManyObjects, Scene.BusJpg)]
    public Scene Scene { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _output = Scene == Scene.BusJpg
            ? RealOutputs.BusJpg(Shared.YoloV8nInt8).Outputs[0]
            : new SyntheticScene(Scene, 640, seed: 8).YoloV8(640, s_strides);
        _anchors = _output.Length / (4 + SyntheticScene.Classes);
        Use($"YOLOv8 [84, {_anchors}] {Scene}", _output);
    }

    protected override void DecodeScalar(CandidateBuffer dest) =>
        YoloV8Decoder.DecodeScalar(_output, SyntheticScene.Classes, _anchors, Confidence, dest);

    protected override void Decode(CandidateBuffer dest) =>
        YoloV8Decoder.Decode(_output, SyntheticScene.Classes, _anchors, Confidence, dest);
}

/// <summary>The YOLOv5 cases: <c>[1, 25200, 85]</c> at 640, grid/anchor decode outside or inside the graph, and a real model.</summary>
public enum YoloV5Case
{
    FewObjects,
    ManyObjects,
    DecodedFewObjects,
    DecodedManyObjects,

    /// <summary>v5lite-e on bus.jpg: the only real YOLOv5-head model here runs at 320, <c>[1, 6300, 85]</c>.</summary>
    BusJpg320,
}

/// <summary>YOLOv5 head, row-major <c>[1, N, 85]</c>.</summary>
public class YoloV5Postprocess : PostprocessBenchmarks
{
    private static readonly int[] s_strides = [8, 16, 32];
    private static readonly float[][] s_anchors = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]];
    private float[] _output = [];
    private OutputFamily _family;
    private GridTable? _grid;
    private int _rows;

    [Params(YoloV5Case.FewObjects, YoloV5Case.ManyObjects, YoloV5Case.DecodedFewObjects, YoloV5Case.DecodedManyObjects, YoloV5Case.BusJpg320)]
    public YoloV5Case Case { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        int size = Case == YoloV5Case.BusJpg320 ? 320 : 640;
        bool decoded = Case is YoloV5Case.DecodedFewObjects or YoloV5Case.DecodedManyObjects;
        var scene = Case is YoloV5Case.FewObjects or YoloV5Case.DecodedFewObjects ? Scene.FewObjects : Scene.ManyObjects;
        _output = Case == YoloV5Case.BusJpg320
            ? RealOutputs.BusJpg(Shared.V5LiteE).Outputs[0]
            : new SyntheticScene(scene, size, seed: 5).YoloV5(size, s_strides, s_anchors, decoded);
        _family = decoded ? OutputFamily.YoloV5Decoded : OutputFamily.YoloV5;
        _grid = GridTable.ForYoloV5(size, size, s_strides, s_anchors);
        _rows = _output.Length / (5 + SyntheticScene.Classes);
        Use($"YOLOv5 [{_rows}, 85] {Case}", _output);
    }

    protected override void DecodeScalar(CandidateBuffer dest) =>
        RowMajorDecoder.DecodeScalar(_output, _rows, SyntheticScene.Classes, _family, _grid, Confidence, dest);

    protected override void Decode(CandidateBuffer dest) =>
        RowMajorDecoder.Decode(_output, _rows, SyntheticScene.Classes, _family, _grid, Confidence, dest);
}

/// <summary>YOLOX at 416: row-major <c>[1, 3549, 85]</c>, grid decode outside the graph.</summary>
public class YoloxPostprocess : PostprocessBenchmarks
{
    private static readonly int[] s_strides = [8, 16, 32];
    private readonly GridTable _grid = GridTable.ForYolox(416, 416, s_strides);
    private float[] _output = [];

    [Params(Scene.FewObjects, Scene.ManyObjects, Scene.BusJpg)]
    public Scene Scene { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _output = Scene == Scene.BusJpg
            ? RealOutputs.BusJpg(Shared.YoloxNano).Outputs[0]
            : new SyntheticScene(Scene, 416, seed: 4).Yolox(416, s_strides);
        Use($"YOLOX [{_grid.Rows}, 85] {Scene}", _output);
    }

    protected override void DecodeScalar(CandidateBuffer dest) =>
        RowMajorDecoder.DecodeScalar(_output, _grid.Rows, SyntheticScene.Classes, OutputFamily.Yolox, _grid, Confidence, dest);

    protected override void Decode(CandidateBuffer dest) =>
        RowMajorDecoder.Decode(_output, _grid.Rows, SyntheticScene.Classes, OutputFamily.Yolox, _grid, Confidence, dest);
}

/// <summary>Yolo-FastestV2 at 352: raw per-level heads, 22x22 at stride 16 and 11x11 at stride 32, logits.</summary>
public class FastestV2Postprocess : PostprocessBenchmarks
{
    private static readonly int[] s_strides = [16, 32];
    private static readonly float[][] s_anchors = [[12.64f, 19.39f, 37.88f, 51.48f, 55.71f, 138.31f], [126.91f, 78.23f, 131.57f, 214.55f, 279.92f, 258.87f]];

    /// <summary>reg, obj, cls of level 0, then of level 1: the model's output order.</summary>
    private float[][] _heads = [];

    [Params(Scene.FewObjects, Scene.ManyObjects, Scene.BusJpg)]
    public Scene Scene { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        if (Scene == Scene.BusJpg)
        {
            _heads = RealOutputs.BusJpg(Shared.YoloFastestV2).Outputs;
        }
        else
        {
            var scene = new SyntheticScene(Scene, 352, seed: 2);
            _heads = s_strides.Select((s, level) => scene.RawHeadLevel(352, s, s_anchors[level]))
                .SelectMany(h => new[] { h.Reg, h.Obj, h.Cls }).ToArray();
        }

        Use($"Yolo-FastestV2 22x22 + 11x11 {Scene}", _heads);
    }

    protected override void DecodeScalar(CandidateBuffer dest)
    {
        for (int level = 0; level < s_strides.Length; level++)
        {
            int g = 352 / s_strides[level];
            RawHeadDecoder.DecodeLevelScalar(_heads[3 * level], _heads[3 * level + 1], _heads[3 * level + 2], g, g,
                SyntheticScene.Classes, s_strides[level], s_anchors[level], Confidence, dest);
        }
    }

    protected override void Decode(CandidateBuffer dest)
    {
        for (int level = 0; level < s_strides.Length; level++)
        {
            int g = 352 / s_strides[level];
            RawHeadDecoder.DecodeLevel(_heads[3 * level], _heads[3 * level + 1], _heads[3 * level + 2], g, g,
                SyntheticScene.Classes, s_strides[level], s_anchors[level], Confidence, dest);
        }
    }
}
