using System.Globalization;
using System.Security.Cryptography;
using Onnx;

namespace Detector.Core.Models;

/// <summary>
/// Describes an ONNX model once: reads its graph's inputs and outputs, finds its spec (an explicit config file,
/// a config file beside the model, the model's own metadata, or the manifest matched by SHA-256, in that order)
/// and checks that the spec and the graph agree. Shape alone never decides the family: v5lite-e's undecoded
/// <c>[1,6300,85]</c> looks exactly like a decoded YOLOv5 export.
/// </summary>
public static class ModelDescriber
{
    /// <summary>Metadata key a model can carry to describe itself: the JSON of a model config file.</summary>
    public const string SpecMetadataKey = "detector.spec";

    private const string HowToDescribe =
        "Describe it with --model-config FILE (JSON or YAML: family, colorOrder, pixelRange, resize, strides, anchors, " +
        "classNames; see weights/README.md), or place that file beside the model as MODEL.detector.json.";

    /// <summary>Reads and parses a model file, with one clear error for a missing, empty or non-ONNX file.</summary>
    public static (ModelProto Model, byte[] Bytes) ReadModelFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new ModelDescriptionException($"Model file '{path}' does not exist.");
        }

        var bytes = File.ReadAllBytes(path);
        try
        {
            return (Graph.OnnxModelLoader.Parse(bytes, $"'{path}'"), bytes);
        }
        catch (Graph.InvalidOnnxModelException e)
        {
            throw new ModelDescriptionException(e.Message, e);
        }
    }

    public static string Sha256Of(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Describes the model, or throws <see cref="ModelDescriptionException"/> naming what was found.</summary>
    public static ModelDescription Describe(string path, ModelProto model, byte[] bytes, string? configPath = null,
        ModelManifest? manifest = null)
    {
        manifest ??= ModelManifest.Default;
        var sha = Sha256Of(bytes);
        var graph = model.Graph;
        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet();
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        var outputs = graph.Output.Select(o => (o.Name, Shape: ShapeOf(o))).ToList();
        var found = $"found input(s) {string.Join(", ", inputs.Select(i => $"'{i.Name}' {FormatShape(ShapeOf(i))}"))} " +
                    $"and output(s) {string.Join(", ", outputs.Select(o => $"'{o.Name}' {FormatShape(o.Shape)}"))}";

        if (inputs.Count != 1)
        {
            throw new ModelDescriptionException(
                $"Model '{path}' has {inputs.Count} inputs; Detector needs exactly one image input ({found}).");
        }

        var input = inputs[0];
        var inShape = ShapeOf(input);
        if (input.Type?.TensorType?.ElemType != (int)TensorProto.Types.DataType.Float || inShape.Length != 4 || inShape[1] != 3)
        {
            throw new ModelDescriptionException(
                $"Model '{path}' does not take a float [batch, 3, height, width] image ({found}).");
        }

        var metadata = model.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        var (spec, source, manifestEntry) = FindSpec(path, configPath, metadata, sha, manifest);
        if (spec is null)
        {
            throw new ModelDescriptionException(
                $"Model '{path}' (SHA-256 {sha}) is not described by its metadata or by the weights manifest, and its " +
                $"output layout cannot be told from shapes alone ({found}). {HowToDescribe}");
        }

        var width = Resolve(spec.InputWidth, inShape[3], "width", path);
        var height = Resolve(spec.InputHeight, inShape[2], "height", path);
        var levels = spec.Strides.Select(s => (s, gw: width / s, gh: height / s)).ToArray();
        if (spec.Strides.Any(s => width % s != 0 || height % s != 0))
        {
            throw new ModelDescriptionException(
                $"Model '{path}': input {width}x{height} is not a multiple of every stride [{string.Join(",", spec.Strides)}].");
        }

        string Mismatch(string expected) =>
            $"Model '{path}' was described as {spec.Family} ({source}) but its graph does not match: expected {expected}; {found}. {HowToDescribe}";

        List<string> outputNames;
        List<int[]> outputShapes;
        int numClasses;
        switch (spec.Family)
        {
            case OutputFamily.YoloV8:
            {
                var (name, shape) = SingleOutput(outputs, 3, Mismatch("one output [batch, 4+classes, anchors]"));
                numClasses = shape[1] - 4;
                var anchors = levels.Sum(l => l.gw * l.gh);
                if (numClasses < 1 || (shape[2] > 0 && shape[2] != anchors))
                {
                    throw new ModelDescriptionException(Mismatch($"[batch, 4+classes, {anchors}]"));
                }

                (outputNames, outputShapes) = ([name], [shape[1..]]);
                break;
            }

            case OutputFamily.Yolox or OutputFamily.YoloV5 or OutputFamily.YoloV5Decoded:
            {
                var (name, shape) = SingleOutput(outputs, 3, Mismatch("one output [batch, rows, 5+classes]"));
                numClasses = shape[2] - 5;
                var perLevelAnchors = spec.Family == OutputFamily.YoloV5 ? spec.Anchors.Select(a => a.Length / 2).ToArray() : null;
                var rows = spec.Family switch
                {
                    OutputFamily.Yolox => levels.Sum(l => l.gw * l.gh),
                    OutputFamily.YoloV5 => levels.Select((l, i) => l.gw * l.gh * perLevelAnchors![i]).Sum(),
                    _ => shape[1],
                };
                if (numClasses < 1 || shape[1] != rows)
                {
                    throw new ModelDescriptionException(Mismatch($"[batch, {rows}, 5+classes]"));
                }

                (outputNames, outputShapes) = ([name], [shape[1..]]);
                break;
            }

            case OutputFamily.YoloFastestV2:
                (outputNames, outputShapes, numClasses) = MatchRawHeads(outputs, levels, spec, Mismatch);
                break;

            default:
                throw new ModelDescriptionException($"Unsupported family {spec.Family}.");
        }

        var names = spec.ClassNames ?? ClassNames.Default(numClasses);
        if (names.Count != numClasses)
        {
            throw new ModelDescriptionException(
                $"Model '{path}' predicts {numClasses} classes but {names.Count} class names were given ({source}).");
        }

        return new ModelDescription
        {
            Path = path,
            Sha256 = sha,
            Name = manifestEntry?.Name ?? System.IO.Path.GetFileNameWithoutExtension(path),
            InputName = input.Name,
            InputWidth = width,
            InputHeight = height,
            Family = spec.Family,
            ColorOrder = spec.ColorOrder,
            PixelScale = spec.PixelScale,
            ResizeMode = spec.ResizeMode,
            PadPosition = spec.PadPosition,
            PadValue = spec.PadValue,
            Strides = spec.Strides,
            Anchors = spec.Anchors,
            ClassNames = names,
            OutputNames = outputNames,
            OutputShapes = outputShapes,
            Source = source,
        };
    }

    private static (ModelSpec? Spec, DescriptionSource Source, ModelManifestEntry? Entry) FindSpec(
        string path, string? configPath, Dictionary<string, string> metadata, string sha, ModelManifest manifest)
    {
        var entry = manifest.FindBySha256(sha);
        if (configPath is not null)
        {
            return (ModelSpecDocument.Load(configPath), DescriptionSource.ConfigFile, entry);
        }

        foreach (var ext in new[] { ".detector.json", ".detector.yaml", ".detector.yml" })
        {
            var sidecar = System.IO.Path.ChangeExtension(path, null) + ext;
            if (File.Exists(sidecar))
            {
                return (ModelSpecDocument.Load(sidecar), DescriptionSource.ConfigFile, entry);
            }
        }

        var fromMetadata = FromMetadata(path, metadata);
        if (fromMetadata is not null)
        {
            return (fromMetadata, DescriptionSource.Metadata, entry);
        }

        return entry is null
            ? (null, DescriptionSource.Manifest, null)
            : (entry.Spec.ToSpec(AppContext.BaseDirectory, $"weights manifest entry '{entry.Name}'"), DescriptionSource.Manifest, entry);
    }

    /// <summary>
    /// A model describes itself with a <c>detector.spec</c> entry (a model config as JSON), or as an Ultralytics
    /// detection export does: <c>names</c>, <c>stride</c>, <c>imgsz</c> and <c>task: detect</c>. Ultralytics'
    /// YOLOv8/YOLO11 exports are channel-major; its YOLOv5 exports (no <c>task</c> key) have the decode in the graph.
    /// </summary>
    private static ModelSpec? FromMetadata(string path, Dictionary<string, string> metadata)
    {
        if (metadata.TryGetValue(SpecMetadataKey, out var json))
        {
            var doc = System.Text.Json.JsonSerializer.Deserialize<ModelSpecDocument>(json, ModelSpecDocument.SerializerOptions)
                ?? throw new ModelDescriptionException($"Model '{path}': metadata '{SpecMetadataKey}' is empty.");
            return doc.ToSpec(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, $"metadata '{SpecMetadataKey}' of '{path}'");
        }

        if (!metadata.TryGetValue("names", out var namesText) || !metadata.ContainsKey("stride"))
        {
            return null;
        }

        var names = ClassNames.ParseUltralyticsNames(namesText);
        if (names is null)
        {
            return null;
        }

        metadata.TryGetValue("task", out var task);
        if (task is not null && task != "detect")
        {
            throw new ModelDescriptionException(
                $"Model '{path}' is an Ultralytics '{task}' model; Detector runs detection models only (task 'detect').");
        }

        var maxStride = int.TryParse(metadata["stride"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : 32;
        var strides = new List<int>();
        for (var st = 8; st <= maxStride; st *= 2)
        {
            strides.Add(st);
        }

        return new ModelSpec
        {
            Family = task is null ? OutputFamily.YoloV5Decoded : OutputFamily.YoloV8,
            ColorOrder = ColorOrder.Rgb,
            PixelScale = 1f / 255f,
            ResizeMode = ResizeMode.Letterbox,
            PadPosition = PadPosition.Center,
            Strides = strides.Count > 0 ? strides : [8, 16, 32],
            ClassNames = names,
        };
    }

    private static (List<string>, List<int[]>, int) MatchRawHeads(
        List<(string Name, int[] Shape)> outputs, (int s, int gw, int gh)[] levels, ModelSpec spec, Func<string, string> mismatch)
    {
        var names = new List<string>();
        var shapes = new List<int[]>();
        var numClasses = -1;
        for (var level = 0; level < levels.Length; level++)
        {
            var (_, gw, gh) = levels[level];
            var anchors = spec.Anchors[level].Length / 2;
            var atLevel = outputs.Where(o => o.Shape.Length == 4 && o.Shape[2] == gh && o.Shape[3] == gw).ToList();
            var reg = atLevel.Where(o => o.Shape[1] == anchors * 4).ToList();
            var obj = atLevel.Where(o => o.Shape[1] == anchors).ToList();
            var cls = atLevel.Except(reg).Except(obj).ToList();
            if (reg.Count != 1 || obj.Count != 1 || cls.Count != 1)
            {
                throw new ModelDescriptionException(mismatch(
                    $"at stride {levels[level].s} three outputs [batch, {anchors * 4}, {gh}, {gw}] (reg), [batch, {anchors}, {gh}, {gw}] (obj) and [batch, classes, {gh}, {gw}] (cls)"));
            }

            if (numClasses >= 0 && cls[0].Shape[1] != numClasses)
            {
                throw new ModelDescriptionException(mismatch("the same number of classes at every level"));
            }

            numClasses = cls[0].Shape[1];
            foreach (var o in new[] { reg[0], obj[0], cls[0] })
            {
                names.Add(o.Name);
                shapes.Add(o.Shape[1..]);
            }
        }

        return (names, shapes, numClasses);
    }

    private static (string Name, int[] Shape) SingleOutput(List<(string Name, int[] Shape)> outputs, int rank, string error)
    {
        var candidates = outputs.Where(o => o.Shape.Length == rank).ToList();
        if (candidates.Count != 1 || candidates[0].Shape.Skip(1).Take(rank - 2).Any(d => d <= 0))
        {
            throw new ModelDescriptionException(error);
        }

        return candidates[0];
    }

    private static int Resolve(int? fromSpec, int fromGraph, string what, string path)
    {
        if (fromGraph > 0 && fromSpec is not null && fromSpec != fromGraph)
        {
            throw new ModelDescriptionException(
                $"Model '{path}': the config says input {what} {fromSpec} but the graph's input {what} is {fromGraph}.");
        }

        return fromGraph > 0 ? fromGraph
            : fromSpec ?? throw new ModelDescriptionException(
                $"Model '{path}' has a dynamic input {what}; give inputWidth and inputHeight in --model-config.");
    }

    /// <summary>Dimensions of a graph value; -1 for a symbolic or unknown dimension.</summary>
    internal static int[] ShapeOf(ValueInfoProto value) =>
        value.Type?.TensorType?.Shape?.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? (int)d.DimValue : -1).ToArray()
        ?? [];

    private static string FormatShape(int[] shape) =>
        "[" + string.Join(",", shape.Select(d => d < 0 ? "?" : d.ToString(CultureInfo.InvariantCulture))) + "]";
}
