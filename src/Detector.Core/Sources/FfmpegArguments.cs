using System.Globalization;

namespace Detector.Core.Sources;

/// <summary>
/// How ffmpeg is started for a network stream: its arguments, built as a list (never through a shell), and what it reads
/// on stdin. The address is not among the arguments: a command line is public on Linux (<c>ps</c>, /proc/PID/cmdline,
/// from the host too for a container's processes), and camera URLs carry passwords. ffmpeg reads it instead from a
/// one-entry ffconcat script on stdin, with the input's own options beside it.
/// </summary>
/// <param name="Arguments">ffmpeg's arguments.</param>
/// <param name="Input">The ffconcat script to write to ffmpeg's stdin (then close it).</param>
public sealed record FfmpegCommand(IReadOnlyList<string> Arguments, string Input);

/// <summary>Builds the <see cref="FfmpegCommand"/> for a network stream.</summary>
public static class FfmpegArguments
{
    /// <summary>
    /// The protocols ffmpeg may use: the concat demuxer's stdin, and what the network schemes need (RTSP's RTP over UDP or
    /// TCP, TLS for rtsps and https, HLS's encrypted segments). Not "file": a playlist cannot send ffmpeg to local files.
    /// </summary>
    public const string ProtocolWhitelist = "pipe,rtsp,rtsps,rtp,srtp,udp,tcp,tls,http,https,httpproxy,crypto";

    /// <summary>
    /// ffmpeg reads <paramref name="address"/>, decodes the first video track and writes raw BGR
    /// frames to stdout, one <c>width*height*3</c> block per frame with nothing in between. Frame
    /// timestamps and sizes go to stderr through the showinfo filter.
    /// </summary>
    public static FfmpegCommand Build(StreamAddress address, StreamOptions options)
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
        var analyzeDuration = Microseconds(options.AnalyzeDuration);

        // The input's options go into the script, where the concat demuxer hands them to the demuxer and protocol it opens
        // for the address (an option neither knows is ignored there, so each is named for its scheme only).
        var inputOptions = new List<(string Name, string Value)>();
        switch (address.Scheme)
        {
            case "rtsp":
            case "rtsps":
                inputOptions.Add(("rtsp_transport", options.RtspTransport == RtspTransport.Udp ? "udp" : "tcp"));
                inputOptions.Add(("timeout", socketTimeout));
                break;
            case "http":
            case "https":
                inputOptions.Add(("rw_timeout", socketTimeout));
                break;
            case "udp":
                inputOptions.Add(("timeout", socketTimeout));
                break;
        }

        inputOptions.Add(("analyzeduration", analyzeDuration));

        var args = new List<string> { "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info" };
        args.AddRange(options.HardwareDecoding);
        // Probing is bounded twice: here for the concat demuxer ffmpeg opens, in the script for the stream it opens inside.
        args.AddRange(["-analyzeduration", analyzeDuration]);
        if (options.DecoderThreads > 0)
        {
            // An input option: the decoder's threads (see StreamOptions.DecoderThreads); left out, ffmpeg takes one per core.
            args.AddRange(["-threads", options.DecoderThreads.ToString(CultureInfo.InvariantCulture)]);
        }

        args.AddRange(["-f", "concat", "-safe", "0", "-protocol_whitelist", ProtocolWhitelist, "-i", "pipe:0"]);
        args.AddRange([
            "-map", "0:v:0", "-an", "-sn", "-dn",
            // One log line per frame with its timestamp and decoded size; no checksums, they cost CPU.
            "-vf", "showinfo=checksum=0",
            // Every decoded frame exactly once: the default for raw output is a constant rate, which duplicates
            // and drops frames to fit it.
            "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1",
        ]);
        return new FfmpegCommand(args, InputScript(address.Value, inputOptions));
    }

    /// <summary>
    /// A one-entry ffconcat script. Its tokens are read like a shell's: inside single quotes everything is literal up to
    /// the next quote, so a quote in the URL closes the quoting, is escaped, and opens it again. A line break cannot be
    /// quoted, and would start a directive of the client's making: refused (a parsed address never has one).
    /// </summary>
    internal static string InputScript(string url, IReadOnlyList<(string Name, string Value)> inputOptions)
    {
        if (url.Any(char.IsControl))
        {
            throw new ArgumentException("A stream address cannot contain control characters.", nameof(url));
        }

        var script = new System.Text.StringBuilder("ffconcat version 1.0\n");
        script.Append("file '").Append(url.Replace("'", @"'\''", StringComparison.Ordinal)).Append("'\n");
        foreach (var (name, value) in inputOptions)
        {
            script.Append("option ").Append(name).Append(' ').Append(value).Append('\n');
        }

        return script.ToString();
    }

    private static string Microseconds(TimeSpan value) =>
        ((long)Math.Max(0, value.TotalMicroseconds)).ToString(CultureInfo.InvariantCulture);
}
