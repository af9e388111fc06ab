using Detector.Core.Imaging;
using Detector.Core.Inference;
using Detector.Core.Models;
using OpenCvSharp;

namespace Detector.Core.Tests.Engine;

public class ObjectDetectorTests
{
    public static IEnumerable<TestCaseData> BusCases =>
    [
        new TestCaseData(Shared.YoloxNano, 3).SetName("yolox-nano finds the bus and three people"),
        new TestCaseData(Shared.YoloV8nInt8, 3).SetName("yolov8n-int8 finds the bus and three people"),
        new TestCaseData(Shared.V5LiteE, 3).SetName("v5lite-e finds the bus and three people"),
        new TestCaseData(Shared.YoloFastestV2, 2).SetName("yolo-fastestv2 finds the bus and two people"),
    ];

    [TestCaseSource(nameof(BusCases))]
    public void Finds_the_bus_and_the_people_in_bus_jpg(string model, int minPeople)
    {
        using var detector = ObjectDetector.Load(model, new InferenceOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
        using var frame = ImageDecoder.ReadFile(Shared.Image("bus.jpg"));
        var detections = detector.Detect(frame, new DetectionOptions { Confidence = 0.25f, Iou = 0.45f });

        var people = detections.Where(d => d.Label == "person").ToList();
        var bus = detections.Where(d => d.Label == "bus").ToList();
        Assert.That(people, Has.Count.GreaterThanOrEqualTo(minPeople));
        Assert.That(bus, Has.Count.EqualTo(1));
        // The bus fills the upper middle of the 810x1080 frame: wide, and above the bottom third.
        Assert.That(bus[0].Box.Width, Is.GreaterThan(500));
        Assert.That(bus[0].Box.Y1, Is.LessThan(400));
        Assert.That(detections.All(d => d.Box.X1 >= 0 && d.Box.X2 <= 810 && d.Box.Y1 >= 0 && d.Box.Y2 <= 1080));
        // The standing people are taller than wide.
        Assert.That(people.Count(p => p.Box.Height > 1.5 * p.Box.Width), Is.GreaterThanOrEqualTo(minPeople));
    }

    [TestCaseSource(typeof(Shared), nameof(Shared.AllModels))]
    public void A_batch_gives_each_frame_the_detections_it_gets_alone(string model)
    {
        using var detector = ObjectDetector.Load(model, new InferenceOptions { ExecutionProvider = ExecutionProviderPreference.Cpu, MaxBatchSize = 4 });
        var frames = new[] { "bus.jpg", "zidane.jpg", "dog.jpg", "000000001532.jpg", "000000002006.jpg" }
            .Select(n => ImageDecoder.ReadFile(Shared.Image(n))).ToArray();
        try
        {
            var batched = detector.DetectBatch(frames);
            for (var i = 0; i < frames.Length; i++)
            {
                var alone = detector.Detect(frames[i]);
                Assert.That(batched[i], Has.Count.EqualTo(alone.Count), $"frame {i}");
                for (var k = 0; k < alone.Count; k++)
                {
                    Assert.That(batched[i][k].ClassId, Is.EqualTo(alone[k].ClassId));
                    Assert.That(batched[i][k].Box.IoU(alone[k].Box), Is.GreaterThan(0.99f));
                    Assert.That(batched[i][k].Confidence, Is.EqualTo(alone[k].Confidence).Within(1e-3));
                }
            }
        }
        finally
        {
            foreach (var f in frames)
            {
                f.Dispose();
            }
        }
    }

    [Test]
    public void Float_models_get_a_dynamic_batch_and_the_int8_model_runs_frame_by_frame()
    {
        var options = new InferenceOptions { ExecutionProvider = ExecutionProviderPreference.Cpu, MaxBatchSize = 4 };
        foreach (var model in new[] { Shared.YoloxNano, Shared.V5LiteE, Shared.YoloFastestV2 })
        {
            using var session = ModelSession.Load(model, options);
            Assert.That(session.Description.BatchMode, Is.EqualTo(BatchMode.Dynamic), model);
            Assert.That(session.Description.ResultsDependOnBatch, Is.False);
        }

        using var int8 = ModelSession.Load(Shared.YoloV8nInt8, options);
        Assert.That(int8.Description.ResultsDependOnBatch, Is.True);
        Assert.That(int8.Description.BatchMode, Is.EqualTo(BatchMode.ItemByItem));
        Assert.That(int8.Description.ToString(), Does.Contain("results depend on batch"));
    }

    [Test]
    public void Without_a_gpu_auto_falls_back_to_the_cpu_and_says_so()
    {
        // This machine has no GPU: the CUDA provider cannot be created, so Auto must land on the CPU.
        using var session = ModelSession.Load(Shared.YoloxNano, new InferenceOptions { ExecutionProvider = ExecutionProviderPreference.Auto });
        Assume.That(session.ExecutionProvider, Is.EqualTo("CPU"), "a usable GPU is present");
        Assert.That(session.ExecutionProvider, Is.EqualTo("CPU"));
    }

    [Test]
    public void Asking_for_cuda_where_there_is_none_fails_clearly()
    {
        var e = Assert.Catch(() => ModelSession.Load(Shared.YoloxNano, new InferenceOptions { ExecutionProvider = ExecutionProviderPreference.Cuda }));
        Assume.That(e, Is.Not.Null, "a usable GPU is present");
        Assert.That(e!.Message, Does.Contain("CUDA execution provider could not be created"));
    }

    [Test]
    public void A_decoded_yolov5_export_gives_the_detections_of_the_undecoded_head_it_was_made_from()
    {
        var decodedPath = Reference.ReferenceAgreementTests.BuildDecodedExport();
        using var decoded = ObjectDetector.Load(decodedPath);
        using var raw = ObjectDetector.Load(Shared.V5LiteE);
        Assert.That(decoded.Description.Family, Is.EqualTo(OutputFamily.YoloV5Decoded));
        foreach (var image in new[] { "bus.jpg", "zidane.jpg", "000000002006.jpg" })
        {
            using var frame = ImageDecoder.ReadFile(Shared.Image(image));
            var a = decoded.Detect(frame);
            var b = raw.Detect(frame);
            Assert.That(a, Has.Count.EqualTo(b.Count).And.Count.GreaterThan(0), image);
            for (var i = 0; i < a.Count; i++)
            {
                Assert.That(a[i].ClassId, Is.EqualTo(b[i].ClassId));
                Assert.That(a[i].Box.IoU(b[i].Box), Is.GreaterThan(0.999f));
            }
        }
    }

    [Test]
    public void Absurd_thresholds_are_refused()
    {
        using var detector = ObjectDetector.Load(Shared.YoloFastestV2);
        using var frame = new Mat(100, 100, MatType.CV_8UC3, Scalar.All(0));
        Assert.That(() => detector.Detect(frame, new DetectionOptions { Confidence = 2 }), Throws.ArgumentException.With.Message.Contains("Confidence"));
        Assert.That(() => detector.Detect(frame, new DetectionOptions { Iou = float.NaN }), Throws.ArgumentException.With.Message.Contains("IoU"));
    }

    [Test]
    public void A_blank_frame_has_no_detections()
    {
        using var detector = ObjectDetector.Load(Shared.YoloxNano);
        using var frame = new Mat(480, 640, MatType.CV_8UC3, Scalar.All(0));
        Assert.That(detector.Detect(frame), Is.Empty);
    }
}
