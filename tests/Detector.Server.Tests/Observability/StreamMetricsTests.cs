using Detector.Core.Tests.Sources;
using Detector.Server.Metrics;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Observability;

/// <summary>A camera that goes away and comes back, as the metrics tell it; and what is left when a stream is removed.</summary>
[NonParallelizable]
public class StreamMetricsTests
{
    /// <summary>
    /// Frames of one stream that can be between stages at one moment: one in the reader's queue, one in the pump,
    /// one waiting for a batch, one in each of the pipeline's two batches.
    /// </summary>
    private const double InFlightBound = 5;

    [Test]
    public async Task When_a_camera_goes_away_its_state_and_reconnects_change_and_every_frame_received_is_processed_or_dropped()
    {
        using var rtsp = new RtspServer([$"/people={Shared.Video("one-by-one-person-detection.mp4")}"]);
        rtsp.Start();
        await using var host = await ServerHost.StartAsync();
        // 10 fps thinned to 4: rate_limit drops for sure.
        await host.Client.AddStreamAsync(new Rpc.AddStreamRequest
        {
            Id = "camera", Url = rtsp.Url("/people"), Options = new Rpc.StreamOptions { TargetFps = 4 },
        });

        var running = await Exposition.WaitForAsync(host, s => Processed(s) >= 12, TimeSpan.FromSeconds(30));
        Assert.That(Processed(running), Is.GreaterThanOrEqualTo(12), "frames processed while the camera runs");
        Assert.That(running.Value("detector_stream_up", "stream=camera"), Is.EqualTo(1));
        Assert.That(running.Value("detector_stream_state", "stream=camera", "state=running"), Is.EqualTo(1));
        Assert.That(running.Value("detector_stream_frames_dropped_total", "stream=camera", $"reason={DetectorMetrics.DropReason.RateLimit}"),
            Is.GreaterThan(0));
        Assert.That(OnTheirWay(running), Is.InRange(0, InFlightBound), "received = processed + dropped + in flight");
        var reconnectsBefore = running.Value("detector_stream_reconnects_total", "stream=camera");

        rtsp.Kill();
        var down = await Exposition.WaitForAsync(host,
            s => s.Value("detector_stream_up", "stream=camera") == 0 && s.Value("detector_stream_reconnects_total", "stream=camera") > reconnectsBefore,
            TimeSpan.FromSeconds(20));
        Assert.That(down.Value("detector_stream_up", "stream=camera"), Is.Zero, "up after the camera died");
        Assert.That(down.Value("detector_stream_state", "stream=camera", "state=reconnecting"), Is.EqualTo(1));
        Assert.That(down.Value("detector_stream_state", "stream=camera", "state=running"), Is.Zero);
        Assert.That(down.Value("detector_stream_reconnects_total", "stream=camera"), Is.GreaterThan(reconnectsBefore));

        // No frame arrives any more: once the last ones are through, the books balance exactly.
        var idle = await Exposition.WaitForAsync(host, s => OnTheirWay(s) == 0, TimeSpan.FromSeconds(5));
        TestContext.Out.WriteLine(string.Join(", ", idle.Find("detector_stream_frames_dropped_total", "stream=camera").Select(s => $"{s.Labels["reason"]} {s.Value}")) +
            $"; processed {Processed(idle)}, received {idle.Value("detector_stream_frames_received_total", "stream=camera")}");
        Assert.That(OnTheirWay(idle), Is.Zero, "received = processed + dropped once the stream is idle");
        Assert.That(Dropped(idle), Is.GreaterThan(0));
        Assert.That(idle.Value("detector_pipeline_frames_in_flight"), Is.Zero);

        rtsp.Start();
        var back = await Exposition.WaitForAsync(host, s => s.Value("detector_stream_up", "stream=camera") == 1, TimeSpan.FromSeconds(30));
        Assert.That(back.Value("detector_stream_state", "stream=camera", "state=running"), Is.EqualTo(1), "running again once the camera is back");
        Assert.That(back.Value("detector_stream_reconnects_total", "stream=camera"), Is.GreaterThanOrEqualTo(down.Value("detector_stream_reconnects_total", "stream=camera")));

        await host.Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = "camera" });
        var removed = await Exposition.ScrapeAsync(host);
        Assert.That(removed.Samples.Where(s => s.Labels.ContainsKey("stream")), Is.Empty, "a removed stream's series go with it");
        Assert.That(removed.Value("detector_streams"), Is.Zero);
    }

    [Test]
    public async Task Readyz_wants_a_warm_model_and_a_source_that_has_not_failed_while_healthz_only_wants_the_process()
    {
        await using var host = await ServerHost.StartAsync(new Dictionary<string, string>
        {
            // One configured stream fails for good (no such file), the other is refused (not an address).
            ["Detector:Streams:0:Id"] = "missing",
            ["Detector:Streams:0:Url"] = "/nonexistent/video.mp4",
            ["Detector:Streams:1:Id"] = "refused",
            ["Detector:Streams:1:Url"] = "gopher://example",
        }, waitReady: false);
        using var http = new HttpClient();
        var early = await http.GetAsync($"{host.HttpAddress}/readyz");
        if (!host.Engine.IsReady)
        {
            Assert.That((int)early.StatusCode, Is.EqualTo(503), "not ready while the model loads");
        }

        await host.Engine.Ready.WaitAsync(TimeSpan.FromSeconds(60));
        var failed = await WaitForReadyzAsync(http, host, 503, TimeSpan.FromSeconds(15));
        Assert.That(failed.Status, Is.EqualTo(503), failed.Body);
        Assert.That(failed.Body, Does.Contain("all 2 sources failed"));
        Assert.That((int)(await http.GetAsync($"{host.HttpAddress}/healthz")).StatusCode, Is.EqualTo(200), "live all the same");
        var health = await new global::Grpc.Health.V1.Health.HealthClient(host.Calls).CheckAsync(new global::Grpc.Health.V1.HealthCheckRequest());
        Assert.That(health.Status, Is.EqualTo(global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving), "gRPC calls still work");

        await host.Client.AddStreamAsync(new Rpc.AddStreamRequest
        {
            Id = "file", Url = Shared.Video("car-detection.mp4"), Options = new Rpc.StreamOptions { Loop = true },
        });
        var ready = await WaitForReadyzAsync(http, host, 200, TimeSpan.FromSeconds(10));
        Assert.That(ready.Status, Is.EqualTo(200), ready.Body);
        Assert.That(ready.Body, Does.Contain("1 of 3 sources not failed"));
    }

    private static double Processed(Exposition s) => s.Value("detector_stream_frames_processed_total", "stream=camera");

    private static double Dropped(Exposition s) => s.Sum("detector_stream_frames_dropped_total", "stream=camera");

    private static double OnTheirWay(Exposition s) =>
        s.Value("detector_stream_frames_received_total", "stream=camera") - Processed(s) - Dropped(s);

    private static async Task<(int Status, string Body)> WaitForReadyzAsync(HttpClient http, ServerHost host, int status, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var response = await http.GetAsync($"{host.HttpAddress}/readyz");
            var result = ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
            if (result.Item1 == status || DateTime.UtcNow > deadline)
            {
                return result;
            }

            await Task.Delay(200);
        }
    }
}
