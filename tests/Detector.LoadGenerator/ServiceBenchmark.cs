using System.Diagnostics;
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
    IReadOnlyList<(string Group, double CorePercent)> ThreadCpu);

/// <summary>
/// Starts the real service in this process (same registration as Program.cs, Kestrel on loopback), adds N streams,
/// subscribes over gRPC like any client and measures what arrives: throughput, per-stream FPS, end-to-end latency
/// (capture to the subscriber receiving the result), batch sizes, drops, CPU and memory.
/// </summary>
internal static class ServiceBenchmark
{
    public static async Task<ServiceResult> RunAsync(string model, string video, int streams, int maxBatch, string ep, bool fast,
        double batchDelayMs, TimeSpan warmup, TimeSpan duration, RunTuning tuning)
    {
        await using var service = await ServiceUnderTest.StartAsync(model, ep, maxBatch, batchDelayMs, subscriberQueue: 4096, maxStreams: streams, tuning);
        var client = service.Client;
        await service.AddFileStreamsAsync(video, streams, fast);

        using var cts = new CancellationTokenSource(warmup + duration);
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
        var clock = new Stopwatch();
        try
        {
            while (await call.ResponseStream.MoveNext(cts.Token))
            {
                var r = call.ResponseStream.Current;
                if (!measuring)
                {
                    if (warm.Elapsed < warmup)
                    {
                        continue;
                    }

                    measuring = true;
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
            cpu, process.WorkingSet64 / 1048576.0, provider, threadCpu);
    }
}
