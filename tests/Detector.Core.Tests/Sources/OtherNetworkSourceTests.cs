using System.Diagnostics;
using Detector.Core.Sources;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

/// <summary>UDP (MPEG-TS) and HTTP MJPEG streams, sent by an ffmpeg of the test's own.</summary>
[NonParallelizable]
public class OtherNetworkSourceTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Test]
    public async Task An_mpeg_ts_stream_over_udp_is_read()
    {
        var port = FreePorts.Udp();
        using var sender = Sender(["-re", "-stream_loop", "-1", "-i", SourceMedia.Street, "-an", "-c", "copy", "-f", "mpegts", $"udp://127.0.0.1:{port}?pkt_size=1316"]);
        await using var stream = new VideoStream("udp", StreamAddress.Parse($"udp://127.0.0.1:{port}"));
        stream.Start();

        using var timeout = new CancellationTokenSource(Wait);
        for (var i = 0; i < 5; i++)
        {
            using var frame = await stream.ReadAsync(timeout.Token);
            Assert.That((frame!.Width, frame.Height), Is.EqualTo((480, 270)));
        }
    }

    [Test]
    public async Task An_http_mjpeg_stream_is_read()
    {
        var port = FreePorts.Tcp();
        // ffmpeg as a one-client HTTP server of multipart JPEG, the format of most IP-camera "video.mjpg" URLs.
        using var sender = Sender(["-re", "-stream_loop", "-1", "-i", SourceMedia.Street, "-an", "-c:v", "mjpeg", "-q:v", "5", "-f", "mpjpeg", "-listen", "1", $"http://127.0.0.1:{port}/video.mjpg"]);
        await Task.Delay(500);
        await using var stream = new VideoStream("mjpeg", StreamAddress.Parse($"http://127.0.0.1:{port}/video.mjpg"));
        stream.Start();

        using var timeout = new CancellationTokenSource(Wait);
        for (var i = 0; i < 5; i++)
        {
            using var frame = await stream.ReadAsync(timeout.Token);
            Assert.That((frame!.Width, frame.Height), Is.EqualTo((480, 270)));
        }
    }

    /// <summary>An ffmpeg sender, run under another name so the decoder-leak checks do not count it.</summary>
    private static KilledOnDispose Sender(IReadOnlyList<string> arguments)
    {
        var link = Path.Combine(Path.GetTempPath(), $"ffsender-{Environment.ProcessId}");
        if (!File.Exists(link))
        {
            File.CreateSymbolicLink(link, "/usr/bin/ffmpeg");
        }

        var info = new ProcessStartInfo(link) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-hide_banner", "-loglevel", "error", "-nostdin" }.Concat(arguments))
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info)!;
        _ = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        return new KilledOnDispose(process);
    }

    private sealed class KilledOnDispose(Process process) : IDisposable
    {
        public void Dispose()
        {
            try
            {
                process.Kill();
                process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            process.Dispose();
        }
    }
}
