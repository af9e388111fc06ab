using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Detector.Core;
using Detector.Core.Imaging;
using OpenCvSharp;

namespace Detector.Cli.Commands;

/// <summary><c>detect --model PATH --image PATH</c>: the detections of one image, as text or one JSON document.</summary>
internal static class DetectCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var image = new Option<string>("--image", "-i") { Description = "Image file (JPEG, PNG, ...).", Required = true };
        var conf = new Option<float>("--conf") { Description = "Minimum confidence, 0-1.", DefaultValueFactory = _ => 0.25f };
        var iou = new Option<float>("--iou") { Description = "NMS IoU threshold, 0-1.", DefaultValueFactory = _ => 0.45f };
        var agnostic = new Option<bool>("--agnostic") { Description = "Class-agnostic NMS." };
        var json = new Option<bool>("--json") { Description = "Print exactly one JSON document on stdout." };
        var output = new Option<string?>("--out", "-o") { Description = "Write the image with boxes and labels drawn to this file." };

        var command = new Command("detect", "Detect objects in one image with a local model.");
        foreach (var o in model.All.Concat([image, conf, iou, agnostic, json, output]))
        {
            command.Options.Add(o);
        }

        command.SetAction(r => CliErrors.Run(() =>
        {
            var options = new DetectionOptions
            {
                Confidence = r.GetValue(conf),
                Iou = r.GetValue(iou),
                ClassAgnostic = r.GetValue(agnostic),
            };
            options.Validate();
            using var frame = ImageDecoder.ReadFile(r.GetValue(image)!);
            using var loggers = model.CreateLoggerFactory(r);
            using var detector = ObjectDetector.Load(r.GetValue(model.Model)!, model.ToInferenceOptions(r),
                loggers.CreateLogger("Detector"));
            var detections = detector.Detect(frame, options);

            if (r.GetValue(output) is { } outPath)
            {
                DetectionRenderer.Draw(frame, detections);
                if (!Cv2.ImWrite(outPath, frame))
                {
                    return CliErrors.Fail($"could not write '{outPath}' (unknown extension or unwritable folder).", CliErrors.InputError);
                }
            }

            if (r.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(ImageResult.From(frame, detections), CliJson.Options));
            }
            else
            {
                Console.Out.WriteLine($"{frame.Width}x{frame.Height}, {detections.Count} detections ({detector.Description.Name} on {detector.Session.ExecutionProvider})");
                foreach (var d in detections)
                {
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  {d.Label,-14} {d.Confidence:0.000}  [{d.Box.X1:0.0}, {d.Box.Y1:0.0}, {d.Box.X2:0.0}, {d.Box.Y2:0.0}]"));
                }
            }

            return 0;
        }));
        return command;
    }
}
