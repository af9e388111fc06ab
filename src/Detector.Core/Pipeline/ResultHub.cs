using System.Threading.Channels;
using Detector.Core.Batching;

namespace Detector.Core.Pipeline;

/// <summary>What a subscriber wants to see.</summary>
public sealed record SubscriptionFilter
{
    /// <summary>Streams to follow; empty follows all, including streams added later.</summary>
    public IReadOnlySet<string> StreamIds { get; init; } = new HashSet<string>();

    /// <summary>Classes to keep; empty keeps all.</summary>
    public IReadOnlySet<int> ClassIds { get; init; } = new HashSet<int>();

    public float MinConfidence { get; init; }
}

/// <summary>A result as one subscriber sees it: filtered, with the count of results it lost before this one.</summary>
public readonly record struct SubscriberResult(FrameResult Result, long DroppedBefore);

/// <summary>
/// Fans results out to subscribers. Each subscriber has its own small bounded queue: one that reads too slowly
/// loses its oldest results (counted, and told with the next result it gets), and never slows the pipeline or
/// the other subscribers, because publishing never waits.
/// </summary>
public sealed class ResultHub : IResultSink
{
    private readonly Lock _lock = new();
    private Subscription[] _subscribers = [];
    private long _published;

    public ResultHub(int queueCapacity = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queueCapacity, 1);
        QueueCapacity = queueCapacity;
    }

    public int QueueCapacity { get; }

    public int SubscriberCount => Volatile.Read(ref _subscribers).Length;

    public long Published => Interlocked.Read(ref _published);

    /// <summary>Raised when a subscriber loses a result because it is behind (for metrics).</summary>
    public event Action<Subscription>? ResultDropped;

    public Subscription Subscribe(SubscriptionFilter filter)
    {
        var s = new Subscription(this, filter);
        lock (_lock)
        {
            _subscribers = [.. _subscribers, s];
        }

        return s;
    }

    internal void Remove(Subscription s)
    {
        lock (_lock)
        {
            _subscribers = _subscribers.Where(x => !ReferenceEquals(x, s)).ToArray();
        }
    }

    /// <summary>Ends every subscription that follows <paramref name="streamId"/> only.</summary>
    public void CompleteStream(string streamId)
    {
        foreach (var s in Volatile.Read(ref _subscribers))
        {
            if (s.Filter.StreamIds.Count > 0 && s.Filter.StreamIds.All(id => id == streamId))
            {
                s.Complete();
            }
        }
    }

    public void Publish(FrameResult result)
    {
        Interlocked.Increment(ref _published);
        foreach (var s in Volatile.Read(ref _subscribers))
        {
            s.Offer(result);
        }
    }

    internal void OnDropped(Subscription s) => ResultDropped?.Invoke(s);
}

/// <summary>One subscriber's queue. Dispose it when the client goes away.</summary>
public sealed class Subscription : IDisposable
{
    private readonly ResultHub _hub;
    private readonly Channel<FrameResult> _queue;
    private long _dropped;
    private long _droppedReported;
    private long _delivered;

    internal Subscription(ResultHub hub, SubscriptionFilter filter)
    {
        _hub = hub;
        Filter = filter;
        _queue = Channel.CreateBounded<FrameResult>(
            new BoundedChannelOptions(hub.QueueCapacity)
            {
                FullMode = BoundedChannelFullMode.DropOldest,
                SingleReader = true,
                SingleWriter = true,
            },
            _ =>
            {
                Interlocked.Increment(ref _dropped);
                _hub.OnDropped(this);
            });
    }

    public SubscriptionFilter Filter { get; }

    /// <summary>Results this subscriber lost because it read too slowly.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public long Delivered => Interlocked.Read(ref _delivered);

    internal void Offer(FrameResult result)
    {
        if (Filter.StreamIds.Count > 0 && !Filter.StreamIds.Contains(result.FeedId))
        {
            return;
        }

        if (Filter.ClassIds.Count > 0 || Filter.MinConfidence > 0)
        {
            result = result with
            {
                Detections = result.Detections
                    .Where(d => d.Confidence >= Filter.MinConfidence && (Filter.ClassIds.Count == 0 || Filter.ClassIds.Contains(d.ClassId)))
                    .ToArray(),
            };
        }

        _queue.Writer.TryWrite(result);
    }

    /// <summary>The next result, waiting for one; ends when the subscription is completed or disposed.</summary>
    public async IAsyncEnumerable<SubscriberResult> ReadAllAsync(
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var r in _queue.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            var dropped = Interlocked.Read(ref _dropped);
            var before = dropped - _droppedReported;
            _droppedReported = dropped;
            Interlocked.Increment(ref _delivered);
            yield return new SubscriberResult(r, before);
        }
    }

    /// <summary>Takes no more results: <see cref="ReadAllAsync"/> ends once the queued ones are read.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    public void Dispose()
    {
        _hub.Remove(this);
        _queue.Writer.TryComplete();
    }
}
