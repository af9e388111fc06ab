using System.Collections.Concurrent;
using System.Diagnostics;
using Detector.Core.Batching;
using Detector.Core.Inference;
using Detector.Core.Pipeline;
using Detector.Core.Sources;

namespace Detector.Core.Tests.Pipeline;

[NonParallelizable]
public class DetectionPipelineTests
{
    private sealed class CountingSink : IResultSink
    {
        public readonly ConcurrentQueue<FrameResult> Results = new();

        public void Publish(FrameResult result) => Results.Enqueue(result);
    }

    /// <summary>yolo-fastestv2 on the CPU behind a batcher and a pipeline, with a frame pool to feed it.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        public required ModelSession Session { get; init; }
        public required CrossStreamBatcher Batcher { get; init; }
        public required DetectionPipeline Pipeline { get; init; }
        public FramePool Pool { get; } = new(capacity: 64);

        public static Rig Start(int maxBatch, int batchDelayMs, int runsInFlight = 1, int[]? warmup = null)
        {
            var session = ModelSession.Load(Shared.YoloFastestV2, new InferenceOptions
            {
                ExecutionProvider = ExecutionProviderPreference.Cpu, MaxBatchSize = maxBatch, WarmupBatchSizes = warmup ?? [maxBatch],
                RunsInFlight = runsInFlight,
            });
            var batcher = new CrossStreamBatcher(new BatcherOptions { MaxBatchSize = maxBatch, MaxBatchDelay = TimeSpan.FromMilliseconds(batchDelayMs) });
            return new Rig { Session = session, Batcher = batcher, Pipeline = new DetectionPipeline(session, batcher) };
        }

        public FeedSlot Feed(string id, IResultSink sink, bool lossless = false) => Batcher.Register(id, lossless, new DetectionOptions(), sink);

        public async ValueTask DisposeAsync()
        {
            await Pipeline.DisposeAsync();
            Pool.Dispose();
            Session.Dispose();
        }
    }

    [Test]
    public async Task Batches_keep_flowing_when_the_thread_pool_is_starved()
    {
        // A process with many streams and clients can run short of pool threads; the frame path must not need one.
        // Parallel.For (pre-processing a batch's frames) queues even its first part to the pool when called from a
        // dedicated thread, so each batch used to wait for the pool to inject a thread: about one batch a second.
        await using var rig = Rig.Start(maxBatch: 4, batchDelayMs: 5);
        var sinks = Enumerable.Range(0, 4).Select(_ => new CountingSink()).ToArray();
        var feeds = sinks.Select((s, i) => rig.Feed($"cam{i}", s)).ToArray();
        var pool = rig.Pool;
        rig.Pipeline.Start();

        // The same load first with a healthy pool, then with every pool thread blocked: on a loaded machine the
        // absolute rate varies, the ratio does not. A pool-bound pipeline delivers nothing in the second phase.
        var healthy = Deliver(feeds, pool, sinks, TimeSpan.FromSeconds(2));
        // More blockers than pool threads: the rest wait in the pool's queue ahead of anything queued later.
        using var release = new ManualResetEventSlim(false);
        var blockers = Enumerable.Range(0, ThreadPool.ThreadCount + 32).Select(_ => Task.Run(() => release.Wait())).ToArray();
        try
        {
            var starved = Deliver(feeds, pool, sinks, TimeSpan.FromSeconds(2));
            TestContext.Out.WriteLine($"results in 2 s: {healthy} with a healthy pool, {starved} with a starved one");
            Assert.That(starved, Is.GreaterThanOrEqualTo(Math.Max(8, healthy * 0.3)), "results while the pool is starved");
        }
        finally
        {
            release.Set();
            await Task.WhenAll(blockers);
        }
    }

    private sealed class ThrowingSink : IResultSink
    {
        public int Calls;

        public void Publish(FrameResult result)
        {
            Interlocked.Increment(ref Calls);
            throw new InvalidOperationException("this subscriber's sink is broken");
        }
    }

    [Test]
    public async Task A_sink_that_throws_costs_the_other_feeds_nothing()
    {
        await using var rig = Rig.Start(maxBatch: 2, batchDelayMs: 5);
        var broken = new ThrowingSink();
        var good = new CountingSink();
        var feeds = new[] { rig.Feed("broken", broken), rig.Feed("good", good) };
        rig.Pipeline.Start();

        Deliver(feeds, rig.Pool, [good], TimeSpan.FromSeconds(2));
        TestContext.Out.WriteLine($"broken sink called {broken.Calls} times, good sink got {good.Results.Count} results");
        Assert.That(broken.Calls, Is.GreaterThan(3), "the broken feed's results kept being published");
        Assert.That(good.Results, Has.Count.GreaterThan(3), "the other feed kept getting results");
    }

    [TestCase(1)]
    [TestCase(3)]
    public async Task Each_feed_gets_every_frame_in_order_however_many_batches_run_at_once(int runsInFlight)
    {
        // With several runs in flight a later (smaller) batch can finish before an earlier one; its results must
        // still wait their turn, or a subscriber would see a stream's frames out of order.
        const int framesPerFeed = 60;
        await using var rig = Rig.Start(maxBatch: 4, batchDelayMs: 1, runsInFlight, warmup: [1, 2, 3, 4]);
        Assert.That(rig.Session.RunsInFlight, Is.EqualTo(runsInFlight));
        var sinks = Enumerable.Range(0, 4).Select(_ => new CountingSink()).ToArray();
        var feeds = sinks.Select((s, i) => rig.Feed($"cam{i}", s, lossless: true)).ToArray();
        var pool = rig.Pool;
        rig.Pipeline.Start();

        // One camera thread per feed, each offering as fast as the pipeline takes (lossless feeds wait), with
        // uneven pauses so that batches of every size form and finish out of order.
        var cameras = feeds.Select((feed, k) => new Thread(() =>
        {
            var rng = new Random(k);
            for (var n = 0L; n < framesPerFeed; n++)
            {
                var frame = pool.Rent(160 + 32 * k, 120);
                frame.Number = n;
                frame.CaptureTime = DateTimeOffset.UtcNow;
                feed.OfferAsync(frame).AsTask().GetAwaiter().GetResult();
                if (rng.Next(4) == 0)
                {
                    Thread.Sleep(rng.Next(3));
                }
            }
        })).ToArray();
        foreach (var camera in cameras)
        {
            camera.Start();
        }

        var clock = Stopwatch.StartNew();
        while (sinks.Sum(s => s.Results.Count) < 4 * framesPerFeed && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(20);
        }

        foreach (var (sink, k) in sinks.Select((s, k) => (s, k)))
        {
            Assert.That(sink.Results.Select(r => r.FrameNumber), Is.EqualTo(Enumerable.Range(0, framesPerFeed).Select(i => (long)i)),
                $"cam{k}'s frame numbers in the order they were published");
        }

        // Whether batches really ran at the same time: each batch's inference interval, from its results' timings.
        var batches = sinks.SelectMany(s => s.Results)
            .GroupBy(r => (r.Timings.InferenceMs, r.Timings.PreprocessMs, r.Timings.BatchSize))
            .Select(g =>
            {
                var end = g.Min(r => r.CompletedTime - TimeSpan.FromMilliseconds(r.Timings.PostprocessMs));
                return (Start: end - TimeSpan.FromMilliseconds(g.Key.InferenceMs), End: end);
            })
            .OrderBy(b => b.Start).ToList();
        var overlapping = batches.Zip(batches.Skip(1)).Count(p => p.Second.Start < p.First.End - TimeSpan.FromMilliseconds(0.2));
        TestContext.Out.WriteLine($"{batches.Count} batches, sizes {string.Join(",", sinks.SelectMany(s => s.Results).GroupBy(r => r.Timings.BatchSize).OrderBy(g => g.Key).Select(g => $"{g.Key}:{g.Count() / g.Key}"))}, {overlapping} overlapping the one before");
        if (runsInFlight == 1)
        {
            Assert.That(overlapping, Is.Zero, "one run in flight: batches run one after another");
        }
        else
        {
            Assert.That(overlapping, Is.GreaterThan(0), "several runs in flight: some batches ran at the same time");
        }
    }

    /// <summary>Offers frames to every feed every 10 ms from a thread of its own, as camera threads do; counts results.</summary>
    private static int Deliver(FeedSlot[] feeds, FramePool pool, CountingSink[] sinks, TimeSpan duration)
    {
        var before = sinks.Sum(s => s.Results.Count);
        var clock = Stopwatch.StartNew();
        var offerer = new Thread(() =>
        {
            var n = 0L;
            while (clock.Elapsed < duration)
            {
                foreach (var feed in feeds)
                {
                    var frame = pool.Rent(320, 240);
                    frame.Number = n;
                    frame.CaptureTime = DateTimeOffset.UtcNow;
                    // Live feeds never wait, so the ValueTask is already complete.
                    feed.OfferAsync(frame).AsTask().GetAwaiter().GetResult();
                }

                n++;
                Thread.Sleep(10);
            }
        });
        offerer.Start();
        offerer.Join();
        return sinks.Sum(s => s.Results.Count) - before;
    }
}
