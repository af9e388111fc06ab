using OpenCvSharp;

namespace Detector.Core.Tests.Reference;

/// <summary>
/// The engine against the independent reference decoder, for every family, on real images and on variations of
/// them the model never saw in this form: every box of confidence >= 0.5 on either side has a twin of the same
/// class with IoU >= 0.85 on the other.
/// </summary>
[Parallelizable(ParallelScope.None)]
public class ReferenceAgreementTests
{
    private const float Conf = 0.25f;
    private const float Iou = 0.45f;
    private const float Strong = 0.5f;
    private const float TwinIou = 0.85f;

    private static readonly string[] Images =
        Directory.GetFiles(Path.Combine(Shared.Root, "media", "images"), "*.jpg").Order().ToArray();

    private static readonly (string Name, Func<Mat, Mat> Apply)[] Variations =
    [
        ("original", m => m.Clone()),
        ("flipped", m => m.Flip(FlipMode.Y)),
        ("half-size", m => m.Resize(new Size(m.Width / 2, m.Height / 2))),
        ("enlarged", m => m.Resize(new Size(m.Width * 3 / 2, m.Height * 3 / 2))),
        ("cropped", m => m[new Rect(m.Width / 8, m.Height / 10, m.Width * 3 / 4, m.Height * 7 / 10)].Clone()),
        ("rotated-90", m => { var r = new Mat(); Cv2.Rotate(m, r, RotateFlags.Rotate90Clockwise); return r; }),
        ("rotated-7deg", m => m.WarpAffine(Cv2.GetRotationMatrix2D(new Point2f(m.Width / 2f, m.Height / 2f), 7, 1), m.Size())),
        ("darker", m => { var r = new Mat(); m.ConvertTo(r, -1, 0.55, -10); return r; }),
    ];

    public static IEnumerable<TestCaseData> Models =>
        Shared.AllModels.Select(m => new TestCaseData(m).SetArgDisplayNames(Path.GetFileName(m)))
            .Append(new TestCaseData(DecodedExport).SetArgDisplayNames("yolov5-decoded export"));

    /// <summary>
    /// The common YOLOv5/YOLOv7 export with the decode in the graph, made from v5lite-e by appending the decode,
    /// described by a config file beside it (no such model is in ../shared).
    /// </summary>
    private const string DecodedExport = "yolov5-decoded";

    internal static string BuildDecodedExport()
    {
        var dir = Path.Combine(Path.GetTempPath(), "detector-tests", "decoded-export");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "v5lite-e-decoded.onnx");
        File.WriteAllBytes(path, Graph.DecodedYoloV5Export.Build(Shared.V5LiteE));
        File.WriteAllText(Path.Combine(dir, "v5lite-e-decoded.detector.yaml"),
            "family: yolov5-decoded\ncolorOrder: rgb\npixelRange: 0-1\nresize: stretch\n");
        return path;
    }

    [TestCaseSource(nameof(Models))]
    public void Engine_and_reference_find_the_same_confident_boxes(string model)
    {
        var modelPath = model == DecodedExport ? BuildDecodedExport() : model;
        using var engine = ObjectDetector.Load(modelPath);
        using var reference = model == DecodedExport
            ? new ReferenceDetector(modelPath, ReferenceDetector.Recipes["v5Lite-e-sim-320.onnx"] with { Layout = ReferenceDetector.Layout.YoloV5Decoded })
            : new ReferenceDetector(modelPath);
        var compared = 0;
        var failures = new List<string>();
        foreach (var imagePath in Images)
        {
            using var original = Cv2.ImRead(imagePath);
            foreach (var (name, apply) in Variations)
            {
                using var frame = apply(original);
                var ours = engine.Detect(frame, new DetectionOptions { Confidence = Conf, Iou = Iou });
                var theirs = reference.Detect(frame, Conf, Iou);
                var label = $"{Path.GetFileName(imagePath)}/{name}";
                foreach (var d in ours.Where(d => d.Confidence >= Strong))
                {
                    compared++;
                    if (!theirs.Any(t => t.ClassId == d.ClassId && t.Rect.IoU(d.Box) >= TwinIou))
                    {
                        failures.Add($"{label}: engine's {d.Label} {d.Confidence:0.00} {d.Box} has no reference twin");
                    }
                }

                foreach (var t in theirs.Where(t => t.Score >= Strong))
                {
                    compared++;
                    if (!ours.Any(d => d.ClassId == t.ClassId && d.Box.IoU(t.Rect) >= TwinIou))
                    {
                        failures.Add($"{label}: reference's class {t.ClassId} {t.Score:0.00} {t.Rect} has no engine twin");
                    }
                }
            }
        }

        TestContext.Out.WriteLine($"{Path.GetFileName(modelPath)}: {compared} confident boxes compared");
        Assert.That(failures, Is.Empty);
        Assert.That(compared, Is.GreaterThan(50), "too few confident boxes for the comparison to mean anything");
    }
}
