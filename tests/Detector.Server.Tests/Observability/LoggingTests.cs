using System.Text.Json;
using Detector.Server.Tests.Grpc;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Observability;

[NonParallelizable]
public class LoggingTests
{
    [Test]
    public async Task Json_logs_carry_stream_and_request_context_never_a_password_and_no_event_per_frame()
    {
        var console = new StringWriter();
        var original = Console.Out;
        Console.SetOut(TextWriter.Synchronized(console));
        try
        {
            await using var host = await ServerHost.StartAsync(new Dictionary<string, string>
            {
                ["Detector:Logging:Json"] = "true",
                ["Serilog:MinimumLevel:Default"] = "Information",
            });
            // Nothing listens on port 1: this camera reconnects (and logs it) all along.
            await host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "camera", Url = "rtsp://admin:hunter2@127.0.0.1:1/live" });
            await host.Client.AddStreamAsync(new Rpc.AddStreamRequest
            {
                Id = "file", Url = Shared.Video("car-detection.mp4"), Options = new Rpc.StreamOptions { Loop = true },
            });
            var results = await Results.CollectAsync(host.Client, new Rpc.SubscribeRequest { StreamIds = { "file" } },
                rs => rs.Count >= 30, TimeSpan.FromSeconds(30));
            Assert.That(results, Has.Count.GreaterThanOrEqualTo(30));
        }
        finally
        {
            Console.SetOut(original);
        }

        var lines = console.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var events = lines.Select(line =>
        {
            Assert.DoesNotThrow(() => JsonDocument.Parse(line), $"one JSON object per line: {line}");
            return JsonDocument.Parse(line).RootElement;
        }).ToList();
        Assert.That(events.All(e => e.TryGetProperty("@t", out _) && e.TryGetProperty("@m", out _)), "compact JSON events");
        Assert.That(lines, Has.None.Contains("hunter2"), "the camera's password");

        // Everything the stream's own thread and pump log names the stream, and not the request that added it.
        static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var p) ? p.ToString() : null;
        var streamEvents = events.Where(e => Text(e, "SourceContext") == "Detector.Core.Sources.VideoStream").ToList();
        Assert.That(streamEvents.Count(e => Text(e, "StreamId") == "camera"), Is.GreaterThanOrEqualTo(2), "the camera's start and reconnects");
        Assert.That(streamEvents, Has.All.Matches<JsonElement>(e => Text(e, "StreamId") is "camera" or "file" && Text(e, "RequestId") is null));

        // What is logged while serving a call names the call.
        var added = events.Single(e => Text(e, "SourceContext") == "Detector.Server.Streams.StreamManager" && Text(e, "StreamId") == "camera"
            && e.GetProperty("EventId").GetProperty("Name").GetString() == "Added");
        TestContext.Out.WriteLine(added.ToString());
        Assert.That(Text(added, "RequestId"), Is.Not.Null.And.Not.Empty);
        Assert.That(Text(added, "RequestPath"), Is.EqualTo("/detector.v1.Detector/AddStream"));

        // 30 frames of the file went through at Information: the stream logged its life (added, starting, running,
        // stopped, removed), nothing per frame.
        Assert.That(events.Count(e => Text(e, "StreamId") == "file"), Is.LessThanOrEqualTo(6), "per-frame events are Debug or below");
    }
}
