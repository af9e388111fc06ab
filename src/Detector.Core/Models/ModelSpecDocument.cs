using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Detector.Core.Models;

/// <summary>
/// The written form of a <see cref="ModelSpec"/>: a model config file (JSON or YAML, passed with
/// <c>--model-config</c> or placed beside the model as <c>MODEL.detector.json|yaml</c>) and each entry of the
/// weights manifest. Every key is optional except <c>family</c>; unknown keys are refused so a typo never
/// silently falls back to a default.
/// </summary>
public sealed class ModelSpecDocument
{
    /// <summary>yolov8 | yolox | yolov5 | yolov5-decoded | yolo-fastestv2.</summary>
    public string? Family { get; set; }

    /// <summary>Input width in pixels; read from the graph when it is fixed there.</summary>
    public int? InputWidth { get; set; }

    /// <summary>Input height in pixels; read from the graph when it is fixed there.</summary>
    public int? InputHeight { get; set; }

    /// <summary>rgb (default) | bgr.</summary>
    public string? ColorOrder { get; set; }

    /// <summary>0-1 (default: pixels divided by 255) | 0-255 (raw pixel values).</summary>
    public string? PixelRange { get; set; }

    /// <summary>letterbox (default) | stretch.</summary>
    public string? Resize { get; set; }

    /// <summary>center (default) | top-left: where a letterboxed image sits.</summary>
    public string? PadPosition { get; set; }

    /// <summary>Grey level of the letterbox padding, 0-255 (default 114).</summary>
    public int? PadValue { get; set; }

    /// <summary>Output level strides, smallest first (default 8, 16, 32).</summary>
    public int[]? Strides { get; set; }

    /// <summary>Anchors in input pixels, one list of w,h pairs per level (anchor-based families).</summary>
    public float[][]? Anchors { get; set; }

    /// <summary>Class names in class order.</summary>
    public string[]? ClassNames { get; set; }

    /// <summary>A file with one class name per line, relative to the config file.</summary>
    public string? ClassNamesFile { get; set; }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    internal static JsonSerializerOptions SerializerOptions => JsonOptions;

    /// <summary>Reads a JSON or YAML model config file into a spec.</summary>
    public static ModelSpec Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ModelDescriptionException($"Model config file '{path}' does not exist.");
        }

        var text = File.ReadAllText(path);
        ModelSpecDocument? doc;
        try
        {
            var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
            doc = ext is ".yaml" or ".yml"
                ? new DeserializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build()
                    .Deserialize<ModelSpecDocument>(text)
                : JsonSerializer.Deserialize<ModelSpecDocument>(text, JsonOptions);
        }
        catch (Exception e) when (e is JsonException or YamlException)
        {
            throw new ModelDescriptionException(
                $"Model config file '{path}' could not be read: {FirstLine(e.Message)}", e);
        }

        if (doc is null)
        {
            throw new ModelDescriptionException($"Model config file '{path}' is empty.");
        }

        return doc.ToSpec(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, path);
    }

    /// <summary>Validates the document and turns it into a spec; <paramref name="origin"/> names it in errors.</summary>
    public ModelSpec ToSpec(string baseDirectory, string origin)
    {
        string Bad(string key, string? value, string allowed) =>
            $"{origin}: '{key}' is '{value}'; expected {allowed}.";

        var family = Family?.Trim().ToLowerInvariant() switch
        {
            "yolov8" or "yolo11" or "yolov8-anchor-free" => OutputFamily.YoloV8,
            "yolox" => OutputFamily.Yolox,
            "yolov5" or "yolov5-raw" => OutputFamily.YoloV5,
            "yolov5-decoded" or "yolov7" => OutputFamily.YoloV5Decoded,
            "yolo-fastestv2" or "yolo-fastest" => OutputFamily.YoloFastestV2,
            _ => throw new ModelDescriptionException(Bad("family", Family,
                "one of yolov8, yolox, yolov5, yolov5-decoded, yolo-fastestv2")),
        };

        var color = ColorOrder?.Trim().ToLowerInvariant() switch
        {
            null or "rgb" => Models.ColorOrder.Rgb,
            "bgr" => Models.ColorOrder.Bgr,
            _ => throw new ModelDescriptionException(Bad("colorOrder", ColorOrder, "rgb or bgr")),
        };

        var scale = PixelRange?.Trim() switch
        {
            null or "0-1" => 1f / 255f,
            "0-255" => 1f,
            _ => throw new ModelDescriptionException(Bad("pixelRange", PixelRange, "0-1 or 0-255")),
        };

        var resize = Resize?.Trim().ToLowerInvariant() switch
        {
            null or "letterbox" => Models.ResizeMode.Letterbox,
            "stretch" or "resize" => Models.ResizeMode.Stretch,
            _ => throw new ModelDescriptionException(Bad("resize", Resize, "letterbox or stretch")),
        };

        var pad = PadPosition?.Trim().ToLowerInvariant() switch
        {
            null or "center" or "centre" => Models.PadPosition.Center,
            "top-left" or "topleft" => Models.PadPosition.TopLeft,
            _ => throw new ModelDescriptionException(Bad("padPosition", PadPosition, "center or top-left")),
        };

        if (PadValue is < 0 or > 255)
        {
            throw new ModelDescriptionException(Bad("padValue", PadValue.Value.ToString(CultureInfo.InvariantCulture), "0-255"));
        }

        if (InputWidth is <= 0 or > 8192 || InputHeight is <= 0 or > 8192)
        {
            throw new ModelDescriptionException($"{origin}: inputWidth/inputHeight must be between 1 and 8192.");
        }

        var strides = Strides ?? [8, 16, 32];
        if (strides.Length == 0 || strides.Any(s => s <= 0))
        {
            throw new ModelDescriptionException($"{origin}: 'strides' must be a non-empty list of positive numbers.");
        }

        var anchors = Anchors ?? (family == OutputFamily.YoloV5 ? ModelSpec.YoloV5Anchors.ToArray() : []);
        if (family is OutputFamily.YoloV5 or OutputFamily.YoloFastestV2)
        {
            if (anchors.Length != strides.Length || anchors.Any(a => a.Length == 0 || a.Length % 2 != 0))
            {
                throw new ModelDescriptionException(
                    $"{origin}: family {Family} needs 'anchors': one list of w,h pairs per stride ({strides.Length} levels).");
            }
        }

        IReadOnlyList<string>? names = ClassNames;
        if (ClassNamesFile is not null)
        {
            var namesPath = System.IO.Path.Combine(baseDirectory, ClassNamesFile);
            if (!File.Exists(namesPath))
            {
                throw new ModelDescriptionException($"{origin}: classNamesFile '{namesPath}' does not exist.");
            }

            names = Models.ClassNames.ParseNamesFile(File.ReadAllText(namesPath));
        }

        return new ModelSpec
        {
            Family = family,
            InputWidth = InputWidth,
            InputHeight = InputHeight,
            ColorOrder = color,
            PixelScale = scale,
            ResizeMode = resize,
            PadPosition = pad,
            PadValue = (byte)(PadValue ?? 114),
            Strides = strides,
            Anchors = anchors,
            ClassNames = names,
        };
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();
}
