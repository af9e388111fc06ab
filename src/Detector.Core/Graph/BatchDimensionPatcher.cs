using Onnx;

namespace Detector.Core.Graph;

/// <summary>What <see cref="BatchDimensionPatcher.MakeBatchDynamic"/> found and changed.</summary>
/// <param name="WasAlreadyDynamic">Every graph input and output already had a symbolic dim 0 before the call.</param>
/// <param name="ReshapesPatched">Reshape nodes whose target shape was rewritten (batch 1 hard-coded or folded into an axis).</param>
/// <param name="PatchedReshapeNodes">Their node names (the output name where a node has none).</param>
/// <param name="ValueInfosUpdated">Intermediate value_info entries whose batch dimension was made symbolic or cleared.</param>
/// <param name="HasBatchDependentOps">
/// The graph computes something over the whole batch (dynamic INT8 quantisation: one scale for all
/// items), so a frame's result depends on the other frames in its batch. Batching such a model is
/// correct in shape but not bit-exact per frame; see <see cref="BatchDimensionPatcher.HasBatchDependentOps"/>.
/// </param>
/// <param name="ShapesProbed">The file lacked intermediate shapes and ONNX Runtime was run once on the CPU to learn them.</param>
public sealed record BatchPatchResult(
    bool WasAlreadyDynamic,
    int ReshapesPatched,
    IReadOnlyList<string> PatchedReshapeNodes,
    int ValueInfosUpdated,
    bool HasBatchDependentOps,
    bool ShapesProbed);

/// <summary>
/// Makes a model exported with a fixed batch of 1 accept any batch size, so several frames (of one
/// stream or of many) run in one inference.
/// </summary>
/// <remarks>
/// <para>
/// Changing dim 0 of the graph inputs and outputs to the symbolic <see cref="BatchDimName"/> is not
/// enough: exporters bake the traced batch of 1 into Reshape target shapes (<c>view(1, 85, -1)</c>
/// becomes the constant <c>[1,85,-1]</c>), and the intermediate value_info they record pins
/// batch 1 as well. Which Reshapes need patching, and how, is decided by following the batch axis
/// from the inputs through the graph, using the static batch-1 shape of every tensor
/// (<see cref="StaticShapes"/>):
/// </para>
/// <list type="bullet">
/// <item>A tensor is "batched" when it depends on a graph input; it carries the batch as the major
/// factor of one axis (axis 0 until a Transpose or Reshape moves it). Constant-only branches, such as
/// the bias reshapes an INT8 quantiser emits, are not batched and are left alone.</item>
/// <item>A Reshape keeps the batch whole when some output axis <c>b</c> starts at the same element
/// offset as the input's batch axis (equal prefix products); the batch then multiplies output
/// dim <c>b</c>. If the target does not already yield that, it is rewritten:
/// <c>0</c> ("copy input dim") at <c>b</c> when the batch stays its own axis in the same position
/// (batch-1 input dim equals output dim there, and <c>allowzero</c> is 0), otherwise <c>-1</c> at
/// <c>b</c> with every other entry written out as its static value (a second -1 is not allowed, and a
/// 0 elsewhere could copy the batched dim).</item>
/// <item>Why both: in yolox-nano, yolov8n and v5lite-e the target is <c>[1,...]</c> with the batch as
/// dim 0 in and out, so <c>0</c> works and keeps any <c>-1</c> already there. Yolo-FastestV2's
/// channel shuffle reshapes <c>[1,48,44,44]</c> to <c>[24,2,1936]</c>: the batch is folded into
/// dim 0 (B x 24), so <c>0</c> would copy B and break the element count; only <c>-1</c> is right.
/// Its next Reshape, <c>[2,-1,24,44,44]</c> after a Transpose(1,0,2), already carries the batch
/// in its <c>-1</c> and is left as is.</item>
/// <item>Ops that would mix batch items (Gather, Slice, Split, Concat, Softmax, reductions along
/// the batch axis; Resize with fixed <c>sizes</c>; Expand/Tile/Pad on it; Concat of batched and
/// constant tensors; anything unknown) make the call throw <see cref="GraphRewriteException"/>
/// instead of producing a model that is silently wrong. Reshape targets computed from the input's
/// Shape are taken to be batch-correct (exporters emit them for dynamic batches) and are left alone.</item>
/// </list>
/// <para>
/// The model is changed in place, all at once: every edit is planned first, and a refusal leaves it
/// untouched. Calling it again on its own output changes nothing.
/// </para>
/// </remarks>
public static class BatchDimensionPatcher
{
    /// <summary>The symbolic name given to the batch dimension.</summary>
    public const string BatchDimName = "batch";

    /// <summary>Ops whose result for one batch item depends on the other items.</summary>
    private static readonly HashSet<string> BatchDependentOps = ["DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM"];

    /// <summary>
    /// Rewrites <paramref name="model"/> in place so its batch dimension is symbolic.
    /// </summary>
    /// <exception cref="GraphRewriteException">The batch cannot be followed through the graph, or an op would mix batch items; the model is unchanged.</exception>
    public static BatchPatchResult MakeBatchDynamic(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Graph is null)
        {
            throw new GraphRewriteException("The model has no graph.");
        }

        var graph = model.Graph;
        var inputs = OnnxHelpers.RealInputs(graph);
        bool wasDynamic = inputs.Concat(graph.Output).All(v => !HasFixedDim0(v));

        var analysis = new BatchAxisAnalysis(model);
        analysis.Run();

        var dim0s = inputs.Concat(graph.Output)
            .Select(v => v.Type?.TensorType?.Shape is { Dim.Count: > 0 } s ? s.Dim[0] : null)
            .OfType<TensorShapeProto.Types.Dimension>()
            .ToList();
        string batchName = dim0s
            .Where(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam)
            .Select(d => d.DimParam)
            .FirstOrDefault() ?? BatchDimName;
        foreach (var dim0 in dim0s.Where(d => d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam))
        {
            dim0.DimParam = batchName;
        }

        int valueInfos = 0;
        foreach (var vi in graph.ValueInfo)
        {
            if (analysis.BatchAxisOf(vi.Name) is not { } axis || vi.Type?.TensorType?.Shape is not { } shape || axis >= shape.Dim.Count)
            {
                continue;
            }

            var batch1 = analysis.Shapes.Get(vi.Name);
            var dim = shape.Dim[axis];
            if (batch1 is not null && batch1[axis] == 1)
            {
                if (dim.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam)
                {
                    dim.DimParam = batchName;
                    valueInfos++;
                }
            }
            else if (dim.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.None)
            {
                // The batch is folded into this axis (B x n): no symbol says that, so leave it unknown.
                shape.Dim[axis] = new TensorShapeProto.Types.Dimension();
                valueInfos++;
            }
        }

        ApplyReshapePlans(model, analysis.Plans);

        return new BatchPatchResult(
            wasDynamic,
            analysis.Plans.Count,
            analysis.Plans.Select(p => p.Node.Name.Length > 0 ? p.Node.Name : p.Node.Output[0]).ToList(),
            valueInfos,
            analysis.SawBatchDependentOp || HasBatchDependentOps(model),
            analysis.Shapes.Probed);
    }

    /// <summary>
    /// Whether the graph holds ops that compute over the whole batch, so a frame's output changes
    /// with what else is in its batch: dynamic quantisation (<c>DynamicQuantizeLinear</c> and the
    /// fused <c>com.microsoft</c> forms) picks one scale and zero point from the min and max of the
    /// whole input tensor, batch included.
    /// </summary>
    /// <remarks>
    /// The engine should not batch frames of different streams through such a model: one stream's
    /// bright frame would change another stream's detections. Batching identical frames, or a model
    /// without these ops, is exact per frame.
    /// </remarks>
    public static bool HasBatchDependentOps(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Graph?.Node.Any(n => BatchDependentOps.Contains(n.OpType) && (OnnxHelpers.IsDefaultDomain(n) || n.Domain == "com.microsoft")) ?? false;
    }

    private static bool HasFixedDim0(ValueInfoProto v) =>
        v.Type?.TensorType?.Shape is { Dim.Count: > 0 } s && OnnxHelpers.DimValue(s.Dim[0]) is not null;

    private static void ApplyReshapePlans(ModelProto model, List<ReshapePlan> plans)
    {
        var graph = model.Graph;
        foreach (var plan in plans.Where(p => p.TargetName is null))
        {
            var attr = OnnxHelpers.Attr(plan.Node, "shape")!;
            attr.Ints.Clear();
            attr.Ints.AddRange(plan.NewTarget);
        }

        var used = OnnxHelpers.UsedNames(graph);
        foreach (var group in plans.Where(p => p.TargetName is not null).GroupBy(p => p.TargetName!))
        {
            string name = group.Key;
            var planned = group.ToList();
            int consumers = graph.Node.Sum(n => n.Input.Count(i => i == name)) + graph.Output.Count(o => o.Name == name);
            bool sameValue = planned.All(p => p.NewTarget.SequenceEqual(planned[0].NewTarget));
            var initializer = graph.Initializer.FirstOrDefault(t => t.Name == name);
            var constantNode = graph.Node.FirstOrDefault(n => n.OpType == "Constant" && n.Output.Count > 0 && n.Output[0] == name);

            if (sameValue && consumers == planned.Count)
            {
                // Every user of the constant gets the same new value: rewrite it where it is.
                var value = OnnxHelpers.Int64Tensor(name, planned[0].NewTarget, [planned[0].NewTarget.Length]);
                if (initializer is not null)
                {
                    initializer.Int32Data.Clear();
                    initializer.Int64Data.Clear();
                    initializer.DataType = OnnxHelpers.Int64Type;
                    initializer.RawData = value.RawData;
                }
                else
                {
                    constantNode!.Attribute.Clear();
                    constantNode.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = value });
                }

                continue;
            }

            // Shared with nodes that keep the old value, or with Reshapes needing different values:
            // give each new value its own initializer.
            foreach (var byValue in planned.GroupBy(p => string.Join(",", p.NewTarget)))
            {
                var target = byValue.First().NewTarget;
                var newName = OnnxHelpers.UniqueName(used, name + "_" + BatchDimName);
                OnnxHelpers.AddInitializer(model, OnnxHelpers.Int64Tensor(newName, target, [target.Length]));
                foreach (var p in byValue)
                {
                    p.Node.Input[1] = newName;
                }
            }

            if (consumers == planned.Count)
            {
                if (initializer is not null)
                {
                    graph.Initializer.Remove(initializer);
                    var listed = graph.Input.FirstOrDefault(i => i.Name == name);
                    if (listed is not null)
                    {
                        graph.Input.Remove(listed);
                    }
                }
                else
                {
                    graph.Node.Remove(constantNode!);
                }
            }
        }
    }
}
