using System.CommandLine;
using System.Text.Json;
using Detector.Core;
using Detector.Core.Imaging;
using Detector.Core.Sources;
using OpenCvSharp;

namespace Detector.Cli.Commands;

/// <summary>
/// <c>annotate</c>: runs a recorded video through a local model as fast as the machine allows (frames read
/// without drops, run in batches), writing the video with boxes drawn and, optionally, one JSON line per frame.
/// </summary>
internal static class AnnotateCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var input = new Option<string>("--input", "-i") { Description = "Video file to process.", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Annotated video to write (.mp4 is MPEG-4 Part 2, .avi MJPEG).", Required = true };
        var jsonl = new Option<string?>("--jsonl") { Description = "Also write one JSON line of detections per frame to this file." };
        var conf = new Option<float>("--conf") { Description = "Minimum confidence, 0-1.", DefaultValueFactory = _ => 0.25f };
        var iou = new Option<float>("--iou") { Description = "NMS IoU threshold, 0-1.", DefaultValueFactory = _ => 0.45f };
        var batch = new Option<int>("--batch") { Description = "Frames per model run.", DefaultValueFactory = _ => 4 };
        var command = new Command("annotate", "Detect objects in every frame of a video and write it back with boxes drawn.");
        foreach (var o in model.All.Concat([input, output, jsonl, conf, iou, batch]))
        {
            command.Options.Add(o);
        }

        command.SetAction((r, ct) => Task.FromResult(CliErrors.Run(() =>
        {
            var options = new DetectionOptions { Confidence = r.GetValue(conf), Iou = r.GetValue(iou) };
            options.Validate();
            var batchSize = r.GetValue(batch);
            if (batchSize is < 1 or > 64)
            {
                throw new ArgumentException($"--batch must be between 1 and 64, got {batchSize}.");
            }

            var inputPath = r.GetValue(input)!;
            if (!StreamAddress.TryParse(inputPath, out var address, out var error) || address.Kind != SourceKind.File)
            {
                throw new ArgumentException(error ?? $"'{inputPath}' is not a video file.");
            }

            if (!File.Exists(inputPath))
            {
                throw new FileNotFoundException($"Video file '{inputPath}' does not exist.");
            }

            using var loggers = model.CreateLoggerFactory(r);
            using var detector = ObjectDetector.Load(r.GetValue(model.Model)!, model.ToInferenceOptions(r, batchSize), loggers.CreateLogger("Detector"));
            return Annotate(detector, address, r.GetValue(output)!, r.GetValue(jsonl), options, batchSize, loggers, ct)
                .GetAwaiter().GetResult();
        })));
        return command;
    }

    private static async Task<int> Annotate(ObjectDetector detector, StreamAddress address, string outputPath, string? jsonlPath,
        DetectionOptions options, int batchSize, Microsoft.Extensions.Logging.ILoggerFactory loggers, CancellationToken ct)
    {
        long total;
        using (var probe = new VideoCapture(address.Masked))
        {
            total = (long)probe.Get(VideoCaptureProperties.FrameCount);
        }

        await using var video = new VideoStream("annotate", address, new StreamOptions { Mode = PlaybackMode.AsFastAsPossible, DecoderThreads = 0, PoolCapacity = batchSize + 4, QueueCapacity = batchSize + 2 }, loggers);
        video.Start();
        VideoWriter? writer = null;
        await using var lines = jsonlPath is null ? null : new StreamWriter(jsonlPath);
        var progress = new ProgressBar(total);
        var pending = new List<Frame>(batchSize);
        long done = 0;
        try
        {
            await foreach (var frame in video.ReadAllAsync(ct))
            {
                pending.Add(frame);
                if (pending.Count == batchSize)
                {
                    done += Flush();
                }
            }

            done += Flush();
        }
        finally
        {
            pending.ForEach(f => f.Dispose());
            writer?.Dispose();
        }

        progress.Report(done, final: true);
        if (video.State == StreamState.Failed)
        {
            return CliErrors.Fail($"reading '{address.Masked}' failed after {done} frames: {video.LastError}", CliErrors.InputError);
        }

        return 0;

        int Flush()
        {
            if (pending.Count == 0)
            {
                return 0;
            }

            var results = detector.DetectBatch(pending.Select(f => f.Mat).ToArray(), options);
            for (var i = 0; i < pending.Count; i++)
            {
                var frame = pending[i];
                if (writer is null)
                {
                    var fps = video.Format?.FramesPerSecond is > 0 and var f ? f : 25;
                    FourCC fourcc = outputPath.EndsWith(".avi", StringComparison.OrdinalIgnoreCase) ? FourCC.MJPG : FourCC.FromString("mp4v");
                    writer = new VideoWriter(outputPath, fourcc, fps, new Size(frame.Width, frame.Height));
                    if (!writer.IsOpened())
                    {
                        throw new IOException($"cannot write '{outputPath}' (unknown extension or unwritable folder).");
                    }
                }

                lines?.WriteLine(JsonSerializer.Serialize(new
                {
                    frame = frame.Number,
                    ptsMs = frame.Pts?.TotalMilliseconds,
                    width = frame.Width,
                    height = frame.Height,
                    detections = results[i].Select(JsonDetection.From),
                }, CliJson.Options));
                DetectionRenderer.Draw(frame.Mat, results[i]);
                writer.Write(frame.Mat);
                frame.Dispose();
            }

            var n = pending.Count;
            pending.Clear();
            progress.Report(done + n);
            return n;
        }
    }
}
