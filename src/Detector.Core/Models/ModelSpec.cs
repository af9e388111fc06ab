namespace Detector.Core.Models;

/// <summary>
/// What cannot be read from an ONNX graph's shapes alone: how its input is prepared and how its output is laid
/// out. Comes from the model's metadata, the weights manifest (matched by SHA-256) or a model config file.
/// </summary>
public sealed record ModelSpec
{
    public required OutputFamily Family { get; init; }

    /// <summary>Input width in pixels; null means "read it from the graph".</summary>
    public int? InputWidth { get; init; }

    /// <summary>Input height in pixels; null means "read it from the graph".</summary>
    public int? InputHeight { get; init; }

    public ColorOrder ColorOrder { get; init; } = ColorOrder.Rgb;

    /// <summary>Factor applied to 0-255 pixel values: 1/255 for models trained on 0-1 input, 1 for raw 0-255.</summary>
    public float PixelScale { get; init; } = 1f / 255f;

    public ResizeMode ResizeMode { get; init; } = ResizeMode.Letterbox;

    public PadPosition PadPosition { get; init; } = PadPosition.Center;

    public byte PadValue { get; init; } = 114;

    /// <summary>Stride of each output level, smallest first (e.g. 8, 16, 32).</summary>
    public IReadOnlyList<int> Strides { get; init; } = [8, 16, 32];

    /// <summary>Anchor sizes in input pixels per level, as w0,h0,w1,h1,...; empty for anchor-free families.</summary>
    public IReadOnlyList<float[]> Anchors { get; init; } = [];

    /// <summary>Class names in the model's class order; null means "unknown" (then COCO's are used for 80 classes).</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <summary>The standard YOLOv5 anchors (input pixels) for strides 8, 16 and 32.</summary>
    public static IReadOnlyList<float[]> YoloV5Anchors { get; } =
    [
        [10, 13, 16, 30, 33, 23],
        [30, 61, 62, 45, 59, 119],
        [116, 90, 156, 198, 373, 326],
    ];
}
