using System.Text.Json.Serialization;

namespace Detector.Core.Models;

/// <summary>How a model lays out its detections; decides which decoder reads its output.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OutputFamily>))]
public enum OutputFamily
{
    /// <summary>Anchor-free, channel-major <c>[B, 4+C, N]</c>: cx, cy, w, h in input pixels, then class scores (YOLOv8 / YOLO11).</summary>
    YoloV8,

    /// <summary>Anchor-free <c>[B, N, 5+C]</c> with the grid decode left to us: cx = (x + gx) * s, w = exp(w) * s (YOLOX).</summary>
    Yolox,

    /// <summary>Anchor-based YOLOv5 head <c>[B, N, 5+C]</c>, sigmoid applied, grid and anchors not applied (e.g. YOLOv5-Lite).</summary>
    YoloV5,

    /// <summary>YOLOv5/YOLOv7 export with the decode inside the graph: <c>[B, N, 5+C]</c> rows of cx, cy, w, h in input pixels, obj, classes.</summary>
    YoloV5Decoded,

    /// <summary>Raw per-level heads (reg, obj, cls logits) that need sigmoid/softmax plus grid and anchor decoding (Yolo-FastestV2).</summary>
    YoloFastestV2,
}

/// <summary>Channel order the model expects.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ColorOrder>))]
public enum ColorOrder
{
    Rgb,
    Bgr,
}

/// <summary>How a frame is fitted into the model's input.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ResizeMode>))]
public enum ResizeMode
{
    /// <summary>Keep the aspect ratio and pad the rest (with <see cref="ModelDescription.PadValue"/>).</summary>
    Letterbox,

    /// <summary>Stretch to the input size, ignoring the aspect ratio.</summary>
    Stretch,
}

/// <summary>Where a letterboxed image sits inside the padded input.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PadPosition>))]
public enum PadPosition
{
    Center,
    TopLeft,
}

/// <summary>How a batch of several frames is run.</summary>
public enum BatchMode
{
    /// <summary>The graph takes a dynamic batch dimension: one run for the whole batch.</summary>
    Dynamic,

    /// <summary>The graph is fixed to batch 1 (or patching it failed): frames run one by one.</summary>
    ItemByItem,
}

/// <summary>Where a model's description came from.</summary>
public enum DescriptionSource
{
    Metadata,
    Manifest,
    ConfigFile,
}
