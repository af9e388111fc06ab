using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Security;

/// <summary>
/// The per-stream limits: frame size (Detector:Limits:MaxFramePixels) and rate (MaxStreamFps). The stream, message,
/// subscriber and image-size limits are in Grpc/ErrorStatusTests.
/// </summary>
[NonParallelizable]
public class LimitTests
{
    private const double MaxFps = 5;
    private ServerHost _host = null!;

    private Rpc.Detector.DetectorClient Client => _host.Client;

    // 480x270 = 129,600 pixels at 12 fps; car-detection.mp4 is 768x432 = 331,776 pixels.
    private static string Small => Shared.Video("person-bicycle-car-detection.mp4");

    [OneTimeSetUp]
    public async Task Start() => _host = await ServerHost.StartAsync(new Dictionary<string, string>
    {
        ["Detector:Limits:MaxStreamFps"] = MaxFps.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Detector:Limits:MaxFramePixels"] = "200000",
    });

    [OneTimeTearDown]
    public async Task Stop() => await _host.DisposeAsync();

    [TearDown]
    public async Task RemoveStreams()
    {
        foreach (var s in (await Client.ListStreamsAsync(new Rpc.ListStreamsRequest())).Streams)
        {
            await Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = s.Id });
        }
    }

    private async Task<Rpc.StreamInfo> WaitFor(string id, Func<Rpc.StreamInfo, bool> condition, double seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        var info = await Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = id });
        while (!condition(info) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            info = await Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = id });
        }

        return info;
    }

    [Test]
    public async Task A_target_fps_over_the_limit_is_invalid_argument()
    {
        var e = (await Assert.ThrowsAsync<RpcException>(async () => await Client.AddStreamAsync(new Rpc.AddStreamRequest
        {
            Id = "fast", Url = Small, Options = new Rpc.StreamOptions { TargetFps = MaxFps + 1 },
        })))!;
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(e.Status.Detail, Does.Contain("between 0 and 5").And.Contain("Detector:Limits:MaxStreamFps"));
    }

    [Test]
    public async Task Streams_at_their_source_rate_are_capped_live_ones_by_dropping_and_fast_ones_by_waiting()
    {
        await Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "live", Url = Small, Options = new Rpc.StreamOptions { Loop = true } });
        await Client.AddStreamAsync(new Rpc.AddStreamRequest
        {
            Id = "fast", Url = Small, Options = new Rpc.StreamOptions { Loop = true, AsFastAsPossible = true },
        });
        var live0 = await WaitFor("live", i => i.FramesProcessed > 0);
        var fast0 = await WaitFor("fast", i => i.FramesProcessed > 0);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(3));
        var live = await Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = "live" });
        var fast = await Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = "fast" });
        var seconds = clock.Elapsed.TotalSeconds;

        // One interval of slack each way: the first frame of the window may come right after the last one before it.
        Assert.That(live.FramesProcessed - live0.FramesProcessed, Is.InRange(1, (MaxFps * seconds) + 1));
        Assert.That(live.FramesDropped, Is.GreaterThan(0), "a 12 fps source capped at 5 drops frames");
        Assert.That(fast.FramesProcessed - fast0.FramesProcessed, Is.InRange(1, (MaxFps * seconds) + 1));
        Assert.That(fast.FramesDropped, Is.Zero, "as fast as possible drops nothing");
        // The reader waited too: it is at most its queue and the pipeline's few frames ahead of the model.
        Assert.That(fast.FramesReceived - fast.FramesProcessed, Is.LessThanOrEqualTo(10));
    }

    [Test]
    public async Task A_source_with_frames_over_the_pixel_limit_fails_with_the_reason_and_others_run_on()
    {
        await Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "small", Url = Small, Options = new Rpc.StreamOptions { Loop = true } });
        await Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "big", Url = Shared.Video("car-detection.mp4") });

        var big = await WaitFor("big", i => i.State == Rpc.StreamState.Failed);
        Assert.That(big.State, Is.EqualTo(Rpc.StreamState.Failed));
        Assert.That(big.LastError, Does.Contain("768x432").And.Contain("200000").And.Contain("MaxFramePixels"));
        Assert.That(big.FramesProcessed, Is.Zero);

        var small = await Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = "small" });
        var later = await WaitFor("small", i => i.FramesProcessed > small.FramesProcessed);
        Assert.That(later.FramesProcessed, Is.GreaterThan(small.FramesProcessed));
    }
}
