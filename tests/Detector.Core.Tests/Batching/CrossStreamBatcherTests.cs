using Detector.Core.Batching;
using Detector.Core.Pipeline;
using Detector.Core.Sources;
using Microsoft.Extensions.Time.Testing;

namespace Detector.Core.Tests.Batching;

public class CrossStreamBatcherTests
{
    private sealed class NullSink : IResultSink
    {
        public void Publish(FrameResult result)
        {
        }
    }

    private FramePool _pool = null!;
    private FakeTimeProvider _time = null!;

    [SetUp]
    public void Create()
    {
        _pool = new FramePool(capacity: 64);
        _time = new FakeTimeProvider();
    }

    [TearDown]
    public void Dispose() => _pool.Dispose();

    private CrossStreamBatcher Batcher(int max = 4, int delayMs = 20) =>
        new(new BatcherOptions { MaxBatchSize = max, MaxBatchDelay = TimeSpan.FromMilliseconds(delayMs) }, _time);

    private Frame NewFrame(long number)
    {
        var f = _pool.Rent(8, 8);
        f.Number = number;
        return f;
    }

    /// <summary>TakeBatch blocks its caller (the pipeline's own thread): run it on a thread of its own here.</summary>
    private static Task Take(CrossStreamBatcher b, List<BatchItem> batch) =>
        Task.Factory.StartNew(() => b.TakeBatch(batch, CancellationToken.None), TaskCreationOptions.LongRunning);

    private static FeedSlot Live(CrossStreamBatcher b, string id) => b.Register(id, lossless: false, new DetectionOptions(), new NullSink());

    [Test]
    public async Task A_lone_feed_gets_a_batch_at_once()
    {
        var b = Batcher();
        var feed = Live(b, "a");
        await feed.OfferAsync(NewFrame(1));
        var batch = new List<BatchItem>();
        b.TakeBatch(batch, CancellationToken.None); // returns at once: every feed has given a frame
        Assert.That(batch.Select(i => i.Frame.Number), Is.EqualTo(new[] { 1L }));
        batch.ForEach(i => i.Frame.Dispose());
    }

    [Test]
    public async Task A_batch_waits_for_the_deadline_when_other_feeds_are_quiet_but_never_longer()
    {
        var b = Batcher(delayMs: 20);
        var a = Live(b, "a");
        Live(b, "quiet");
        await a.OfferAsync(NewFrame(1));
        var batch = new List<BatchItem>();
        var take = Take(b, batch);
        await Task.Delay(50);
        Assert.That(take.IsCompleted, Is.False, "waits for other feeds until the deadline");
        _time.Advance(TimeSpan.FromMilliseconds(19));
        await Task.Delay(50);
        Assert.That(take.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await take.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(batch, Has.Count.EqualTo(1));
        batch.ForEach(i => i.Frame.Dispose());
    }

    /// <summary>A batcher with one frame waiting and a second feed that stays quiet: the batch is partial.</summary>
    private async Task<CrossStreamBatcher> OneFrameBesideAQuietFeed(bool dispatchWhenIdle = true)
    {
        var b = new CrossStreamBatcher(new BatcherOptions
        {
            MaxBatchSize = 4, MaxBatchDelay = TimeSpan.FromMilliseconds(20), DispatchWhenIdle = dispatchWhenIdle,
        }, _time);
        var a = Live(b, "a");
        Live(b, "quiet");
        await a.OfferAsync(NewFrame(1));
        return b;
    }

    private static Task TakeWhenIdle(CrossStreamBatcher b, List<BatchItem> batch, Func<bool> modelIdle) =>
        Task.Factory.StartNew(() => b.TakeBatch(batch, CancellationToken.None, modelIdle), TaskCreationOptions.LongRunning);

    [Test]
    public async Task With_a_run_free_a_partial_batch_leaves_at_once()
    {
        // Waiting for more frames while the model sits idle would only add latency.
        var b = await OneFrameBesideAQuietFeed();
        var batch = new List<BatchItem>();
        // The fake clock never moves: only the free run can let the batch go.
        await TakeWhenIdle(b, batch, () => true).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(batch, Has.Count.EqualTo(1));
        batch.ForEach(i => i.Frame.Dispose());
    }

    [Test]
    public async Task A_partial_batch_leaves_as_soon_as_the_model_frees_a_run()
    {
        var b = await OneFrameBesideAQuietFeed();
        var idle = false;
        var batch = new List<BatchItem>();
        var take = TakeWhenIdle(b, batch, () => Volatile.Read(ref idle));
        await Task.Delay(50);
        Assert.That(take.IsCompleted, Is.False, "the model is busy: the batch waits for more frames");
        Volatile.Write(ref idle, true);
        b.Signal();
        await take.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(batch, Has.Count.EqualTo(1));
        batch.ForEach(i => i.Frame.Dispose());
    }

    [Test]
    public async Task Without_dispatch_when_idle_a_partial_batch_waits_for_its_deadline()
    {
        var b = await OneFrameBesideAQuietFeed(dispatchWhenIdle: false);
        var batch = new List<BatchItem>();
        var take = TakeWhenIdle(b, batch, () => true);
        await Task.Delay(50);
        Assert.That(take.IsCompleted, Is.False, "waits for other feeds until the deadline");
        _time.Advance(TimeSpan.FromMilliseconds(20));
        await take.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(batch, Has.Count.EqualTo(1));
        batch.ForEach(i => i.Frame.Dispose());
    }

    [Test]
    public async Task A_frame_arriving_before_the_deadline_joins_the_batch()
    {
        var b = Batcher(delayMs: 20);
        var a = Live(b, "a");
        var c = Live(b, "c");
        Live(b, "quiet");
        await a.OfferAsync(NewFrame(1));
        var batch = new List<BatchItem>();
        var take = Take(b, batch);
        _time.Advance(TimeSpan.FromMilliseconds(10));
        await c.OfferAsync(NewFrame(2));
        _time.Advance(TimeSpan.FromMilliseconds(10));
        await take.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(batch.Select(i => i.Feed.Id), Is.EquivalentTo(new[] { "a", "c" }));
        batch.ForEach(i => i.Frame.Dispose());
    }

    [Test]
    public async Task A_frame_that_already_waited_out_the_delay_leaves_at_once()
    {
        // The model was busy for longer than the batching delay: the frame waiting in its slot has had its delay, and
        // waiting another one for the quiet feed would only make it staler.
        var b = Batcher(delayMs: 20);
        var a = Live(b, "a");
        Live(b, "quiet");
        await a.OfferAsync(NewFrame(1));
        _time.Advance(TimeSpan.FromMilliseconds(30));

        var batch = new List<BatchItem>();
        await Take(b, batch).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(batch.Single().Frame.Number, Is.EqualTo(1));
        Assert.That(_time.GetElapsedTime(batch[0].OfferedAt), Is.EqualTo(TimeSpan.FromMilliseconds(30)), "no fake time passed while taking it");
        batch[0].Frame.Dispose();
    }

    [Test]
    public async Task Batches_are_capped_and_every_feed_takes_its_turn()
    {
        var b = Batcher(max: 3);
        var feeds = Enumerable.Range(0, 5).Select(i => Live(b, $"f{i}")).ToArray();
        var counts = feeds.ToDictionary(f => f.Id, _ => 0);
        for (var round = 0; round < 50; round++)
        {
            foreach (var f in feeds)
            {
                await f.OfferAsync(NewFrame(round));
            }

            // Take as many batches as it takes to empty every slot: 3 frames, then 2.
            var total = 0;
            while (total < feeds.Length)
            {
                var batch = new List<BatchItem>();
                var take = Take(b, batch);
                while (!take.IsCompleted)
                {
                    // A partial batch leaves at its deadline: move the fake clock past it.
                    _time.Advance(TimeSpan.FromMilliseconds(20));
                    await Task.WhenAny(take, Task.Delay(10));
                }

                await take;
                Assert.That(batch, Has.Count.InRange(1, 3));
                Assert.That(batch.Select(i => i.Feed).Distinct().Count(), Is.EqualTo(batch.Count), "one frame per feed per batch");
                foreach (var item in batch)
                {
                    counts[item.Feed.Id]++;
                    item.Frame.Dispose();
                }

                total += batch.Count;
            }
        }

        Assert.That(counts.Values, Is.All.EqualTo(50), "no feed starves");
        Assert.That(_pool.Stats.Outstanding, Is.Zero);
    }

    [Test]
    public async Task A_live_feed_keeps_only_its_newest_frame_and_counts_the_rest_as_stale()
    {
        var b = Batcher();
        var feed = Live(b, "cam");
        for (var n = 1; n <= 5; n++)
        {
            await feed.OfferAsync(NewFrame(n));
        }

        var batch = new List<BatchItem>();
        await Take(b, batch);
        Assert.That(batch.Single().Frame.Number, Is.EqualTo(5));
        Assert.That(feed.DroppedStale, Is.EqualTo(4));
        Assert.That(feed.Offered, Is.EqualTo(5));
        batch[0].Frame.Dispose();
        Assert.That(_pool.Stats.Outstanding, Is.Zero, "stale frames went back to the pool");
    }

    [Test]
    public async Task A_lossless_feed_waits_for_its_slot_and_drops_nothing()
    {
        var b = Batcher();
        var feed = b.Register("file", lossless: true, new DetectionOptions(), new NullSink());
        await feed.OfferAsync(NewFrame(1));
        var second = feed.OfferAsync(NewFrame(2)).AsTask();
        await Task.Delay(50);
        Assert.That(second.IsCompleted, Is.False, "the slot is full");

        var batch = new List<BatchItem>();
        await Take(b, batch);
        await second.WaitAsync(TimeSpan.FromSeconds(5));
        var next = new List<BatchItem>();
        await Take(b, next);
        Assert.That(batch.Concat(next).Select(i => i.Frame.Number), Is.EqualTo(new[] { 1L, 2L }));
        Assert.That(feed.DroppedStale, Is.Zero);
        batch.Concat(next).ToList().ForEach(i => i.Frame.Dispose());
    }

    [Test]
    public async Task A_lossless_feed_offered_from_a_thread_of_its_own_blocks_until_its_slot_empties()
    {
        // Offer is what a stream's reader thread calls: the same rules as OfferAsync, with a kernel wait.
        var b = Batcher();
        var feed = b.Register("file", lossless: true, new DetectionOptions(), new NullSink());
        feed.Offer(NewFrame(1));
        var second = new Thread(() => feed.Offer(NewFrame(2)));
        second.Start();
        Assert.That(second.Join(100), Is.False, "the slot is full");

        var batch = new List<BatchItem>();
        await Take(b, batch);
        Assert.That(second.Join(TimeSpan.FromSeconds(5)), Is.True, "taking the frame lets the next one in");
        var next = new List<BatchItem>();
        await Take(b, next);
        Assert.That(batch.Concat(next).Select(i => i.Frame.Number), Is.EqualTo(new[] { 1L, 2L }));
        batch.Concat(next).ToList().ForEach(i => i.Frame.Dispose());
    }

    [Test]
    public void A_blocked_offer_gives_up_when_cancelled_and_leaves_the_frame_with_its_caller()
    {
        var b = Batcher();
        var feed = b.Register("file", lossless: true, new DetectionOptions(), new NullSink());
        feed.Offer(NewFrame(1));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        using var frame = NewFrame(2);

        Assert.Throws<OperationCanceledException>(() => feed.Offer(frame, cancel.Token));
        Assert.That(feed.Offered, Is.EqualTo(1));
        Assert.That(frame.IsDisposed, Is.False, "still the caller's to dispose");
        b.Unregister(feed);
    }

    [Test]
    public async Task Removing_a_feed_returns_its_waiting_frame_and_refuses_new_ones()
    {
        var b = Batcher();
        var feed = Live(b, "gone");
        await feed.OfferAsync(NewFrame(1));
        b.Unregister(feed);
        await feed.OfferAsync(NewFrame(2));
        Assert.That(_pool.Stats.Outstanding, Is.Zero);
        Assert.That(b.FeedCount, Is.Zero);
    }

    [Test]
    [NonParallelizable]
    public async Task A_partial_batch_leaves_on_time_even_when_the_thread_pool_is_starved()
    {
        // Real time here: the point is that the deadline needs no pool thread (no timer callback, no continuation).
        var b = new CrossStreamBatcher(new BatcherOptions { MaxBatchSize = 4, MaxBatchDelay = TimeSpan.FromMilliseconds(20) });
        var a = Live(b, "a");
        Live(b, "quiet");
        ThreadPool.GetMinThreads(out var workers, out _);
        using var release = new ManualResetEventSlim(false);
        var blockers = Enumerable.Range(0, workers + 16).Select(_ => Task.Run(() => release.Wait())).ToArray();
        try
        {
            var batch = new List<BatchItem>();
            var elapsed = System.Diagnostics.Stopwatch.StartNew();
            var taker = new Thread(() => b.TakeBatch(batch, CancellationToken.None));
            taker.Start();
            await a.OfferAsync(NewFrame(1));
            Assert.That(taker.Join(TimeSpan.FromSeconds(5)), "TakeBatch returned");
            Assert.That(elapsed.Elapsed, Is.LessThan(TimeSpan.FromMilliseconds(400)), "a starved pool used to hold it about a second");
            Assert.That(batch, Has.Count.EqualTo(1));
            batch[0].Frame.Dispose();
        }
        finally
        {
            release.Set();
            await Task.WhenAll(blockers);
        }
    }
}
