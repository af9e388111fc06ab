using System.Diagnostics;
using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.LoadGenerator;

/// <summary>One sample of a soak run: the process's memory, handles and threads, and the results it delivered.</summary>
internal sealed record SoakSample(TimeSpan At, ProcessStats Stats, long Results, double ImagesPerSecond);

/// <summary>The run's verdict: growth from the first sample after warm-up to the last.</summary>
internal sealed record SoakVerdict(SoakSample Baseline, SoakSample Last, double RssGrowthPercent, double RssSlopeMiBPerMinute,
    int ThreadGrowth, int HandleGrowth)
{
    /// <summary>The performance issue's bar: resident memory at the end within 5% of the value after warm-up.</summary>
    public bool MemoryHolds => RssGrowthPercent <= 5;
}

/// <summary>
/// Runs the real service with N looping streams for a long time, one subscriber reading everything, and samples
/// resident memory, managed heap, open handles, threads and child processes at a fixed interval: a leak shows as
/// growth after warm-up, which a short benchmark cannot see.
/// </summary>
internal static class SoakRun
{
    public static async Task<(List<SoakSample> Samples, SoakVerdict Verdict)> RunAsync(string model, string video, int streams,
        int maxBatch, string ep, double batchDelayMs, TimeSpan duration, TimeSpan interval, TimeSpan warmup, Action<SoakSample> onSample)
    {
        await using var service = await ServiceUnderTest.StartAsync(model, ep, maxBatch, batchDelayMs, subscriberQueue: 256, maxStreams: streams);
        await service.AddFileStreamsAsync(video, streams, asFastAsPossible: false);

        using var stop = new CancellationTokenSource();
        long results = 0;
        var reader = Task.Run(async () =>
        {
            using var call = service.Client.Subscribe(new Rpc.SubscribeRequest(), cancellationToken: stop.Token);
            try
            {
                while (await call.ResponseStream.MoveNext(stop.Token))
                {
                    Interlocked.Increment(ref results);
                }
            }
            catch (Exception e) when (e is OperationCanceledException || e is RpcException { StatusCode: StatusCode.Cancelled })
            {
            }
        });

        var samples = new List<SoakSample>();
        var clock = Stopwatch.StartNew();
        long lastResults = 0;
        var lastAt = TimeSpan.Zero;
        while (clock.Elapsed < duration)
        {
            var wait = interval * (samples.Count + 1) - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }

            var at = clock.Elapsed;
            var now = Interlocked.Read(ref results);
            var sample = new SoakSample(at, ProcessStats.Now(collect: true), now, (now - lastResults) / Math.Max(1e-9, (at - lastAt).TotalSeconds));
            (lastResults, lastAt) = (now, at);
            samples.Add(sample);
            onSample(sample);
        }

        await stop.CancelAsync();
        await reader;
        return (samples, Judge(samples, warmup));
    }

    private static SoakVerdict Judge(List<SoakSample> samples, TimeSpan warmup)
    {
        // Half an interval of slack: a sample due at the warm-up's end can be taken a hair before it.
        var interval = samples.Count > 1 ? samples[1].At - samples[0].At : TimeSpan.Zero;
        var after = samples.Where(s => s.At >= warmup - interval / 2).ToList();
        if (after.Count == 0)
        {
            after = [samples[^1]];
        }

        var (first, last) = (after[0], after[^1]);
        // Least-squares slope of RSS over the samples after warm-up: steadier than two end points.
        var xs = after.Select(s => s.At.TotalMinutes).ToArray();
        var ys = after.Select(s => s.Stats.RssMiB).ToArray();
        var (mx, my) = (xs.Average(), ys.Average());
        var sxx = xs.Sum(x => (x - mx) * (x - mx));
        var slope = sxx > 0 ? xs.Zip(ys).Sum(p => (p.First - mx) * (p.Second - my)) / sxx : 0;
        return new SoakVerdict(first, last, (last.Stats.RssMiB - first.Stats.RssMiB) / first.Stats.RssMiB * 100, slope,
            last.Stats.Threads - first.Stats.Threads, last.Stats.Handles - first.Stats.Handles);
    }
}
