using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.Cli.Commands;

/// <summary><c>watch</c>: prints detections live as the service produces them.</summary>
internal static class WatchCommand
{
    public static Command Create()
    {
        var server = new ServerConnection();
        var streams = new Option<string[]>("--stream") { Description = "Stream id to follow (repeatable; default all).", AllowMultipleArgumentsPerToken = true };
        var minConf = new Option<float>("--min-confidence") { Description = "Only detections at or above this confidence." };
        var count = new Option<int>("--count", "-n") { Description = "Stop after this many results (0 = until Ctrl+C)." };
        var json = new Option<bool>("--json") { Description = "One JSON object per result." };
        var command = new Command("watch", "Print detections from a running service as they arrive.") { server.Server, server.ApiKey, streams, minConf, count, json };
        command.SetAction((r, ct) => Task.FromResult(ServerConnection.Call(() =>
        {
            var client = server.Connect(r, out var channel);
            using (channel)
            {
                var request = new Rpc.SubscribeRequest { MinConfidence = r.GetValue(minConf) };
                request.StreamIds.AddRange(r.GetValue(streams) ?? []);
                using var call = client.Subscribe(request, cancellationToken: ct);
                var limit = r.GetValue(count);
                var seen = 0;
                try
                {
                    while (call.ResponseStream.MoveNext(ct).GetAwaiter().GetResult())
                    {
                        var result = call.ResponseStream.Current;
                        Console.WriteLine(r.GetValue(json) ? JsonSerializer.Serialize(ToJson(result), CliJson.Options) : Format(result));
                        if (limit > 0 && ++seen >= limit)
                        {
                            break;
                        }
                    }
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && ct.IsCancellationRequested)
                {
                }
            }

            return 0;
        })));
        return command;
    }

    private static string Format(Rpc.DetectionResult r)
    {
        var latency = (DateTimeOffset.UtcNow - r.CaptureTime.ToDateTimeOffset()).TotalMilliseconds;
        var objects = string.Join(", ", r.Detections.Select(d => string.Create(CultureInfo.InvariantCulture,
            $"{d.Label} {d.Confidence:0.00} [{d.Box.X1:0},{d.Box.Y1:0},{d.Box.X2:0},{d.Box.Y2:0}]")));
        var dropped = r.DroppedBefore > 0 ? $" [{Count((long)r.DroppedBefore, "result")} dropped]" : "";
        var head = string.Create(CultureInfo.InvariantCulture,
            $"{r.StreamId} #{r.FrameNumber} {r.CaptureTime.ToDateTime():HH:mm:ss.fff} {Count(r.Detections.Count, "object")} (batch {r.Timings.BatchSize}, {latency:0} ms)");
        return head + dropped + (objects.Length > 0 ? ": " + objects : "");
    }

    private static string Count(long n, string noun) => n == 1 ? $"1 {noun}" : $"{n} {noun}s";

    private static object ToJson(Rpc.DetectionResult r) => new
    {
        streamId = r.StreamId,
        frameNumber = r.FrameNumber,
        captureTime = r.CaptureTime.ToDateTimeOffset(),
        width = r.FrameWidth,
        height = r.FrameHeight,
        droppedBefore = r.DroppedBefore,
        detections = r.Detections.Select(d => new JsonDetection(d.ClassId, d.Label, d.Confidence, new JsonBox(d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2))),
    };
}
