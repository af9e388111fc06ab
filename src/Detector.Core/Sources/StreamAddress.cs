using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Detector.Core.Sources;

/// <summary>What kind of thing a stream address points at, which decides the reader that opens it.</summary>
public enum SourceKind
{
    /// <summary>A local video file, decoded by OpenCvSharp.</summary>
    File,

    /// <summary>A network stream (RTSP, HTTP MJPEG/HLS, UDP), decoded by an ffmpeg process.</summary>
    Network,

    /// <summary>A V4L2 camera (<c>/dev/videoN</c> or an index), read by OpenCvSharp.</summary>
    Device,
}

/// <summary>
/// A validated stream address: a network URL, a file path or a camera device. Its text form is
/// always <see cref="Masked"/>, so an address can be logged, put in a metric label or returned by
/// an API without leaking the camera password; only the readers see the real value.
/// </summary>
public sealed partial class StreamAddress : IEquatable<StreamAddress>
{
    private const string Mask = "***";

    /// <summary>Schemes ffmpeg is asked to open; anything else with "://" is rejected up front.</summary>
    public static IReadOnlyList<string> NetworkSchemes { get; } = ["rtsp", "rtsps", "http", "https", "udp"];

    // Query parameters that some cameras use for credentials or signed URLs.
    private static readonly HashSet<string> SecretQueryKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "password", "passwd", "pwd", "pass", "token", "access_token", "auth", "key", "apikey", "api_key",
        "secret", "signature", "sig",
    };

    private readonly string? _password;

    private StreamAddress(SourceKind kind, string scheme, string value, string masked, string? password)
    {
        Kind = kind;
        Scheme = scheme;
        Value = value;
        Masked = masked;
        _password = password;
    }

    public SourceKind Kind { get; }

    /// <summary>Lower-case URL scheme; "file" for paths and "v4l2" for devices.</summary>
    public string Scheme { get; }

    /// <summary>The address with any password (and secret query value) replaced by "***".</summary>
    public string Masked { get; }

    /// <summary>True when the address carries a password that <see cref="Masked"/> hides.</summary>
    public bool HasCredentials => _password is not null;

    /// <summary>The real address, credentials included: for readers only, never for logs or messages.</summary>
    internal string Value { get; }

    /// <summary>The camera index for <c>0</c>, <c>1</c>, ... addresses; null for device paths.</summary>
    public int? DeviceIndex => Kind == SourceKind.Device && int.TryParse(Value, NumberStyles.None, CultureInfo.InvariantCulture, out var index) ? index : null;

    public static StreamAddress Parse(string text) =>
        TryParse(text, out var address, out var error) ? address : throw new FormatException(error);

    /// <summary>
    /// Classifies and validates <paramref name="text"/>. The error, when there is one, says what is
    /// wrong in words a person can act on and shows the address masked.
    /// </summary>
    public static bool TryParse(
        [NotNullWhen(true)] string? text,
        [NotNullWhen(true)] out StreamAddress? address,
        [NotNullWhen(false)] out string? error)
    {
        address = null;
        error = null;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            error = "The stream address is empty.";
            return false;
        }

        if (text.Contains('\0') || text.Any(char.IsControl))
        {
            error = $"The stream address '{MaskMalformed(Printable(text))}' contains control characters.";
            return false;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            address = new StreamAddress(SourceKind.Device, "v4l2", index.ToString(CultureInfo.InvariantCulture), text, null);
            return true;
        }

        if (text.StartsWith("/dev/", StringComparison.Ordinal))
        {
            address = new StreamAddress(SourceKind.Device, "v4l2", text, text, null);
            return true;
        }

        var scheme = SchemePattern().Match(text);
        if (!scheme.Success)
        {
            return TryParseFile(text, out address, out error);
        }

        var name = scheme.Groups["scheme"].Value.ToLowerInvariant();
        var hasSlashes = scheme.Groups["slashes"].Success;
        if (name == "file")
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var fileUri) || !fileUri.IsFile)
            {
                error = $"'{MaskMalformed(text)}' is not a valid file URL; use file:///absolute/path or a plain path.";
                return false;
            }

            return TryParseFile(fileUri.LocalPath, out address, out error);
        }

        if (!NetworkSchemes.Contains(name))
        {
            if (!hasSlashes)
            {
                // "clip:1.mp4" is a file name with a colon, not a URL.
                return TryParseFile(text, out address, out error);
            }

            error = $"Unsupported scheme '{name}' in '{MaskMalformed(text)}'; supported: {string.Join(", ", NetworkSchemes)}, a file path, or a camera (/dev/videoN or an index).";
            return false;
        }

        if (!hasSlashes)
        {
            error = $"Malformed {name} URL '{MaskMalformed(text)}'; expected {name}://host[:port]/path.";
            return false;
        }

        return TryParseNetwork(text, name, out address, out error);
    }

    /// <summary>
    /// Removes this address's credentials from free text such as an ffmpeg error line: the URL in
    /// any form, the password on its own, and credentials of any other URL in the text.
    /// </summary>
    public string Redact(string text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text;
        }

        var result = text.Replace(Value, Masked, StringComparison.Ordinal);
        result = MaskUrlsIn(result);
        if (_password is { Length: >= 3 })
        {
            // Short passwords are not replaced on their own: "***" in place of every "ab" would make the text unreadable,
            // and the URL forms above already cover them.
            result = result.Replace(_password, Mask, StringComparison.Ordinal);
            var decoded = Uri.UnescapeDataString(_password);
            if (decoded != _password && decoded.Length >= 3)
            {
                result = result.Replace(decoded, Mask, StringComparison.Ordinal);
            }
        }

        return result;
    }

    /// <summary>Masks the password of every URL with user info, and secret query values, in free text.</summary>
    public static string MaskUrlsIn(string text)
    {
        var masked = UserInfoPattern().Replace(text, m => $"{m.Groups["scheme"].Value}://{m.Groups["user"].Value}:{Mask}@");
        return SecretQueryPattern().Replace(masked, m =>
            SecretQueryKeys.Contains(m.Groups["key"].Value) ? $"{m.Groups["sep"].Value}{m.Groups["key"].Value}={Mask}" : m.Value);
    }

    /// <summary>
    /// For the error about an address that did not parse: as <see cref="MaskUrlsIn"/>, and also whatever stands where a
    /// password would in a URL that is not well-formed ("rtsp:admin:pw@cam", a password with a '/' in it), up to the
    /// last '@'. Hiding too much is better than echoing a password in an error message.
    /// </summary>
    private static string MaskMalformed(string text) =>
        LooseUserInfoPattern().Replace(MaskUrlsIn(text), m => $"{m.Groups["prefix"].Value}{Mask}@");

    public override string ToString() => Masked;

    public bool Equals(StreamAddress? other) => other is not null && Kind == other.Kind && Value == other.Value;

    public override bool Equals(object? obj) => Equals(obj as StreamAddress);

    public override int GetHashCode() => HashCode.Combine(Kind, Value);

    private static bool TryParseFile(string path, out StreamAddress? address, out string? error)
    {
        address = null;
        error = null;
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            error = $"'{MaskUrlsIn(path)}' is not a valid file path: {ex.Message}";
            return false;
        }

        address = new StreamAddress(SourceKind.File, "file", full, full, null);
        return true;
    }

    private static bool TryParseNetwork(string text, string scheme, out StreamAddress? address, out string? error)
    {
        address = null;
        error = null;
        var masked = MaskUrlsIn(text);
        var shown = MaskMalformed(text);
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            // ffmpeg's "listen on this port" forms (udp://@:1234, udp://:1234) are not URIs to .NET.
            if (scheme == "udp" && UdpListenPattern().Match(text) is { Success: true } listen && IsPort(listen.Groups["port"].Value))
            {
                address = new StreamAddress(SourceKind.Network, scheme, text, masked, null);
                return true;
            }

            error = $"Malformed {scheme} URL '{shown}'; expected {scheme}://[user:password@]host[:port]/path with a port from 1 to 65535.";
            return false;
        }

        if (string.IsNullOrEmpty(uri.Host))
        {
            error = $"Malformed {scheme} URL '{shown}': the host is missing.";
            return false;
        }

        if (scheme == "udp" && uri.IsDefaultPort)
        {
            error = $"Malformed udp URL '{shown}': a port is required (udp://host:port).";
            return false;
        }

        if (uri.Port is 0)
        {
            error = $"Malformed {scheme} URL '{shown}': port 0 is not a valid port.";
            return false;
        }

        string? password = null;
        var userInfo = uri.UserInfo;
        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            password = userInfo[(colon + 1)..];
        }

        address = new StreamAddress(SourceKind.Network, scheme, text, masked, string.IsNullOrEmpty(password) ? null : password);
        return true;
    }

    private static bool IsPort(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535;

    private static string Printable(string text) => new(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());

    [GeneratedRegex(@"^(?<scheme>[A-Za-z][A-Za-z0-9+.\-]+):(?<slashes>//)?")]
    private static partial Regex SchemePattern();

    // user:password@ right after "scheme://"; the user part stops at the first ':' and the password at the last '@'
    // before the path, as URL parsers do.
    [GeneratedRegex(@"(?<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?<user>[^:/@\s]*):(?<password>[^/\s]*)@")]
    private static partial Regex UserInfoPattern();

    [GeneratedRegex(@"^(?<prefix>[A-Za-z][A-Za-z0-9+.\-]*:/*[^:/@\s]*:)\S*@")]
    private static partial Regex LooseUserInfoPattern();

    [GeneratedRegex(@"(?<sep>[?&;])(?<key>[A-Za-z_]+)=(?<value>[^&#\s'""]*)")]
    private static partial Regex SecretQueryPattern();

    [GeneratedRegex(@"^udp://@?(?<host>[^:/]*):(?<port>\d+)(?:[/?].*)?$", RegexOptions.IgnoreCase)]
    private static partial Regex UdpListenPattern();
}
