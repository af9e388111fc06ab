using Detector.Core.Tests.Sources;
using Detector.Server.Tests.Grpc;
using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Secrets;

/// <summary>
/// Cameras with passwords, a wrong password, an unreachable camera, an HTTP source with a token, and bad requests
/// that carry credentials: no secret comes back in an error, a trailer or a stream's info, none is exported as a
/// metric, and none is logged (at any level down to Debug).
/// </summary>
[NonParallelizable]
public class CredentialLeakTests
{
    private const string Password = "pw-Sekr1t";
    private static readonly Metadata ApiKeyHeaders = new() { { "authorization", "Bearer key-Sekr1t" }, { "x-api-key", "key-Sekr1t" } };

    [Test]
    public async Task No_secret_reaches_an_error_a_trailer_a_stream_info_a_metric_or_a_log_line()
    {
        using var camera = new RtspServer([$"/car={Shared.Video("car-detection.mp4")}"], "admin", Password);
        camera.Start();
        await using var host = await ServerHost.StartAsync();
        var client = host.Client;
        var leaks = new List<string>();

        void Check(string where, string? text)
        {
            if (CredentialScan.Contains(text))
            {
                leaks.Add($"{where}: {CredentialScan.Redact(text!)}");
            }
        }

        // Streams that run, fail or keep reconnecting, each with a secret in its URL.
        var streams = new Dictionary<string, string>
        {
            ["camera"] = camera.Url("/car", "admin", Password),
            ["wrong-password"] = camera.Url("/car", "admin", "wrong-Sekr1t"),
            ["unreachable"] = $"rtsp://admin:{Password}@127.0.0.1:1/cam",
            ["query-token"] = $"rtsp://127.0.0.1:1/cam?user=admin&password={Password}",
            // ffmpeg's error names the URL it could not open.
            ["http"] = $"http://admin:{Password}@127.0.0.1:1/video.mjpg?token=tok-Sekr1t",
        };
        foreach (var (id, url) in streams)
        {
            var info = await client.AddStreamAsync(new Rpc.AddStreamRequest { Id = id, Url = url, Options = new Rpc.StreamOptions { TargetFps = 2 } },
                ApiKeyHeaders);
            Check($"AddStream({id}) reply", info.ToString());
            Assert.That(info.MaskedUrl, Does.Contain("***"), id);
        }

        // Requests refused for their URL (or options), the URL carrying a password.
        string[] badUrls =
        [
            $"ftp://admin:{Password}@127.0.0.1/video",
            $"rtsp://admin:{Password}@127.0.0.1:99999/cam",
            $"rtsp:admin:{Password}@127.0.0.1/cam",
            $"rtsp://admin:{Password}@/cam",
            $"rtsp://admin:{Password}@127.0.0.1/cam\u0001",
            $"udp://admin:{Password}@127.0.0.1/cam",
        ];
        foreach (var url in badUrls)
        {
            var e = (await Assert.ThrowsAsync<RpcException>(async () =>
                await client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "bad", Url = url }, ApiKeyHeaders)))!;
            Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), CredentialScan.Redact(e.Status.Detail));
            Check($"AddStream error for {CredentialScan.Redact(url)}", e.Status.Detail);
            Check("its trailers", string.Join("\n", e.Trailers.Select(t => $"{t.Key}: {(t.IsBinary ? "" : t.Value)}")));
        }

        var looping = (await Assert.ThrowsAsync<RpcException>(async () => await client.AddStreamAsync(new Rpc.AddStreamRequest
        {
            Id = "loop", Url = $"rtsp://admin:{Password}@127.0.0.1:1/cam", Options = new Rpc.StreamOptions { Loop = true },
        })))!;
        Check("AddStream error for an option a camera cannot have", looping.Status.Detail);
        var taken = (await Assert.ThrowsAsync<RpcException>(async () =>
            await client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "camera", Url = $"rtsp://admin:other-{Password}@127.0.0.1:1/x" })))!;
        Assert.That(taken.StatusCode, Is.EqualTo(StatusCode.AlreadyExists));
        Check("AddStream error for a taken id", taken.Status.Detail);

        // Each failing stream gets to its error; the camera with the right password delivers results.
        foreach (var id in new[] { "wrong-password", "unreachable", "query-token", "http" })
        {
            var info = await Results.WaitForStateAsync(client, id, i => i.LastError.Length > 0, TimeSpan.FromSeconds(30));
            TestContext.Out.WriteLine($"{id}: {info.State}: {CredentialScan.Redact(info.LastError)}");
        }

        var results = await Results.CollectAsync(client, new Rpc.SubscribeRequest { StreamIds = { "camera" } }, rs => rs.Count >= 3, TimeSpan.FromSeconds(30));
        Assert.That(results, Has.Count.GreaterThanOrEqualTo(3), "the camera with the right password runs");

        foreach (var info in (await client.ListStreamsAsync(new Rpc.ListStreamsRequest(), ApiKeyHeaders)).Streams)
        {
            Check($"ListStreams {info.Id}", info.ToString());
            Check($"GetStream {info.Id}", (await client.GetStreamAsync(new Rpc.GetStreamRequest { Id = info.Id }, ApiKeyHeaders)).ToString());
        }

        using var http = new HttpClient();
        var metrics = await http.GetStringAsync($"{host.HttpAddress}/metrics");
        Assert.That(metrics, Does.Contain("detector_"));
        Check("/metrics", metrics);

        foreach (var id in streams.Keys)
        {
            await client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = id }, ApiKeyHeaders);
        }

        // The capture saw this server's events (the masked camera URL among them), and none carried a secret.
        Assert.That(LogCapture.Instance.Recent, Has.Some.Contains("rtsp://admin:***@127.0.0.1"), "the log capture is on");
        Assert.That(LogCapture.Instance.Recent, Has.Some.StartsWith("Debug "), "the capture runs at Debug");
        foreach (var line in LogCapture.Instance.Leaks)
        {
            Check("log", line);
        }

        Assert.That(leaks, Is.Empty, string.Join("\n", leaks));
    }
}
