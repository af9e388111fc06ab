using System.Reflection;
using System.Text.Json;

namespace Detector.Core.Models;

/// <summary>
/// The manifest of known models (<c>weights/manifest.json</c>, embedded in the engine): where each comes from,
/// its licence, its SHA-256 and its spec. A model file without usable metadata is recognised by its hash.
/// </summary>
public sealed class ModelManifest
{
    public required IReadOnlyList<ModelManifestEntry> Models { get; init; }

    private static readonly Lazy<ModelManifest> Embedded = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Detector.Core.weights.manifest.json")
            ?? throw new InvalidOperationException("The embedded weights manifest is missing from the build.");
        return Parse(stream);
    });

    /// <summary>The manifest built into this version of Detector.</summary>
    public static ModelManifest Default => Embedded.Value;

    public static ModelManifest Parse(Stream json) =>
        JsonSerializer.Deserialize<ModelManifest>(json, ModelSpecDocument.SerializerOptions)
        ?? throw new InvalidDataException("The weights manifest is empty.");

    public ModelManifestEntry? FindBySha256(string sha256) =>
        Models.FirstOrDefault(m => string.Equals(m.Sha256, sha256, StringComparison.OrdinalIgnoreCase));
}

/// <summary>One known model.</summary>
public sealed class ModelManifestEntry
{
    public required string Name { get; init; }

    /// <summary>File name the fetch script saves it as.</summary>
    public required string File { get; init; }

    public required string Sha256 { get; init; }

    public required string Url { get; init; }

    public required string Licence { get; init; }

    public string? Notes { get; init; }

    public required ModelSpecDocument Spec { get; init; }
}
