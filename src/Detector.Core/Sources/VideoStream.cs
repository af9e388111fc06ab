using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detector.Core.Sources;

/// <summary>
/// One video stream under supervision: it opens its source, hands frames to one consumer, and
/// reconnects after failures with capped, jittered back-off and a restart-rate limit, until the
/// source ends (files), fails for good, or the owner stops it.
/// </summary>
/// <remarks>
/// <para>Live streams keep one frame slot: each new frame replaces an unread one, which is returned
/// to the pool and counted as stale, so the consumer always gets the newest frame however slow it
/// is. In <see cref="PlaybackMode.AsFastAsPossible"/> the reader waits for the consumer instead,
/// through a small bounded queue, and nothing is dropped.</para>
/// <para>An owner that passes an <see cref="IFrameTarget"/> to <see cref="Start(IFrameTarget)"/> gets each frame on
/// the stream's thread instead, with no queue in between; what it keeps or drops is then its own business.</para>
/// <para>Everything a stream reports (state, errors, logs) names it by <see cref="Id"/> and the
/// masked address; the password never leaves the reader.</para>
/// </remarks>
public sealed class VideoStream : IAsyncDisposable
{
    private readonly Func<FramePool, IFrameReader> _createReader;
    private readonly Channel<Frame> _frames;
    private readonly ReconnectSchedule _schedule;
    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _stateLock = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread? _supervisor;
    private IFrameTarget? _target;
    private StreamState _state = StreamState.Connecting;
    private string? _lastError;
    private StreamErrorKind? _lastErrorKind;
    private VideoFormat? _format;
    private long _nextNumber;
    private long _received;
    private long _delivered;
    private long _droppedStale;
    private long _droppedDecodeError;
    private long _droppedOnStop;
    private long _reconnects;
    private long _formatChanges;
    private int _disposed;

    /// <summary>A stream over the reader that fits <paramref name="address"/>; call <see cref="Start"/> to run it.</summary>
    /// <exception cref="ArgumentException">The options do not fit the address (see <see cref="StreamOptions.Validate"/>).</exception>
    public VideoStream(string id, StreamAddress address, StreamOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(id, address, options ?? new StreamOptions(), loggerFactory?.CreateLogger<VideoStream>(), timeProvider, createReader: null, random: null)
    {
    }

    /// <summary>For tests: a stream over scripted readers, with a seeded jitter.</summary>
    internal VideoStream(
        string id,
        StreamAddress address,
        StreamOptions options,
        ILogger? logger,
        TimeProvider? timeProvider,
        Func<FramePool, IFrameReader>? createReader,
        Random? random)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(address);
        Id = id;
        Address = address;
        Options = options;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _schedule = new ReconnectSchedule(options.Reconnect, random);
        Pool = new FramePool(options.PoolCapacity);
        _createReader = createReader ?? DefaultReader;
        _frames = options.Mode == PlaybackMode.Live
            ? Channel.CreateBounded<Frame>(
                new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleWriter = true },
                OnStale)
            : Channel.CreateBounded<Frame>(
                new BoundedChannelOptions(options.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleWriter = true });
    }

    /// <summary>Raised on every state change, on the supervisor's thread; handlers must be quick.</summary>
    public event EventHandler<StreamStateChangedEventArgs>? StateChanged;

    public string Id { get; }

    /// <summary>The source; its text form is masked.</summary>
    public StreamAddress Address { get; }

    public StreamOptions Options { get; }

    /// <summary>The buffers behind this stream's frames; its counters show whether every frame came back.</summary>
    public FramePool Pool { get; }

    public StreamState State
    {
        get
        {
            lock (_stateLock)
            {
                return _state;
            }
        }
    }

    /// <summary>The most recent error (masked), kept after the stream recovers; null if there never was one.</summary>
    public string? LastError
    {
        get
        {
            lock (_stateLock)
            {
                return _lastError;
            }
        }
    }

    public StreamErrorKind? LastErrorKind
    {
        get
        {
            lock (_stateLock)
            {
                return _lastErrorKind;
            }
        }
    }

    /// <summary>The size of the latest frames; null before the first one.</summary>
    public VideoFormat? Format
    {
        get
        {
            lock (_stateLock)
            {
                return _format;
            }
        }
    }

    public StreamStats Stats => new(
        Interlocked.Read(ref _received),
        Interlocked.Read(ref _delivered),
        Interlocked.Read(ref _droppedStale),
        Interlocked.Read(ref _droppedDecodeError),
        Interlocked.Read(ref _droppedOnStop),
        _frames.Reader.Count,
        Interlocked.Read(ref _reconnects),
        Interlocked.Read(ref _formatChanges));

    /// <summary>Completes when the stream has ended, failed or been stopped.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Starts the supervisor; frames wait for <see cref="ReadAsync"/>. A second call does nothing.</summary>
    public void Start() => StartCore(null);

    /// <summary>
    /// Starts the supervisor, handing every frame to <paramref name="target"/> on the stream's thread (no
    /// <see cref="ReadAsync"/>). A second call does nothing.
    /// </summary>
    public void Start(IFrameTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        StartCore(target);
    }

    private void StartCore(IFrameTarget? target)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_stateLock)
        {
            if (_supervisor is not null)
            {
                return;
            }

            _target = target;
            SourcesLog.Starting(_logger, Id, Address.Kind, Address.Masked);
            // A thread per stream, not a pool task: decoding, waiting on ffmpeg and pacing all block, and a camera's
            // frames must not queue behind a busy pool (a slow consumer on two cores delayed frames by 250 ms).
            _supervisor = new Thread(Supervise) { IsBackground = true, Name = $"stream {Id}" };
            _supervisor.Start();
        }
    }

    /// <summary>
    /// The next frame (the caller disposes it), waiting for one if needed; null once the stream has
    /// ended, failed or stopped and every queued frame has been read.
    /// </summary>
    /// <exception cref="InvalidOperationException">The stream was started with a target, which gets the frames.</exception>
    public async ValueTask<Frame?> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _target) is not null)
        {
            throw new InvalidOperationException($"Stream '{Id}' hands its frames to the target it was started with; there is nothing to read.");
        }

        var reader = _frames.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (reader.TryRead(out var frame))
            {
                Interlocked.Increment(ref _delivered);
                return frame;
            }
        }

        return null;
    }

    /// <summary>Frames until the stream is over; dispose each one.</summary>
    public async IAsyncEnumerable<Frame> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (await ReadAsync(cancellationToken).ConfigureAwait(false) is { } frame)
        {
            yield return frame;
        }
    }

    /// <summary>Stops reading, closes the source (and its ffmpeg process) and drops unread frames.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        bool started;
        lock (_stateLock)
        {
            started = _supervisor is not null;
        }

        if (started)
        {
            await _completion.Task.ConfigureAwait(false);
        }
        else
        {
            Finish(StreamState.Stopped, null);
        }

        while (_frames.Reader.TryRead(out var frame))
        {
            frame.Dispose();
            Interlocked.Increment(ref _droppedOnStop);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
        Pool.Dispose();
    }

    private IFrameReader DefaultReader(FramePool pool) => Address.Kind switch
    {
        SourceKind.File => new FileFrameReader(Address, Options, pool, _time),
        SourceKind.Network => new FfmpegFrameReader(Address, Options, pool, _logger, _time, Id),
        SourceKind.Device => new DeviceFrameReader(Address, pool, _time),
        _ => throw new InvalidOperationException($"No reader for {Address.Kind} sources."),
    };

    private void Supervise()
    {
        try
        {
            SuperviseCore();
        }
        finally
        {
            // Whatever happened, the owner's StopAsync and the consumer must not wait for ever.
            _frames.Writer.TryComplete();
            _completion.TrySetResult();
        }
    }

    private void SuperviseCore()
    {
        var stop = _stop.Token;
        var failures = 0;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var (error, ranFor) = RunAttempt(stop);
                stop.ThrowIfCancellationRequested();
                if (error is null)
                {
                    if (Address.Kind == SourceKind.File)
                    {
                        SourcesLog.Ended(_logger, Id, Interlocked.Read(ref _received));
                        Finish(StreamState.Ended, null);
                        return;
                    }

                    // Cameras do not end: a clean end of a live stream is the server hanging up.
                    error = new FrameSourceException(StreamErrorKind.Disconnected, $"{Address.Masked}: the source closed the stream.", isPermanent: false);
                }

                if (error.IsPermanent)
                {
                    SourcesLog.Failed(_logger, Id, error.Kind, error.Message);
                    Finish(StreamState.Failed, error);
                    return;
                }

                failures = ranFor >= Options.Reconnect.StableAfter ? 1 : failures + 1;
                if (Options.Reconnect.MaxConsecutiveFailures is { } max && failures >= max)
                {
                    var final = new FrameSourceException(error.Kind, $"Gave up after {failures} failed attempts in a row; last: {error.Message}", isPermanent: true, error);
                    SourcesLog.Failed(_logger, Id, final.Kind, final.Message);
                    Finish(StreamState.Failed, final);
                    return;
                }

                // A size change is not a fault: reopen at once, but still within the restart-rate limit.
                var now = _time.GetUtcNow();
                var delay = _schedule.NextDelay(error.Kind == StreamErrorKind.FormatChanged ? 0 : failures, now, out var limited);
                SetState(StreamState.Reconnecting, error);
                if (limited)
                {
                    SourcesLog.RestartLimited(_logger, Id, _schedule.RestartsInWindow(now), Options.Reconnect.RestartWindow.TotalSeconds, delay.TotalSeconds);
                }

                SourcesLog.Reconnecting(_logger, Id, delay.TotalSeconds, error.Kind, error.Message);
                Waits.Delay(_time, delay, stop);
                _schedule.RecordRestart(_time.GetUtcNow());
                Interlocked.Increment(ref _reconnects);
            }
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            // Stopping: whatever the reader threw while being torn down does not matter.
        }
        catch (Exception ex)
        {
            SourcesLog.SupervisorCrashed(_logger, Id, ex);
            Finish(StreamState.Failed, new FrameSourceException(StreamErrorKind.Other, $"Internal error: {Address.Redact(ex.Message)}", isPermanent: true));
            return;
        }

        SourcesLog.Stopped(_logger, Id);
        Finish(StreamState.Stopped, null);
    }

    /// <summary>One connection: null error when the source ended cleanly; how long it delivered frames either way.</summary>
    private (FrameSourceException? Error, TimeSpan RanFor) RunAttempt(CancellationToken stop)
    {
        var live = Address.Kind != SourceKind.File;
        var running = false;
        var runningSince = 0L;
        var decodeErrors = 0L;
        IFrameReader? reader = null;
        using var timeout = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
        TimeSpan RanFor() => running ? _time.GetElapsedTime(runningSince) : TimeSpan.Zero;

        timeout.CancelAfter(Options.OpenTimeout);
        try
        {
            reader = _createReader(Pool);
            reader.Open(attempt.Token);
            while (true)
            {
                var frame = reader.Read(attempt.Token);
                CountDecodeErrors(reader, ref decodeErrors);
                if (frame is null)
                {
                    return (null, RanFor());
                }

                ThrowIfTooLarge(frame);
                if (!running)
                {
                    running = true;
                    runningSince = _time.GetTimestamp();
                }

                // From now on the read timeout applies, to live sources only: a file does not stall. CancelAfter re-arms
                // the timer (TryReset cannot, on a TimeProvider other than the system's).
                timeout.CancelAfter(live ? Options.ReadTimeout : Timeout.InfiniteTimeSpan);
                frame.Number = _nextNumber++;
                Interlocked.Increment(ref _received);
                OnFrameFormat(frame, reader.Format.FramesPerSecond);
                Publish(frame, stop);
            }
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            return (new FrameSourceException(
                StreamErrorKind.Timeout,
                running
                    ? $"{Address.Masked}: no frame for {Options.ReadTimeout.TotalSeconds:0.#} s; the source stopped sending."
                    : $"{Address.Masked}: no frame within {Options.OpenTimeout.TotalSeconds:0.#} s of connecting.",
                isPermanent: false), RanFor());
        }
        catch (FrameSourceException ex) when (!stop.IsCancellationRequested)
        {
            return (ex, RanFor());
        }
        catch (Exception ex) when (!stop.IsCancellationRequested && ex is not OperationCanceledException)
        {
            // OpenCvSharp and the OS can throw anything; it is this stream's problem only.
            return (new FrameSourceException(StreamErrorKind.Other, Address.Redact(ex.Message), isPermanent: false, ex), RanFor());
        }
        finally
        {
            if (reader is not null)
            {
                CountDecodeErrors(reader, ref decodeErrors);
                reader.Dispose();
            }
        }
    }

    /// <summary>
    /// Checked on every frame, not only the first: a network stream may change size mid-way. The one frame over the
    /// limit has been decoded already; what the limit prevents is a stream of them, each in a pooled buffer.
    /// </summary>
    private void ThrowIfTooLarge(Frame frame)
    {
        var pixels = (long)frame.Width * frame.Height;
        if (Options.MaxFramePixels > 0 && pixels > Options.MaxFramePixels)
        {
            var (width, height) = (frame.Width, frame.Height);
            frame.Dispose();
            throw new FrameSourceException(StreamErrorKind.TooLarge,
                $"{Address.Masked}: frames of {width}x{height} ({pixels} pixels) are over the limit of {Options.MaxFramePixels} pixels (MaxFramePixels).",
                isPermanent: true);
        }
    }

    private void CountDecodeErrors(IFrameReader reader, ref long seen)
    {
        var now = reader.DecodeErrors;
        if (now > seen)
        {
            Interlocked.Add(ref _droppedDecodeError, now - seen);
            seen = now;
        }
    }

    /// <summary>Moves to Running on an attempt's first frame and notices a change of frame size.</summary>
    private void OnFrameFormat(Frame frame, double? framesPerSecond)
    {
        var current = new VideoFormat(frame.Width, frame.Height, framesPerSecond);
        VideoFormat? previous;
        bool becameRunning;
        bool resized;
        lock (_stateLock)
        {
            previous = _format;
            resized = previous is { } p && (p.Width != current.Width || p.Height != current.Height);
            becameRunning = _state != StreamState.Running;
            if (!resized && !becameRunning)
            {
                return;
            }

            _format = current;
            if (resized)
            {
                _lastError = $"Resolution changed from {previous!.Value.Width}x{previous.Value.Height} to {current.Width}x{current.Height}.";
                _lastErrorKind = StreamErrorKind.FormatChanged;
            }
        }

        if (resized)
        {
            Interlocked.Increment(ref _formatChanges);
            SourcesLog.FormatChanged(_logger, Id, previous!.Value, current);
        }

        if (becameRunning)
        {
            SetState(StreamState.Running, null);
            SourcesLog.Running(_logger, Id, current);
        }
    }

    private void Publish(Frame frame, CancellationToken stop)
    {
        if (_target is { } target)
        {
            // The target owns the frame from here, even if it throws.
            Interlocked.Increment(ref _delivered);
            target.Accept(frame, stop);
            return;
        }

        var writer = _frames.Writer;
        if (Options.Mode == PlaybackMode.Live)
        {
            // Never waits: a full slot gives up its old frame (OnStale).
            if (!writer.TryWrite(frame))
            {
                frame.Dispose();
                Interlocked.Increment(ref _droppedOnStop);
            }

            return;
        }

        try
        {
            // The bounded hand-off: wait for the consumer to make room.
            while (!writer.TryWrite(frame))
            {
                if (!Waits.Result(writer.WaitToWriteAsync(stop).AsTask(), stop))
                {
                    throw new OperationCanceledException(stop);
                }
            }
        }
        catch
        {
            frame.Dispose();
            Interlocked.Increment(ref _droppedOnStop);
            throw;
        }
    }

    private void OnStale(Frame frame)
    {
        frame.Dispose();
        Interlocked.Increment(ref _droppedStale);
    }

    private void SetState(StreamState state, FrameSourceException? error)
    {
        StreamState previous;
        lock (_stateLock)
        {
            previous = _state;
            if (error is not null)
            {
                _lastError = error.Message;
                _lastErrorKind = error.Kind;
            }

            if (previous == state && error is null)
            {
                return;
            }

            _state = state;
        }

        try
        {
            StateChanged?.Invoke(this, new StreamStateChangedEventArgs(previous, state, error?.Message, error?.Kind));
        }
        catch (Exception ex)
        {
            // A subscriber's bug must not kill the stream's thread (and with it the process).
            SourcesLog.StateHandlerFailed(_logger, Id, ex);
        }
    }

    private void Finish(StreamState state, FrameSourceException? error)
    {
        SetState(state, error);
        _frames.Writer.TryComplete();
        _completion.TrySetResult();
    }
}
