using System.Globalization;
using System.Text.RegularExpressions;

namespace Detector.Core.Sources;

/// <summary>Reads what ffmpeg writes to stderr: the output format, per-frame info, and errors.</summary>
internal static partial class FfmpegLog
{
    /// <summary>One frame as the showinfo filter saw it, before any scaling to the output size.</summary>
    internal readonly record struct FrameInfo(long Index, TimeSpan? Pts, int Width, int Height);

    /// <summary>The raw video output's size and rate, from the "Output #0" stream line.</summary>
    public static bool TryParseOutputVideo(string line, out VideoFormat format)
    {
        format = default;
        if (!line.Contains("Video: rawvideo", StringComparison.Ordinal))
        {
            return false;
        }

        var size = OutputSize().Match(line);
        if (!size.Success)
        {
            return false;
        }

        var fps = Fps().Match(line);
        format = new VideoFormat(
            int.Parse(size.Groups[1].ValueSpan, CultureInfo.InvariantCulture),
            int.Parse(size.Groups[2].ValueSpan, CultureInfo.InvariantCulture),
            fps.Success && double.TryParse(fps.Groups[1].ValueSpan, NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) && rate > 0 ? rate : null);
        return format.Width > 0 && format.Height > 0;
    }

    /// <summary>Parses a showinfo frame line ("n: 3 pts: 13500 pts_time:0.15 ... s:768x432 ...").</summary>
    public static bool TryParseFrameInfo(string line, out FrameInfo info)
    {
        info = default;
        if (!line.Contains("showinfo", StringComparison.Ordinal))
        {
            return false;
        }

        var m = ShowInfo().Match(line);
        if (!m.Success)
        {
            return false;
        }

        TimeSpan? pts = double.TryParse(m.Groups["time"].ValueSpan, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds)
            ? TimeSpan.FromSeconds(seconds)
            : null;
        info = new FrameInfo(
            long.Parse(m.Groups["n"].ValueSpan, CultureInfo.InvariantCulture),
            pts,
            int.Parse(m.Groups["w"].ValueSpan, CultureInfo.InvariantCulture),
            int.Parse(m.Groups["h"].ValueSpan, CultureInfo.InvariantCulture));
        return true;
    }

    /// <summary>Lines worth keeping for an error message: not the per-frame chatter or the stream dump.</summary>
    public static bool IsDiagnostic(string line) =>
        line.Length > 0
        && !line.Contains("showinfo", StringComparison.Ordinal)
        && !line.StartsWith(' ')
        && !line.StartsWith("Input #", StringComparison.Ordinal)
        && !line.StartsWith("Output #", StringComparison.Ordinal)
        && !line.StartsWith("Stream mapping", StringComparison.Ordinal)
        && !line.StartsWith("Press [q]", StringComparison.Ordinal)
        && !line.StartsWith("video:", StringComparison.Ordinal);

    /// <summary>
    /// Turns ffmpeg's last words into an error an operator can act on. <paramref name="lines"/> are
    /// already redacted.
    /// </summary>
    public static FrameSourceException Classify(IReadOnlyList<string> lines, int? exitCode, string maskedAddress)
    {
        var detail = lines.Count > 0 ? Tidy(lines[^1], maskedAddress) : exitCode is { } code ? $"exit code {code}" : "no output";
        bool Any(params string[] needles) => lines.Any(l => needles.Any(n => l.Contains(n, StringComparison.OrdinalIgnoreCase)));
        string Evidence(params string[] needles) =>
            lines.LastOrDefault(l => needles.Any(n => l.Contains(n, StringComparison.OrdinalIgnoreCase))) is { } line ? Tidy(line, maskedAddress) : detail;

        if (Any("unknown keyword 'option'"))
        {
            // ffmpeg before 5.0: its concat demuxer cannot take the input's options from the script the address comes in.
            return new FrameSourceException(StreamErrorKind.Unsupported,
                $"{maskedAddress}: this ffmpeg is too old to read network streams here; version 5.0 or later is needed ({Evidence("unknown keyword")}).",
                isPermanent: true);
        }

        if (Any("401 Unauthorized", "403 Forbidden", "authorization failed"))
        {
            return new FrameSourceException(StreamErrorKind.Unauthorized,
                $"{maskedAddress}: authentication failed; check the user name and password ({Evidence("401", "403", "authorization")}).", isPermanent: true);
        }

        if (Any("404 Not Found", "No such file or directory"))
        {
            // Not permanent: RTSP relays answer 404 until the camera behind them publishes.
            return new FrameSourceException(StreamErrorKind.NotFound,
                $"{maskedAddress}: the stream path was not found on the server ({Evidence("404", "No such file")}).", isPermanent: false);
        }

        if (Any("Protocol not found", "Unsupported protocol", "Unknown input format"))
        {
            return new FrameSourceException(StreamErrorKind.Unsupported,
                $"{maskedAddress}: this ffmpeg cannot read the protocol ({Evidence("Protocol", "Unknown input")}).", isPermanent: true);
        }

        if (Any("Connection refused", "No route to host", "Network is unreachable", "Name or service not known",
                "Temporary failure in name resolution", "Failed to resolve hostname", "Cannot assign requested address"))
        {
            return new FrameSourceException(StreamErrorKind.Unreachable,
                $"{maskedAddress}: cannot reach the server ({Evidence("refused", "route", "unreachable", "resolve", "name", "assign")}).", isPermanent: false);
        }

        if (Any("timed out", "Connection timeout", "Operation timed out"))
        {
            return new FrameSourceException(StreamErrorKind.Timeout,
                $"{maskedAddress}: the connection timed out ({Evidence("timed out", "timeout")}).", isPermanent: false);
        }

        if (Any("Connection reset", "Broken pipe", "End of file", "Server returned 5"))
        {
            return new FrameSourceException(StreamErrorKind.Disconnected,
                $"{maskedAddress}: the server closed the connection ({Evidence("reset", "pipe", "End of file", "Server returned")}).", isPermanent: false);
        }

        if (Any("Invalid data found", "could not find codec parameters", "Could not find codec", "Decoder (codec", "does not contain any stream"))
        {
            return new FrameSourceException(StreamErrorKind.CorruptInput,
                $"{maskedAddress}: the stream cannot be decoded ({Evidence("Invalid data", "codec", "Decoder", "stream")}).", isPermanent: false);
        }

        return new FrameSourceException(StreamErrorKind.Other,
            lines.Count > 0 || exitCode is null
                ? $"{maskedAddress}: ffmpeg stopped{(exitCode is { } c ? $" with exit code {c}" : "")} ({detail})."
                : $"{maskedAddress}: ffmpeg stopped with exit code {exitCode} and no output.", isPermanent: false);
    }

    /// <summary>
    /// ffmpeg's line without its "[tcp @ 0x55d0...]" prefix, a repeat of the address the message starts with, or the name
    /// of the input ffmpeg was given ("pipe:0", the script that carries the address: see <see cref="FfmpegArguments"/>).
    /// </summary>
    private static string Tidy(string line, string maskedAddress)
    {
        var tidy = ContextPrefix().Replace(line, "");
        foreach (var input in new[] { maskedAddress + ": ", "pipe:0: " })
        {
            if (tidy.StartsWith(input, StringComparison.Ordinal))
            {
                return tidy[input.Length..];
            }
        }

        return tidy;
    }

    [GeneratedRegex(@"^\[[^\]]* @ 0x[0-9a-f]+\] ")]
    private static partial Regex ContextPrefix();

    // ", 768x432," in "rawvideo (BGR[24] / 0x18524742), bgr24(pc, gbr/unknown/unknown, progressive), 768x432, q=2-31".
    // The fourcc "0x18524742" is not matched: its left side is a single digit and its right side too long.
    [GeneratedRegex(@", (\d{2,5})x(\d{2,5})(?=[,\s\[]|$)")]
    private static partial Regex OutputSize();

    [GeneratedRegex(@", ([\d.]+) fps")]
    private static partial Regex Fps();

    [GeneratedRegex(@"\bn:\s*(?<n>\d+)\s+pts:\s*\S+\s+pts_time:(?<time>\S+).*?\ss:(?<w>\d+)x(?<h>\d+)")]
    private static partial Regex ShowInfo();
}
