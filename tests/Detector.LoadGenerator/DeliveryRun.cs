using System.Diagnostics;
using Detector.Core;
using Detector.Core.Pipeline;
using Detector.Core.Preprocessing;
using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.LoadGenerator;

/// <summary>What one subscriber received when results were offered at a fixed rate.</summary>
internal sealed record DeliveryResult(double OfferedPerSecond, double ReceivedPerSecond, long Offered, long Received, long Dropped,
    double LatencyP50, double LatencyP99, double CpuPercent);

/// <summary>
/// The delivery path alone: results published into the service's result hub at a fixed rate (as the pipeline
/// publishes them, with <c>detections</c> objects each), one gRPC subscriber over loopback reading them. Inference
/// is left out on purpose: a CPU cannot produce tens of thousands of detections a second, a GPU can, and then this
/// path (hub queue, protobuf mapping, HTTP/2 writes) is what limits a subscriber.
/// </summary>
internal static class DeliveryRun
{
    public static async Task<DeliveryResult> RunAsync(string model, double rate, int detections, TimeSpan warmup, TimeSpan duration)
    {
        await using var service = await ServiceUnderTest.StartAsync(model, "Cpu", maxBatch: 1, batchDelayMs: 0, subscriberQueue: 1024, maxStreams: 1);
        var hub = service.Engine.Hub;
        var boxes = Enumerable.Range(0, detections)
            .Select(i => new Detection(i % 80, "person", 0.5f + i % 40 / 100f, new BoxF(10 + i, 20 + i, 110 + 2 * i, 220 + i)))
            .ToArray();

        using var call = service.Client.Subscribe(new Rpc.SubscribeRequest());
        // Publishing starts once the server holds the subscription (it sends no headers before the first result).
        while (hub.SubscriberCount == 0)
        {
            await Task.Delay(10);
        }

        var total = warmup + duration;
        long offered = 0;
        var publisher = new Thread(() =>
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < total)
            {
                var due = (long)(clock.Elapsed.TotalSeconds * rate);
                for (; offered < due; offered++)
                {
                    var now = DateTimeOffset.UtcNow;
                    hub.Publish(new FrameResult
                    {
                        FeedId = "delivery",
                        FrameNumber = offered,
                        CaptureTime = now,
                        FrameWidth = 1920,
                        FrameHeight = 1080,
                        Detections = boxes,
                        Timings = new StageTimings(0, 0, 0, 0, 1),
                        CompletedTime = now,
                    });
                }

                Thread.Sleep(1);
            }
        }) { IsBackground = true, Name = "delivery publisher" };

        var latencies = new List<double>();
        long received = 0, dropped = 0, offeredAtStart = 0;
        var process = Process.GetCurrentProcess();
        TimeSpan cpuStart = default;
        var measured = new Stopwatch();
        var sinceStart = Stopwatch.StartNew();
        publisher.Start();
        using var cts = new CancellationTokenSource(total + TimeSpan.FromSeconds(2));
        try
        {
            while (await call.ResponseStream.MoveNext(cts.Token))
            {
                if (!measured.IsRunning)
                {
                    if (sinceStart.Elapsed < warmup)
                    {
                        continue;
                    }

                    offeredAtStart = Interlocked.Read(ref offered);
                    process.Refresh();
                    cpuStart = process.TotalProcessorTime;
                    measured.Start();
                }

                if (measured.Elapsed >= duration)
                {
                    break;
                }

                var r = call.ResponseStream.Current;
                received++;
                dropped += (long)r.DroppedBefore;
                latencies.Add((DateTimeOffset.UtcNow - r.CaptureTime.ToDateTimeOffset()).TotalMilliseconds);
            }
        }
        catch (Exception e) when (e is OperationCanceledException || e is RpcException { StatusCode: StatusCode.Cancelled or StatusCode.DeadlineExceeded })
        {
        }

        var seconds = measured.Elapsed.TotalSeconds;
        var offeredInWindow = Interlocked.Read(ref offered) - offeredAtStart;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpuStart).TotalSeconds / Math.Max(1e-9, seconds) / Environment.ProcessorCount * 100;
        publisher.Join();
        latencies.Sort();
        double P(double q) => latencies.Count == 0 ? double.NaN : latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))];
        return new DeliveryResult(offeredInWindow / seconds, received / seconds, offeredInWindow, received, dropped, P(0.5), P(0.99), cpu);
    }
}
