using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Detector.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Grpc.Core;
using Grpc.Net.Client;
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
    double MeanBatch,
    IReadOnlyDictionary<int, long> BatchSizes,
    long FramesReceived,
    long FramesDropped,
    double CpuPercent,
    double WorkingSetMiB,
    string Provider);

/// <summary>
/// Starts the real service in this process (same registration as Program.cs, Kestrel on loopback), adds N streams,
/// subscribes over gRPC like any client and measures what arrives: throughput, per-stream FPS, end-to-end latency
/// (capture to the subscriber receiving the result), batch sizes, drops, CPU and memory.
/// </summary>
internal static class ServiceBenchmark
{
    public static async Task<ServiceResult> RunAsync(string model, string video, int streams, int maxBatch, string ep, bool fast,
        double batchDelayMs, TimeSpan warmup, TimeSpan duration)
    {
        var grpcPort = FreePort();
        var args = new Dictionary<string, string>
        {
            ["Detector:Model:Path"] = model,
            ["Detector:Model:ExecutionProvider"] = ep,
            ["Detector:Model:MaxBatchSize"] = maxBatch.ToString(),
            ["Detector:Pipeline:MaxBatchDelayMs"] = batchDelayMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Detector:Pipeline:SubscriberQueue"] = "4096",
            ["Detector:Limits:MaxStreams"] = Math.Max(64, streams).ToString(),
            // Saturation runs measure the pipeline, not the per-stream cap that protects streams from each other.
            ["Detector:Limits:MaxStreamFps"] = "1000",
            ["Detector:Endpoints:GrpcPort"] = grpcPort.ToString(),
            ["Detector:Endpoints:HttpPort"] = "0",
            ["Serilog:MinimumLevel:Default"] = "Warning",
        };
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args.Select(kv => $"--{kv.Key}={kv.Value}").ToArray(),
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.AddDetector();
        await using var app = builder.Build();
        app.MapDetector();
        await app.StartAsync();
        var engine = app.Services.GetRequiredService<DetectorEngine>();
        await engine.Ready;
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        var client = new Rpc.Detector.DetectorClient(channel);
        for (var i = 0; i < streams; i++)
        {
            await client.AddStreamAsync(new Rpc.AddStreamRequest
            {
                Id = $"s{i}",
                Url = video,
                Options = new Rpc.StreamOptions { Loop = true, AsFastAsPossible = fast },
            });
        }

        using var cts = new CancellationTokenSource(warmup + duration);
        using var call = client.Subscribe(new Rpc.SubscribeRequest(), cancellationToken: cts.Token);
        var latencies = new List<double>();
        var inference = new List<double>();
        var batches = new Dictionary<int, long>();
        var perStream = new Dictionary<string, long>();
        var process = Process.GetCurrentProcess();
        var warm = Stopwatch.StartNew();
        TimeSpan cpuStart = default;
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
                    clock.Start();
                }

                latencies.Add((DateTimeOffset.UtcNow - r.CaptureTime.ToDateTimeOffset()).TotalMilliseconds);
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
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpuStart).TotalSeconds / Math.Max(1e-9, seconds) / Environment.ProcessorCount * 100;
        var list = await client.ListStreamsAsync(new Rpc.ListStreamsRequest());
        var provider = (await client.GetModelAsync(new Rpc.GetModelRequest())).ExecutionProvider;
        await app.StopAsync();

        latencies.Sort();
        inference.Sort();
        double P(List<double> xs, double q) => xs.Count == 0 ? double.NaN : xs[Math.Min(xs.Count - 1, (int)(q * xs.Count))];
        var fps = Enumerable.Range(0, streams).Select(i => perStream.GetValueOrDefault($"s{i}") / Math.Max(1e-9, seconds)).ToArray();
        return new ServiceResult(
            streams, maxBatch, seconds, latencies.Count, latencies.Count / Math.Max(1e-9, seconds), fps.Min(), fps.Max(),
            P(latencies, 0.50), P(latencies, 0.95), P(latencies, 0.99), P(inference, 0.5),
            batches.Sum(kv => (double)kv.Key * kv.Value) / Math.Max(1, batches.Values.Sum()),
            batches, list.Streams.Sum(s => (long)s.FramesReceived), list.Streams.Sum(s => (long)s.FramesDropped),
            cpu, process.WorkingSet64 / 1048576.0, provider);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
