using System.Buffers.Binary;
using Google.Protobuf;
using Onnx;

namespace Detector.Core.Graph;

/// <summary>Small reading and building helpers over the protobuf-generated ONNX classes.</summary>
internal static class OnnxHelpers
{
    public const int FloatType = (int)TensorProto.Types.DataType.Float;
    public const int Uint8Type = (int)TensorProto.Types.DataType.Uint8;
    public const int Int32Type = (int)TensorProto.Types.DataType.Int32;
    public const int Int64Type = (int)TensorProto.Types.DataType.Int64;

    /// <summary>The version of the default (<c>ai.onnx</c>) opset the model imports.</summary>
    public static long DefaultOpset(ModelProto model)
    {
        foreach (var opset in model.OpsetImport)
        {
            if (opset.Domain is "" or "ai.onnx")
            {
                return opset.Version;
            }
        }

        throw new GraphRewriteException("The model imports no default (ai.onnx) opset.");
    }

    public static bool IsDefaultDomain(NodeProto node) => node.Domain is "" or "ai.onnx";

    public static AttributeProto? Attr(NodeProto node, string name)
    {
        foreach (var a in node.Attribute)
        {
            if (a.Name == name)
            {
                return a;
            }
        }

        return null;
    }

    public static long IntAttr(NodeProto node, string name, long fallback) => Attr(node, name) is { } a ? a.I : fallback;

    public static long[]? IntsAttr(NodeProto node, string name) => Attr(node, name) is { } a ? a.Ints.ToArray() : null;

    /// <summary>The constant tensors of a graph: initializers, and the values of <c>Constant</c> nodes, by tensor name.</summary>
    public static Dictionary<string, TensorProto> Constants(GraphProto graph)
    {
        var map = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in graph.Initializer)
        {
            map[t.Name] = t;
        }

        foreach (var node in graph.Node)
        {
            if (node.OpType == "Constant" && IsDefaultDomain(node) && ConstantNodeValue(node) is { } value)
            {
                map[node.Output[0]] = value;
            }
        }

        return map;
    }

    /// <summary>The value of a <c>Constant</c> node as a tensor, for the numeric forms (<c>value</c>, <c>value_int(s)</c>, <c>value_float(s)</c>).</summary>
    public static TensorProto? ConstantNodeValue(NodeProto node)
    {
        foreach (var a in node.Attribute)
        {
            switch (a.Name)
            {
                case "value":
                    return a.T;
                case "value_int":
                    return Int64Tensor(node.Output[0], [a.I], []);
                case "value_ints":
                    return Int64Tensor(node.Output[0], a.Ints.ToArray(), [a.Ints.Count]);
                case "value_float":
                    return FloatTensor(node.Output[0], [a.F], []);
                case "value_floats":
                    return FloatTensor(node.Output[0], a.Floats.ToArray(), [a.Floats.Count]);
            }
        }

        return null;
    }

    /// <summary>Reads an integer tensor (int64 or int32; typed fields or little-endian raw data) as longs.</summary>
    public static long[] ReadInt64s(TensorProto t)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
        {
            throw new GraphRewriteException($"Tensor '{t.Name}' is stored in external data, which the rewriter does not read.");
        }

        switch (t.DataType)
        {
            case Int64Type when !t.RawData.IsEmpty:
            {
                var raw = t.RawData.Span;
                var values = new long[raw.Length / 8];
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]);
                }

                return values;
            }

            case Int64Type:
                return t.Int64Data.ToArray();
            case Int32Type when !t.RawData.IsEmpty:
            {
                var raw = t.RawData.Span;
                var values = new long[raw.Length / 4];
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]);
                }

                return values;
            }

            case Int32Type:
                return t.Int32Data.Select(v => (long)v).ToArray();
            default:
                throw new GraphRewriteException($"Tensor '{t.Name}' has element type {t.DataType}, not an integer type.");
        }
    }

    /// <summary>Reads a float tensor (typed field or little-endian raw data).</summary>
    public static float[] ReadFloats(TensorProto t)
    {
        if (t.DataType != FloatType)
        {
            throw new GraphRewriteException($"Tensor '{t.Name}' has element type {t.DataType}, not float.");
        }

        if (t.RawData.IsEmpty)
        {
            return t.FloatData.ToArray();
        }

        var raw = t.RawData.Span;
        var values = new float[raw.Length / 4];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
        }

        return values;
    }

    public static TensorProto Int64Tensor(string name, long[] values, long[] dims)
    {
        var bytes = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), values[i]);
        }

        var t = new TensorProto { Name = name, DataType = Int64Type, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    public static TensorProto FloatTensor(string name, float[] values, long[] dims)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        var t = new TensorProto { Name = name, DataType = FloatType, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    public static AttributeProto IntAttribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto IntsAttribute(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static NodeProto Node(string opType, string name, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    /// <summary>A tensor value-info; a dimension is a <c>long</c> (fixed) or a <c>string</c> (symbolic).</summary>
    public static ValueInfoProto TensorValueInfo(string name, int elemType, IEnumerable<object> dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d switch
            {
                long v => new TensorShapeProto.Types.Dimension { DimValue = v },
                int v => new TensorShapeProto.Types.Dimension { DimValue = v },
                string p => new TensorShapeProto.Types.Dimension { DimParam = p },
                _ => throw new ArgumentException($"Dimension {d} is neither a number nor a name."),
            });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType, Shape = shape } },
        };
    }

    /// <summary>
    /// Adds an initializer. Models of IR version 3 and older require every initializer to be
    /// listed among the graph inputs as well, so it is added there too for them.
    /// </summary>
    public static void AddInitializer(ModelProto model, TensorProto tensor)
    {
        model.Graph.Initializer.Add(tensor);
        if (model.IrVersion < 4)
        {
            model.Graph.Input.Add(TensorValueInfo(tensor.Name, tensor.DataType, tensor.Dims.Select(d => (object)d)));
        }
    }

    /// <summary>Every name a graph uses for a tensor or a node, so new names can be made unique.</summary>
    public static HashSet<string> UsedNames(GraphProto graph)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in graph.Input)
        {
            names.Add(v.Name);
        }

        foreach (var v in graph.Output)
        {
            names.Add(v.Name);
        }

        foreach (var v in graph.ValueInfo)
        {
            names.Add(v.Name);
        }

        foreach (var t in graph.Initializer)
        {
            names.Add(t.Name);
        }

        foreach (var n in graph.Node)
        {
            names.Add(n.Name);
            foreach (var s in n.Input)
            {
                names.Add(s);
            }

            foreach (var s in n.Output)
            {
                names.Add(s);
            }
        }

        return names;
    }

    /// <summary>Returns <paramref name="stem"/>, or it with the smallest numeric suffix that is free, and claims it.</summary>
    public static string UniqueName(HashSet<string> used, string stem)
    {
        var name = stem;
        for (int i = 1; used.Contains(name); i++)
        {
            name = $"{stem}_{i}";
        }

        used.Add(name);
        return name;
    }

    /// <summary>A fixed dimension's value, or null when it is symbolic or unknown.</summary>
    public static long? DimValue(TensorShapeProto.Types.Dimension d) =>
        d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : null;

    /// <summary>Graph inputs that are real inputs, not initializers listed as inputs (IR &lt; 4 style).</summary>
    public static List<ValueInfoProto> RealInputs(GraphProto graph)
    {
        var initializers = new HashSet<string>(graph.Initializer.Select(t => t.Name), StringComparer.Ordinal);
        return graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
    }

    public static long Product(ReadOnlySpan<long> dims)
    {
        long p = 1;
        foreach (var d in dims)
        {
            p *= d;
        }

        return p;
    }
}
