using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace Detector.Core.Graph;

/// <summary>
/// The static shape of every tensor of a model when run at batch 1, which the batch analysis needs
/// to follow the batch axis through reshapes and transposes.
/// </summary>
/// <remarks>
/// Shapes come from the model itself where it records them (graph inputs and outputs, value_info,
/// initializers, Constant nodes). Exporters that ran shape inference record every intermediate
/// (yolox-nano, yolov8n-int8, v5lite-e do); others record none (yolo-fastestv2 has no value_info).
/// For what is missing the model is run once with ONNX Runtime on the CPU, at batch 1, on zeros,
/// with every missing tensor exposed as an extra output, and the shapes are read back. That run
/// costs a session build and one inference, 0.2 to 0.5 s on two cores for yolo-fastestv2 (no
/// value_info at all) and yolov8n-int8 (whose quantiser added tensors without recording their
/// shapes); it happens only when the file lacks shapes, and the shapes do not depend on the
/// values fed.
/// </remarks>
internal sealed class StaticShapes
{
    private readonly Dictionary<string, long[]> _shapes;

    private StaticShapes(Dictionary<string, long[]> shapes, bool probed)
    {
        _shapes = shapes;
        Probed = probed;
    }

    /// <summary>Whether ONNX Runtime had to be run to learn some shapes.</summary>
    public bool Probed { get; }

    public long[]? Get(string name) => _shapes.GetValueOrDefault(name);

    public long[] Require(string name, NodeProto node) =>
        Get(name) ?? throw new GraphRewriteException($"The static shape of '{name}' is unknown.", node.Name);

    public static StaticShapes Infer(ModelProto model)
    {
        var graph = model.Graph;
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);

        foreach (var input in OnnxHelpers.RealInputs(graph))
        {
            if (Batch1Shape(input, isGraphInput: true) is { } s)
            {
                shapes[input.Name] = s;
            }
        }

        foreach (var vi in graph.Output.Concat(graph.ValueInfo))
        {
            if (Batch1Shape(vi, isGraphInput: false) is { } s)
            {
                shapes[vi.Name] = s;
            }
        }

        foreach (var (name, tensor) in OnnxHelpers.Constants(graph))
        {
            shapes[name] = tensor.Dims.ToArray();
        }

        var missing = graph.Node.SelectMany(n => n.Output).Where(o => o.Length > 0 && !shapes.ContainsKey(o)).Distinct().ToList();
        if (missing.Count == 0)
        {
            return new StaticShapes(shapes, probed: false);
        }

        Dictionary<string, long[]> probed;
        try
        {
            probed = Probe(model, missing);
        }
        catch (OnnxRuntimeException e)
        {
            throw new GraphRewriteException($"The model lacks intermediate shapes, and running it at batch 1 to learn them failed: {e.Message}", e);
        }

        foreach (var (name, shape) in probed)
        {
            shapes[name] = shape;
        }

        return new StaticShapes(shapes, probed: true);
    }

    /// <summary>The shape of a value-info with every dimension fixed; a graph input's symbolic dim 0 counts as 1.</summary>
    private static long[]? Batch1Shape(ValueInfoProto vi, bool isGraphInput)
    {
        if (vi.Type?.TensorType?.Shape is not { } shape)
        {
            return null;
        }

        var dims = new long[shape.Dim.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            if (OnnxHelpers.DimValue(shape.Dim[i]) is { } v)
            {
                dims[i] = v;
            }
            else if (i == 0 && isGraphInput)
            {
                dims[i] = 1;
            }
            else
            {
                return null;
            }
        }

        return dims;
    }

    private static Dictionary<string, long[]> Probe(ModelProto model, List<string> names)
    {
        var clone = model.Clone();
        var outputs = new HashSet<string>(clone.Graph.Output.Select(o => o.Name), StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (outputs.Add(name))
            {
                clone.Graph.Output.Add(new ValueInfoProto { Name = name });
            }
        }

        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
            IntraOpNumThreads = 1,
        };
        using var session = new InferenceSession(clone.ToByteArray(), options);

        var inputNames = new List<string>();
        var inputValues = new List<OrtValue>();
        try
        {
            foreach (var input in OnnxHelpers.RealInputs(clone.Graph))
            {
                var shape = Batch1Shape(input, isGraphInput: true)
                    ?? throw new GraphRewriteException($"Input '{input.Name}' has a symbolic dimension other than the batch; its shapes cannot be probed.");
                var value = OrtValue.CreateAllocatedTensorValue(
                    OrtAllocator.DefaultInstance, (TensorElementType)input.Type.TensorType.ElemType, shape);
                value.GetTensorMutableRawData().Clear();
                inputNames.Add(input.Name);
                inputValues.Add(value);
            }

            var outputNames = session.OutputNames.ToArray();
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, inputNames, inputValues, outputNames);
            var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
            for (int i = 0; i < outputNames.Length; i++)
            {
                if (results[i].IsTensor)
                {
                    shapes[outputNames[i]] = results[i].GetTensorTypeAndShape().Shape;
                }
            }

            return shapes;
        }
        finally
        {
            foreach (var v in inputValues)
            {
                v.Dispose();
            }
        }
    }
}
