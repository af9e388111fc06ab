using Detector.Core.Tests.Sources;
using Detector.Server.Tests.Faults;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Settings;

/// <summary>The decoding settings of Detector:Sources reach the ffmpeg process that reads a real RTSP camera.</summary>
[NonParallelizable]
public class FfmpegSettingsTests
{
    [Test]
    public async Task A_camera_is_read_by_an_ffmpeg_given_the_configured_decoder_threads_and_hardware_options()
    {
        using var rtsp = new RtspServer([$"/people={Shared.Video("one-by-one-person-detection.mp4")}"]);
        rtsp.Start();
        // "-hwaccel auto" picks a hardware decoder where there is one and decodes in software where not (CI has no GPU),
        // so the camera must still deliver frames: the options go where ffmpeg takes them as input options.
        await using var host = await ServerHost.StartAsync(new Dictionary<string, string>
        {
            ["Detector:Sources:DecoderThreads"] = "2",
            ["Detector:Sources:HardwareDecoding:0"] = "-hwaccel",
            ["Detector:Sources:HardwareDecoding:1"] = "auto",
        });
        await host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "camera", Url = rtsp.Url("/people") });

        var delivered = await ProcessProbe.EventuallyAsync(
            () => host.Client.GetStream(new Rpc.GetStreamRequest { Id = "camera" }).FramesProcessed >= 3, TimeSpan.FromSeconds(30));
        var ffmpeg = ProcessProbe.Children(Environment.ProcessId);
        Assert.That(ffmpeg, Has.Count.EqualTo(1), ProcessProbe.Describe(ffmpeg));
        var args = File.ReadAllText($"/proc/{ffmpeg[0]}/cmdline").Split('\0').ToList();

        Assert.That(delivered, Is.True, "frames processed from the camera");
        var input = args.IndexOf("-i");
        Assert.That(args.IndexOf("-hwaccel"), Is.InRange(0, input - 1), string.Join(' ', args));
        Assert.That(args[args.IndexOf("-hwaccel") + 1], Is.EqualTo("auto"));
        Assert.That(args.IndexOf("-threads"), Is.InRange(0, input - 1), string.Join(' ', args));
        Assert.That(args[args.IndexOf("-threads") + 1], Is.EqualTo("2"));
    }
}
