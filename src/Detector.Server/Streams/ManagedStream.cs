using Detector.Core.Batching;
using Detector.Core.Pipeline;
using Detector.Core.Sources;
using Detector.Server.Configuration;

namespace Detector.Server.Streams;

/// <summary>
/// One camera or file as the service runs it: the supervised <see cref="VideoStream"/>, the hand-off of its frames
/// to the batcher (at most the target FPS, or the service's per-stream cap when there is none), and the counters
/// the API and metrics read.
/// </summary>
/// <remarks>
/// The hand-off runs on the stream's own thread, straight into the batcher's slot: no queue in between and no
/// thread-pool thread on a frame's way from the decoder to the model, so a process short of pool threads (many
/// clients) still feeds the model.
/// </remarks>
public sealed class ManagedStream : IResultSink, IFrameTarget, IAsyncDisposable
{
    private readonly ResultHub _hub;
    private readonly FpsMeter _fps;
    private readonly TimeProvider _time;
    private readonly FramePacer _pacer;
    private readonly long _startedAt;
    private long _processed;
    private long _droppedRate;

    /// <param name="maxFps">The service's cap (Detector:Limits:MaxStreamFps), used when the stream sets no target FPS.</param>
    public ManagedStream(string id, VideoStream video, StreamSettings settings, ResultHub hub, TimeProvider time, double maxFps)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFps);
        Id = id;
        Video = video;
        Settings = settings;
        _hub = hub;
        _time = time;
        _pacer = new FramePacer(TimeSpan.FromSeconds(1 / (settings.TargetFps > 0 ? Math.Min(settings.TargetFps, maxFps) : maxFps)));
        _startedAt = time.GetTimestamp();
        _fps = new FpsMeter(time);
    }

    public string Id { get; }

    public VideoStream Video { get; }

    public StreamSettings Settings { get; }

    public FeedSlot Feed { get; private set; } = null!;

    public long FramesProcessed => Interlocked.Read(ref _processed);

    /// <summary>Frames skipped to hold the stream's target FPS.</summary>
    public long DroppedForRate => Interlocked.Read(ref _droppedRate);

    public double MeasuredFps => _fps.Rate;

    /// <summary>Raised for each result of this stream before it reaches subscribers (metrics hook in here).</summary>
    public event Action<ManagedStream, FrameResult>? ResultPublished;

    public void Start(FeedSlot feed)
    {
        Feed = feed;
        Video.Start(this);
    }

    /// <summary>Called on the stream's thread for each decoded frame.</summary>
    void IFrameTarget.Accept(Frame frame, CancellationToken stop)
    {
        try
        {
            if (Settings.AsFastAsPossible)
            {
                // Drops nothing: waiting here holds the reader back, so the file is decoded no faster than the cap either.
                Waits.Delay(_time, _pacer.WaitBeforeNext(_time.GetElapsedTime(_startedAt)), stop);
                _pacer.Took(_time.GetElapsedTime(_startedAt));
            }
            else if (!_pacer.TryTake(_time.GetElapsedTime(_startedAt)))
            {
                frame.Dispose();
                Interlocked.Increment(ref _droppedRate);
                return;
            }

            // Live feeds return at once (a newer frame replaces a waiting one); lossless ones wait for the batcher.
            Feed.Offer(frame, stop);
        }
        catch (OperationCanceledException)
        {
            frame.Dispose();
            throw;
        }
    }

    public void Publish(FrameResult result)
    {
        Interlocked.Increment(ref _processed);
        _fps.Tick();
        ResultPublished?.Invoke(this, result);
        _hub.Publish(result);
    }

    public ValueTask DisposeAsync() => Video.DisposeAsync();
}

/// <summary>Frames per second over a sliding window of the last few seconds.</summary>
public sealed class FpsMeter(TimeProvider time, double windowSeconds = 3)
{
    private readonly Queue<long> _ticks = new();
    private readonly Lock _lock = new();

    public void Tick()
    {
        lock (_lock)
        {
            _ticks.Enqueue(time.GetTimestamp());
            Trim();
        }
    }

    public double Rate
    {
        get
        {
            lock (_lock)
            {
                Trim();
                return _ticks.Count / windowSeconds;
            }
        }
    }

    private void Trim()
    {
        while (_ticks.Count > 0 && time.GetElapsedTime(_ticks.Peek()).TotalSeconds > windowSeconds)
        {
            _ticks.Dequeue();
        }
    }
}
