using System.Diagnostics;
using Detector.Core.Graph;
using Detector.Core.Inference;
using Detector.Core.Models;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace Detector.LoadGenerator;

/// <summary>One raw measurement: the model alone, called through ONNX Runtime, at one batch size.</summary>
internal sealed record RawResult(string Input, int Batch, double ImagesPerSecond, double MedianBatchMs, string Provider);

/// <summary>
/// The ceiling the service can reach: the same model at the same batch size, called directly. Measured twice:
/// the graph the service runs (uint8 NHWC frames, cast/scale/transpose in the graph) and the original float NCHW
/// graph (batch made dynamic), so the gain of handing the model bytes is visible beside it.
/// </summary>
internal static class RawBenchmark
{
    /// <remarks>With <see cref="RunTuning.RunsInFlight"/> above one, that many runs go at once on the one session,
    /// each from its own thread with its own workspace, as the service's pipeline keeps them.</remarks>
    public static RawResult RunServiceGraph(string model, int batch, ExecutionProviderPreference ep, TimeSpan duration, RunTuning? cpu = null)
    {
        cpu ??= RunTuning.Default;
        var inFlight = cpu.RunsInFlight;
        using var session = ModelSession.Load(model, new InferenceOptions
        {
            ExecutionProvider = ep, MaxBatchSize = batch, WarmupBatchSizes = [batch], IntraOpThreads = cpu.Threads, IntraOpSpinning = cpu.Spinning,
            RunsInFlight = inFlight, PageLockedBuffers = cpu.PageLocked,
        });
        var workspaces = Enumerable.Range(0, inFlight).Select(_ => session.CreateWorkspace()).ToArray();
        try
        {
            var rng = new Random(1);
            foreach (var workspace in workspaces)
            {
                for (var i = 0; i < batch; i++)
                {
                    rng.NextBytes(workspace.Input.Slot(i));
                }

                workspace.Input.Count = batch;
            }

            var (ips, median) = inFlight == 1
                ? Measure(() => session.Run(workspaces[0]), batch, duration)
                : MeasureInFlight(workspaces.Select(w => (Action)(() => session.Run(w))).ToArray(), batch, duration);
            var input = (inFlight == 1 ? "uint8 NHWC (service graph)" : $"uint8 NHWC (service graph), {inFlight} runs in flight")
                + (workspaces[0].IsPageLocked ? ", page-locked buffers" : "");
            return new RawResult(input, batch, ips, median, session.ExecutionProvider);
        }
        finally
        {
            foreach (var workspace in workspaces)
            {
                workspace.Dispose();
            }
        }
    }

    public static RawResult? RunFloatGraph(string model, int batch, ExecutionProviderPreference ep, TimeSpan duration)
    {
        var (proto, bytes) = ModelDescriber.ReadModelFile(model);
        var description = ModelDescriber.Describe(model, proto, bytes);
        if (BatchDimensionPatcher.HasBatchDependentOps(proto) && batch > 1)
        {
            return null;
        }

        if (batch > 1)
        {
            BatchDimensionPatcher.MakeBatchDynamic(proto);
        }

        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        var provider = "CPU";
        if (ep != ExecutionProviderPreference.Cpu && CudaProbe.FirstMissingLibrary is null)
        {
            options.AppendExecutionProvider_CUDA(0);
            provider = "CUDA";
        }

        using var session = new InferenceSession(proto.ToByteArray(), options);
        var input = new float[batch * 3 * description.InputHeight * description.InputWidth];
        var rng = new Random(1);
        for (var i = 0; i < input.Length; i++)
        {
            input[i] = (float)rng.NextDouble();
        }

        using var value = OrtValue.CreateTensorValueFromMemory(input, [batch, 3, description.InputHeight, description.InputWidth]);
        using var runOptions = new RunOptions();
        var outputs = description.OutputNames.ToArray();
        void Run()
        {
            using var results = session.Run(runOptions, [description.InputName], [value], outputs);
        }

        Run();
        var (ips, median) = Measure(Run, batch, duration);
        return new RawResult("float NCHW (original graph)", batch, ips, median, provider);
    }

    /// <summary>Every run loops on a thread of its own; images/s counts all of them, the median is over all runs.</summary>
    private static (double ImagesPerSecond, double MedianMs) MeasureInFlight(Action[] runs, int batch, TimeSpan duration)
    {
        foreach (var run in runs)
        {
            run();
        }

        var times = new List<double>[runs.Length];
        using var start = new Barrier(runs.Length + 1);
        var clock = new Stopwatch();
        var threads = runs.Select((run, k) => new Thread(() =>
        {
            var mine = times[k] = [];
            start.SignalAndWait();
            while (clock.Elapsed < duration || mine.Count < 5)
            {
                var t0 = clock.Elapsed;
                run();
                mine.Add((clock.Elapsed - t0).TotalMilliseconds);
            }
        }) { IsBackground = true }).ToArray();
        foreach (var t in threads)
        {
            t.Start();
        }

        clock.Start();
        start.SignalAndWait();
        foreach (var t in threads)
        {
            t.Join();
        }

        var elapsed = clock.Elapsed.TotalSeconds;
        var all = times.SelectMany(x => x).Order().ToList();
        return (all.Count * batch / elapsed, all[all.Count / 2]);
    }

    /// <summary>Three untimed runs, then runs for <paramref name="duration"/> (at least five): images/s and the median run.</summary>
    internal static (double ImagesPerSecond, double MedianMs) Measure(Action run, int batch, TimeSpan duration)
    {
        for (var i = 0; i < 3; i++)
        {
            run();
        }

        var times = new List<double>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration || times.Count < 5)
        {
            var start = clock.Elapsed;
            run();
            times.Add((clock.Elapsed - start).TotalMilliseconds);
        }

        var elapsed = clock.Elapsed.TotalSeconds;
        times.Sort();
        return (times.Count * batch / elapsed, times[times.Count / 2]);
    }
}
