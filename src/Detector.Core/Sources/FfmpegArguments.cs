using System.Globalization;

namespace Detector.Core.Sources;

/// <summary>The ffmpeg command line for a network stream, built as an argument list (never through a shell).</summary>
public static class FfmpegArguments
{
    /// <summary>
    /// ffmpeg reads <paramref name="address"/>, decodes the first video track and writes raw BGR
    /// frames to stdout, one <c>width*height*3</c> block per frame with nothing in between. Frame
    /// timestamps and sizes go to stderr through the showinfo filter.
    /// </summary>
    public static IReadOnlyList<string> Build(StreamAddress address, StreamOptions options)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(options);
        if (address.Kind != SourceKind.Network)
        {
            throw new ArgumentException($"ffmpeg reads network streams here, not {address.Kind} sources.", nameof(address));
        }

        // ffmpeg's own socket timeout is a backstop for when this process is gone (killed, crashed) and ffmpeg is left
        // waiting on a dead camera: it then exits by itself. Twice our timeouts, so ours fire first and say more.
        var socketTimeout = Microseconds(2 * (options.OpenTimeout > options.ReadTimeout ? options.OpenTimeout : options.ReadTimeout));
        var args = new List<string> { "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info" };
        args.AddRange(options.HardwareDecoding);
        switch (address.Scheme)
        {
            case "rtsp":
            case "rtsps":
                args.AddRange(["-rtsp_transport", options.RtspTransport == RtspTransport.Udp ? "udp" : "tcp", "-timeout", socketTimeout]);
                break;
            case "http":
            case "https":
                args.AddRange(["-rw_timeout", socketTimeout]);
                break;
            case "udp":
                args.AddRange(["-timeout", socketTimeout]);
                break;
        }

        args.AddRange(["-analyzeduration", Microseconds(options.AnalyzeDuration)]);
        if (options.DecoderThreads > 0)
        {
            // An input option: the decoder's threads (see StreamOptions.DecoderThreads); left out, ffmpeg takes one per core.
            args.AddRange(["-threads", options.DecoderThreads.ToString(CultureInfo.InvariantCulture)]);
        }

        args.AddRange(["-i", address.Value]);
        args.AddRange([
            "-map", "0:v:0", "-an", "-sn", "-dn",
            // One log line per frame with its timestamp and decoded size; no checksums, they cost CPU.
            "-vf", "showinfo=checksum=0",
            // Every decoded frame exactly once: the default for raw output is a constant rate, which duplicates
            // and drops frames to fit it.
            "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1",
        ]);
        return args;
    }

    private static string Microseconds(TimeSpan value) =>
        ((long)Math.Max(0, value.TotalMicroseconds)).ToString(CultureInfo.InvariantCulture);
}
