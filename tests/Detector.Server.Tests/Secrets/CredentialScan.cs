namespace Detector.Server.Tests.Secrets;

/// <summary>
/// Every secret the tests use (passwords in camera URLs, API keys) contains <see cref="Marker"/>, so one search finds
/// any of them wherever it turns up: log lines, error messages, trailers, metrics.
/// </summary>
internal static class CredentialScan
{
    public const string Marker = "Sekr1t";

    public static bool Contains(string? text) => text?.Contains(Marker, StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>The lines of <paramref name="texts"/> that carry the marker, redacted so a report does not spread it.</summary>
    public static IReadOnlyList<string> Find(IEnumerable<string> texts) =>
        texts.SelectMany(t => t.Split('\n')).Where(Contains).Select(Redact).ToList();

    public static string Redact(string text) =>
        text.Replace(Marker, "<MARKER>", StringComparison.OrdinalIgnoreCase);
}
