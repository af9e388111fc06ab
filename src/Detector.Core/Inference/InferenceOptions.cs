namespace Detector.Core.Inference;

/// <summary>Which ONNX Runtime execution provider runs the model.</summary>
public enum ExecutionProviderPreference
{
    /// <summary>CUDA when a session can be created on it, otherwise CPU (with a log line saying why).</summary>
    Auto,

    /// <summary>CUDA or fail: for hosts where falling back to the CPU would be an outage in disguise.</summary>
    Cuda,

    Cpu,
}

/// <summary>How a model is loaded and run.</summary>
public sealed record InferenceOptions
{
    public ExecutionProviderPreference ExecutionProvider { get; init; } = ExecutionProviderPreference.Auto;

    /// <summary>CUDA device ordinal.</summary>
    public int DeviceId { get; init; }

    /// <summary>Largest batch one run takes; frames beyond it wait for the next run.</summary>
    public int MaxBatchSize { get; init; } = 8;

    /// <summary>
    /// Threads ONNX Runtime uses inside one CPU run; 0 lets it choose: one per core, or the cores shared out
    /// between the <see cref="RunsInFlight"/> when several runs go at once.
    /// </summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// Batches the model runs at once (each from its own thread, on the one session). More than one keeps a GPU
    /// fed while the host copies the next batch in, and on a CPU lets each run use one core without waiting for
    /// the others at every operator (see docs/BENCHMARKS.md); a run takes longer, so below saturation latency rises.
    /// </summary>
    public int RunsInFlight { get; init; } = 1;

    /// <summary>
    /// Whether ONNX Runtime's CPU threads spin while waiting for work (its default). Spinning wins when inference
    /// has the cores to itself; in a service that also decodes video on the same cores the spinning threads take
    /// CPU from the decoders.
    /// </summary>
    public bool IntraOpSpinning { get; init; } = true;

    /// <summary>
    /// On CUDA, page-lock the input and output buffers (<c>cudaHostRegister</c>), so that the copies to and from the
    /// GPU, which limit a small model's throughput, run by DMA: yolox-nano at batch 32 on an H200 went from 3,273 to
    /// 5,346 images/s (docs/gpu/README.md). Costs the buffers' size in locked host memory. Ignored on the CPU.
    /// </summary>
    public bool PageLockedBuffers { get; init; } = true;

    /// <summary>A model config file (JSON or YAML) describing the model; overrides metadata and manifest.</summary>
    public string? ModelConfigPath { get; init; }

    /// <summary>Batch sizes run once at load so the first real frames are not slow (cuDNN picks algorithms per shape).</summary>
    public IReadOnlyList<int>? WarmupBatchSizes { get; init; }
}
