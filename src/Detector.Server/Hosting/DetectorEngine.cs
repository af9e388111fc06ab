using Detector.Core;
using Detector.Core.Batching;
using Detector.Core.Inference;
using Detector.Core.Pipeline;
using Detector.Server.Configuration;
using Microsoft.Extensions.Options;

namespace Detector.Server.Hosting;

/// <summary>
/// Owns the model and the shared pipeline: one ONNX Runtime session, the cross-stream batcher that every feed
/// (camera streams and API calls alike) offers frames to, the pipeline and the hub that fans results out.
/// The model loads in the background at start-up; until it is warm every request is answered Unavailable and
/// the health service says NOT_SERVING.
/// </summary>
public sealed partial class DetectorEngine(IOptions<DetectorOptions> options, ILogger<DetectorEngine> logger, TimeProvider time)
    : IHostedService, IAsyncDisposable
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ModelSession? _session;
    private DetectionPipeline? _pipeline;
    private Task? _loading;

    public DetectorOptions Options { get; } = options.Value;

    public bool IsReady => _ready.Task.IsCompletedSuccessfully;

    /// <summary>Completes when the model is warm; faults when it could not be loaded.</summary>
    public Task Ready => _ready.Task;

    public string? LoadError { get; private set; }

    private int _subscribers;

    /// <summary>Subscribe calls open now.</summary>
    public int Subscribers => Volatile.Read(ref _subscribers);

    /// <summary>Counts a new subscriber unless the limit is reached.</summary>
    public bool TryAddSubscriber()
    {
        if (Interlocked.Increment(ref _subscribers) <= Options.Limits.MaxSubscribers)
        {
            return true;
        }

        Interlocked.Decrement(ref _subscribers);
        return false;
    }

    public void RemoveSubscriber() => Interlocked.Decrement(ref _subscribers);

    public ModelSession Session => _session ?? throw NotReady();

    public CrossStreamBatcher Batcher { get; private set; } = null!;

    /// <summary>Frames in a batch that is being pre-processed, run or post-processed now.</summary>
    public long FramesInFlight => _pipeline?.FramesInFlight ?? 0;

    public ResultHub Hub { get; } = new(options.Value.Pipeline.SubscriberQueue);

    public DetectionOptions DefaultDetection => new()
    {
        Confidence = Options.Pipeline.Confidence,
        Iou = Options.Pipeline.Iou,
    };

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (MallocArenas.Advice() is { } advice)
        {
            Log.MallocArenasUncapped(logger, advice);
        }

        // On a thread of its own named for ONNX Runtime: the runtime's CPU pool threads, created while the session
        // loads, inherit the name, so `top -H` and the load generator show inference as "onnxruntime" instead of
        // as a thread-pool worker.
        var loaded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            Load();
            loaded.TrySetResult();
        }) { IsBackground = true, Name = "onnxruntime" }.Start();
        _loading = loaded.Task;
        return Task.CompletedTask;
    }

    private void Load()
    {
        try
        {
            var m = Options.Model;
            var path = ModelLocator.Resolve(m.Path);
            _session = ModelSession.Load(path, new InferenceOptions
            {
                ExecutionProvider = m.ExecutionProvider,
                DeviceId = m.DeviceId,
                MaxBatchSize = m.MaxBatchSize,
                ModelConfigPath = m.ConfigPath,
                IntraOpThreads = m.CpuThreads,
                IntraOpSpinning = m.CpuSpinning,
                RunsInFlight = m.RunsInFlight,
                PageLockedBuffers = m.PageLockedBuffers,
                // The first run of each input shape pays for set-up: warm the sizes a busy batcher forms most, powers
                // of two and the maximum (on CUDA every run has the maximum's shape, so that one run is all it warms).
                WarmupBatchSizes = Enumerable.Range(0, 10).Select(i => 1 << i).Where(b => b < m.MaxBatchSize).Append(m.MaxBatchSize).ToArray(),
            }, logger);
            Batcher = new CrossStreamBatcher(new BatcherOptions
            {
                MaxBatchSize = _session.MaxBatchSize,
                MaxBatchDelay = TimeSpan.FromMilliseconds(Options.Pipeline.MaxBatchDelayMs),
                DispatchWhenIdle = Options.Pipeline.DispatchWhenIdle,
            }, time);
            _pipeline = new DetectionPipeline(_session, Batcher, Observer, logger, time);
            _pipeline.Start();
            _ready.TrySetResult();
        }
        catch (Exception e)
        {
            LoadError = e.Message;
            Log.LoadFailed(logger, e.Message);
            _ready.TrySetException(e);
        }
    }

    /// <summary>Receives batch and failure reports; set before start-up completes (metrics hook in here).</summary>
    public IPipelineObserver? Observer { get; set; }

    public DetectorException NotReady() => new(DetectorErrorKind.Unavailable,
        LoadError is null
            ? "The model is still loading; retry in a few seconds (the health service says SERVING when ready)."
            : $"The model could not be loaded: {LoadError}");

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_pipeline is not null)
        {
            await _pipeline.DisposeAsync().ConfigureAwait(false);
            _pipeline = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _session?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Critical, Message = "Model could not be loaded: {Reason}")]
        public static partial void LoadFailed(ILogger logger, string reason);

        [LoggerMessage(Level = LogLevel.Warning, Message = "{Advice}")]
        public static partial void MallocArenasUncapped(ILogger logger, string advice);
    }
}
