using System.Text.Json;
using Detector.Core;
using OpenCvSharp;

namespace Detector.Cli.Commands;

internal static class CliJson
{
    public static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
}

/// <summary>The JSON shape of one image's detections: boxes in the image's own pixels.</summary>
internal sealed record ImageResult(int Width, int Height, IReadOnlyList<JsonDetection> Detections)
{
    public static ImageResult From(Mat frame, IReadOnlyList<Detection> detections) =>
        new(frame.Width, frame.Height, detections.Select(JsonDetection.From).ToArray());
}

internal sealed record JsonDetection(int ClassId, string Label, float Confidence, JsonBox Box)
{
    public static JsonDetection From(Detection d) => new(d.ClassId, d.Label, MathF.Round(d.Confidence, 4),
        new JsonBox(MathF.Round(d.Box.X1, 2), MathF.Round(d.Box.Y1, 2), MathF.Round(d.Box.X2, 2), MathF.Round(d.Box.Y2, 2)));
}

internal sealed record JsonBox(float X1, float Y1, float X2, float Y2);
