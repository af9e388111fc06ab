using Detector.Core.Sources;

namespace Detector.Core.Batching;

/// <summary>When a batch is formed.</summary>
public sealed record BatcherOptions
{
    /// <summary>A batch leaves as soon as it holds this many frames.</summary>
    public int MaxBatchSize { get; init; } = 8;

    /// <summary>...or when this long has passed since its first frame arrived, however few it holds.</summary>
    public TimeSpan MaxBatchDelay { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// ...or at once, however few it holds, when the model has a run free to take it: waiting for more frames then
    /// only adds latency, and while the model is busy frames gather into fuller batches anyway. Off, every partial
    /// batch waits out <see cref="MaxBatchDelay"/>, which gives fuller batches on a lightly loaded service.
    /// </summary>
    public bool DispatchWhenIdle { get; init; } = true;
}

/// <summary>A frame taken into a batch, with the feed it came from.</summary>
public readonly record struct BatchItem(FeedSlot Feed, Frame Frame, long OfferedAt);

/// <summary>
/// Forms batches across feeds: at most one frame per feed per batch (each feed's newest), taken round-robin so no
/// feed starves. A batch leaves when it holds <see cref="BatcherOptions.MaxBatchSize"/> frames, when every feed
/// has given one, when <see cref="BatcherOptions.MaxBatchDelay"/> has passed since its first frame, or (with
/// <see cref="BatcherOptions.DispatchWhenIdle"/>) as soon as the model can take it: it never waits for every
/// stream. Time comes from an injected <see cref="TimeProvider"/>, so the deadline is tested
/// without sleeping.
/// </summary>
public sealed class CrossStreamBatcher
{
    private readonly Lock _lock = new();
    private readonly List<FeedSlot> _feeds = [];
    private int _cursor;
    private readonly ManualResetEventSlim _changed = new(false);

    public CrossStreamBatcher(BatcherOptions? options = null, TimeProvider? time = null)
    {
        Options = options ?? new BatcherOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxBatchSize, 1, nameof(BatcherOptions.MaxBatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxBatchDelay, TimeSpan.Zero, nameof(BatcherOptions.MaxBatchDelay));
        Time = time ?? TimeProvider.System;
    }

    public BatcherOptions Options { get; }

    public TimeProvider Time { get; }

    public int FeedCount
    {
        get
        {
            lock (_lock)
            {
                return _feeds.Count;
            }
        }
    }

    /// <summary>Adds a feed; its frames join batches from now on.</summary>
    public FeedSlot Register(string id, bool lossless, DetectionOptions detection, IResultSink sink,
        IReadOnlySet<int>? classFilter = null)
    {
        var slot = new FeedSlot(this, id, lossless, detection, classFilter, sink);
        lock (_lock)
        {
            _feeds.Add(slot);
        }

        return slot;
    }

    /// <summary>Removes a feed and drops its waiting frame.</summary>
    public void Unregister(FeedSlot slot)
    {
        lock (_lock)
        {
            _feeds.Remove(slot);
        }

        slot.Close();
    }

    /// <summary>
    /// Blocks until the next batch is ready and appends its frames to <paramref name="batch"/> (the caller
    /// disposes them). Called from the pipeline's own thread: every wait here is a kernel wait, never a thread-pool
    /// timer or continuation, because a starved pool would otherwise hold each partial batch far past its
    /// deadline (seen on an H200 with 96 live cameras: one batch a second; reproduced by blocking pool threads).
    /// </summary>
    /// <param name="modelIdle">Whether the model has a run free now (asked only with
    /// <see cref="BatcherOptions.DispatchWhenIdle"/>); the caller calls <see cref="Signal"/> when that changes.</param>
    public void TakeBatch(List<BatchItem> batch, CancellationToken cancellationToken, Func<bool>? modelIdle = null)
    {
        var max = Options.MaxBatchSize;
        while (true)
        {
            // Reset before scanning: a frame offered after this point sets the event again, so none is missed.
            _changed.Reset();
            bool everyFeedTaken;
            lock (_lock)
            {
                var n = _feeds.Count;
                for (var i = 0; i < n && batch.Count < max; i++)
                {
                    var feed = _feeds[(_cursor + i) % n];
                    if (!batch.Exists(b => ReferenceEquals(b.Feed, feed)) && feed.TryTake(out var frame, out var offeredAt))
                    {
                        batch.Add(new BatchItem(feed, frame, offeredAt));
                    }
                }

                // The next batch starts its scan after this one's first feed, so every feed takes turns at the front.
                _cursor = n == 0 ? 0 : (_cursor + 1) % n;
                everyFeedTaken = batch.Count >= n;
            }

            if (batch.Count == 0)
            {
                Wait(Timeout.InfiniteTimeSpan, cancellationToken);
                continue;
            }

            if (batch.Count >= max || everyFeedTaken || (Options.DispatchWhenIdle && modelIdle?.Invoke() == true))
            {
                return;
            }

            // The delay counts from when the batch's oldest frame was offered, not from when a scan found it: a frame
            // that already waited while the model was busy leaves at once instead of waiting a whole delay more.
            var remaining = Options.MaxBatchDelay - Time.GetElapsedTime(OldestOffer(batch));
            if (remaining <= TimeSpan.Zero)
            {
                return;
            }

            Wait(remaining, cancellationToken);
        }
    }

    private static long OldestOffer(List<BatchItem> batch)
    {
        var oldest = long.MaxValue;
        foreach (var item in batch)
        {
            oldest = Math.Min(oldest, item.OfferedAt);
        }

        return oldest;
    }

    /// <summary>Waits for a new frame, the timeout or cancellation, on the injected clock.</summary>
    private void Wait(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (Time == TimeProvider.System || timeout == Timeout.InfiniteTimeSpan)
        {
            _changed.Wait(timeout, cancellationToken);
            return;
        }

        using var timer = new CancellationTokenSource(timeout, Time);
        WaitHandle.WaitAny([_changed.WaitHandle, timer.Token.WaitHandle, cancellationToken.WaitHandle]);
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>Wakes the consumer: a feed has a new frame, or the model has a run free.</summary>
    internal void Signal() => _changed.Set();

}
