using Detector.Benchmarks.Postprocessing;
using Detector.Benchmarks.Preprocessing;
using Detector.Core.Models;

namespace Detector.Benchmarks;

/// <summary>
/// What the benchmarks run on, without timing anything: the score percentiles of the real models' outputs on
/// bus.jpg (which the synthetic tensors imitate), and every case's global setup, which prints its candidate and
/// kept counts and runs its checks (vector = scalar, ours = CvDnn.NMSBoxes, ours = BlobFromImage).
/// </summary>
internal static class SceneReport
{
    public static void Print(TextWriter o)
    {
        o.WriteLine("Real outputs on bus.jpg: score percentiles");
        foreach (var path in new[] { Shared.YoloV8nInt8, Shared.YoloxNano, Shared.V5LiteE, Shared.YoloFastestV2 })
        {
            var real = RealOutputs.BusJpg(path);
            var (name, scores) = Scores(real);
            o.WriteLine($"  {real.Model.Name} {name}: {Percentiles(scores)}");
        }

        o.WriteLine("Benchmark cases");
        foreach (var scene in Enum.GetValues<Scene>())
        {
            new YoloV8Postprocess { Scene = scene }.Setup();
            new YoloxPostprocess { Scene = scene }.Setup();
            new FastestV2Postprocess { Scene = scene }.Setup();
        }

        foreach (var c in Enum.GetValues<YoloV5Case>())
        {
            new YoloV5Postprocess { Case = c }.Setup();
        }

        foreach (var n in new[] { 100, 1_000, 10_000 })
        {
            new NmsBenchmarks { Candidates = n }.Setup();
        }

        foreach (var frame in new[] { "1920x1080", "640x480" })
        {
            var pre = new PreprocessBenchmarks { Frame = frame };
            pre.Setup();
            pre.Cleanup();
        }
    }

    /// <summary>The scores a decoder thresholds first: YOLOv8's class scores, the objectness of the others (logits for raw heads).</summary>
    private static (string Name, float[] Scores) Scores(RealOutputs real)
    {
        var output = real.Outputs[0];
        var shape = real.Model.OutputShapes[0];
        return real.Model.Family switch
        {
            OutputFamily.YoloV8 => ("class scores", output[(4 * shape[1])..]),
            OutputFamily.YoloFastestV2 => ("objectness logits (level 0)", real.Outputs[1]),
            _ => ("objectness", Enumerable.Range(0, shape[0]).Select(r => output[r * shape[1] + 4]).ToArray()),
        };
    }

    private static string Percentiles(float[] values)
    {
        var sorted = values.Order().ToArray();
        string At(double p) => sorted[(int)Math.Min(sorted.Length - 1, p * sorted.Length)].ToString("G3");
        return $"n={sorted.Length} p50={At(0.5)} p90={At(0.9)} p99={At(0.99)} p99.9={At(0.999)} max={sorted[^1]:G3}, " +
            $"{sorted.Count(x => x >= PostprocessBenchmarks.Confidence)} at or above {PostprocessBenchmarks.Confidence}";
    }
}
