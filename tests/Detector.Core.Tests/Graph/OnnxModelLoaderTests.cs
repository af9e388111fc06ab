using Detector.Core.Graph;
using Google.Protobuf;
using NUnit.Framework;
using Onnx;

namespace Detector.Core.Tests.Graph;

/// <summary>
/// What bad files do. <c>ModelProto.Parser</c> alone throws <see cref="InvalidProtocolBufferException"/>
/// for a JPEG or a text file ("invalid wire type") and for most truncations ("input ended
/// unexpectedly in the middle of a field"), but parses an empty file and a file cut between
/// top-level fields without complaint; <see cref="OnnxModelLoader"/> turns all of these into
/// <see cref="InvalidOnnxModelException"/>.
/// </summary>
[TestFixture]
public class OnnxModelLoaderTests
{
    [TestCase("media/images/bus.jpg")]
    [TestCase("weights/README.md")]
    [TestCase("weights/coco.names")]
    public void The_raw_parser_throws_InvalidProtocolBufferException_on_files_that_are_not_protobuf(string file)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Shared.Root, file));

        Assert.That(() => ModelProto.Parser.ParseFrom(bytes), Throws.TypeOf<InvalidProtocolBufferException>().With.Message.Contains("invalid wire type"));
        Assert.That(() => OnnxModelLoader.Parse(bytes, file), Throws.TypeOf<InvalidOnnxModelException>()
            .With.Message.StartsWith(file).And.InnerException.TypeOf<InvalidProtocolBufferException>());
    }

    [TestCase(0.001)]
    [TestCase(0.5)]
    [TestCase(0.999)]
    public void A_truncated_model_throws(double kept)
    {
        var bytes = SharedModel.YoloFastestV2.Bytes();
        var cut = bytes.AsSpan(0, (int)(bytes.Length * kept)).ToArray();

        Assert.That(() => ModelProto.Parser.ParseFrom(cut), Throws.TypeOf<InvalidProtocolBufferException>().With.Message.Contains("truncated"));
        Assert.That(() => OnnxModelLoader.Parse(cut), Throws.TypeOf<InvalidOnnxModelException>());
    }

    [Test]
    public void What_the_raw_parser_accepts_the_loader_refuses()
    {
        var bytes = SharedModel.YoloFastestV2.Bytes();
        var withoutOpset = bytes.AsSpan(0, bytes.Length - OpsetImportFieldLength(bytes)).ToArray();

        Assert.That(ModelProto.Parser.ParseFrom(Array.Empty<byte>()).Graph, Is.Null, "an empty file parses as an empty model");
        Assert.That(ModelProto.Parser.ParseFrom(withoutOpset).OpsetImport, Is.Empty, "a cut before opset_import parses");
        Assert.That(() => OnnxModelLoader.Parse([]), Throws.TypeOf<InvalidOnnxModelException>());
        Assert.That(() => OnnxModelLoader.Parse(withoutOpset), Throws.TypeOf<InvalidOnnxModelException>().With.Message.Contains("opset"));
    }

    [Test]
    public void Loads_every_shared_model()
    {
        foreach (var shared in SharedModel.All)
        {
            Assert.That(OnnxModelLoader.Load(shared.Path).Graph.Node, Is.Not.Empty, shared.Name);
        }
    }

    /// <summary>Bytes of the trailing opset_import field (field 8), which this file writes last.</summary>
    private static int OpsetImportFieldLength(byte[] bytes)
    {
        var input = new CodedInputStream(bytes);
        long start = -1;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            long at = input.Position - CodedOutputStream.ComputeTagSize(WireFormat.GetTagFieldNumber(tag));
            if (WireFormat.GetTagFieldNumber(tag) == ModelProto.OpsetImportFieldNumber && start < 0)
            {
                start = at;
            }

            input.SkipLastField();
        }

        Assert.That(start, Is.GreaterThan(0));
        return (int)(bytes.Length - start);
    }
}
