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

    /// <summary>Longest address accepted; real camera URLs are far shorter, and a longer one only fills logs.</summary>
    public const int MaxLength = 4096;

    /// <summary>Where a refused address is shown in an error message, it is cut to this many characters.</summary>
    private const int ShownLength = 200;

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

    /// <summary>The full path of a file or device address (these never carry credentials); null for network URLs.</summary>
    public string? LocalPath => Kind == SourceKind.Network ? null : Value;

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

        if (text.Length > MaxLength)
        {
            error = $"The stream address is {text.Length} characters long; at most {MaxLength} are accepted.";
            return false;
        }

        if (text.Contains('\0') || text.Any(char.IsControl))
        {
            error = $"The stream address '{Shown(text)}' contains control characters.";
            return false;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            address = new StreamAddress(SourceKind.Device, "v4l2", index.ToString(CultureInfo.InvariantCulture), text, null);
            return true;
        }

        if (text.StartsWith("/dev/", StringComparison.Ordinal))
        {
            // "/dev/../etc/x" is not a device: only what is still under /dev/ once normalised.
            var device = Path.GetFullPath(text);
            if (!device.StartsWith("/dev/", StringComparison.Ordinal))
            {
                return TryParseFile(device, out address, out error);
            }

            address = new StreamAddress(SourceKind.Device, "v4l2", device, device, null);
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
                error = $"'{Shown(text)}' is not a valid file URL; use file:///absolute/path or a plain path.";
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

            error = $"Unsupported scheme '{Shown(name)}' in '{Shown(text)}'; supported: {string.Join(", ", NetworkSchemes)}, a file path, or a camera (/dev/videoN or an index).";
            return false;
        }

        if (!hasSlashes)
        {
            error = $"Malformed {name} URL '{Shown(text)}'; expected {name}://host[:port]/path.";
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
            error = $"'{Shown(path)}' is not a valid file path: {ex.Message}";
            return false;
        }

        address = new StreamAddress(SourceKind.File, "file", full, full, null);
        return true;
    }

    private static bool TryParseNetwork(string text, string scheme, out StreamAddress? address, out string? error)
    {
        address = null;
        error = null;
        var shown = Shown(text);
        if (FirstNonUrlCharacter(text) is { } bad)
        {
            // Such characters are never needed (RFC 3986 has %-escapes for them), and a space or quote in a password
            // would also defeat the masking of the URL in messages and logs.
            var what = bad.Character == ' ' ? "a space" : $"'{bad.Character}'";
            error = $"Malformed {scheme} URL '{shown}': {what} at position {bad.Index + 1} is not allowed in a URL; percent-encode it (a space is %20).";
            return false;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            // ffmpeg's "listen on this port" forms (udp://@:1234, udp://:1234) are not URIs to .NET.
            if (scheme == "udp" && UdpListenPattern().Match(text) is { Success: true } listen && IsPort(listen.Groups["port"].Value))
            {
                address = new StreamAddress(SourceKind.Network, scheme, text, MaskUrlsIn(text), null);
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

        address = new StreamAddress(SourceKind.Network, scheme, text, MaskUrlsIn(text), string.IsNullOrEmpty(password) ? null : password);
        return true;
    }

    private static bool IsPort(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535;

    private static string Printable(string text) => new(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());

    /// <summary>
    /// A refused address as an error message may show it: printable, cut to a readable length, and with the
    /// credentials hidden even where the URL is too malformed for <see cref="MaskUrlsIn"/> to find them (a space or
    /// a quote in the password): everything from "://" to the last '@' then becomes "***".
    /// </summary>
    private static string Shown(string text)
    {
        var shown = MaskMalformed(Printable(text));
        // A secret query value with a space in it: hide everything up to the next parameter, not just the first word.
        shown = LooseSecretQueryPattern().Replace(shown, m =>
            SecretQueryKeys.Contains(m.Groups["key"].Value) ? $"{m.Groups["sep"].Value}{m.Groups["key"].Value}={Mask}" : m.Value);
        var start = shown.IndexOf("://", StringComparison.Ordinal);
        var at = shown.LastIndexOf('@');
        if (start >= 0 && at > start)
        {
            var userInfo = shown[(start + 3)..at];
            var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0 && userInfo[(colon + 1)..] != Mask)
            {
                shown = shown[..(start + 3)] + Mask + shown[at..];
            }
        }

        return shown.Length > ShownLength ? $"{shown[..ShownLength]}... ({text.Length} characters)" : shown;
    }

    /// <summary>The first character that RFC 3986 does not allow anywhere in a URL (escapes aside), if any.</summary>
    private static (char Character, int Index)? FirstNonUrlCharacter(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (!(char.IsAsciiLetterOrDigit(c) || "-._~:/?#[]@!$&'()*+,;=%".Contains(c)))
            {
                return (c, i);
            }
        }

        return null;
    }

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

    [GeneratedRegex(@"(?<sep>[?&;])(?<key>[A-Za-z_]+)=(?<value>[^&#]*)")]
    private static partial Regex LooseSecretQueryPattern();

    [GeneratedRegex(@"^udp://@?(?<host>[^:/]*):(?<port>\d+)(?:[/?].*)?$", RegexOptions.IgnoreCase)]
    private static partial Regex UdpListenPattern();
}
