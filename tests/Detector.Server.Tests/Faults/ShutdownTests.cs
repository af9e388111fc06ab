using System.Diagnostics;
using System.Text;
using Detector.Core.Tests.Sources;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Faults;

/// <summary>
/// The real server as its own process, stopped the way an orchestrator stops it: SIGTERM. Open subscriptions end
/// with a status, the ffmpeg processes go with it, it exits 0 within seconds, and its log never shows a password.
/// </summary>
[NonParallelizable]
public class ShutdownTests
{
    private const string Password = "pw-Sekr1t";
    private static readonly TimeSpan ExitLimit = TimeSpan.FromSeconds(10);
    private RtspServer _rtsp = null!;
    private Process? _server;
    private readonly StringBuilder _output = new();

    [SetUp]
    public void StartCamera()
    {
        _rtsp = new RtspServer([$"/people={Shared.Video("one-by-one-person-detection.mp4")}"], user: "viewer", password: Password);
        _rtsp.Start();
    }

    [TearDown]
    public void StopEverything()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill(entireProcessTree: true);
            _server.WaitForExit(5000);
        }

        _server?.Dispose();
        _rtsp.Dispose();
    }

    [Test]
    public async Task On_SIGTERM_subscriptions_end_with_a_status_ffmpeg_goes_and_the_process_exits_0_within_seconds()
    {
        var grpcPort = FreePorts.Tcp();
        _server = StartServer(grpcPort, FreePorts.Tcp());
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        var client = new Rpc.Detector.DetectorClient(channel.Intercept(new DefaultDeadline(ServerHost.CallLimit)));
        await WaitUntilServingAsync(client);

        await client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "cam", Url = _rtsp.Url("/people", "viewer", Password) });
        await using var subscriber = new Subscriber(client, new Rpc.SubscribeRequest { StreamIds = { "cam" } });
        await using var everything = new Subscriber(client);
        Assert.That(await subscriber.WaitForAsync(s => s.Count >= 3, TimeSpan.FromSeconds(30)), Is.True, $"results before the stop; log:\n{Output}");
        var ffmpeg = ProcessProbe.Children(_server.Id);
        Assert.That(ffmpeg, Has.Count.EqualTo(1), "the server runs one ffmpeg for the camera");

        var clock = Stopwatch.StartNew();
        ProcessProbe.Signal(_server.Id, ProcessProbe.SigTerm);

        foreach (var s in new[] { subscriber, everything })
        {
            var ended = await Task.WhenAny(s.Reading, Task.Delay(ExitLimit));
            Assert.That(ended, Is.SameAs(s.Reading), $"the subscription ends within {ExitLimit.TotalSeconds} s");
            var status = await s.Reading;
            TestContext.Out.WriteLine($"subscription ended after {clock.Elapsed.TotalSeconds:0.0} s: {status.StatusCode} \"{status.Detail}\"");
            Assert.That(status.StatusCode, Is.EqualTo(StatusCode.Unavailable), "a status that tells the client to reconnect");
            Assert.That(status.Detail, Does.Contain("shutting down"));
        }

        var exited = _server.WaitForExit(ExitLimit - clock.Elapsed);
        TestContext.Out.WriteLine($"exited after {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.That(exited, Is.True, $"the server exits within {ExitLimit.TotalSeconds} s; log:\n{Output}");
        _server.WaitForExit();
        Assert.That(_server.ExitCode, Is.EqualTo(0), $"log:\n{Output}");
        Assert.That(ffmpeg.Where(ProcessProbe.IsAlive), Is.Empty, "its ffmpeg is gone");

        var log = Output;
        Assert.That(log, Does.Contain("rtsp://viewer:***@127.0.0.1"), "the camera's address was logged, masked");
        Assert.That(log, Does.Not.Contain("Sekr1t"), "no password in the log");
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>dotnet Detector.Server.dll, the build that sits beside this test assembly, on the fastest model.</summary>
    private Process StartServer(int grpcPort, int httpPort)
    {
        var dll = typeof(Program).Assembly.Location;
        var directory = Path.GetDirectoryName(dll)!;
        Assert.That(Path.Combine(directory, "Detector.Server.runtimeconfig.json"), Does.Exist, "the server is built beside the tests");
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
                 {
                     dll, $"--Detector:Model:Path={Shared.YoloFastestV2}", "--Detector:Model:ExecutionProvider=Cpu",
                     $"--Detector:Endpoints:GrpcPort={grpcPort}", $"--Detector:Endpoints:HttpPort={httpPort}",
                 })
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info)!;
        DataReceivedEventHandler keep = (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(e.Data);
                }
            }
        };
        process.OutputDataReceived += keep;
        process.ErrorDataReceived += keep;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task WaitUntilServingAsync(Rpc.Detector.DetectorClient client)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await client.GetModelAsync(new Rpc.GetModelRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
                return;
            }
            catch (RpcException) when (clock.Elapsed < TimeSpan.FromSeconds(60) && !_server!.HasExited)
            {
                await Task.Delay(200);
            }
        }
    }
}
