using Detector.Server.Tests.Faults;
using Microsoft.Extensions.Options;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Settings;

/// <summary>Detector:Sources:DecoderThreads reaches the streams, and a value FFmpeg cannot take stops the start.</summary>
[NonParallelizable]
public class DecoderThreadsTests
{
    [TestCase(null, false)]
    [TestCase("0", true)]
    public async Task Streams_decode_with_the_configured_threads(string? setting, bool ffmpegThreadsExpected)
    {
        // FFmpeg names its frame-decoding threads "av:h264:df<n>"; left to choose, it starts one per core per stream.
        Assume.That(Environment.ProcessorCount, Is.GreaterThanOrEqualTo(2), "FFmpeg starts no extra threads on one core");
        var settings = new Dictionary<string, string>();
        if (setting is not null)
        {
            settings["Detector:Sources:DecoderThreads"] = setting;
        }

        var before = ProcessProbe.Threads("av:");
        await using var host = await ServerHost.StartAsync(settings);
        await host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "people", Url = Shared.Video("one-by-one-person-detection.mp4"), Options = new Rpc.StreamOptions { Loop = true } });
        var decoding = await ProcessProbe.EventuallyAsync(
            () => host.Client.GetStream(new Rpc.GetStreamRequest { Id = "people" }).FramesReceived >= 5, TimeSpan.FromSeconds(20));
        var started = ProcessProbe.Threads("av:") - before;

        Assert.That(decoding, Is.True, "the stream decodes frames");
        Assert.That(started, ffmpegThreadsExpected ? Is.GreaterThan(0) : Is.Zero, $"FFmpeg decoder threads with DecoderThreads = {setting ?? "default"}");
    }

    [Test]
    public async Task A_thread_count_ffmpeg_cannot_take_stops_the_start_and_names_the_setting()
    {
        var e = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            await using var host = await ServerHost.StartAsync(new Dictionary<string, string> { ["Detector:Sources:DecoderThreads"] = "99" }, waitReady: false);
        });

        Assert.That(e!.Message, Does.Contain("DecoderThreads"));
    }
}
