using System.Diagnostics;
using System.Runtime;
using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.LoadGenerator;

/// <summary>What one service run measured.</summary>
internal sealed record ServiceResult(
    int Streams,
    int MaxBatch,
    double Seconds,
    long Results,
    double ImagesPerSecond,
    double MinStreamFps,
    double MaxStreamFps,
    double LatencyP50,
    double LatencyP95,
    double LatencyP99,
    double InferenceMedianMs,
    double OverheadP50,
    double OverheadP99,
    double MeanBatch,
    IReadOnlyDictionary<int, long> BatchSizes,
    long FramesReceived,
    long FramesDropped,
    double CpuPercent,
    double WorkingSetMiB,
    string Provider,
    IReadOnlyList<(string Group, double CorePercent)> ThreadCpu,
    JitDuringRun Jit);

/// <summary>The warm-up a run took, and what the JIT compiled (methods, time) while it was measured.</summary>
internal sealed record JitDuringRun(TimeSpan Warmup, long Methods, TimeSpan CompileTime);

/// <summary>
/// Starts the real service in this process (same registration as Program.cs, Kestrel on loopback), adds N streams,
/// subscribes over gRPC like any client and measures what arrives: throughput, per-stream FPS, end-to-end latency
/// (capture to the subscriber receiving the result), batch sizes, drops, CPU and memory.
/// </summary>
internal static class ServiceBenchmark
{
    public static async Task<ServiceResult> RunAsync(string model, string video, int streams, int maxBatch, string ep, bool fast,
        double batchDelayMs, TimeSpan warmup, TimeSpan jitQuietFor, TimeSpan duration, RunTuning tuning)
    {
        await using var service = await ServiceUnderTest.StartAsync(model, ep, maxBatch, batchDelayMs, subscriberQueue: 4096, maxStreams: streams, tuning);
        var client = service.Client;
        await service.AddFileStreamsAsync(video, streams, fast);

        // Until measuring starts, the timer is a guard against a service that sends nothing; then it ends the run.
        using var cts = new CancellationTokenSource(warmup + JitQuietLimit + duration);
        using var call = client.Subscribe(new Rpc.SubscribeRequest(), cancellationToken: cts.Token);
        var latencies = new List<double>();
        var inference = new List<double>();
        var overheads = new List<double>();
        var batches = new Dictionary<int, long>();
        var perStream = new Dictionary<string, long>();
        var process = Process.GetCurrentProcess();
        var warm = Stopwatch.StartNew();
        TimeSpan cpuStart = default;
        ThreadCpu? threadsStart = null;
        var measuring = false;
        var jitMethods = JitInfo.GetCompiledMethodCount();
        var jitChanged = Stopwatch.StartNew();
        long jitMethodsAtStart = 0;
        var jitTimeAtStart = TimeSpan.Zero;
        var clock = new Stopwatch();
        try
        {
            while (await call.ResponseStream.MoveNext(cts.Token))
            {
                var r = call.ResponseStream.Current;
                if (!measuring)
                {
                    var compiled = JitInfo.GetCompiledMethodCount();
                    if (compiled != jitMethods)
                    {
                        jitMethods = compiled;
                        jitChanged.Restart();
                    }

                    // Steady state, as a service that runs for days is measured: past the warm-up, and the JIT quiet
                    // for jitQuietFor (tiered compilation recompiles the hot methods in the background for tens of
                    // seconds after start, on the cores the model needs). Waits at most JitQuietLimit for that.
                    var quiet = jitChanged.Elapsed >= jitQuietFor || warm.Elapsed >= warmup + JitQuietLimit;
                    if (warm.Elapsed < warmup || !quiet)
                    {
                        continue;
                    }

                    measuring = true;
                    cts.CancelAfter(duration);
                    jitMethodsAtStart = JitInfo.GetCompiledMethodCount();
                    jitTimeAtStart = JitInfo.GetCompilationTime();
                    process.Refresh();
                    cpuStart = process.TotalProcessorTime;
                    threadsStart = ThreadCpu.Now();
                    clock.Start();
                }

                var latency = (DateTimeOffset.UtcNow - r.CaptureTime.ToDateTimeOffset()).TotalMilliseconds;
                latencies.Add(latency);
                // What the service adds to the model's own time: waiting, pre- and post-processing, delivery.
                overheads.Add(latency - r.Timings.InferenceMs);
                inference.Add(r.Timings.InferenceMs);
                batches[r.Timings.BatchSize] = batches.GetValueOrDefault(r.Timings.BatchSize) + 1;
                perStream[r.StreamId] = perStream.GetValueOrDefault(r.StreamId) + 1;
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
        {
        }
        catch (OperationCanceledException)
        {
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var jit = new JitDuringRun(warm.Elapsed - clock.Elapsed, JitInfo.GetCompiledMethodCount() - jitMethodsAtStart,
            JitInfo.GetCompilationTime() - jitTimeAtStart);
        var threadCpu = threadsStart is null ? [] : ThreadCpu.Now().Since(threadsStart, clock.Elapsed);
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpuStart).TotalSeconds / Math.Max(1e-9, seconds) / Environment.ProcessorCount * 100;
        var list = await client.ListStreamsAsync(new Rpc.ListStreamsRequest());
        var provider = (await client.GetModelAsync(new Rpc.GetModelRequest())).ExecutionProvider;

        latencies.Sort();
        inference.Sort();
        overheads.Sort();
        double P(List<double> xs, double q) => xs.Count == 0 ? double.NaN : xs[Math.Min(xs.Count - 1, (int)(q * xs.Count))];
        var fps = Enumerable.Range(0, streams).Select(i => perStream.GetValueOrDefault($"s{i}") / Math.Max(1e-9, seconds)).ToArray();
        return new ServiceResult(
            streams, maxBatch, seconds, latencies.Count, latencies.Count / Math.Max(1e-9, seconds), fps.Min(), fps.Max(),
            P(latencies, 0.50), P(latencies, 0.95), P(latencies, 0.99), P(inference, 0.5), P(overheads, 0.5), P(overheads, 0.99),
            batches.Sum(kv => (double)kv.Key * kv.Value) / Math.Max(1, batches.Values.Sum()),
            batches, list.Streams.Sum(s => (long)s.FramesReceived), list.Streams.Sum(s => (long)s.FramesDropped),
            cpu, process.WorkingSet64 / 1048576.0, provider, threadCpu, jit);
    }

    /// <summary>The longest the warm-up waits, past its own length, for the JIT to go quiet.</summary>
    private static readonly TimeSpan JitQuietLimit = TimeSpan.FromSeconds(60);
}
