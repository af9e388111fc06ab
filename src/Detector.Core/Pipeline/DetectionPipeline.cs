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
/// Batches in, results out, in two overlapping stages: while the model runs one batch (or, with
/// <see cref="ModelSession.RunsInFlight"/> above one, several at once, each on an inference thread of its own), the
/// next batch's frames are pre-processed (in parallel, on the pipeline's own worker threads) into a spare workspace.
/// Each stage hands over through a bounded channel, and the number of workspaces bounds the frames in flight.
/// Results leave in batch order even when a later batch finishes first, so each feed's results stay in frame order.
/// Both stages run on threads of their own with blocking hand-offs: nothing on the frame path waits for a
/// thread-pool thread, which a busy process (many streams, many clients) can run short of.
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
    // One per inference thread: a post-processor keeps scratch buffers between frames.
    private readonly DetectionPostprocessor[] _postprocessors;
    private readonly object _publishTurn = new();
    private long _nextToPublish;
    // Batches handed to the inference stage (queued or running) and not yet run: below RunsInFlight the model has a
    // run free, and the batcher need not wait for more frames.
    private int _batchesAtModel;
    // Made once: a lambda written at the call would allocate a delegate for every batch.
    private readonly Func<bool> _modelHasRunFree;
    private readonly CancellationTokenSource _stop = new();
    // Pre-processes a batch's frames in parallel; threads of its own, like the stages (see WorkerGang).
    private readonly WorkerGang _preprocessWorkers = new(Math.Clamp(Environment.ProcessorCount - 1, 0, 15), "detector preprocess");
    private Task? _running;

    public DetectionPipeline(ModelSession session, CrossStreamBatcher batcher, IPipelineObserver? observer = null,
        ILogger? logger = null, TimeProvider? time = null)
    {
        if (batcher.Options.MaxBatchSize > session.MaxBatchSize)
        {
            throw new ArgumentException(
                $"The batcher forms batches of {batcher.Options.MaxBatchSize} but the model session takes at most {session.MaxBatchSize}.");
        }

        _session = session;
        _batcher = batcher;
        _modelHasRunFree = () => Volatile.Read(ref _batchesAtModel) < _session.RunsInFlight;
        _observer = observer;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        // One workspace per run in flight, and one more for the batch being pre-processed meanwhile.
        _workspaces = Enumerable.Range(0, session.RunsInFlight + 1).Select(_ => session.CreateWorkspace()).ToArray();
        foreach (var w in _workspaces)
        {
            _free.Add(w);
        }

        _preprocessor = new FramePreprocessor(session.Description);
        _postprocessors = Enumerable.Range(0, session.RunsInFlight).Select(_ => new DetectionPostprocessor(session.Description)).ToArray();
    }


    /// <summary>Frames taken into a batch whose results have not been published yet (or that failed).</summary>
    public long FramesInFlight => Interlocked.Read(ref _inFlight);

    private long _inFlight;

    // Thread names: Linux keeps the first 15 characters, so the numbers go where they survive ("detector infer2").
    public void Start() => _running ??= Task.WhenAll(
        _postprocessors.Select((post, k) => Dedicated(() => InferLoop(post, _stop.Token), k == 0 ? "detector infer" : $"detector infer{k + 1}"))
            .Prepend(Dedicated(() => PrepareLoop(_stop.Token), "detector prepare")));

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
    private sealed record PreparedBatch(long Sequence, BatchWorkspace Workspace, Entry[] Entries, int Count, double PreprocessMs, long PreparedAt);

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
        var sequence = 0L;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var workspace = _free.Take(ct);
                items.Clear();
                try
                {
                    _batcher.TakeBatch(items, ct, _modelHasRunFree);
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
                Interlocked.Increment(ref _batchesAtModel);
                _prepared.Add(new PreparedBatch(sequence++, workspace, entries, items.Count, preprocessMs, _time.GetTimestamp()), ct);
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

    private void InferLoop(DetectionPostprocessor postprocessor, CancellationToken ct)
    {
        var results = new List<(FeedSlot Feed, FrameResult Result)>(_batcher.Options.MaxBatchSize);
        try
        {
            foreach (var batch in _prepared.GetConsumingEnumerable(ct))
            {
                results.Clear();
                var inferenceMs = 0.0;
                var postTotal = 0.0;
                var failed = false;
                try
                {
                    (inferenceMs, postTotal) = Process(batch, postprocessor, results);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    failed = true;
                    Log.BatchFailed(_logger, batch.Count, e);
                    foreach (var entry in batch.Entries)
                    {
                        _observer?.FrameFailed(entry.Feed.Id, e);
                    }
                }
                finally
                {
                    // The workspace's outputs are copied into the results: the next batch can use it.
                    _free.Add(batch.Workspace);
                    Interlocked.Decrement(ref _batchesAtModel);
                    // A partial batch waiting for its deadline can leave now.
                    _batcher.Signal();
                }

                // A later batch that finished first waits here, so each feed's results leave in frame order.
                if (!WaitForTurn(batch.Sequence, ct))
                {
                    Interlocked.Add(ref _inFlight, -batch.Count);
                }
                else
                {
                    try
                    {
                        foreach (var (feed, result) in results)
                        {
                            try
                            {
                                feed.Sink.Publish(result);
                            }
                            catch (Exception e) when (e is not OperationCanceledException)
                            {
                                // One feed's failing sink must not cost the others their results or stop inference.
                                Log.PublishFailed(_logger, feed.Id, e);
                            }
                        }

                        if (!failed)
                        {
                            _observer?.BatchCompleted(batch.Count, batch.PreprocessMs, inferenceMs, postTotal);
                        }
                    }
                    finally
                    {
                        Interlocked.Add(ref _inFlight, -batch.Count);
                        PassTurn();
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }
    /// <summary>Runs the model on a batch and post-processes every frame into <paramref name="results"/>.</summary>
    private (double InferenceMs, double PostprocessMs) Process(PreparedBatch batch, DetectionPostprocessor postprocessor,
        List<(FeedSlot Feed, FrameResult Result)> results)
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
            var detections = postprocessor.Process(outputs, i, entry.Letterbox, entry.Feed.Detection, entry.Feed.ClassFilter);
            var postMs = _time.GetElapsedTime(postStart).TotalMilliseconds;
            postTotal += postMs;
            var queueWaitMs = (inferStart - entry.OfferedAt) * 1000.0 / _time.TimestampFrequency - batch.PreprocessMs;
            results.Add((entry.Feed, new FrameResult
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
            }));
        }

        return (inferenceMs, postTotal);
    }

    /// <summary>Blocks until every batch before <paramref name="sequence"/> has been published; false when stopping.</summary>
    private bool WaitForTurn(long sequence, CancellationToken ct)
    {
        lock (_publishTurn)
        {
            while (_nextToPublish != sequence)
            {
                if (ct.IsCancellationRequested)
                {
                    return false;
                }

                // A timeout rather than a cancellation callback: the batch ahead is at most one model run away.
                Monitor.Wait(_publishTurn, 50);
            }

            return true;
        }
    }

    private void PassTurn()
    {
        lock (_publishTurn)
        {
            _nextToPublish++;
            Monitor.PulseAll(_publishTurn);
        }
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

        [LoggerMessage(Level = LogLevel.Error, Message = "Publishing a result of {FeedId} failed")]
        public static partial void PublishFailed(ILogger logger, string feedId, Exception error);
    }
}
