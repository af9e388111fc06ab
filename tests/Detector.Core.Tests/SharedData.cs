namespace Detector.Core.Tests;

/// <summary>Where the read-only shared test data (weights, media) lives; set at build time from Directory.Build.props.</summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class SharedDataAttribute(string path) : Attribute
{
    public string Path { get; } = path;
}
