using Detector.Core.Models;
using Google.Protobuf;
using Onnx;

namespace Detector.Core.Tests.Models;

public class ModelDescriberTests
{
    private static ModelDescription Describe(string path, string? config = null)
    {
        var (model, bytes) = ModelDescriber.ReadModelFile(path);
        return ModelDescriber.Describe(path, model, bytes, config);
    }

    [Test]
    public void Yolox_nano_is_recognised_by_its_hash_in_the_manifest()
    {
        var d = Describe(Shared.YoloxNano);
        Assert.Multiple(() =>
        {
            Assert.That(d.Family, Is.EqualTo(OutputFamily.Yolox));
            Assert.That(d.Source, Is.EqualTo(DescriptionSource.Manifest));
            Assert.That((d.InputWidth, d.InputHeight), Is.EqualTo((416, 416)));
            Assert.That(d.ColorOrder, Is.EqualTo(ColorOrder.Bgr));
            Assert.That(d.PixelScale, Is.EqualTo(1f));
            Assert.That(d.PadPosition, Is.EqualTo(PadPosition.TopLeft));
            Assert.That(d.OutputShapes[0], Is.EqualTo(new[] { 3549, 85 }));
            Assert.That(d.ClassNames[0], Is.EqualTo("person"));
            Assert.That(d.Name, Is.EqualTo("yolox-nano"));
        });
    }

    [Test]
    public void Yolov8_is_described_by_its_ultralytics_metadata()
    {
        var d = Describe(Shared.YoloV8nInt8);
        Assert.Multiple(() =>
        {
            Assert.That(d.Family, Is.EqualTo(OutputFamily.YoloV8));
            Assert.That(d.Source, Is.EqualTo(DescriptionSource.Metadata));
            Assert.That((d.InputWidth, d.InputHeight), Is.EqualTo((640, 640)));
            Assert.That(d.ColorOrder, Is.EqualTo(ColorOrder.Rgb));
            Assert.That(d.Strides, Is.EqualTo(new[] { 8, 16, 32 }));
            Assert.That(d.ClassNames, Has.Count.EqualTo(80));
            Assert.That(d.ClassNames[9], Is.EqualTo("traffic light"));
            Assert.That(d.OutputShapes[0], Is.EqualTo(new[] { 84, 8400 }));
        });
    }

    [Test]
    public void V5lite_is_the_undecoded_yolov5_head_although_its_shape_looks_decoded()
    {
        var d = Describe(Shared.V5LiteE);
        Assert.Multiple(() =>
        {
            Assert.That(d.Family, Is.EqualTo(OutputFamily.YoloV5));
            Assert.That(d.ResizeMode, Is.EqualTo(ResizeMode.Stretch));
            Assert.That(d.Anchors, Has.Count.EqualTo(3));
            Assert.That(d.Anchors[2], Is.EqualTo(new float[] { 116, 90, 156, 198, 373, 326 }));
        });
    }

    [Test]
    public void Yolo_fastestv2_outputs_are_ordered_reg_obj_cls_per_level_smallest_stride_first()
    {
        var d = Describe(Shared.YoloFastestV2);
        Assert.Multiple(() =>
        {
            Assert.That(d.Family, Is.EqualTo(OutputFamily.YoloFastestV2));
            Assert.That(d.OutputNames, Is.EqualTo(new[] { "777", "778", "779", "780", "781", "782" }));
            Assert.That(d.OutputShapes[2], Is.EqualTo(new[] { 80, 22, 22 }));
            Assert.That(d.Strides, Is.EqualTo(new[] { 16, 32 }));
        });
    }

    [Test]
    public void A_model_nobody_described_fails_with_what_was_found_and_how_to_describe_it()
    {
        // Same graph as yolox-nano, different bytes: no metadata, no manifest entry.
        var path = CopyWithProducer(Shared.YoloxNano, "someone-else");
        var e = Assert.Throws<ModelDescriptionException>(() => Describe(path))!;
        Assert.That(e.Message, Does.Contain("[1,3549,85]").And.Contain("--model-config").And.Contain("SHA-256"));
    }

    [Test]
    public void A_config_file_describes_an_unknown_model_and_wins_over_the_manifest()
    {
        var path = CopyWithProducer(Shared.YoloxNano, "renamed");
        var config = Path.Combine(Path.GetDirectoryName(path)!, "cfg.yaml");
        File.WriteAllText(config, """
            # YOLOX exported by hand
            family: yolox
            colorOrder: bgr
            pixelRange: 0-255
            padPosition: top-left
            strides: [8, 16, 32]
            """);
        var d = Describe(path, config);
        Assert.Multiple(() =>
        {
            Assert.That(d.Family, Is.EqualTo(OutputFamily.Yolox));
            Assert.That(d.Source, Is.EqualTo(DescriptionSource.ConfigFile));
            Assert.That(d.ColorOrder, Is.EqualTo(ColorOrder.Bgr));
        });
    }

    [Test]
    public void A_json_config_beside_the_model_is_found_without_a_flag()
    {
        var path = CopyWithProducer(Shared.YoloxNano, "sidecar");
        File.WriteAllText(Path.ChangeExtension(path, null) + ".detector.json",
            """{ "family": "yolox", "colorOrder": "bgr", "pixelRange": "0-255", "padPosition": "top-left" }""");
        Assert.That(Describe(path).Source, Is.EqualTo(DescriptionSource.ConfigFile));
    }

    [Test]
    public void A_config_whose_family_does_not_fit_the_graph_is_refused_naming_both()
    {
        var config = WriteTemp("wrong.json", """{ "family": "yolov8" }""");
        var e = Assert.Throws<ModelDescriptionException>(() => Describe(Shared.YoloxNano, config))!;
        Assert.That(e.Message, Does.Contain("YoloV8").And.Contain("[1,3549,85]"));
    }

    [Test]
    public void A_config_key_with_a_typo_is_refused_not_ignored()
    {
        var config = WriteTemp("typo.json", """{ "family": "yolox", "colourOrder": "bgr" }""");
        var e = Assert.Throws<ModelDescriptionException>(() => Describe(Shared.YoloxNano, config))!;
        Assert.That(e.Message, Does.Contain("colourOrder"));
    }

    [Test]
    public void A_config_with_an_unknown_family_lists_the_known_ones()
    {
        var config = WriteTemp("family.yaml", "family: yolov99\n");
        var e = Assert.Throws<ModelDescriptionException>(() => Describe(Shared.YoloxNano, config))!;
        Assert.That(e.Message, Does.Contain("yolov99").And.Contain("yolo-fastestv2"));
    }

    [Test]
    public void Class_names_that_do_not_match_the_class_count_are_refused()
    {
        var config = WriteTemp("names.yaml", "family: yolox\nclassNames: [a, b]\n");
        var e = Assert.Throws<ModelDescriptionException>(() => Describe(Shared.YoloxNano, config))!;
        Assert.That(e.Message, Does.Contain("80 classes").And.Contain("2 class names"));
    }

    [Test]
    public void A_file_that_is_not_onnx_is_refused_in_one_sentence()
    {
        var path = WriteTemp("notes.onnx", "this is a text file, not a model");
        var e = Assert.Throws<ModelDescriptionException>(() => ModelDescriber.ReadModelFile(path))!;
        Assert.That(e.Message, Does.Contain("not an ONNX model"));
    }

    [Test]
    public void A_truncated_onnx_file_is_refused()
    {
        var bytes = File.ReadAllBytes(Shared.YoloxNano);
        var path = Path.Combine(TempDir(), "truncated.onnx");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        Assert.Throws<ModelDescriptionException>(() => ModelDescriber.ReadModelFile(path));
    }

    [Test]
    public void A_missing_model_file_is_named()
    {
        var e = Assert.Throws<ModelDescriptionException>(() => ModelDescriber.ReadModelFile("/nope/model.onnx"))!;
        Assert.That(e.Message, Does.Contain("/nope/model.onnx").And.Contain("does not exist"));
    }

    [Test]
    public void Ultralytics_names_parse_with_both_quote_styles()
    {
        var names = ClassNames.ParseUltralyticsNames("{0: 'person', 1: \"traffic light\", 2: 'it\\'s'}");
        Assert.That(names, Is.EqualTo(new[] { "person", "traffic light", "it's" }));
        Assert.That(ClassNames.ParseUltralyticsNames("{1: 'no zero'}"), Is.Null);
    }

    [Test]
    public void Manifest_lists_the_four_shared_models_with_the_hashes_of_the_files()
    {
        foreach (var path in Shared.AllModels)
        {
            var sha = ModelDescriber.Sha256Of(File.ReadAllBytes(path));
            var entry = ModelManifest.Default.FindBySha256(sha);
            Assert.That(entry, Is.Not.Null, path);
            Assert.That(entry!.File, Is.EqualTo(Path.GetFileName(path)));
        }
    }

    private static string CopyWithProducer(string source, string producer)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(source));
        model.ProducerName = producer;
        var path = Path.Combine(TempDir(), producer + ".onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private static string WriteTemp(string name, string text)
    {
        var path = Path.Combine(TempDir(), name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "detector-tests", TestContext.CurrentContext.Test.ID);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
