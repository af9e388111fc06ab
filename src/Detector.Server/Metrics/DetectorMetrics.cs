using System.Collections.Concurrent;
using Detector.Core.Pipeline;
using Detector.Core.Sources;
using Detector.Server.Hosting;
using Detector.Server.Security;
using Detector.Server.Streams;
using Prometheus;

namespace Detector.Server.Metrics;

/// <summary>
/// Every metric the service exports, named <c>detector_&lt;noun&gt;_&lt;unit&gt;[_total]</c>, with labels from bounded
/// sets only: the stream id (validated, at most <c>Detector:Limits:MaxStreams</c> of them), the drop reason, the
/// stream state, the pipeline stage, the model, and the gRPC service, method and status code. Never a URL.
/// </summary>
/// <remarks>
/// <para>The metrics live in a registry of their own, one per host, not in prometheus-net's static default: the
/// tests run several hosts in one process, and each must export its own streams only.</para>
/// <para>Stream counters are read from the counters the stream, its feed and the pipeline already keep, at scrape
/// time and all at once, so that for every stream
/// <c>frames_received = frames_processed + sum(frames_dropped) + frames still on their way</c>; only histograms
/// and failed frames are recorded as they happen. A removed stream's series are removed with it.</para>
/// </remarks>
public sealed class DetectorMetrics : IPipelineObserver, IHostedService
{
    /// <summary>Why a call was refused before it reached the API; the values of <c>detector_api_unauthenticated_total</c>'s <c>reason</c>.</summary>
    public static class RefusalReason
    {
        public const string MissingKey = "missing_key";
        public const string InvalidKey = "invalid_key";

        public static IReadOnlyList<string> All { get; } = [MissingKey, InvalidKey];
    }

    /// <summary>Why a stream's frame never became a result; the values of the <c>reason</c> label.</summary>
    public static class DropReason
    {
        /// <summary>A newer frame of the stream replaced it while it waited for a batch (the pipeline was busy).</summary>
        public const string Stale = "stale";

        /// <summary>
        /// The stream's reader queue was full when the source produced it. Kept for dashboards, but 0 in the service: its
        /// readers hand each frame straight to the batcher's slot (<see cref="ManagedStream"/>), where a frame replaced by a
        /// newer one counts as <see cref="Stale"/>.
        /// </summary>
        public const string QueueFull = "queue_full";

        /// <summary>The source sent it but it did not decode into an image.</summary>
        public const string DecodeError = "decode_error";

        /// <summary>Skipped to hold the stream's target FPS.</summary>
        public const string RateLimit = "rate_limit";

        /// <summary>Pre-processing or inference failed on it.</summary>
        public const string Error = "error";

        /// <summary>Discarded unread when the stream stopped or its reader was torn down.</summary>
        public const string Stopped = "stopped";

        public static IReadOnlyList<string> All { get; } = [Stale, QueueFull, DecodeError, RateLimit, Error, Stopped];
    }

    /// <summary>
    /// Seconds from 1 ms to 5 s, dense where video lives: a frame interval is 33-100 ms, a model run 2-200 ms,
    /// and anything past a few seconds is an outage, not a latency.
    /// </summary>
    public static IReadOnlyList<double> DurationBuckets { get; } =
        [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.4, 0.6, 1, 1.5, 2.5, 5];

    private static readonly StreamState[] States = Enum.GetValues<StreamState>();

    private readonly DetectorEngine _engine;
    private readonly StreamManager _streams;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, StreamSeries> _series = new(StringComparer.Ordinal);
    private int _modelDescribed;

    // Per stream.
    private readonly Counter _framesReceived;
    private readonly Counter _framesProcessed;
    private readonly Counter _framesDropped;
    private readonly Gauge _processedFps;
    private readonly Histogram _latency;
    private readonly Gauge _up;
    private readonly Gauge _state;
    private readonly Counter _reconnects;

    // Pipeline.
    private readonly Gauge _streamCount;
    private readonly Histogram _batchSize;
    private readonly Histogram _queueWait;
    private readonly Histogram.Child _preprocess;
    private readonly Histogram.Child _inference;
    private readonly Histogram.Child _postprocess;
    private readonly Gauge _inFlight;
    private readonly Counter _frameErrors;

    // API.
    private readonly Gauge _subscribers;
    private readonly Counter _resultsSent;
    private readonly Counter _resultsDropped;
    private readonly Counter _grpcRequests;
    private readonly AuthRefusals _refusals;
    private readonly Counter.Child _refusedMissingKey;
    private readonly Counter.Child _refusedInvalidKey;
    private readonly Gauge _grpcInProgress;
    private readonly Histogram _grpcDuration;

    // Model and runtime.
    private readonly Gauge _modelInfo;
    private readonly Gauge _modelLoad;
    private readonly Gauge _modelReady;

    public DetectorMetrics(DetectorEngine engine, StreamManager streams, AuthRefusals refusals, TimeProvider time)
    {
        _refusals = refusals;
        _engine = engine;
        _streams = streams;
        _time = time;
        Registry = Prometheus.Metrics.NewCustomRegistry();
        // process_* and dotnet_* (memory, CPU, GC, threads): prometheus-net's defaults, on this registry.
        DotNetStats.Register(Registry);
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        // Exemplars would carry trace ids, one per request: unbounded values in the exposition for no use here.
        factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        var seconds = new HistogramConfiguration { Buckets = [.. DurationBuckets] };

        _framesReceived = factory.CreateCounter("detector_stream_frames_received_total",
            "Frames the stream's source delivered, including those that failed to decode.", "stream");
        _framesProcessed = factory.CreateCounter("detector_stream_frames_processed_total",
            "Frames of the stream that went through the model and whose result was published.", "stream");
        _framesDropped = factory.CreateCounter("detector_stream_frames_dropped_total",
            "Frames of the stream that never became a result, by reason: stale (replaced by a newer frame while the " +
            "pipeline was busy), queue_full (the stream's reader queue was full; 0 in the service, whose readers hand frames straight to the batcher), decode_error, rate_limit (thinned to " +
            "the target FPS), error (pre-processing or inference failed), stopped (discarded when the reader stopped).",
            "stream", "reason");
        _processedFps = factory.CreateGauge("detector_stream_processed_fps",
            "Results published per second for the stream, over the last 3 seconds.", "stream");
        _latency = factory.CreateHistogram("detector_stream_latency_seconds",
            "Time from a frame's capture to its result being published, in seconds.", ["stream"], seconds);
        _up = factory.CreateGauge("detector_stream_up", "1 while the stream delivers frames (state running), else 0.", "stream");
        _state = factory.CreateGauge("detector_stream_state",
            "1 for the stream's current state (connecting, running, reconnecting, ended, failed, stopped), 0 for the others.",
            "stream", "state");
        _reconnects = factory.CreateCounter("detector_stream_reconnects_total",
            "Times the stream's source was reopened after a failure or drop-out.", "stream");

        _streamCount = factory.CreateGauge("detector_streams", "Streams the service runs, whatever their state.");
        var maxBatch = engine.Options.Model.MaxBatchSize;
        _batchSize = factory.CreateHistogram("detector_batch_size_frames", "Frames per model run.",
            new HistogramConfiguration { Buckets = BatchBuckets(maxBatch) });
        _queueWait = factory.CreateHistogram("detector_batch_queue_wait_seconds",
            "Time a stream's frame waited for its batch to form and the model to be free, in seconds.", seconds);
        var stages = factory.CreateHistogram("detector_stage_duration_seconds",
            "Time one batch spent in a pipeline stage (preprocess, inference, postprocess), in seconds.", ["stage"], seconds);
        _preprocess = stages.WithLabels("preprocess");
        _inference = stages.WithLabels("inference");
        _postprocess = stages.WithLabels("postprocess");
        _inFlight = factory.CreateGauge("detector_pipeline_frames_in_flight",
            "Frames in a batch being pre-processed, run or post-processed now.");
        _frameErrors = factory.CreateCounter("detector_pipeline_frame_errors_total",
            "Frames (of streams and API calls) that pre-processing or inference failed on.");

        _subscribers = factory.CreateGauge("detector_api_subscribers", "Subscribe calls open now.");
        _resultsSent = factory.CreateCounter("detector_api_results_sent_total",
            "Detection results written to API clients, by gRPC method (Subscribe, Detect, DetectFrames).", "method");
        _resultsDropped = factory.CreateCounter("detector_api_results_dropped_total",
            "Results a subscriber lost because it read too slowly (its queue was full).");
        _grpcRequests = factory.CreateCounter("detector_grpc_requests_total",
            "gRPC calls finished, by service, method and status code.", "service", "method", "code");
        // Refused by the authentication handler before any gRPC interceptor runs, so not in detector_grpc_requests_total;
        // no method label: the caller chooses the path, and an unauthenticated caller must not grow the exposition.
        var refused = factory.CreateCounter("detector_api_unauthenticated_total",
            "Calls (gRPC or HTTP) refused for want of a valid API key, by reason: missing_key or invalid_key.", "reason");
        _refusedMissingKey = refused.WithLabels(RefusalReason.MissingKey);
        _refusedInvalidKey = refused.WithLabels(RefusalReason.InvalidKey);
        _grpcInProgress = factory.CreateGauge("detector_grpc_requests_in_progress",
            "gRPC calls running now, by service and method.", "service", "method");
        _grpcDuration = factory.CreateHistogram("detector_grpc_request_duration_seconds",
            "Duration of unary gRPC calls (streaming calls last as long as the client wants), in seconds.",
            ["service", "method"], seconds);

        _modelInfo = factory.CreateGauge("detector_model_info",
            "1, with the served model, its output family and the execution provider in use (CUDA or CPU) as labels.",
            "model", "family", "provider");
        _modelLoad = factory.CreateGauge("detector_model_load_seconds",
            "Time the model took to load, warm-up included, in seconds.", "model");
        _modelReady = factory.CreateGauge("detector_model_ready", "1 once the model is loaded and warm, else 0.");

        Registry.AddBeforeCollectCallback(Refresh);
    }

    /// <summary>This host's metrics, served on /metrics.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>
    /// Hooks into the engine and the stream manager. Registered as a hosted service before the engine, so the
    /// observer is in place before the model starts loading (the pipeline takes it when it is built).
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _engine.Observer = this;
        _engine.Hub.ResultDropped += OnResultDropped;
        _streams.StreamAdded += OnStreamAdded;
        _streams.StreamRemoved += OnStreamRemoved;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _streams.StreamAdded -= OnStreamAdded;
        _streams.StreamRemoved -= OnStreamRemoved;
        _engine.Hub.ResultDropped -= OnResultDropped;
        return Task.CompletedTask;
    }

    void IPipelineObserver.BatchCompleted(int size, double preprocessMs, double inferenceMs, double postprocessMs)
    {
        _batchSize.Observe(size);
        _preprocess.Observe(preprocessMs / 1000);
        _inference.Observe(inferenceMs / 1000);
        _postprocess.Observe(postprocessMs / 1000);
    }

    void IPipelineObserver.FrameFailed(string feedId, Exception error)
    {
        _frameErrors.Inc();
        // API calls' feeds have generated names and no series: only streams are counted by id.
        if (_series.TryGetValue(feedId, out var series))
        {
            series.Failed.Inc();
        }
    }

    /// <summary>Marks a gRPC call as running; dispose the result through <see cref="GrpcCall.Finish"/>.</summary>
    internal GrpcCall StartCall(string fullMethod)
    {
        // "/package.Service/Method": only the services mapped here reach the interceptor, so both parts are bounded.
        var slash = fullMethod.LastIndexOf('/');
        var service = slash > 0 ? fullMethod[1..slash] : "";
        var method = fullMethod[(slash + 1)..];
        var inProgress = _grpcInProgress.WithLabels(service, method);
        inProgress.Inc();
        return new GrpcCall(this, service, method, inProgress, _time.GetTimestamp());
    }

    /// <summary>One gRPC call being measured.</summary>
    internal sealed class GrpcCall(DetectorMetrics owner, string service, string method, Gauge.Child inProgress, long startedAt)
    {
        private readonly Counter.Child _sent = owner._resultsSent.WithLabels(method);

        public void ResultSent() => _sent.Inc();

        public void Finish(global::Grpc.Core.StatusCode code, bool unary)
        {
            inProgress.Dec();
            owner._grpcRequests.WithLabels(service, method, code.ToString()).Inc();
            if (unary)
            {
                owner._grpcDuration.WithLabels(service, method).Observe(owner._time.GetElapsedTime(startedAt).TotalSeconds);
            }
        }
    }

    private void OnResultDropped(Subscription subscription) => _resultsDropped.Inc();

    private void OnStreamAdded(ManagedStream stream)
    {
        var series = new StreamSeries(this, stream);
        _series[stream.Id] = series;
        stream.ResultPublished += series.OnResult;
    }

    private void OnStreamRemoved(ManagedStream stream)
    {
        if (_series.TryRemove(stream.Id, out var series))
        {
            stream.ResultPublished -= series.OnResult;
            series.Remove();
        }
    }

    /// <summary>Copies the counters the streams, the pipeline and the API keep into the metrics, just before a scrape.</summary>
    private void Refresh()
    {
        foreach (var series in _series.Values)
        {
            series.Refresh();
        }

        _streamCount.Set(_series.Count);
        _inFlight.Set(_engine.FramesInFlight);
        _subscribers.Set(_engine.Subscribers);
        _refusedMissingKey.IncTo(_refusals.MissingKey);
        _refusedInvalidKey.IncTo(_refusals.InvalidKey);
        _modelReady.Set(_engine.IsReady ? 1 : 0);
        if (_engine.IsReady && Interlocked.Exchange(ref _modelDescribed, 1) == 0)
        {
            var session = _engine.Session;
            var d = session.Description;
            _modelInfo.WithLabels(d.Name, Grpc.ApiMapping.FamilyName(d.Family), session.ExecutionProvider).Set(1);
            _modelLoad.WithLabels(d.Name).Set(session.LoadTime.TotalSeconds);
        }
    }

    /// <summary>One bucket per size up to 16 frames, powers of two above that.</summary>
    private static double[] BatchBuckets(int maxBatch)
    {
        var buckets = new List<double>();
        for (var b = 1; b <= maxBatch; b = b < 16 ? b + 1 : b * 2)
        {
            buckets.Add(b);
        }

        return [.. buckets];
    }

    /// <summary>The labelled series of one stream; removed with the stream.</summary>
    private sealed class StreamSeries
    {
        private readonly DetectorMetrics _owner;
        private readonly ManagedStream _stream;
        private readonly Counter.Child _received;
        private readonly Counter.Child _processed;
        private readonly Dictionary<string, Counter.Child> _dropped;
        private readonly Gauge.Child _fps;
        private readonly Histogram.Child _latency;
        private readonly Gauge.Child _up;
        private readonly Gauge.Child[] _states;
        private readonly Counter.Child _reconnects;

        public StreamSeries(DetectorMetrics owner, ManagedStream stream)
        {
            _owner = owner;
            _stream = stream;
            var id = stream.Id;
            _received = owner._framesReceived.WithLabels(id);
            _processed = owner._framesProcessed.WithLabels(id);
            _dropped = DropReason.All.ToDictionary(r => r, r => owner._framesDropped.WithLabels(id, r));
            Failed = _dropped[DropReason.Error];
            _fps = owner._processedFps.WithLabels(id);
            _latency = owner._latency.WithLabels(id);
            _up = owner._up.WithLabels(id);
            _states = States.Select(s => owner._state.WithLabels(id, s.ToString().ToLowerInvariant())).ToArray();
            _reconnects = owner._reconnects.WithLabels(id);
        }

        /// <summary>Frames the pipeline failed on; counted as they happen, since no component keeps this count.</summary>
        public Counter.Child Failed { get; }

        public void OnResult(ManagedStream stream, FrameResult result)
        {
            _latency.Observe(Math.Max(0, (_owner._time.GetUtcNow() - result.CaptureTime).TotalSeconds));
            _owner._queueWait.Observe(result.Timings.QueueWaitMs / 1000);
        }

        public void Refresh()
        {
            // Downstream counters first: a frame that moves on while they are read is then at worst counted as still
            // on its way, never as both received-but-missing and processed.
            _processed.IncTo(_stream.FramesProcessed);
            _dropped[DropReason.Stale].IncTo(_stream.Feed.DroppedStale);
            _dropped[DropReason.RateLimit].IncTo(_stream.DroppedForRate);
            var stats = _stream.Video.Stats;
            _dropped[DropReason.QueueFull].IncTo(stats.DroppedStale);
            _dropped[DropReason.DecodeError].IncTo(stats.DroppedDecodeError);
            _dropped[DropReason.Stopped].IncTo(stats.DroppedOnStop);
            _received.IncTo(stats.Received + stats.DroppedDecodeError);
            _reconnects.IncTo(stats.Reconnects);
            _fps.Set(_stream.MeasuredFps);
            var state = _stream.Video.State;
            _up.Set(state == StreamState.Running ? 1 : 0);
            for (var i = 0; i < States.Length; i++)
            {
                _states[i].Set(States[i] == state ? 1 : 0);
            }
        }

        public void Remove()
        {
            _received.Remove();
            _processed.Remove();
            foreach (var child in _dropped.Values)
            {
                child.Remove();
            }

            _fps.Remove();
            _latency.Remove();
            _up.Remove();
            foreach (var child in _states)
            {
                child.Remove();
            }

            _reconnects.Remove();
        }
    }
}
