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
        var model = new ModelOptions(modelRequired: false);
        var server = new Option<string?>("--server", "-s") { Description = "Ask a running Detector service instead of loading a model here." };
        var apiKey = ServerConnection.CreateApiKeyOption();
        var image = new Option<string>("--image", "-i") { Description = "Image file (JPEG, PNG, ...).", Required = true };
        var conf = new Option<float>("--conf") { Description = "Minimum confidence, 0-1.", DefaultValueFactory = _ => 0.25f };
        var iou = new Option<float>("--iou") { Description = "NMS IoU threshold, 0-1.", DefaultValueFactory = _ => 0.45f };
        var agnostic = new Option<bool>("--agnostic") { Description = "Class-agnostic NMS." };
        var json = new Option<bool>("--json") { Description = "Print exactly one JSON document on stdout." };
        var output = new Option<string?>("--out", "-o") { Description = "Write the image with boxes and labels drawn to this file." };

        var command = new Command("detect", "Detect objects in one image with a local model.");
        foreach (var o in model.All.Concat([server, apiKey, image, conf, iou, agnostic, json, output]))
        {
            command.Options.Add(o);
        }

        command.SetAction(r => ServerConnection.Call(() =>
        {
            var options = new DetectionOptions
            {
                Confidence = r.GetValue(conf),
                Iou = r.GetValue(iou),
                ClassAgnostic = r.GetValue(agnostic),
            };
            options.Validate();
            var modelPath = r.GetValue(model.Model);
            var serverAddress = r.GetValue(server);
            if ((modelPath is null) == (serverAddress is null))
            {
                throw new ArgumentException("give either --model (detect here) or --server (ask a running service), not both or neither.");
            }

            using var frame = ImageDecoder.ReadFile(r.GetValue(image)!);
            IReadOnlyList<Detection> detections;
            string source;
            if (serverAddress is not null)
            {
                (detections, source) = DetectRemotely(serverAddress, r.GetValue(apiKey), r.GetValue(image)!, options);
            }
            else
            {
                using var loggers = model.CreateLoggerFactory(r);
                using var detector = ObjectDetector.Load(modelPath!, model.ToInferenceOptions(r), loggers.CreateLogger("Detector"));
                detections = detector.Detect(frame, options);
                source = $"{detector.Description.Name} on {detector.Session.ExecutionProvider}";
            }

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
                Console.Out.WriteLine($"{frame.Width}x{frame.Height}, {detections.Count} {(detections.Count == 1 ? "detection" : "detections")} ({source})");
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

    /// <summary>Sends the file's bytes as they are: the service decodes them, as it would for any client.</summary>
    private static (IReadOnlyList<Detection>, string) DetectRemotely(string address, string? apiKey, string imagePath, DetectionOptions options)
    {
        var client = ServerConnection.Connect(address, apiKey, out var channel);
        using (channel)
        {
            var result = client.Detect(new Api.V1.DetectRequest
            {
                Image = Google.Protobuf.ByteString.CopyFrom(File.ReadAllBytes(imagePath)),
                ConfidenceThreshold = options.Confidence,
                IouThreshold = options.Iou,
            });
            var detections = result.Detections
                .Select(d => new Detection(d.ClassId, d.Label, d.Confidence, new Core.Preprocessing.BoxF(d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2)))
                .ToArray();
            return (detections, $"service at {address}, {result.Timings.InferenceMs:0.0} ms inference");
        }
    }
}
