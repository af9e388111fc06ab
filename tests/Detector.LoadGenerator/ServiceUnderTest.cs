using System.Globalization;
using Detector.Server.Hosting;
using Detector.Tests;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Rpc = Detector.Api.V1;

namespace Detector.LoadGenerator;

/// <summary>How ONNX Runtime runs the model (CPU threads and spinning, batches in flight), the same for the raw
/// measurement and the service, and whether the service's batcher hands a partial batch to an idle model at once.</summary>
internal sealed record RunTuning(int Threads, bool Spinning, int RunsInFlight = 1, bool DispatchWhenIdle = true, bool PageLocked = true)
{
    public static RunTuning Default { get; } = new(0, true);
}

/// <summary>
/// The real service in this process (same registration and endpoints as Program.cs, Kestrel on a loopback port) and
/// a gRPC client to it: every load-generator mode measures the service the way a client sees it.
/// </summary>
internal sealed class ServiceUnderTest : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly GrpcChannel _channel;

    private ServiceUnderTest(WebApplication app, int grpcPort)
    {
        _app = app;
        _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        Client = new Rpc.Detector.DetectorClient(_channel);
    }

    public Rpc.Detector.DetectorClient Client { get; }

    public DetectorEngine Engine => _app.Services.GetRequiredService<DetectorEngine>();

    public static async Task<ServiceUnderTest> StartAsync(string model, string ep, int maxBatch, double batchDelayMs,
        int subscriberQueue, int maxStreams, RunTuning? cpu = null)
    {
        cpu ??= RunTuning.Default;
        var grpcPort = FreePorts.Tcp();
        var args = new Dictionary<string, string>
        {
            ["Detector:Model:Path"] = model,
            ["Detector:Model:ExecutionProvider"] = ep,
            ["Detector:Model:MaxBatchSize"] = maxBatch.ToString(CultureInfo.InvariantCulture),
            ["Detector:Pipeline:MaxBatchDelayMs"] = batchDelayMs.ToString(CultureInfo.InvariantCulture),
            ["Detector:Pipeline:SubscriberQueue"] = subscriberQueue.ToString(CultureInfo.InvariantCulture),
            ["Detector:Limits:MaxStreams"] = Math.Max(64, maxStreams).ToString(CultureInfo.InvariantCulture),
            // Saturation runs measure the pipeline, not the per-stream cap that protects streams from each other.
            ["Detector:Limits:MaxStreamFps"] = "1000",
            ["Detector:Endpoints:GrpcPort"] = grpcPort.ToString(CultureInfo.InvariantCulture),
            ["Detector:Endpoints:HttpPort"] = "0",
            ["Detector:Model:CpuThreads"] = cpu.Threads.ToString(CultureInfo.InvariantCulture),
            ["Detector:Model:CpuSpinning"] = cpu.Spinning.ToString(),
            ["Detector:Model:RunsInFlight"] = cpu.RunsInFlight.ToString(CultureInfo.InvariantCulture),
            ["Detector:Pipeline:DispatchWhenIdle"] = cpu.DispatchWhenIdle.ToString(),
            ["Detector:Model:PageLockedBuffers"] = cpu.PageLocked.ToString(),
            ["Serilog:MinimumLevel:Default"] = "Warning",
        };
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args.Select(kv => $"--{kv.Key}={kv.Value}").ToArray(),
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.AddDetector();
        var app = builder.Build();
        app.MapDetector();
        await app.StartAsync();
        var service = new ServiceUnderTest(app, grpcPort);
        await service.Engine.Ready;
        return service;
    }

    /// <summary>Adds streams s0..s(n-1), each looping <paramref name="video"/>.</summary>
    public async Task AddFileStreamsAsync(string video, int count, bool asFastAsPossible)
    {
        for (var i = 0; i < count; i++)
        {
            await Client.AddStreamAsync(new Rpc.AddStreamRequest
            {
                Id = $"s{i}",
                Url = video,
                Options = new Rpc.StreamOptions { Loop = true, AsFastAsPossible = asFastAsPossible },
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
