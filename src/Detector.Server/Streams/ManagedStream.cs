using Detector.Core.Batching;
using Detector.Core.Pipeline;
using Detector.Core.Sources;
using Detector.Server.Configuration;

namespace Detector.Server.Streams;

/// <summary>
/// One camera or file as the service runs it: the supervised <see cref="VideoStream"/>, the pump that hands its
/// frames to the batcher (at most the target FPS, or the service's per-stream cap when there is none), and the
/// counters the API and metrics read.
/// </summary>
public sealed class ManagedStream : IResultSink, IAsyncDisposable
{
    private readonly ResultHub _hub;
    private readonly CancellationTokenSource _stop = new();
    private readonly FpsMeter _fps;
    private readonly TimeProvider _time;
    private readonly double _maxFps;
    private Task _pump = Task.CompletedTask;
    private long _processed;
    private long _droppedRate;
    private long _lastAcceptedAt;

    /// <param name="maxFps">The service's cap (Detector:Limits:MaxStreamFps), used when the stream sets no target FPS.</param>
    public ManagedStream(string id, VideoStream video, StreamSettings settings, ResultHub hub, TimeProvider time, double maxFps)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFps);
        Id = id;
        Video = video;
        Settings = settings;
        _hub = hub;
        _time = time;
        _maxFps = maxFps;
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
        Video.Start();
        _pump = Task.Run(PumpAsync);
    }

    private async Task PumpAsync()
    {
        var minInterval = TimeSpan.FromSeconds(1 / (Settings.TargetFps > 0 ? Math.Min(Settings.TargetFps, _maxFps) : _maxFps));
        try
        {
            await foreach (var frame in Video.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                var early = _lastAcceptedAt == 0 ? TimeSpan.Zero : minInterval - _time.GetElapsedTime(_lastAcceptedAt);
                if (early > TimeSpan.Zero)
                {
                    if (!Settings.AsFastAsPossible)
                    {
                        frame.Dispose();
                        Interlocked.Increment(ref _droppedRate);
                        continue;
                    }

                    // As fast as possible drops nothing: waiting here holds the reader back through its bounded queue,
                    // so the file is decoded no faster than the cap either.
                    try
                    {
                        await Task.Delay(early, _time, _stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        frame.Dispose();
                        throw;
                    }
                }

                _lastAcceptedAt = _time.GetTimestamp();
                await Feed.OfferAsync(frame, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    public void Publish(FrameResult result)
    {
        Interlocked.Increment(ref _processed);
        _fps.Tick();
        ResultPublished?.Invoke(this, result);
        _hub.Publish(result);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Video.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _pump.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }
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
