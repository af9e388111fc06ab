using System.Collections.Concurrent;
using System.Diagnostics;
using Detector.Core.Batching;
using Detector.Core.Inference;
using Detector.Core.Postprocessing;
using Detector.Core.Preprocessing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detector.Core.Pipeline;

/// <summary>What the pipeline reports about each batch, for metrics.</summary>
public interface IPipelineObserver
{
    void BatchCompleted(int size, double preprocessMs, double inferenceMs, double postprocessMs);

    void FrameFailed(string feedId, Exception error);
}

/// <summary>
/// Batches in, results out, in two overlapping stages: while the model runs one batch, the next batch's frames are
/// pre-processed (in parallel, on the pipeline's own worker threads) into a second workspace. Each stage hands over through a bounded channel, and the
/// number of workspaces bounds the frames in flight. Results leave in batch order, so each feed's results stay in
/// frame order. Both stages run on threads of their own with blocking hand-offs: nothing on the frame path waits
/// for a thread-pool thread, which a busy process (many streams, many clients) can run short of.
/// </summary>
public sealed partial class DetectionPipeline : IAsyncDisposable
{
    private readonly ModelSession _session;
    private readonly CrossStreamBatcher _batcher;
    private readonly IPipelineObserver? _observer;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly BlockingCollection<BatchWorkspace> _free = new(new ConcurrentQueue<BatchWorkspace>());
    private readonly BlockingCollection<PreparedBatch> _prepared = new(new ConcurrentQueue<PreparedBatch>(), boundedCapacity: 1);
    private readonly BatchWorkspace[] _workspaces;
    private readonly FramePreprocessor _preprocessor;
    private readonly DetectionPostprocessor _postprocessor;
    private readonly CancellationTokenSource _stop = new();
    // Pre-processes a batch's frames in parallel; threads of its own, like the stages (see WorkerGang).
    private readonly WorkerGang _preprocessWorkers = new(Math.Clamp(Environment.ProcessorCount - 1, 0, 15), "detector preprocess");
    private Task? _running;

    public DetectionPipeline(ModelSession session, CrossStreamBatcher batcher, IPipelineObserver? observer = null,
        ILogger? logger = null, TimeProvider? time = null, int workspacesInFlight = 2)
    {
        if (batcher.Options.MaxBatchSize > session.MaxBatchSize)
        {
            throw new ArgumentException(
                $"The batcher forms batches of {batcher.Options.MaxBatchSize} but the model session takes at most {session.MaxBatchSize}.");
        }

        _session = session;
        _batcher = batcher;
        _observer = observer;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _workspaces = Enumerable.Range(0, Math.Max(1, workspacesInFlight)).Select(_ => session.CreateWorkspace()).ToArray();
        foreach (var w in _workspaces)
        {
            _free.Add(w);
        }

        _preprocessor = new FramePreprocessor(session.Description);
        _postprocessor = new DetectionPostprocessor(session.Description);
    }


    /// <summary>Frames taken into a batch whose results have not been published yet (or that failed).</summary>
    public long FramesInFlight => Interlocked.Read(ref _inFlight);

    private long _inFlight;

    public void Start() => _running ??= Task.WhenAll(
        Dedicated(() => PrepareLoop(_stop.Token), "detector prepare"),
        Dedicated(() => InferLoop(_stop.Token), "detector infer"));

    /// <summary>Runs a stage on a thread of its own (not the pool); the task completes when the stage ends.</summary>
    private static Task Dedicated(Action stage, string name)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try
            {
                stage();
                done.TrySetResult();
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        }) { IsBackground = true, Name = name }.Start();
        return done.Task;
    }

    /// <summary>One batch after pre-processing, waiting for the model.</summary>
    private sealed record PreparedBatch(BatchWorkspace Workspace, Entry[] Entries, int Count, double PreprocessMs, long PreparedAt);

    private struct Entry
    {
        public FeedSlot Feed;
        public long FrameNumber;
        public DateTimeOffset CaptureTime;
        public TimeSpan? Pts;
        public Letterbox Letterbox;
        public long OfferedAt;
        public bool Failed;
    }

    private void PrepareLoop(CancellationToken ct)
    {
        var items = new List<BatchItem>(_batcher.Options.MaxBatchSize);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var workspace = _free.Take(ct);
                items.Clear();
                try
                {
                    _batcher.TakeBatch(items, ct);
                }
                catch (OperationCanceledException)
                {
                    _free.Add(workspace);
                    throw;
                }

                Interlocked.Add(ref _inFlight, items.Count);
                var started = _time.GetTimestamp();
                var entries = new Entry[items.Count];
                _preprocessWorkers.For(items.Count, i =>
                {
                    var item = items[i];
                    entries[i] = new Entry
                    {
                        Feed = item.Feed, FrameNumber = item.Frame.Number, CaptureTime = item.Frame.CaptureTime,
                        Pts = item.Frame.Pts, OfferedAt = item.OfferedAt,
                    };
                    try
                    {
                        entries[i].Letterbox = _preprocessor.Write(item.Frame.Mat, workspace.Input.Slot(i));
                    }
                    catch (Exception e) when (e is ArgumentException or OpenCvSharp.OpenCVException)
                    {
                        // A bad frame is counted and skipped; it never stops the stream or the batch.
                        entries[i].Failed = true;
                        _observer?.FrameFailed(item.Feed.Id, e);
                        Log.FrameFailed(_logger, item.Feed.Id, e.Message);
                    }
                    finally
                    {
                        // The pixels are in the slot now: the frame's buffer can go back to its pool.
                        item.Frame.Dispose();
                    }
                });

                workspace.Input.Count = items.Count;
                var preprocessMs = _time.GetElapsedTime(started).TotalMilliseconds;
                _prepared.Add(new PreparedBatch(workspace, entries, items.Count, preprocessMs, _time.GetTimestamp()), ct);
                items.Clear();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var item in items)
            {
                item.Frame.Dispose();
            }

            _prepared.CompleteAdding();
        }
    }

    private void InferLoop(CancellationToken ct)
    {
        try
        {
            foreach (var batch in _prepared.GetConsumingEnumerable(ct))
            {
                try
                {
                    Process(batch);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.BatchFailed(_logger, batch.Count, e);
                    foreach (var entry in batch.Entries)
                    {
                        _observer?.FrameFailed(entry.Feed.Id, e);
                    }
                }
                finally
                {
                    Interlocked.Add(ref _inFlight, -batch.Count);
                    _free.Add(batch.Workspace);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private void Process(PreparedBatch batch)
    {
        var inferStart = _time.GetTimestamp();
        var outputs = _session.Run(batch.Workspace);
        var inferenceMs = _time.GetElapsedTime(inferStart).TotalMilliseconds;
        var postTotal = 0.0;
        for (var i = 0; i < batch.Count; i++)
        {
            ref readonly var entry = ref batch.Entries[i];
            if (entry.Failed || entry.Feed.IsClosed)
            {
                continue;
            }

            var postStart = _time.GetTimestamp();
            var detections = _postprocessor.Process(outputs, i, entry.Letterbox, entry.Feed.Detection, entry.Feed.ClassFilter);
            var postMs = _time.GetElapsedTime(postStart).TotalMilliseconds;
            postTotal += postMs;
            var queueWaitMs = (inferStart - entry.OfferedAt) * 1000.0 / _time.TimestampFrequency - batch.PreprocessMs;
            entry.Feed.Sink.Publish(new FrameResult
            {
                FeedId = entry.Feed.Id,
                FrameNumber = entry.FrameNumber,
                CaptureTime = entry.CaptureTime,
                Pts = entry.Pts,
                FrameWidth = entry.Letterbox.FrameWidth,
                FrameHeight = entry.Letterbox.FrameHeight,
                Detections = detections,
                Timings = new StageTimings(Math.Max(0, queueWaitMs), batch.PreprocessMs, inferenceMs, postMs, batch.Count),
                CompletedTime = _time.GetUtcNow(),
            });
        }

        _observer?.BatchCompleted(batch.Count, batch.PreprocessMs, inferenceMs, postTotal);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_running is not null)
        {
            try
            {
                await _running.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        while (_prepared.TryTake(out _))
        {
        }

        _prepared.Dispose();
        _free.Dispose();
        _preprocessWorkers.Dispose();

        foreach (var w in _workspaces)
        {
            w.Dispose();
        }

        _stop.Dispose();
    }

    private static partial class Log
    {
        // Debug: a source that sends nothing but broken frames would otherwise log one warning per frame; the
        // service counts these frames in its metrics instead.
        [LoggerMessage(Level = LogLevel.Debug, Message = "Frame of {FeedId} skipped: {Reason}")]
        public static partial void FrameFailed(ILogger logger, string feedId, string reason);

        [LoggerMessage(Level = LogLevel.Error, Message = "Batch of {Count} frames failed")]
        public static partial void BatchFailed(ILogger logger, int count, Exception error);
    }
}
