using System.Reflection;

namespace Detector.Core.Tests;

/// <summary>Paths into the read-only shared test data (weights, media), located through <see cref="SharedDataAttribute"/>.</summary>
internal static class TestData
{
    public static string Root { get; } = typeof(TestData).Assembly.GetCustomAttribute<SharedDataAttribute>()!.Path;

    /// <summary>A file under <c>shared/weights</c>, e.g. <c>Weights("yolox-nano/yolox_nano.onnx")</c>.</summary>
    public static string Weights(string relativePath) => Path.Combine(Root, "weights", relativePath);

    /// <summary>An image under <c>shared/media/images</c>, e.g. <c>Image("bus.jpg")</c>.</summary>
    public static string Image(string name) => Path.Combine(Root, "media", "images", name);
}
