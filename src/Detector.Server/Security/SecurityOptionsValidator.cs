using Detector.Server.Configuration;
using Microsoft.Extensions.Options;

namespace Detector.Server.Security;

/// <summary>
/// Start-up checks of Detector:Security and Detector:Sources. Messages name a key by its position, never by its value.
/// </summary>
public sealed class SecurityOptionsValidator : IValidateOptions<DetectorOptions>
{
    /// <summary>Long enough that guessing is hopeless at any request rate (16 random characters or more).</summary>
    public const int MinKeyLength = 16;

    public ValidateOptionsResult Validate(string? name, DetectorOptions options)
    {
        var errors = new List<string>();
        var keys = options.Security.ApiKeys;
        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i] ?? "";
            if (key.Length < MinKeyLength)
            {
                errors.Add($"Detector:Security:ApiKeys:{i} has {key.Length} characters; use at least {MinKeyLength} random ones.");
            }
            else if (key.Any(c => c is <= ' ' or > '~'))
            {
                errors.Add($"Detector:Security:ApiKeys:{i} holds a space, control or non-ASCII character; keys travel in HTTP headers, use printable ASCII.");
            }
        }

        foreach (var scheme in options.Sources.AllowedSchemes ?? [])
        {
            if (!SourcePolicy.KnownSchemes.Contains(scheme?.ToLowerInvariant() ?? ""))
            {
                errors.Add($"Detector:Sources:AllowedSchemes holds '{scheme}', which is not a source scheme; use some of {string.Join(", ", SourcePolicy.KnownSchemes)}.");
            }
        }

        foreach (var root in options.Sources.AllowedFileRoots)
        {
            if (string.IsNullOrWhiteSpace(root) || !Path.IsPathFullyQualified(root))
            {
                errors.Add($"Detector:Sources:AllowedFileRoots holds '{root}', which is not an absolute path.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
