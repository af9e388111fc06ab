using Detector.Core.Models;
using Microsoft.ML.OnnxRuntime;

namespace Detector.Core.Inference;

/// <summary>
/// Proves a rewritten graph's batch rows equal batch-1 runs of the same frames, on the CPU provider where the
/// arithmetic is deterministic (CUDA's TF32 makes batch-N rows differ from batch-1 rows by design).
/// </summary>
internal static class BatchEquivalence
{
    private const float Tolerance = 1e-3f;

    /// <summary>Null when the rows agree; otherwise what differed.</summary>
    public static string? Check(byte[] graph, ModelDescription d)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(graph, options);
        var slot = d.InputHeight * d.InputWidth * 3;

        // Two different frames: a gradient and a deterministic noise pattern.
        var frames = new byte[2 * slot];
        var rng = new Random(12345);
        for (var i = 0; i < slot; i++)
        {
            frames[i] = (byte)(i * 7 % 251);
            frames[slot + i] = (byte)rng.Next(256);
        }

        var batch = Run(session, d, frames, 2);
        for (var image = 0; image < 2; image++)
        {
            var single = Run(session, d, frames.AsSpan(image * slot, slot).ToArray(), 1);
            for (var o = 0; o < single.Length; o++)
            {
                var n = single[o].Length;
                var rows = batch[o].AsSpan(image * n, n);
                for (var k = 0; k < n; k++)
                {
                    var diff = MathF.Abs(rows[k] - single[o][k]);
                    if (!(diff <= Tolerance * (1 + MathF.Abs(single[o][k]))))
                    {
                        return $"output '{d.OutputNames[o]}' image {image} element {k}: {rows[k]} vs {single[o][k]}";
                    }
                }
            }
        }

        return null;
    }

    private static float[][] Run(InferenceSession session, ModelDescription d, byte[] frames, int count)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(frames, [count, d.InputHeight, d.InputWidth, 3]);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [ModelSession.FrameInputName], [input], d.OutputNames.ToArray());
        return results.Select(r => r.GetTensorDataAsSpan<float>().ToArray()).ToArray();
    }
}
