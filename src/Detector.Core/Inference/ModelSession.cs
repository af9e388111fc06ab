using System.Diagnostics;
using Detector.Core.Graph;
using Detector.Core.Models;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace Detector.Core.Inference;

/// <summary>
/// One ONNX Runtime session per model. At load the graph is rewritten to take uint8 BGR NHWC frames (the cast,
/// colour order, scaling and transpose move into the graph) and, where the export fixed the batch to 1, to take a
/// dynamic batch; the batched graph is then checked against batch-1 runs before it is trusted.
/// </summary>
public sealed partial class ModelSession : IDisposable
{
    /// <summary>Name of the uint8 NHWC input the rewritten graph takes.</summary>
    public const string FrameInputName = "frames";

    private readonly InferenceSession _session;
    private readonly string[] _inputNames = [FrameInputName];
    private readonly string[] _outputNames;
    private readonly RunOptions _runOptions = new();
    private readonly ILogger _logger;
    private int _pageLockFailures;

    private ModelSession(InferenceSession session, ModelDescription description, string provider, int maxBatch, int runsInFlight,
        bool pageLock, ILogger logger)
    {
        RunsInFlight = runsInFlight;
        PageLocksBuffers = pageLock;
        _logger = logger;
        _session = session;
        Description = description;
        ExecutionProvider = provider;
        MaxBatchSize = maxBatch;
        _outputNames = description.OutputNames.ToArray();
    }

    public ModelDescription Description { get; }

    /// <summary>"CUDA" or "CPU": the provider the session was really created on.</summary>
    public string ExecutionProvider { get; }

    /// <summary>Largest number of frames one <see cref="Run"/> takes.</summary>
    public int MaxBatchSize { get; }

    /// <summary>Batches meant to run at once (<see cref="InferenceOptions.RunsInFlight"/>); <see cref="Run"/> is thread-safe
    /// for different workspaces.</summary>
    public int RunsInFlight { get; }

    /// <summary>Whether new workspaces page-lock their buffers (<see cref="InferenceOptions.PageLockedBuffers"/> on CUDA).</summary>
    public bool PageLocksBuffers { get; }

    /// <summary>The ONNX Runtime session itself, for measurements that call it directly (the load generator's probes).</summary>
    internal InferenceSession OrtSession => _session;

    /// <summary>Time from reading the file to the end of the warm-up.</summary>
    public TimeSpan LoadTime { get; private set; }

    /// <summary>Loads, describes, rewrites and warms up a model.</summary>
    /// <exception cref="ModelDescriptionException">The file is missing, not ONNX, or of a layout nobody described.</exception>
    public static ModelSession Load(string path, InferenceOptions? options = null, ILogger? logger = null)
    {
        options ??= new InferenceOptions();
        logger ??= NullLogger.Instance;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatchSize, 1, nameof(options.MaxBatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.RunsInFlight, 1, nameof(options.RunsInFlight));
        var clock = Stopwatch.StartNew();

        var (model, bytes) = ModelDescriber.ReadModelFile(path);
        var description = ModelDescriber.Describe(path, model, bytes, options.ModelConfigPath);
        var batchDependent = BatchDimensionPatcher.HasBatchDependentOps(model);

        var (graphBytes, batchMode, reason) = Rewrite(model, description, batchDependent, options.MaxBatchSize);
        description = description with { BatchMode = batchMode, ResultsDependOnBatch = batchDependent };
        Log.Described(logger, description.ToString(), reason);

        var (session, provider) = CreateSession(graphBytes, options, logger);
        var maxBatch = batchMode == BatchMode.Dynamic ? options.MaxBatchSize : Math.Min(options.MaxBatchSize, 8);
        var pageLock = options.PageLockedBuffers && provider == "CUDA";
        if (pageLock && CudaHostMemory.Unavailable is { } why)
        {
            Log.PageLockFailed(logger, why);
            pageLock = false;
        }

        var result = new ModelSession(session, description, provider, maxBatch, options.RunsInFlight, pageLock, logger);
        result.WarmUp(options.WarmupBatchSizes ?? [1, maxBatch]);
        result.LoadTime = clock.Elapsed;
        // The warm-up made a workspace, so a refused page-lock has shown by now.
        var buffers = pageLock && Volatile.Read(ref result._pageLockFailures) == 0 ? "page-locked" : "pageable";
        Log.Loaded(logger, description.Name, provider, maxBatch, buffers, clock.Elapsed.TotalMilliseconds);
        return result;
    }

    /// <summary>A new set of buffers for one batch in flight.</summary>
    public BatchWorkspace CreateWorkspace() => new(this);

    /// <summary>Runs the model on the first <see cref="InputBatch.Count"/> slots of the workspace's input.</summary>
    public ModelOutputs Run(BatchWorkspace workspace)
    {
        var count = workspace.Input.Count;
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1, "workspace.Input.Count");
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxBatchSize, "workspace.Input.Count");
        if (Description.BatchMode == BatchMode.Dynamic)
        {
            var (inputs, outputs) = workspace.Bind(0, RunSizeFor(count));
            _session.Run(_runOptions, _inputNames, inputs, _outputNames, outputs);
        }
        else
        {
            for (var i = 0; i < count; i++)
            {
                var (inputs, outputs) = workspace.Bind(i, 1);
                _session.Run(_runOptions, _inputNames, inputs, _outputNames, outputs);
            }
        }

        workspace.Outputs.Count = count;
        return workspace.Outputs;
    }

    /// <summary>A workspace could not page-lock its buffers and runs with pageable ones: logged for the first only.</summary>
    internal void PageLockFailed(string error)
    {
        if (Interlocked.Increment(ref _pageLockFailures) == 1)
        {
            Log.PageLockFailed(_logger, error);
        }
    }

    /// <summary>
    /// The batch size a run of <paramref name="count"/> frames really uses. On CUDA every run uses one shape, the
    /// maximum batch: ONNX Runtime's CUDA Conv keeps the cuDNN plan of the last input shape it saw and rebuilds it, on
    /// the calling thread, whenever the shape changes, so batches of varying sizes (a live load's partial batches)
    /// pay that rebuild on nearly every run. Measured on an H200 with 96 live cameras and batches of up to 32: one
    /// batch a second while the inference thread used a whole core, against 10 ms per batch at a steady shape; padding
    /// only to the nearest warmed size (16 or 32) still alternated shapes and still stalled. The padding slots hold
    /// stale pixels whose outputs nobody reads. On the CPU padding would cost real work, so batches run at their own size.
    /// </summary>
    internal int RunSizeFor(int count) => RunSize(count, MaxBatchSize, fixedShape: ExecutionProvider == "CUDA");

    /// <summary>The batch a run of <paramref name="count"/> frames uses: the maximum when the shape is fixed, else the count.</summary>
    internal static int RunSize(int count, int maxBatch, bool fixedShape) => fixedShape ? maxBatch : count;

    /// <summary>Runs each batch size once, so the first live batch does not pay for set-up. On CUDA every run has the
    /// one shape of <see cref="RunSizeFor"/>, so a single warm-up run covers them all.</summary>
    private void WarmUp(IEnumerable<int> batchSizes)
    {
        using var workspace = CreateWorkspace();
        var sizes = batchSizes.Select(s => Math.Clamp(s, 1, MaxBatchSize)).Append(MaxBatchSize)
            .Select(RunSizeFor).Distinct().Order().ToArray();
        foreach (var size in sizes)
        {
            workspace.Input.Count = size;
            Run(workspace);
        }
    }

    /// <summary>
    /// Rewrites the graph for uint8 frames and, when it can be done safely, a dynamic batch. Returns the graph to
    /// run, the batch mode and why.
    /// </summary>
    private static (byte[] Graph, BatchMode Mode, string Reason) Rewrite(ModelProto original, ModelDescription d,
        bool batchDependent, int maxBatch)
    {
        var rgb = d.ColorOrder == ColorOrder.Rgb;
        byte[] WithFrameInput(ModelProto m)
        {
            FrameInputAdapter.PrependFrameInput(m, d.InputName, rgb, d.PixelScale, FrameInputName);
            return m.ToByteArray();
        }

        if (batchDependent)
        {
            return (WithFrameInput(original.Clone()), BatchMode.ItemByItem,
                "frames run one by one: the model quantises its input dynamically, so one image's result would depend on the others in its batch");
        }

        if (maxBatch == 1)
        {
            return (WithFrameInput(original.Clone()), BatchMode.ItemByItem, "maximum batch size is 1");
        }

        try
        {
            var patched = original.Clone();
            var patch = BatchDimensionPatcher.MakeBatchDynamic(patched);
            var graph = WithFrameInput(patched);
            var check = BatchEquivalence.Check(graph, d);
            if (check is not null)
            {
                return (WithFrameInput(original.Clone()), BatchMode.ItemByItem,
                    $"frames run one by one: with a dynamic batch the rows differ from batch-1 runs ({check})");
            }

            return (graph, BatchMode.Dynamic, patch.WasAlreadyDynamic
                ? "the graph takes a dynamic batch"
                : $"the graph was given a dynamic batch ({patch.ReshapesPatched} Reshape nodes patched); batch rows equal batch-1 rows");
        }
        catch (Exception e) when (e is GraphRewriteException or OnnxRuntimeException or InvalidOperationException or NotSupportedException)
        {
            return (WithFrameInput(original.Clone()), BatchMode.ItemByItem,
                $"frames run one by one: the graph could not be given a dynamic batch ({e.Message.Split('\n')[0]})");
        }
    }

    private static (InferenceSession Session, string Provider) CreateSession(byte[] graph, InferenceOptions options, ILogger logger)
    {
        if (options.ExecutionProvider != ExecutionProviderPreference.Cpu && CudaProbe.FirstMissingLibrary is { } missing)
        {
            var reason = $"{missing} cannot be loaded (the CUDA provider needs CUDA 13, cuDNN 9 and driver 580+)";
            if (options.ExecutionProvider == ExecutionProviderPreference.Cuda)
            {
                throw new InvalidOperationException($"The CUDA execution provider could not be created on device {options.DeviceId}: {reason}.");
            }

            Log.CudaUnavailable(logger, options.DeviceId, reason);
        }
        else if (options.ExecutionProvider != ExecutionProviderPreference.Cpu)
        {
            try
            {
                using var cudaOptions = NewSessionOptions(options);
                using var cuda = new OrtCUDAProviderOptions();
                cuda.UpdateOptions(new Dictionary<string, string>
                {
                    ["device_id"] = options.DeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    // cuDNN's exhaustive search costs seconds per new input shape, and a batcher meets many shapes.
                    ["cudnn_conv_algo_search"] = "HEURISTIC",
                });
                cudaOptions.AppendExecutionProvider_CUDA(cuda);
                return (new InferenceSession(graph, cudaOptions), "CUDA");
            }
            catch (OnnxRuntimeException e) when (options.ExecutionProvider == ExecutionProviderPreference.Auto)
            {
                // GetAvailableProviders() lists CUDA even where it cannot load: only creating the session tells.
                Log.CudaUnavailable(logger, options.DeviceId, e.Message.Split('\n')[0]);
            }
            catch (OnnxRuntimeException e)
            {
                throw new InvalidOperationException(
                    $"The CUDA execution provider could not be created on device {options.DeviceId}: {e.Message.Split('\n')[0]}. " +
                    "It needs CUDA 13, cuDNN 9 and driver 580+; use the CPU provider or Auto to fall back.", e);
            }
        }

        using var cpuOptions = NewSessionOptions(options);
        return (new InferenceSession(graph, cpuOptions), "CPU");
    }

    internal static SessionOptions NewSessionOptions(InferenceOptions options)
    {
        var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (IntraOpThreadsFor(options, Environment.ProcessorCount) is { } threads)
        {
            so.IntraOpNumThreads = threads;
        }

        if (!options.IntraOpSpinning)
        {
            so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        }

        return so;
    }

    /// <summary>
    /// The intra-op thread count to set, or null to let ONNX Runtime choose (one per core). Several runs in flight
    /// share the cores out: each run's operators then wait only for their own threads, not for a thread that a
    /// concurrent run (or a decoder) has taken the core from.
    /// </summary>
    internal static int? IntraOpThreadsFor(InferenceOptions options, int cores) =>
        options.IntraOpThreads > 0 ? options.IntraOpThreads
        : options.RunsInFlight > 1 ? Math.Max(1, cores / options.RunsInFlight)
        : null;

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Information, Message = "Model {Description}; {BatchReason}")]
        public static partial void Described(ILogger logger, string description, string batchReason);

        [LoggerMessage(Level = LogLevel.Information, Message = "Model {Model} loaded on {Provider}, max batch {MaxBatch}, {Buffers} buffers, in {Milliseconds:F0} ms (warm-up included)")]
        public static partial void Loaded(ILogger logger, string model, string provider, int maxBatch, string buffers, double milliseconds);

        [LoggerMessage(Level = LogLevel.Warning, Message = "CUDA execution provider unavailable on device {DeviceId}, running on CPU: {Reason}")]
        public static partial void CudaUnavailable(ILogger logger, int deviceId, string reason);

        [LoggerMessage(Level = LogLevel.Warning, Message = "Buffers not page-locked, GPU copies go through pageable memory: {Reason}")]
        public static partial void PageLockFailed(ILogger logger, string reason);
    }
}
