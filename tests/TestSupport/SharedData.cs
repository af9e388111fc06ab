namespace Detector.Tests;

/// <summary>Where the read-only shared test data (weights, media) lives; set at build time from Directory.Build.props.</summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class SharedDataAttribute(string path) : Attribute
{
    public string Path { get; } = path;
}

/// <summary>Paths into the shared test data: real models from ../shared/weights, real images and videos from ../shared/media.</summary>
public static class Shared
{
    public static string Root { get; } =
        Environment.GetEnvironmentVariable("DETECTOR_SHARED_DIR") is { Length: > 0 } dir
            ? dir
            : typeof(Shared).Assembly.GetCustomAttributes(typeof(SharedDataAttribute), false)
                .Cast<SharedDataAttribute>().Single().Path;

    public static string YoloxNano => Weights("yolox-nano/yolox_nano.onnx");

    public static string YoloV8nInt8 => Weights("yolov8n-int8/yolov8n_int8.onnx");

    public static string V5LiteE => Weights("v5lite-e/v5Lite-e-sim-320.onnx");

    public static string YoloFastestV2 => Weights("yolo-fastestv2/yolo-fastestv2.onnx");

    public static IEnumerable<string> AllModels => [YoloxNano, YoloV8nInt8, V5LiteE, YoloFastestV2];

    public static string Weights(string relative) => System.IO.Path.Combine(Root, "weights", relative);

    public static string Image(string name) => System.IO.Path.Combine(Root, "media", "images", name);

    public static string Video(string name) => System.IO.Path.Combine(Root, "media", "video", name);
}
