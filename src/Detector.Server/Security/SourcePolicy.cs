using Detector.Core.Sources;
using Detector.Server.Configuration;
using Detector.Server.Hosting;
using Microsoft.Extensions.Options;

namespace Detector.Server.Security;

/// <summary>
/// Which sources a stream may open (Detector:Sources): the allowed schemes and, for video files, the allowed folders.
/// A refusal is PERMISSION_DENIED: the address is well-formed, the service's settings forbid it. Addresses that are
/// not well-formed never get here (StreamAddress refuses them as INVALID_ARGUMENT).
/// </summary>
public sealed class SourcePolicy
{
    private readonly HashSet<string> _schemes;
    private readonly string[] _roots;

    public SourcePolicy(IOptions<DetectorOptions> options)
    {
        var sources = options.Value.Sources;
        _schemes = new HashSet<string>(EffectiveSchemes(sources), StringComparer.OrdinalIgnoreCase);
        // Roots are compared in their real form too, so a root given through a symbolic link still matches.
        _roots = sources.AllowedFileRoots.Select(r => RealPath.Resolve(r)).ToArray();
    }

    /// <summary>Every scheme a stream address can have, the names AllowedSchemes accepts.</summary>
    public static IReadOnlyList<string> KnownSchemes { get; } = ["file", "v4l2", .. StreamAddress.NetworkSchemes];

    public static IReadOnlyList<string> EffectiveSchemes(SourceSettings sources) =>
        sources.AllowedSchemes is { Count: > 0 } configured ? configured : SourceSettings.DefaultSchemes;

    /// <summary>
    /// The address to open: a file becomes its real path (links resolved), so what was checked is what the reader
    /// opens. Throws <see cref="DetectorException"/> (PermissionDenied) when the settings do not allow it.
    /// </summary>
    public StreamAddress Check(StreamAddress address)
    {
        if (address.Kind == SourceKind.File)
        {
            address = Resolved(address);
        }

        if (!_schemes.Contains(address.Scheme))
        {
            throw new DetectorException(DetectorErrorKind.PermissionDenied,
                $"{Describe(address)} sources are not allowed here; allowed: {string.Join(", ", _schemes.Order(StringComparer.Ordinal))} (Detector:Sources:AllowedSchemes).");
        }

        if (address.Kind == SourceKind.File && _roots.Length > 0 && !_roots.Any(root => IsUnder(address.LocalPath!, root)))
        {
            throw new DetectorException(DetectorErrorKind.PermissionDenied,
                $"The file '{address.Masked}' is outside the folders streams may read: {string.Join(", ", _roots)} (Detector:Sources:AllowedFileRoots).");
        }

        return address;
    }

    private static StreamAddress Resolved(StreamAddress file)
    {
        string real;
        try
        {
            real = RealPath.Resolve(file.LocalPath!);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DetectorException(DetectorErrorKind.InvalidArgument, $"The file '{file.Masked}' cannot be resolved: {e.Message}");
        }

        // A real path is absolute; it can only come back as a device (a link into /dev/), which the scheme check sees.
        return real == file.LocalPath ? file : StreamAddress.Parse(real);
    }

    private static string Describe(StreamAddress address) => address.Kind switch
    {
        SourceKind.File => $"Video file ('{address.Masked}', scheme file)",
        SourceKind.Device => $"Camera ('{address.Masked}', scheme v4l2)",
        _ => $"{address.Scheme} ('{address.Masked}')",
    };

    private static bool IsUnder(string path, string root) =>
        path == root || path.StartsWith(root.EndsWith('/') ? root : root + "/", StringComparison.Ordinal);
}
