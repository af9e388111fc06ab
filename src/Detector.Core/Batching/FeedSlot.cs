using Detector.Core.Pipeline;
using Detector.Core.Sources;

namespace Detector.Core.Batching;

/// <summary>Where the results of a feed's frames go.</summary>
public interface IResultSink
{
    /// <summary>Called on the pipeline's thread, in frame order for each feed: must not block.</summary>
    void Publish(FrameResult result);
}

/// <summary>
/// One producer of frames for the batcher (a camera stream, or an API call with its own images) and the one slot
/// in which its next frame waits. A live feed keeps only its newest frame: an older one still waiting is
/// replaced, returned to its pool and counted as stale. A lossless feed (a file read as fast as possible, an
/// API call) waits for the slot to empty instead, so nothing is dropped.
/// </summary>
public sealed class FeedSlot
{
    private readonly Lock _lock = new();
    private Frame? _pending;
    private long _pendingSince;
    private TaskCompletionSource? _emptied;
    private long _offered;
    private long _droppedStale;

    internal FeedSlot(CrossStreamBatcher batcher, string id, bool lossless, DetectionOptions detection,
        IReadOnlySet<int>? classFilter, IResultSink sink)
    {
        Batcher = batcher;
        Id = id;
        Lossless = lossless;
        Detection = detection;
        ClassFilter = classFilter;
        Sink = sink;
    }

    internal CrossStreamBatcher Batcher { get; }

    public string Id { get; }

    public bool Lossless { get; }

    /// <summary>Thresholds for this feed's frames.</summary>
    public DetectionOptions Detection { get; }

    /// <summary>Class ids to keep; null keeps all.</summary>
    public IReadOnlySet<int>? ClassFilter { get; }

    public IResultSink Sink { get; }

    /// <summary>Frames offered to the batcher.</summary>
    public long Offered => Interlocked.Read(ref _offered);

    /// <summary>Frames replaced by a newer one before the batcher took them.</summary>
    public long DroppedStale => Interlocked.Read(ref _droppedStale);

    public bool IsClosed { get; private set; }

    /// <summary>
    /// Hands a frame to the batcher; the slot owns it from here. Live feeds return at once; lossless ones wait
    /// until the previous frame has been taken.
    /// </summary>
    public async ValueTask OfferAsync(Frame frame, CancellationToken cancellationToken = default)
    {
        while (TryPlace(frame) is { } wait)
        {
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// <see cref="OfferAsync"/> for a thread of its own (a stream's reader): a lossless feed blocks the caller with a
    /// kernel wait, so that no frame needs a thread-pool thread on its way to the batcher.
    /// </summary>
    /// <exception cref="OperationCanceledException">The token fired while waiting; the caller still owns the frame.</exception>
    public void Offer(Frame frame, CancellationToken cancellationToken = default)
    {
        while (TryPlace(frame) is { } wait)
        {
            Waits.Wait(wait, cancellationToken);
        }
    }

    /// <summary>Puts the frame in the slot (or drops it if the feed is closed) and returns null; or, when a lossless
    /// feed's slot is still full, returns what to wait for before trying again.</summary>
    private Task? TryPlace(Frame frame)
    {
        Frame? stale;
        lock (_lock)
        {
            if (IsClosed)
            {
                frame.Dispose();
                return null;
            }

            if (_pending is not null && Lossless)
            {
                _emptied ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return _emptied.Task;
            }

            stale = _pending;
            _pending = frame;
            _pendingSince = Batcher.Time.GetTimestamp();
            Interlocked.Increment(ref _offered);
        }

        if (stale is not null)
        {
            stale.Dispose();
            Interlocked.Increment(ref _droppedStale);
        }

        Batcher.Signal();
        return null;
    }

    /// <summary>Takes the waiting frame, if any, with the timestamp at which it was offered.</summary>
    internal bool TryTake(out Frame frame, out long offeredAt)
    {
        TaskCompletionSource? emptied;
        lock (_lock)
        {
            if (_pending is null)
            {
                frame = null!;
                offeredAt = 0;
                return false;
            }

            (frame, offeredAt, _pending) = (_pending, _pendingSince, null);
            (emptied, _emptied) = (_emptied, null);
        }

        emptied?.TrySetResult();
        return true;
    }

    /// <summary>Stops accepting frames and drops the waiting one.</summary>
    internal void Close()
    {
        Frame? pending;
        TaskCompletionSource? emptied;
        lock (_lock)
        {
            IsClosed = true;
            (pending, _pending) = (_pending, null);
            (emptied, _emptied) = (_emptied, null);
        }

        pending?.Dispose();
        emptied?.TrySetResult();
    }
}
