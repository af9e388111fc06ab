using Onnx;

namespace Detector.Core.Graph;

/// <summary>A Reshape whose target must change; <see cref="TargetName"/> is null for the opset-1..4 <c>shape</c> attribute.</summary>
internal sealed record ReshapePlan(NodeProto Node, string? TargetName, long[] NewTarget);

/// <summary>
/// Follows the batch axis from the graph inputs to the outputs, one node at a time in topological
/// order, and plans the Reshape rewrites; throws <see cref="GraphRewriteException"/> where an op would
/// mix batch items or the axis cannot be followed. Reads the model, never changes it.
/// </summary>
internal sealed class BatchAxisAnalysis
{
    private static readonly HashSet<string> Elementwise =
    [
        "Abs", "Acos", "Acosh", "Add", "And", "Asin", "Asinh", "Atan", "Atanh", "BitShift", "BitwiseAnd", "BitwiseNot",
        "BitwiseOr", "BitwiseXor", "Cast", "CastLike", "Ceil", "Celu", "Clip", "Cos", "Cosh", "DequantizeLinear", "Div",
        "Dropout", "Elu", "Equal", "Erf", "Exp", "Floor", "Gelu", "Greater", "GreaterOrEqual", "HardSigmoid", "HardSwish",
        "Identity", "IsInf", "IsNaN", "LeakyRelu", "Less", "LessOrEqual", "Log", "Max", "Mean", "Min", "Mish", "Mod", "Mul",
        "Neg", "Not", "Or", "Pow", "PRelu", "QuantizeLinear", "Reciprocal", "Relu", "Round", "Selu", "Shrink", "Sigmoid",
        "Sign", "Sin", "Sinh", "Softplus", "Softsign", "Sqrt", "Sub", "Sum", "Tan", "Tanh", "ThresholdedRelu", "Where", "Xor",
    ];

    /// <summary>Ops that take NCHW-style data with the batch on axis 0 (data in input 0, parameters after it).</summary>
    private static readonly HashSet<string> BatchFirst =
    [
        "Conv", "ConvInteger", "ConvTranspose", "QLinearConv", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool",
        "GlobalMaxPool", "GlobalLpPool", "BatchNormalization", "InstanceNormalization", "LRN", "DepthToSpace", "SpaceToDepth",
    ];

    private static readonly HashSet<string> Reductions =
    [
        "ReduceMax", "ReduceMin", "ReduceMean", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
        "ReduceLogSumExp", "ReduceSumSquare",
    ];

    private readonly GraphProto _graph;
    private readonly long _opset;
    private readonly Dictionary<string, TensorProto> _constants;

    /// <summary>Batched tensors and the axis that carries the batch in each.</summary>
    private readonly Dictionary<string, int> _axis = new(StringComparer.Ordinal);

    /// <summary>Non-batched tensors whose values depend on the batch size (computed from a Shape of a batched tensor).</summary>
    private readonly HashSet<string> _dynamic = new(StringComparer.Ordinal);

    public BatchAxisAnalysis(ModelProto model)
    {
        _graph = model.Graph;
        _opset = OnnxHelpers.DefaultOpset(model);
        _constants = OnnxHelpers.Constants(_graph);
        Shapes = StaticShapes.Infer(model);
    }

    public StaticShapes Shapes { get; }

    public List<ReshapePlan> Plans { get; } = [];

    public bool SawBatchDependentOp { get; private set; }

    public int? BatchAxisOf(string name) => _axis.TryGetValue(name, out var a) ? a : null;

    public void Run()
    {
        foreach (var input in OnnxHelpers.RealInputs(_graph))
        {
            var dims = input.Type?.TensorType?.Shape?.Dim;
            if (dims is null || dims.Count == 0)
            {
                throw new GraphRewriteException($"Input '{input.Name}' has no shape, so it has no batch dimension to free.");
            }

            if (OnnxHelpers.DimValue(dims[0]) is { } fixedBatch && fixedBatch != 1)
            {
                throw new GraphRewriteException($"Input '{input.Name}' has a fixed batch of {fixedBatch}; only batch-1 exports are rewritten.");
            }

            _axis[input.Name] = 0;
        }

        foreach (var node in TopologicalOrder())
        {
            Visit(node);
        }

        foreach (var output in _graph.Output)
        {
            if (!_axis.TryGetValue(output.Name, out var axis))
            {
                throw new GraphRewriteException($"Output '{output.Name}' does not depend on the inputs' batch.");
            }

            var shape = Shapes.Get(output.Name);
            if (axis != 0 || shape is null || shape[0] != 1)
            {
                throw new GraphRewriteException($"Output '{output.Name}' carries the batch on axis {axis}{(axis == 0 ? " folded into a larger dimension" : "")}, not as its own dim 0.");
            }
        }
    }

    private List<NodeProto> TopologicalOrder()
    {
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _graph.Node.Count; i++)
        {
            foreach (var o in _graph.Node[i].Output)
            {
                if (o.Length > 0)
                {
                    producer[o] = i;
                }
            }
        }

        var pending = new int[_graph.Node.Count];
        var users = new List<int>[_graph.Node.Count];
        for (int i = 0; i < _graph.Node.Count; i++)
        {
            users[i] = [];
        }

        for (int i = 0; i < _graph.Node.Count; i++)
        {
            foreach (var p in _graph.Node[i].Input.Where(s => s.Length > 0).Distinct().Select(s => producer.GetValueOrDefault(s, -1)).Where(p => p >= 0))
            {
                pending[i]++;
                users[p].Add(i);
            }
        }

        var ready = new Queue<int>(Enumerable.Range(0, _graph.Node.Count).Where(i => pending[i] == 0));
        var order = new List<NodeProto>(_graph.Node.Count);
        while (ready.TryDequeue(out var i))
        {
            order.Add(_graph.Node[i]);
            foreach (var u in users[i])
            {
                if (--pending[u] == 0)
                {
                    ready.Enqueue(u);
                }
            }
        }

        if (order.Count != _graph.Node.Count)
        {
            throw new GraphRewriteException("The graph has a cycle.");
        }

        return order;
    }

    private void Visit(NodeProto node)
    {
        if (node.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0))
        {
            throw new GraphRewriteException($"{node.OpType} holds a subgraph; control flow is not followed.", node.Name);
        }

        var batched = node.Input.Where(i => i.Length > 0 && _axis.ContainsKey(i)).ToList();
        bool dynamicInput = node.Input.Any(_dynamic.Contains);

        if (node.OpType is "Shape" or "Size")
        {
            if (batched.Count > 0 || dynamicInput)
            {
                MarkDynamic(node);
            }

            return;
        }

        if (batched.Count == 0)
        {
            if (dynamicInput)
            {
                if (node.OpType is "ConstantOfShape" or "Expand" or "Tile" or "Range")
                {
                    throw new GraphRewriteException($"{node.OpType} builds a tensor sized by the batch from a Shape; such tensors are not followed.", node.Name);
                }

                MarkDynamic(node);
            }

            return;
        }

        if (!OnnxHelpers.IsDefaultDomain(node))
        {
            throw new GraphRewriteException($"Op {node.Domain}.{node.OpType} is not understood by the batch analysis.", node.Name);
        }

        switch (node.OpType)
        {
            case var op when Elementwise.Contains(op):
                VisitElementwise(node);
                break;
            case var op when BatchFirst.Contains(op):
                VisitBatchFirst(node);
                break;
            case var op when Reductions.Contains(op):
                VisitReduce(node);
                break;
            case "DynamicQuantizeLinear":
                SawBatchDependentOp = true;
                Mark(node.Output[0], Axis(node, 0));
                break;
            case "Reshape":
                VisitReshape(node);
                break;
            case "Transpose":
                VisitTranspose(node);
                break;
            case "Flatten":
                VisitFlatten(node);
                break;
            case "Squeeze":
                VisitSqueeze(node);
                break;
            case "Unsqueeze":
                VisitUnsqueeze(node);
                break;
            case "Gather":
                VisitGather(node);
                break;
            case "Slice":
                VisitSlice(node);
                break;
            case "Split":
                VisitSplit(node);
                break;
            case "Concat":
                VisitConcat(node);
                break;
            case "Resize" or "Upsample":
                VisitResize(node);
                break;
            case "Expand":
                VisitExpand(node);
                break;
            case "Tile":
                VisitTile(node);
                break;
            case "Pad":
                VisitPad(node);
                break;
            case "Softmax" or "LogSoftmax" or "Hardmax":
                VisitSoftmax(node);
                break;
            case "LayerNormalization":
                VisitLayerNorm(node);
                break;
            case "ArgMax" or "ArgMin":
                VisitArg(node);
                break;
            case "MatMul" or "MatMulInteger":
                VisitMatMul(node);
                break;
            case "Gemm":
                VisitGemm(node);
                break;
            default:
                throw new GraphRewriteException($"Op {node.OpType} on batched data is not understood by the batch analysis.", node.Name);
        }
    }

    private void MarkDynamic(NodeProto node)
    {
        foreach (var o in node.Output.Where(o => o.Length > 0))
        {
            _dynamic.Add(o);
        }
    }

    private void Mark(string output, int axis)
    {
        if (output.Length > 0)
        {
            _axis[output] = axis;
        }
    }

    private void MarkAll(NodeProto node, int axis)
    {
        foreach (var o in node.Output)
        {
            Mark(o, axis);
        }
    }

    private int Axis(NodeProto node, int input) =>
        input < node.Input.Count && _axis.TryGetValue(node.Input[input], out var a)
            ? a
            : throw new GraphRewriteException($"{node.OpType} gets batched data in an unexpected input.", node.Name);

    private bool IsBatched(string name) => name.Length > 0 && _axis.ContainsKey(name);

    private long[] Shape(string name, NodeProto node) => Shapes.Require(name, node);

    private static int Normalize(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);

    /// <summary>
    /// An integer operand that must be known: an attribute (older opsets) or a constant input; null
    /// when absent, or when it is computed from the batch size (the caller decides if that is fine).
    /// </summary>
    private long[]? Ints(NodeProto node, string attribute, int input, bool allowDynamic = false)
    {
        if (OnnxHelpers.IntsAttr(node, attribute) is { } fromAttr)
        {
            return fromAttr;
        }

        if (input >= node.Input.Count || node.Input[input].Length == 0)
        {
            return null;
        }

        var name = node.Input[input];
        if (_constants.TryGetValue(name, out var t))
        {
            return OnnxHelpers.ReadInt64s(t);
        }

        if (allowDynamic && _dynamic.Contains(name))
        {
            return null;
        }

        throw new GraphRewriteException($"{node.OpType} input '{name}' ({attribute}) is computed, not constant; it cannot be checked.", node.Name);
    }

    private void RequireUnbatched(NodeProto node, int fromInput)
    {
        for (int i = fromInput; i < node.Input.Count; i++)
        {
            if (IsBatched(node.Input[i]))
            {
                throw new GraphRewriteException($"{node.OpType} gets batched data in input {i}, which it does not treat per batch item.", node.Name);
            }
        }
    }

    private void VisitElementwise(NodeProto node)
    {
        int rank = Shape(node.Output[0], node).Length;
        int? outAxis = null;
        foreach (var input in node.Input.Where(IsBatched))
        {
            int aligned = _axis[input] + rank - Shape(input, node).Length;
            if (outAxis is not null && outAxis != aligned)
            {
                throw new GraphRewriteException($"{node.OpType} combines tensors that carry the batch on different axes.", node.Name);
            }

            outAxis = aligned;
        }

        foreach (var input in node.Input.Where(i => i.Length > 0 && !IsBatched(i)))
        {
            var s = Shape(input, node);
            int p = outAxis!.Value - (rank - s.Length);
            if (p >= 0 && s[p] != 1)
            {
                throw new GraphRewriteException($"{node.OpType} broadcasts '{input}', of size {s[p]} along the batch axis, against batched data.", node.Name);
            }
        }

        if (node.OpType is "QuantizeLinear" or "DequantizeLinear" && node.Input.Count > 1 && Shape(node.Input[1], node) is [> 1])
        {
            int axis = Normalize(OnnxHelpers.IntAttr(node, "axis", 1), Shape(node.Input[0], node).Length);
            if (axis == _axis[node.Input[0]])
            {
                throw new GraphRewriteException($"{node.OpType} quantises per channel along the batch axis.", node.Name);
            }
        }

        MarkAll(node, outAxis!.Value);
    }

    private void VisitBatchFirst(NodeProto node)
    {
        if (Axis(node, 0) != 0)
        {
            throw new GraphRewriteException($"{node.OpType} treats axis 0 as the batch, but the batch is on axis {Axis(node, 0)} here.", node.Name);
        }

        RequireUnbatched(node, 1);
        if (node.OpType == "MaxPool" && node.Output.Count > 1 && node.Output[1].Length > 0)
        {
            throw new GraphRewriteException("MaxPool's Indices output indexes the whole batch.", node.Name);
        }

        if (node.OpType == "BatchNormalization")
        {
            Mark(node.Output[0], 0);
        }
        else
        {
            MarkAll(node, 0);
        }
    }

    private void VisitReshape(NodeProto node)
    {
        RequireUnbatched(node, 1);
        int a = Axis(node, 0);
        var inShape = Shape(node.Input[0], node);
        var outShape = Shape(node.Output[0], node);

        // The batch keeps together when some output axis begins at the same element offset as the input's batch axis.
        long prefix = OnnxHelpers.Product(inShape.AsSpan(0, a));
        int b = -1;
        long running = 1;
        for (int i = 0; i < outShape.Length; i++)
        {
            if (running == prefix)
            {
                b = i;
                break;
            }

            running *= outShape[i];
        }

        if (b < 0)
        {
            throw new GraphRewriteException($"Reshape {Dims(inShape)} -> {Dims(outShape)} splits the batch axis {a} across output axes.", node.Name);
        }

        Mark(node.Output[0], b);

        string? targetName = node.Input.Count > 1 ? node.Input[1] : null;
        long[] target;
        if (targetName is null)
        {
            target = OnnxHelpers.IntsAttr(node, "shape") ?? throw new GraphRewriteException("Reshape has no target shape.", node.Name);
        }
        else if (_constants.TryGetValue(targetName, out var t))
        {
            target = OnnxHelpers.ReadInt64s(t);
        }
        else if (_dynamic.Contains(targetName))
        {
            // Computed from the input's Shape at run time: already follows the batch.
            return;
        }
        else
        {
            throw new GraphRewriteException($"Reshape target '{targetName}' is computed from constants; it cannot be patched.", node.Name);
        }

        bool allowZero = OnnxHelpers.IntAttr(node, "allowzero", 0) != 0;
        CheckTarget(node, target, inShape, outShape, allowZero);

        bool ZeroCopiesBatch(int i) => !allowZero && target[i] == 0 && i == a;
        bool alreadyRight = target[b] switch
        {
            -1 => !Enumerable.Range(0, target.Length).Any(i => i != b && ZeroCopiesBatch(i)),
            0 => !allowZero && b == a && inShape[a] == outShape[b],
            _ => false,
        };
        if (alreadyRight)
        {
            return;
        }

        long[] patched;
        if (!allowZero && b == a && inShape[a] == outShape[b])
        {
            // The batch stays its own axis in the same place: copy it from the input; any -1 elsewhere stays valid.
            patched = (long[])target.Clone();
            patched[b] = 0;
        }
        else
        {
            // The batch is folded into (or moved to) axis b: infer it, with every other dim written out.
            patched = (long[])outShape.Clone();
            patched[b] = -1;
        }

        Plans.Add(new ReshapePlan(node, targetName, patched));
    }

    private static void CheckTarget(NodeProto node, long[] target, long[] inShape, long[] outShape, bool allowZero)
    {
        var resolved = new long[target.Length];
        int inferred = -1;
        for (int i = 0; i < target.Length; i++)
        {
            resolved[i] = target[i] == 0 && !allowZero ? inShape[i] : target[i];
            if (target[i] == -1)
            {
                inferred = i;
            }
        }

        if (inferred >= 0)
        {
            resolved[inferred] = 1;
            resolved[inferred] = OnnxHelpers.Product(inShape) / OnnxHelpers.Product(resolved);
        }

        if (!resolved.SequenceEqual(outShape))
        {
            throw new GraphRewriteException($"Reshape target {Dims(target)} on {Dims(inShape)} does not give the recorded output shape {Dims(outShape)}.", node.Name);
        }
    }

    private void VisitTranspose(NodeProto node)
    {
        int a = Axis(node, 0);
        int rank = Shape(node.Input[0], node).Length;
        var perm = OnnxHelpers.IntsAttr(node, "perm") ?? Enumerable.Range(0, rank).Reverse().Select(i => (long)i).ToArray();
        Mark(node.Output[0], Array.IndexOf(perm, (long)a));
    }

    private void VisitFlatten(NodeProto node)
    {
        int a = Axis(node, 0);
        var s = Shape(node.Input[0], node);
        int k = Normalize(OnnxHelpers.IntAttr(node, "axis", 1), s.Length);
        if (a < k && OnnxHelpers.Product(s.AsSpan(0, a)) == 1)
        {
            Mark(node.Output[0], 0);
        }
        else if (a >= k && OnnxHelpers.Product(s.AsSpan(k, a - k)) == 1)
        {
            Mark(node.Output[0], 1);
        }
        else
        {
            throw new GraphRewriteException($"Flatten at axis {k} buries the batch axis {a} inside a merged dimension.", node.Name);
        }
    }

    private void VisitSqueeze(NodeProto node)
    {
        int a = Axis(node, 0);
        var s = Shape(node.Input[0], node);
        var axes = Ints(node, "axes", 1)?.Select(x => Normalize(x, s.Length)).ToArray();
        if (axes is null)
        {
            if (s[a] == 1)
            {
                throw new GraphRewriteException("Squeeze without axes would drop the batch axis at batch 1 only.", node.Name);
            }

            Mark(node.Output[0], a - Enumerable.Range(0, a).Count(i => s[i] == 1));
            return;
        }

        if (axes.Contains(a))
        {
            throw new GraphRewriteException("Squeeze removes the batch axis.", node.Name);
        }

        Mark(node.Output[0], a - axes.Count(x => x < a));
    }

    private void VisitUnsqueeze(NodeProto node)
    {
        int a = Axis(node, 0);
        int rank = Shape(node.Output[0], node).Length;
        var axes = (Ints(node, "axes", 1) ?? throw new GraphRewriteException("Unsqueeze has no axes.", node.Name))
            .Select(x => Normalize(x, rank)).ToHashSet();
        for (int j = 0, k = 0; j < rank; j++)
        {
            if (axes.Contains(j))
            {
                continue;
            }

            if (k++ == a)
            {
                Mark(node.Output[0], j);
                return;
            }
        }

        throw new GraphRewriteException("Unsqueeze axes do not fit the input rank.", node.Name);
    }

    private void VisitGather(NodeProto node)
    {
        RequireUnbatched(node, 1);
        int a = Axis(node, 0);
        int g = Normalize(OnnxHelpers.IntAttr(node, "axis", 0), Shape(node.Input[0], node).Length);
        if (g == a)
        {
            throw new GraphRewriteException("Gather picks items along the batch axis.", node.Name);
        }

        int indicesRank = Shape(node.Input[1], node).Length;
        Mark(node.Output[0], g < a ? a - 1 + indicesRank : a);
    }

    private void VisitSlice(NodeProto node)
    {
        RequireUnbatched(node, 1);
        int a = Axis(node, 0);
        int rank = Shape(node.Input[0], node).Length;
        bool attrs = _opset < 10;
        var starts = attrs ? OnnxHelpers.IntsAttr(node, "starts") : Ints(node, "starts", 1, allowDynamic: true);
        var ends = attrs ? OnnxHelpers.IntsAttr(node, "ends") : Ints(node, "ends", 2, allowDynamic: true);
        var axes = attrs ? OnnxHelpers.IntsAttr(node, "axes") : Ints(node, "axes", 3);
        var steps = attrs ? null : Ints(node, "steps", 4);
        axes ??= starts is null
            ? throw new GraphRewriteException("Slice has computed starts and no axes; the batch axis cannot be checked.", node.Name)
            : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();

        for (int k = 0; k < axes.Length; k++)
        {
            if (Normalize(axes[k], rank) != a)
            {
                continue;
            }

            bool whole = starts is not null && ends is not null && starts[k] == 0 && ends[k] >= int.MaxValue && (steps is null || steps[k] == 1);
            if (!whole)
            {
                throw new GraphRewriteException("Slice cuts along the batch axis.", node.Name);
            }
        }

        Mark(node.Output[0], a);
    }

    private void VisitSplit(NodeProto node)
    {
        RequireUnbatched(node, 1);
        int a = Axis(node, 0);
        if (Normalize(OnnxHelpers.IntAttr(node, "axis", 0), Shape(node.Input[0], node).Length) == a)
        {
            throw new GraphRewriteException("Split cuts along the batch axis.", node.Name);
        }

        MarkAll(node, a);
    }

    private void VisitConcat(NodeProto node)
    {
        var inputs = node.Input.Where(i => i.Length > 0).ToList();
        var unbatched = inputs.FirstOrDefault(i => !IsBatched(i));
        if (unbatched is not null)
        {
            throw new GraphRewriteException($"Concat joins batched data with '{unbatched}', which has a fixed batch of 1.", node.Name);
        }

        int a = _axis[inputs[0]];
        if (inputs.Any(i => _axis[i] != a))
        {
            throw new GraphRewriteException("Concat joins tensors that carry the batch on different axes.", node.Name);
        }

        if (Normalize(OnnxHelpers.IntAttr(node, "axis", 0), Shape(inputs[0], node).Length) == a)
        {
            throw new GraphRewriteException("Concat joins along the batch axis.", node.Name);
        }

        Mark(node.Output[0], a);
    }

    private void VisitResize(NodeProto node)
    {
        int a = Axis(node, 0);
        RequireUnbatched(node, 1);
        int rank = Shape(node.Input[0], node).Length;
        var axes = OnnxHelpers.IntsAttr(node, "axes")?.Select(x => Normalize(x, rank)).ToArray();
        int position = axes is null ? a : Array.IndexOf(axes, a);

        float[]? scales;
        long[]? sizes = null;
        if (OnnxHelpers.Attr(node, "scales") is { } scaleAttr)
        {
            scales = scaleAttr.Floats.ToArray();
        }
        else
        {
            int scalesInput = node.OpType == "Upsample" || _opset < 11 ? 1 : 2;
            scales = ConstantFloats(node, scalesInput);
            if (node.OpType == "Resize" && _opset >= 11)
            {
                sizes = Ints(node, "sizes", 3, allowDynamic: true);
            }
        }

        if (position >= 0 && scales is { Length: > 0 } && scales[position] != 1f)
        {
            throw new GraphRewriteException($"{node.OpType} scales the batch axis by {scales[position]}.", node.Name);
        }

        if (position >= 0 && sizes is { Length: > 0 })
        {
            throw new GraphRewriteException($"{node.OpType} fixes its output size, batch included, through 'sizes'; only 'scales' follows the batch.", node.Name);
        }

        Mark(node.Output[0], a);
    }

    private float[]? ConstantFloats(NodeProto node, int input)
    {
        if (input >= node.Input.Count || node.Input[input].Length == 0)
        {
            return null;
        }

        if (_constants.TryGetValue(node.Input[input], out var t))
        {
            return OnnxHelpers.ReadFloats(t);
        }

        if (_dynamic.Contains(node.Input[input]))
        {
            return null;
        }

        throw new GraphRewriteException($"{node.OpType} scales are computed, not constant; they cannot be checked.", node.Name);
    }

    private void VisitExpand(NodeProto node)
    {
        RequireUnbatched(node, 1);
        int a = Axis(node, 0);
        int outRank = Shape(node.Output[0], node).Length;
        int aligned = a + outRank - Shape(node.Input[0], node).Length;
        if (Ints(node, "shape", 1, allowDynamic: true) is { } shape)
        {
            int p = aligned - (outRank - shape.Length);
            if (p >= 0 && shape[p] != 1)
            {
                throw new GraphRewriteException($"Expand sets the batch axis to {shape[p]}.", node.Name);
            }
        }

        Mark(node.Output[0], aligned);
    }

    private void VisitTile(NodeProto node)
    {
        RequireUnbatched(node, 1);
        int a = Axis(node, 0);
        var repeats = Ints(node, "repeats", 1);
        if (repeats is null || repeats[a] != 1)
        {
            throw new GraphRewriteException("Tile repeats along the batch axis (or by a computed count).", node.Name);
        }

        Mark(node.Output[0], a);
    }

    private void VisitPad(NodeProto node)
    {
        RequireUnbatched(node, 1);
        int a = Axis(node, 0);
        int rank = Shape(node.Input[0], node).Length;
        var pads = (_opset < 11 ? OnnxHelpers.IntsAttr(node, "pads") : Ints(node, "pads", 1))
            ?? throw new GraphRewriteException("Pad has no pads.", node.Name);
        var axes = _opset >= 18 ? Ints(node, "axes", 3)?.Select(x => Normalize(x, rank)).ToArray() : null;
        int n = axes?.Length ?? rank;
        int position = axes is null ? a : Array.IndexOf(axes, a);
        if (position >= 0 && (pads[position] != 0 || pads[position + n] != 0))
        {
            throw new GraphRewriteException("Pad pads the batch axis.", node.Name);
        }

        Mark(node.Output[0], a);
    }

    private void VisitSoftmax(NodeProto node)
    {
        int a = Axis(node, 0);
        int rank = Shape(node.Input[0], node).Length;
        if (_opset < 13)
        {
            // Before opset 13 these flatten to 2-D at 'axis' and work over everything from it on.
            if (a >= Normalize(OnnxHelpers.IntAttr(node, "axis", 1), rank))
            {
                throw new GraphRewriteException($"{node.OpType} (opset < 13) works over the batch axis.", node.Name);
            }
        }
        else if (a == Normalize(OnnxHelpers.IntAttr(node, "axis", -1), rank))
        {
            throw new GraphRewriteException($"{node.OpType} works along the batch axis.", node.Name);
        }

        Mark(node.Output[0], a);
    }

    private void VisitLayerNorm(NodeProto node)
    {
        RequireUnbatched(node, 1);
        int a = Axis(node, 0);
        if (a >= Normalize(OnnxHelpers.IntAttr(node, "axis", -1), Shape(node.Input[0], node).Length))
        {
            throw new GraphRewriteException("LayerNormalization normalises over the batch axis.", node.Name);
        }

        MarkAll(node, a);
    }

    private void VisitReduce(NodeProto node)
    {
        RequireUnbatched(node, 1);
        int a = Axis(node, 0);
        int rank = Shape(node.Input[0], node).Length;
        var axes = Ints(node, "axes", 1)?.Select(x => Normalize(x, rank)).ToArray();
        bool keepDims = OnnxHelpers.IntAttr(node, "keepdims", 1) != 0;
        if (axes is null or { Length: 0 })
        {
            if (OnnxHelpers.IntAttr(node, "noop_with_empty_axes", 0) != 0)
            {
                Mark(node.Output[0], a);
                return;
            }

            throw new GraphRewriteException($"{node.OpType} reduces over every axis, the batch included.", node.Name);
        }

        if (axes.Contains(a))
        {
            throw new GraphRewriteException($"{node.OpType} reduces over the batch axis.", node.Name);
        }

        Mark(node.Output[0], keepDims ? a : a - axes.Count(x => x < a));
    }

    private void VisitArg(NodeProto node)
    {
        int a = Axis(node, 0);
        int axis = Normalize(OnnxHelpers.IntAttr(node, "axis", 0), Shape(node.Input[0], node).Length);
        if (axis == a)
        {
            throw new GraphRewriteException($"{node.OpType} works along the batch axis.", node.Name);
        }

        bool keepDims = OnnxHelpers.IntAttr(node, "keepdims", 1) != 0;
        Mark(node.Output[0], keepDims || axis > a ? a : a - 1);
    }

    private void VisitMatMul(NodeProto node)
    {
        RequireUnbatched(node, 2);
        int outRank = Shape(node.Output[0], node).Length;
        int? outAxis = null;
        for (int i = 0; i < 2; i++)
        {
            if (!IsBatched(node.Input[i]))
            {
                continue;
            }

            int rank = Shape(node.Input[i], node).Length;
            int a = _axis[node.Input[i]];
            int contracted = i == 0 ? rank - 1 : rank - 2;
            if (rank < 2 || a == contracted)
            {
                throw new GraphRewriteException($"{node.OpType} contracts over the batch axis.", node.Name);
            }

            int aligned = a + outRank - rank;
            if (outAxis is not null && (outAxis != aligned || aligned >= outRank - 2))
            {
                throw new GraphRewriteException($"{node.OpType} multiplies two batched tensors whose batch axes do not match.", node.Name);
            }

            outAxis = aligned;
        }

        Mark(node.Output[0], outAxis!.Value);
    }

    private void VisitGemm(NodeProto node)
    {
        RequireUnbatched(node, 1);
        int a = Axis(node, 0);
        long transA = OnnxHelpers.IntAttr(node, "transA", 0);
        if (a != (transA == 0 ? 0 : 1))
        {
            throw new GraphRewriteException("Gemm contracts over the batch axis.", node.Name);
        }

        if (node.Input.Count > 2 && node.Input[2].Length > 0 && Shape(node.Input[2], node) is [> 1, _])
        {
            throw new GraphRewriteException("Gemm adds a bias with a fixed row count of more than 1.", node.Name);
        }

        Mark(node.Output[0], 0);
    }

    private static string Dims(long[] dims) => "[" + string.Join(",", dims) + "]";
}
