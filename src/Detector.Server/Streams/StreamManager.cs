using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Detector.Core;
using Detector.Core.Sources;
using Detector.Server.Configuration;
using Detector.Server.Hosting;
using Detector.Server.Security;

namespace Detector.Server.Streams;

/// <summary>
/// The streams the service runs: adds (validated, allowed by the source policy, within the limits), removes, lists.
/// Streams from configuration start once the model is warm, through the same checks as those from the API.
/// </summary>
public sealed partial class StreamManager(DetectorEngine engine, SourcePolicy policy, ILoggerFactory loggers, TimeProvider time)
    : IHostedService, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ManagedStream> _streams = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _refusedAtStart = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ILogger _logger = loggers.CreateLogger<StreamManager>();

    public IReadOnlyCollection<ManagedStream> Streams => _streams.Values.OrderBy(s => s.Id, StringComparer.Ordinal).ToArray();

    /// <summary>Raised when a stream starts or is removed (metrics hook in here).</summary>
    public event Action<ManagedStream>? StreamAdded;

    public event Action<ManagedStream>? StreamRemoved;

    public ManagedStream Get(string id) =>
        _streams.TryGetValue(ValidateId(id), out var s) ? s
            : throw new DetectorException(DetectorErrorKind.NotFound, $"No stream with id '{id}'.");

    public async Task<ManagedStream> AddAsync(StreamSettings settings, CancellationToken cancellationToken = default)
    {
        var id = ValidateId(settings.Id);
        if (!StreamAddress.TryParse(settings.Url, out var address, out var error))
        {
            throw new DetectorException(DetectorErrorKind.InvalidArgument, error);
        }

        address = policy.Check(address);
        var limits = engine.Options.Limits;
        if (settings.TargetFps < 0 || settings.TargetFps > limits.MaxStreamFps || double.IsNaN(settings.TargetFps))
        {
            throw new DetectorException(DetectorErrorKind.InvalidArgument,
                $"target_fps must be between 0 and {limits.MaxStreamFps} (Detector:Limits:MaxStreamFps), got {settings.TargetFps}; 0 means the source's own rate, capped at that limit.");
        }

        RequestValidation.Fraction(settings.Confidence, "confidence_threshold");
        if (!engine.IsReady)
        {
            throw engine.NotReady();
        }

        var classFilter = RequestValidation.ClassFilter(settings.ClassIds, engine.Session.Description.NumClasses);

        var options = new StreamOptions
        {
            Mode = settings.AsFastAsPossible ? PlaybackMode.AsFastAsPossible : PlaybackMode.Live,
            Loop = settings.Loop,
            RtspTransport = settings.RtspUdp ? RtspTransport.Udp : RtspTransport.Tcp,
            MaxFramePixels = limits.MaxFramePixels,
            DecoderThreads = engine.Options.Sources.DecoderThreads,
            HardwareDecoding = engine.Options.Sources.HardwareDecoding,
        };
        try
        {
            options.Validate(address);
        }
        catch (ArgumentException e)
        {
            throw new DetectorException(DetectorErrorKind.InvalidArgument, e.Message);
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_streams.ContainsKey(id))
            {
                throw new DetectorException(DetectorErrorKind.AlreadyExists, $"A stream with id '{id}' already exists; remove it first or choose another id.");
            }

            if (_streams.Count >= limits.MaxStreams)
            {
                throw new DetectorException(DetectorErrorKind.ResourceExhausted,
                    $"The service already runs {_streams.Count} streams, its limit (Detector:Limits:MaxStreams).");
            }

            var video = new VideoStream(id, address, options, loggers, time);
            var stream = new ManagedStream(id, video, settings, engine.Hub, time, limits.MaxStreamFps);
            var detection = engine.DefaultDetection;
            if (settings.Confidence > 0)
            {
                detection = detection with { Confidence = settings.Confidence };
            }

            var feed = engine.Batcher.Register(id, lossless: settings.AsFastAsPossible, detection, stream, classFilter);
            try
            {
                await StartInOwnLogContextAsync(stream, feed).ConfigureAwait(false);
            }
            catch
            {
                engine.Batcher.Unregister(feed);
                await stream.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            // Listed only once started: until then it has no feed, and GetStream or ListStreams would fail on it.
            _streams[id] = stream;
            Log.Added(_logger, id, address.Masked);
            StreamAdded?.Invoke(stream);
            return stream;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Starts the stream's reader thread with a logging scope of its own: every event it logs carries the stream id,
    /// and none carries the request (its id, path, connection) that happened to add the stream, which the thread
    /// would otherwise inherit with the execution context.
    /// </summary>
    private async Task StartInOwnLogContextAsync(ManagedStream stream, Core.Batching.FeedSlot feed)
    {
        Task started;
        using (ExecutionContext.SuppressFlow())
        {
            started = Task.Run(() =>
            {
                using var scope = _logger.BeginScope(new Dictionary<string, object> { ["StreamId"] = stream.Id });
                stream.Start(feed);
            });
        }

        await started.ConfigureAwait(false);
    }

    /// <summary>
    /// The sources the service is meant to run and how many of them failed for good: every stream it runs, plus the
    /// configured streams that were refused at start-up (counted as failed). Readiness needs one that has not failed.
    /// </summary>
    public (int Sources, int Failed) SourceCounts()
    {
        var streams = _streams.Values.ToArray();
        var refused = _refusedAtStart.Keys.Count(id => !_streams.ContainsKey(id));
        return (streams.Length + refused, streams.Count(s => s.Video.State == StreamState.Failed) + refused);
    }

    public async Task RemoveAsync(string id)
    {
        ValidateId(id);
        // Under the same gate as AddAsync, so a removal never runs in the middle of an add of the same id (which
        // would find a stream without its feed, or leave one running unlisted with its ffmpeg process).
        await _gate.WaitAsync().ConfigureAwait(false);
        ManagedStream? stream;
        try
        {
            if (!_streams.TryRemove(id, out stream))
            {
                throw new DetectorException(DetectorErrorKind.NotFound, $"No stream with id '{id}'.");
            }

            // Still under the gate: once it is released a new stream may take the same id, and its subscribers
            // must not be the ones ended here. A closed feed publishes nothing more, so nothing is cut short.
            engine.Batcher.Unregister(stream.Feed);
            engine.Hub.CompleteStream(id);
        }
        finally
        {
            _gate.Release();
        }

        await stream.DisposeAsync().ConfigureAwait(false);
        StreamRemoved?.Invoke(stream);
        Log.Removed(_logger, id);
    }

    /// <summary>Stream ids: 1-64 characters of letters, digits, '.', '_' and '-'; they name metrics and logs.</summary>
    public static string ValidateId(string? id)
    {
        if (string.IsNullOrEmpty(id))
        {
            throw new DetectorException(DetectorErrorKind.InvalidArgument, "The stream id is empty.");
        }

        if (id.Length > 64 || !IdPattern().IsMatch(id))
        {
            var shown = id.Length > 40 ? id[..40] + $"... ({id.Length} characters)" : id;
            throw new DetectorException(DetectorErrorKind.InvalidArgument,
                $"Stream id '{shown}' is not valid: use 1-64 characters of letters, digits, '.', '_' and '-'.");
        }

        return id;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var configured = engine.Options.Streams;
        if (configured.Count == 0)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await engine.Ready.ConfigureAwait(false);
            }
            catch
            {
                return;
            }

            foreach (var s in configured)
            {
                try
                {
                    await AddAsync(s).ConfigureAwait(false);
                }
                catch (DetectorException e)
                {
                    _refusedAtStart[s.Id] = e.Message;
                    Log.ConfiguredStreamRefused(_logger, s.Id, e.Message);
                }
            }
        }, CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var id in _streams.Keys.ToArray())
        {
            try
            {
                await RemoveAsync(id).ConfigureAwait(false);
            }
            catch (DetectorException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex IdPattern();

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Information, Message = "Stream {StreamId} added: {Url}")]
        public static partial void Added(ILogger logger, string streamId, string url);

        [LoggerMessage(Level = LogLevel.Information, Message = "Stream {StreamId} removed")]
        public static partial void Removed(ILogger logger, string streamId);

        [LoggerMessage(Level = LogLevel.Error, Message = "Configured stream {StreamId} not started: {Reason}")]
        public static partial void ConfiguredStreamRefused(ILogger logger, string streamId, string reason);
    }
}
