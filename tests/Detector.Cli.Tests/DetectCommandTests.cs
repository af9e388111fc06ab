using System.Text.Json;

namespace Detector.Cli.Tests;

public class DetectCommandTests
{
    public static IEnumerable<TestCaseData> Models =>
    [
        new TestCaseData(Shared.YoloxNano, 3),
        new TestCaseData(Shared.YoloV8nInt8, 3),
        new TestCaseData(Shared.V5LiteE, 3),
        new TestCaseData(Shared.YoloFastestV2, 2),
    ];

    [TestCaseSource(nameof(Models))]
    public void Detect_json_prints_one_document_with_the_bus_and_the_people_in_image_pixels(string model, int minPeople)
    {
        var r = CliRunner.Run("detect", "--model", model, "--image", Shared.Image("bus.jpg"), "--conf", "0.25", "--iou", "0.45", "--json");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);

        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.That(root.GetProperty("width").GetInt32(), Is.EqualTo(810));
        Assert.That(root.GetProperty("height").GetInt32(), Is.EqualTo(1080));
        var detections = root.GetProperty("detections").EnumerateArray().ToList();
        Assert.That(detections.Count(d => d.GetProperty("label").GetString() == "person"), Is.GreaterThanOrEqualTo(minPeople));
        var bus = detections.Single(d => d.GetProperty("label").GetString() == "bus");
        Assert.That(bus.GetProperty("classId").GetInt32(), Is.EqualTo(5));
        Assert.That(bus.GetProperty("confidence").GetSingle(), Is.InRange(0.25f, 1f));
        foreach (var d in detections)
        {
            var box = d.GetProperty("box");
            Assert.That(box.GetProperty("x1").GetSingle(), Is.InRange(0f, 810f));
            Assert.That(box.GetProperty("x2").GetSingle(), Is.InRange(box.GetProperty("x1").GetSingle(), 810f));
            Assert.That(box.GetProperty("y2").GetSingle(), Is.InRange(box.GetProperty("y1").GetSingle(), 1080f));
        }
    }

    [TestCase("0.88", "810x1080, 1 detection (yolox-nano on CPU)")]
    [TestCase("0.5", "810x1080, 4 detections (yolox-nano on CPU)")]
    public void Detect_text_output_counts_the_detections_in_words(string confidence, string firstLine)
    {
        // bus.jpg with yolox-nano: the bus at 0.90, three people at 0.86, 0.81 and 0.70.
        var r = CliRunner.Run("detect", "--model", Shared.YoloxNano, "--image", Shared.Image("bus.jpg"), "--conf", confidence, "--ep", "Cpu");
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(r.Stdout.Split('\n')[0], Is.EqualTo(firstLine));
    }

    [Test]
    public void Detect_out_writes_an_annotated_image_of_the_same_size()
    {
        var output = Path.Combine(Path.GetTempPath(), $"annotated-{Guid.NewGuid():N}.jpg");
        var r = CliRunner.Run("detect", "--model", Shared.YoloxNano, "--image", Shared.Image("bus.jpg"), "--out", output);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        Assert.That(r.Stdout, Does.Contain("bus"));
        using var annotated = OpenCvSharp.Cv2.ImRead(output);
        using var original = OpenCvSharp.Cv2.ImRead(Shared.Image("bus.jpg"));
        Assert.That((annotated.Width, annotated.Height), Is.EqualTo((810, 1080)));
        using var diff = new OpenCvSharp.Mat();
        OpenCvSharp.Cv2.Absdiff(annotated, original, diff);
        Assert.That(OpenCvSharp.Cv2.Sum(diff).Val0, Is.GreaterThan(0), "boxes were drawn");
    }

    public static IEnumerable<TestCaseData> BadInputs()
    {
        var bus = File.ReadAllBytes(Shared.Image("bus.jpg"));
        yield return new TestCaseData("missing image", new[] { "--model", Shared.YoloxNano, "--image", "/no/such/image.jpg" }, "does not exist");
        yield return new TestCaseData("missing model", new[] { "--model", "/no/such/model.onnx", "--image", Shared.Image("bus.jpg") }, "does not exist");
        yield return new TestCaseData("text as image", new[] { "--model", Shared.YoloxNano, "--image", CliRunner.TempFile("notes.jpg", "hello"u8.ToArray()) }, "not an image");
        yield return new TestCaseData("truncated jpeg", new[] { "--model", Shared.YoloxNano, "--image", CliRunner.TempFile("half.jpg", bus[..(bus.Length / 2)]) }, "truncated JPEG");
        yield return new TestCaseData("image as model", new[] { "--model", Shared.Image("bus.jpg"), "--image", Shared.Image("bus.jpg") }, "not an ONNX model");
        yield return new TestCaseData("unknown layout", new[] { "--model", UnknownLayoutModel(), "--image", Shared.Image("bus.jpg") }, "--model-config");
        yield return new TestCaseData("absurd confidence", new[] { "--model", Shared.YoloxNano, "--image", Shared.Image("bus.jpg"), "--conf", "7" }, "Confidence");
    }

    [TestCaseSource(nameof(BadInputs))]
    public void Bad_input_gives_a_one_line_error_and_a_non_zero_exit(string what, string[] args, string expected)
    {
        var r = CliRunner.Run(["detect", .. args, "--json"]);
        Assert.That(r.ExitCode, Is.Not.EqualTo(0), what);
        Assert.That(r.Stdout, Is.Empty, what);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), $"{what}: {r.Stderr}");
        Assert.That(lines[0], Does.StartWith("error: ").And.Contain(expected));
        Assert.That(r.Stderr, Does.Not.Contain("   at "), "no stack trace");
    }

    /// <summary>yolox-nano re-saved with another producer: its hash matches no manifest entry and it has no metadata.</summary>
    private static string UnknownLayoutModel()
    {
        var yolox = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Shared.YoloxNano));
        // Same model under another name (so the manifest's hash no longer matches) and no metadata.
        yolox.ProducerName = "unknown-exporter";
        using var ms = new MemoryStream();
        Google.Protobuf.MessageExtensions.WriteTo(yolox, ms);
        return CliRunner.TempFile("unknown-layout.onnx", ms.ToArray());
    }
}
