using Detector.Server.Hosting;
using Detector.Server.Tests.Secrets;
using Microsoft.Extensions.DependencyInjection;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests;

/// <summary>
/// The real service in this process: the same registration and endpoints as Program.cs, Kestrel on free loopback
/// ports, configured through command-line style arguments. Clients talk to it over real HTTP/2.
/// </summary>
internal sealed class ServerHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ServerHost(WebApplication app, int grpcPort, int httpPort)
    {
        _app = app;
        GrpcAddress = $"http://127.0.0.1:{grpcPort}";
        HttpAddress = $"http://127.0.0.1:{httpPort}";
        Channel = GrpcChannel.ForAddress(GrpcAddress, new GrpcChannelOptions { MaxSendMessageSize = 64 * 1024 * 1024 });
        Calls = Channel.Intercept(new DefaultDeadline(CallLimit));
        Client = new Rpc.Detector.DetectorClient(Calls);
    }

    public string GrpcAddress { get; }

    public string HttpAddress { get; }

    /// <summary>Longest any call or stop may take before the test waiting on it fails instead of hanging the run.</summary>
    public static readonly TimeSpan CallLimit = TimeSpan.FromMinutes(2);

    public GrpcChannel Channel { get; }

    /// <summary>The channel's calls, each with <see cref="CallLimit"/> as its deadline unless it names its own.</summary>
    public CallInvoker Calls { get; }

    public Rpc.Detector.DetectorClient Client { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts the service; by default on yolo-fastestv2 (the fastest model here) and waits until it is warm.</summary>
    public static async Task<ServerHost> StartAsync(IDictionary<string, string>? settings = null, bool waitReady = true)
    {
        // A port found free can still be bound by another server before Kestrel binds it (FreePorts keeps clear of
        // the ephemeral range, where outgoing connections took one from a CI run's fixture). Try again on other ports.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(settings, waitReady);
            }
            catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException && attempt < 5)
            {
                TestContext.Progress.WriteLine($"ServerHost: {e.Message} Trying other ports.");
            }
        }
    }

    private static async Task<ServerHost> StartOnceAsync(IDictionary<string, string>? settings, bool waitReady)
    {
        var grpcPort = FreePorts.Tcp();
        var httpPort = FreePorts.Tcp();
        var config = new Dictionary<string, string>
        {
            ["Detector:Model:Path"] = Shared.YoloFastestV2,
            ["Detector:Model:ExecutionProvider"] = "Cpu",
            ["Detector:Model:MaxBatchSize"] = "4",
            ["Detector:Endpoints:GrpcPort"] = grpcPort.ToString(),
            ["Detector:Endpoints:HttpPort"] = httpPort.ToString(),
            ["Serilog:MinimumLevel:Default"] = "Warning",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string>())
        {
            config[k] = v;
        }

        // The console shows what the test asked for (Warning unless it says otherwise); the log capture that the
        // credential scan reads sees everything from Debug up, and the gRPC server's own messages down to Verbose.
        config.TryAdd("Detector:Logging:ConsoleLevel", config["Serilog:MinimumLevel:Default"]);
        config["Serilog:MinimumLevel:Default"] = "Debug";
        config["Serilog:MinimumLevel:Override:Microsoft.AspNetCore"] = "Debug";
        config["Serilog:MinimumLevel:Override:Microsoft.Extensions.Diagnostics.HealthChecks"] = "Debug";
        config["Serilog:MinimumLevel:Override:Grpc"] = "Verbose";

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = config.Select(kv => $"--{kv.Key}={kv.Value}").ToArray(),
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.AddDetector();
        builder.Services.AddSingleton<Serilog.Core.ILogEventSink>(LogCapture.Instance);
        var app = builder.Build();
        app.MapDetector();
        try
        {
            await app.StartAsync();
        }
        catch
        {
            // A start refused (a setting out of range, say) has still built the host and its services: dispose them
            // here, since the caller never gets the host to dispose.
            await app.DisposeAsync();
            throw;
        }

        var host = new ServerHost(app, grpcPort, httpPort);
        if (waitReady)
        {
            try
            {
                await host.Engine.Ready.WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch
            {
                await host.DisposeAsync();
                throw;
            }
        }

        return host;
    }

    public DetectorEngine Engine => (DetectorEngine)_app.Services.GetService(typeof(DetectorEngine))!;

    /// <summary>Stops the host as SIGTERM would (open calls end, streams stop); dispose it afterwards all the same.</summary>
    public Task StopAsync() => Bounded(_app.StopAsync(), "stop");

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Bounded(_app.StopAsync(), "stop");
        await Bounded(_app.DisposeAsync().AsTask(), "dispose");
    }

    // The host's own shutdown timeout only cancels a token; a stage that ignores it would hold up the test run.
    private static async Task Bounded(Task stopping, string what)
    {
        try
        {
            await stopping.WaitAsync(CallLimit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The service did not {what} within {CallLimit.TotalSeconds:0} s.");
        }
    }
}
