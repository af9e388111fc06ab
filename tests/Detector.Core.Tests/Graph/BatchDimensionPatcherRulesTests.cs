using Detector.Core.Graph;
using Google.Protobuf;
using NUnit.Framework;
using Onnx;

namespace Detector.Core.Tests.Graph;

/// <summary>The patcher's rules on small hand-built graphs, each checked by running it at batch 2.</summary>
[TestFixture]
public class BatchDimensionPatcherRulesTests
{
    private static ModelProto Model(long[] inputShape, long[] outputShape, NodeProto[] nodes, params TensorProto[] initializers)
    {
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "test" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 14 });
        model.Graph.Input.Add(OnnxHelpers.TensorValueInfo("x", OnnxHelpers.FloatType, inputShape.Cast<object>()));
        model.Graph.Output.Add(OnnxHelpers.TensorValueInfo("y", OnnxHelpers.FloatType, outputShape.Cast<object>()));
        model.Graph.Node.AddRange(nodes);
        model.Graph.Initializer.AddRange(initializers);
        return model;
    }

    private static TensorProto Ints(string name, params long[] values) => OnnxHelpers.Int64Tensor(name, values, [values.Length]);

    private static NodeProto Node(string op, string[] inputs, string output, params AttributeProto[] attributes) =>
        OnnxHelpers.Node(op, output + "_node", inputs, [output], attributes);

    private static float[] Ramp(int count, float start) => Enumerable.Range(0, count).Select(i => start + i).ToArray();

    /// <summary>Patches <paramref name="model"/> and checks a batch of two equals two single runs of the original.</summary>
    private static BatchPatchResult PatchAndCheck(ModelProto model, long[] itemShape)
    {
        var original = model.ToByteArray();
        int size = (int)OnnxHelpers.Product(itemShape);
        float[] a = Ramp(size, 1), b = Ramp(size, -50);

        var result = BatchDimensionPatcher.MakeBatchDynamic(model);

        var batch = Ort.Run(model.ToByteArray(), "x", a.Concat(b).ToArray(), [2, .. itemShape])["y"];
        Assert.That(batch.Item(0).ToArray(), Is.EqualTo(Ort.Run(original, "x", a, [1, .. itemShape])["y"].Values));
        Assert.That(batch.Item(1).ToArray(), Is.EqualTo(Ort.Run(original, "x", b, [1, .. itemShape])["y"].Values));
        return result;
    }

    [Test]
    public void A_batch_folded_into_dim_0_gets_minus_1_with_the_other_minus_1_written_out()
    {
        // [1,6,4] -> [3,-1] folds the batch into dim 0 (B x 3): copying dim 0 would be wrong, -1 is right.
        // [3,8] -> [1,-1] has the batch folded in its input, so it needs -1 at 0 and the 24 written out.
        var model = Model([1, 6, 4], [1, 24],
            [Node("Reshape", ["x", "fold"], "t"), Node("Relu", ["t"], "u"), Node("Reshape", ["u", "unfold"], "y")],
            Ints("fold", 3, -1), Ints("unfold", 1, -1));

        var result = PatchAndCheck(model, [6, 4]);

        Assert.That(result.ReshapesPatched, Is.EqualTo(2));
        Assert.That(OnnxHelpers.ReadInt64s(model.Graph.Initializer.Single(t => t.Name == "fold")), Is.EqualTo(new long[] { -1, 8 }));
        Assert.That(OnnxHelpers.ReadInt64s(model.Graph.Initializer.Single(t => t.Name == "unfold")), Is.EqualTo(new long[] { -1, 24 }));
    }

    [Test]
    public void A_target_shared_with_a_constant_branch_is_copied_not_changed()
    {
        // "shape" [1,-1] reshapes the input (batched) and a constant (not batched, must stay [1,4]).
        var model = Model([1, 2, 2], [1, 4],
            [Node("Reshape", ["x", "shape"], "flat"), Node("Reshape", ["bias", "shape"], "bias_row"), Node("Add", ["flat", "bias_row"], "y")],
            Ints("shape", 1, -1), OnnxHelpers.FloatTensor("bias", [1, 2, 3, 4], [4]));

        var result = PatchAndCheck(model, [2, 2]);

        Assert.That(result.PatchedReshapeNodes, Is.EqualTo(new[] { "flat_node" }));
        Assert.That(OnnxHelpers.ReadInt64s(model.Graph.Initializer.Single(t => t.Name == "shape")), Is.EqualTo(new long[] { 1, -1 }));
        Assert.That(OnnxHelpers.ReadInt64s(model.Graph.Initializer.Single(t => t.Name == model.Graph.Node[0].Input[1])), Is.EqualTo(new long[] { 0, -1 }));
    }

    [Test]
    public void Allowzero_rules_out_0_so_minus_1_is_used()
    {
        var reshape = Node("Reshape", ["x", "shape"], "y", OnnxHelpers.IntAttribute("allowzero", 1));
        var model = Model([1, 2, 3], [1, 6], [reshape], Ints("shape", 1, 6));

        PatchAndCheck(model, [2, 3]);

        Assert.That(OnnxHelpers.ReadInt64s(model.Graph.Initializer.Single()), Is.EqualTo(new long[] { -1, 6 }));
    }

    [Test]
    public void A_batch_moved_by_a_transpose_is_followed()
    {
        // Yolo-FastestV2's channel shuffle: [1,4,3] -> [2,2,3] (folded) -> Transpose(1,0,2) -> [2,-1,2,3] -> Gather(axis 0).
        var model = Model([1, 4, 3], [1, 2, 3],
            [
                Node("Reshape", ["x", "pairs"], "p"),
                Node("Transpose", ["p"], "t", OnnxHelpers.IntsAttribute("perm", 1, 0, 2)),
                Node("Reshape", ["t", "halves"], "h"),
                Node("Gather", ["h", "first"], "y", OnnxHelpers.IntAttribute("axis", 0)),
            ],
            Ints("pairs", 2, 2, 3), Ints("halves", 2, -1, 2, 3), OnnxHelpers.Int64Tensor("first", [0], []));

        var result = PatchAndCheck(model, [4, 3]);

        Assert.That(result.PatchedReshapeNodes, Is.EqualTo(new[] { "p_node" }), "the -1 of [2,-1,2,3] already carries the batch");
    }

    private static IEnumerable<TestCaseData> Refusals()
    {
        yield return new TestCaseData(
            Model([1, 4], [1, 4], [Node("Gather", ["x", "i"], "y", OnnxHelpers.IntAttribute("axis", 0))], Ints("i", 0)),
            "Gather picks items along the batch axis").SetArgDisplayNames("gather on batch");
        yield return new TestCaseData(
            Model([1, 4], [1, 8], [Node("Concat", ["x", "c"], "y", OnnxHelpers.IntAttribute("axis", 1))], OnnxHelpers.FloatTensor("c", [1, 2, 3, 4], [1, 4])),
            "fixed batch of 1").SetArgDisplayNames("concat with a constant");
        yield return new TestCaseData(
            Model([1, 4], [1, 4], [Node("Softmax", ["x"], "y", OnnxHelpers.IntAttribute("axis", 0))]),
            "along the batch axis").SetArgDisplayNames("softmax over batch");
        yield return new TestCaseData(
            Model([1, 4], [1, 1], [Node("ReduceMax", ["x"], "y")]),
            "every axis").SetArgDisplayNames("reduce over all");
        yield return new TestCaseData(
            Model([2, 4], [2, 4], [Node("Relu", ["x"], "y")]),
            "fixed batch of 2").SetArgDisplayNames("batch 2 export");
        yield return new TestCaseData(
            Model([1, 4], [1, 4], [Node("Resize", ["x", "", "", "sizes"], "y")], Ints("sizes", 1, 4)),
            "sizes").SetArgDisplayNames("resize with sizes");
    }

    [TestCaseSource(nameof(Refusals))]
    public void Refuses_graphs_that_mix_batch_items_and_leaves_them_untouched(ModelProto model, string reason)
    {
        var before = model.ToByteArray();

        Assert.That(() => BatchDimensionPatcher.MakeBatchDynamic(model), Throws.TypeOf<GraphRewriteException>().With.Message.Contains(reason));
        Assert.That(model.ToByteArray(), Is.EqualTo(before));
    }
}
