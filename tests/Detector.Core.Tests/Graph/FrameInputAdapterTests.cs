using Detector.Core.Graph;
using Google.Protobuf;
using NUnit.Framework;
using Onnx;

namespace Detector.Core.Tests.Graph;

[TestFixture]
public class FrameInputAdapterTests
{
    private static IEnumerable<TestCaseData> AllModels() =>
        SharedModel.All.Select(m => new TestCaseData(m).SetArgDisplayNames(m.Name));

    private static FrameInput Wrap(ModelProto model, SharedModel shared) =>
        FrameInputAdapter.PrependFrameInput(model, shared.InputName, shared.Rgb, shared.Scale);

    [TestCaseSource(nameof(AllModels))]
    public void Uint8_bgr_frames_give_bit_identical_outputs_to_the_float_planar_input(SharedModel shared)
    {
        var original = shared.Bytes();
        var model = ModelProto.Parser.ParseFrom(original);

        var input = Wrap(model, shared);

        Assert.That(input, Is.EqualTo(new FrameInput("frames", shared.Size, shared.Size, "1")));
        var graphInput = model.Graph.Input.Single(i => i.Name == "frames");
        Assert.That(graphInput.Type.TensorType.ElemType, Is.EqualTo((int)TensorProto.Types.DataType.Uint8));
        Assert.That(graphInput.Type.TensorType.Shape.Dim.Select(d => d.DimValue), Is.EqualTo(new long[] { 1, shared.Size, shared.Size, 3 }));
        Assert.That(model.Graph.Input.Select(i => i.Name), Does.Not.Contain(shared.InputName));

        var frame = shared.Frame("bus.jpg");
        var expected = Ort.Run(original, shared.InputName, shared.Planar(frame), shared.PlanarShape(1));
        var actual = Ort.Run(model.ToByteArray(), "frames", frame, shared.FrameShape(1));

        foreach (var (name, output) in expected)
        {
            Assert.That(actual[name].Shape, Is.EqualTo(output.Shape), name);
            Assert.That(actual[name].Values, Is.EqualTo(output.Values), $"{name}: bit-identical");
        }
    }

    [TestCaseSource(nameof(AllModels))]
    public void Composes_with_make_batch_dynamic_in_either_order(SharedModel shared)
    {
        string[] images = ["bus.jpg", "zidane.jpg"];
        var frames = images.SelectMany(shared.Frame).ToArray();

        var dynamicOnly = ModelProto.Parser.ParseFrom(shared.Bytes());
        BatchDimensionPatcher.MakeBatchDynamic(dynamicOnly);
        var expected = Ort.Run(dynamicOnly.ToByteArray(), shared.InputName, shared.PlanarBatch(images), shared.PlanarShape(2));

        var patchedFirst = ModelProto.Parser.ParseFrom(shared.Bytes());
        BatchDimensionPatcher.MakeBatchDynamic(patchedFirst);
        var input = Wrap(patchedFirst, shared);
        Assert.That(input.BatchDim, Is.EqualTo(BatchDimensionPatcher.BatchDimName));

        var wrappedFirst = ModelProto.Parser.ParseFrom(shared.Bytes());
        Wrap(wrappedFirst, shared);
        var result = BatchDimensionPatcher.MakeBatchDynamic(wrappedFirst);
        Assert.That(result.ReshapesPatched, Is.EqualTo(shared.ExpectedReshapesPatched));
        Assert.That(wrappedFirst.Graph.Input.Single().Type.TensorType.Shape.Dim[0].DimParam, Is.EqualTo(BatchDimensionPatcher.BatchDimName));

        foreach (var model in new[] { patchedFirst, wrappedFirst })
        {
            var actual = Ort.Run(model.ToByteArray(), "frames", frames, shared.FrameShape(2));
            foreach (var (name, output) in expected)
            {
                Assert.That(actual[name].Shape, Is.EqualTo(output.Shape), name);
                Assert.That(actual[name].Values, Is.EqualTo(output.Values), $"{name}: bit-identical at batch 2");
            }
        }
    }

    [Test]
    public void A_0_to_255_bgr_model_gets_only_a_cast_and_a_transpose()
    {
        var model = ModelProto.Parser.ParseFrom(SharedModel.YoloxNano.Bytes());

        Wrap(model, SharedModel.YoloxNano);

        Assert.That(model.Graph.Node.Take(2).Select(n => n.OpType), Is.EqualTo(new[] { "Cast", "Transpose" }));
        Assert.That(model.Graph.Node[1].Output.Single(), Is.EqualTo("images"));
    }

    [Test]
    public void An_rgb_scaled_model_gets_cast_gather_mul_transpose()
    {
        var model = ModelProto.Parser.ParseFrom(SharedModel.V5LiteE.Bytes());

        Wrap(model, SharedModel.V5LiteE);

        Assert.That(model.Graph.Node.Take(4).Select(n => n.OpType), Is.EqualTo(new[] { "Cast", "Gather", "Mul", "Transpose" }));
    }

    [Test]
    public void Refuses_bad_arguments_without_touching_the_model()
    {
        var shared = SharedModel.V5LiteE;
        var model = ModelProto.Parser.ParseFrom(shared.Bytes());
        var before = model.ToByteArray();

        Assert.That(() => FrameInputAdapter.PrependFrameInput(model, "nope", true, 1f / 255f), Throws.ArgumentException);
        Assert.That(() => FrameInputAdapter.PrependFrameInput(model, "images", true, 1f / 255f, newInputName: "output"), Throws.ArgumentException);
        Assert.That(() => FrameInputAdapter.PrependFrameInput(model, "images", true, float.NaN), Throws.ArgumentException);
        Assert.That(() => FrameInputAdapter.PrependFrameInput(model, "images", true, 0f), Throws.ArgumentException);
        Assert.That(model.ToByteArray(), Is.EqualTo(before));
    }

    [Test]
    public void Refuses_an_opset_older_than_7()
    {
        var model = ModelProto.Parser.ParseFrom(SharedModel.V5LiteE.Bytes());
        model.OpsetImport.Single(o => o.Domain == "").Version = 6;

        Assert.That(() => FrameInputAdapter.PrependFrameInput(model, "images", true, 1f / 255f), Throws.TypeOf<GraphRewriteException>());
    }
}
