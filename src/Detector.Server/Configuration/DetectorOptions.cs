using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Detector.Core.Inference;
using Detector.Core.Sources;

namespace Detector.Server.Configuration;

/// <summary>The service's settings: section "Detector" of appsettings.json, environment variables
/// (<c>Detector__Model__Path</c>) or command-line arguments (<c>--Detector:Model:Path=...</c>).</summary>
public sealed class DetectorOptions
{
    public const string Section = "Detector";

    // [ValidateObjectMembers]: without it the [Range] checks of the sections below are never run (ValidateDataAnnotations
    // looks at this object's own properties only).
    [ValidateObjectMembers]
    public ModelSettings Model { get; set; } = new();

    [ValidateObjectMembers]
    public PipelineSettings Pipeline { get; set; } = new();

    [ValidateObjectMembers]
    public LimitSettings Limits { get; set; } = new();

    [ValidateObjectMembers]
    public EndpointSettings Endpoints { get; set; } = new();

    [ValidateObjectMembers]
    public SecuritySettings Security { get; set; } = new();

    [ValidateObjectMembers]
    public SourceSettings Sources { get; set; } = new();

    [ValidateObjectMembers]
    public LoggingSettings Logging { get; set; } = new();

    /// <summary>Streams started with the service.</summary>
    [ValidateEnumeratedItems]
    public List<StreamSettings> Streams { get; set; } = [];
}

public sealed class ModelSettings
{
    /// <summary>ONNX model to serve; empty looks for yolox-nano in weights/ and ../shared/weights/.</summary>
    public string Path { get; set; } = "";

    /// <summary>Optional model config file (JSON or YAML) for models without metadata or a manifest entry.</summary>
    public string? ConfigPath { get; set; }

    /// <summary>Auto (CUDA if a session can be created on it, else CPU), Cuda, or Cpu.</summary>
    public ExecutionProviderPreference ExecutionProvider { get; set; } = ExecutionProviderPreference.Auto;

    /// <summary>CUDA device ordinal.</summary>
    [Range(0, 64)]
    public int DeviceId { get; set; }

    /// <summary>Largest batch of frames (across streams) one model run takes.</summary>
    [Range(1, 256)]
    public int MaxBatchSize { get; set; } = 8;

    /// <summary>ONNX Runtime's threads for one CPU run; 0 lets it choose (one per core).</summary>
    [Range(0, 256)]
    public int CpuThreads { get; set; }

    /// <summary>Whether ONNX Runtime's CPU threads spin while waiting for work (see docs/BENCHMARKS.md for the trade).</summary>
    public bool CpuSpinning { get; set; } = true;

    /// <summary>
    /// Batches the model runs at once, each from its own thread. 2 by default: a frame then rarely waits for another
    /// stream's batch to finish, each run takes its share of the CPU cores (with no pool threads spinning between
    /// operators), and a GPU computes one batch while the next is copied in. Measured with yolox-nano and 1-3 live
    /// streams, two runs kept the p99 of each frame's wait beyond its own inference at 12 ms or less on 2 and on 16
    /// cores, where one run let it reach 24-176 ms with 2-3 streams, and on 16 cores gave 1.6x the saturated
    /// throughput; one run gives the lowest median latency on a 2-core host, by 3-9 ms (see the README's "Throughput
    /// or latency" and docs/BENCHMARKS.md).
    /// </summary>
    [Range(1, 16)]
    public int RunsInFlight { get; set; } = 2;

    /// <summary>
    /// On CUDA, page-lock the frame and result buffers so the copies to and from the GPU run by DMA (on an H200 raw
    /// throughput 1.6-1.8x at batch 8-64, and 300 cameras at their full rate with p99 under 100 ms; see
    /// docs/gpu/README.md). The buffers, about (RunsInFlight + 1) x MaxBatchSize x 1.7 MB for yolox-nano, stay in RAM.
    /// Ignored on the CPU.
    /// </summary>
    public bool PageLockedBuffers { get; set; } = true;
}

public sealed class PipelineSettings
{
    /// <summary>A batch leaves this long after its first frame arrived even if it is not full, in milliseconds.</summary>
    [Range(0, 1000)]
    public double MaxBatchDelayMs { get; set; } = 10;

    /// <summary>
    /// A partial batch leaves at once when the model has a run free, instead of waiting out MaxBatchDelayMs: no
    /// added latency below saturation, and batches still fill while the model is busy. Off gives fuller batches
    /// on a lightly loaded service at the cost of that wait.
    /// </summary>
    public bool DispatchWhenIdle { get; set; } = true;

    /// <summary>Default minimum confidence, 0-1.</summary>
    [Range(0.0, 1.0)]
    public float Confidence { get; set; } = 0.25f;

    /// <summary>Default NMS IoU threshold, 0-1.</summary>
    [Range(0.0, 1.0)]
    public float Iou { get; set; } = 0.45f;

    /// <summary>Results queued per subscriber before its oldest are dropped.</summary>
    [Range(1, 10_000)]
    public int SubscriberQueue { get; set; } = 32;
}

public sealed class LimitSettings
{
    /// <summary>Streams the service runs at once (from configuration and the API together).</summary>
    [Range(1, 10_000)]
    public int MaxStreams { get; set; } = 64;

    /// <summary>Subscribe calls open at once.</summary>
    [Range(1, 100_000)]
    public int MaxSubscribers { get; set; } = 256;

    /// <summary>Largest gRPC message accepted, in bytes (an encoded image in Detect/DetectFrames).</summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxMessageBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Largest decoded image accepted by Detect/DetectFrames, in pixels.</summary>
    [Range(1, 1_000_000_000)]
    public long MaxImagePixels { get; set; } = 50_000_000;

    /// <summary>
    /// Largest frame a stream may deliver, in pixels (width times height); a source with larger frames fails (state
    /// FAILED, the reason in last_error). 16 MP covers 4K (8.3 MP) and 12 MP cameras; each frame of a stream is held in
    /// a pooled buffer of 3 bytes per pixel.
    /// </summary>
    [Range(1, 1_000_000_000)]
    public long MaxFramePixels { get; set; } = 16_777_216;

    /// <summary>
    /// Most frames per second one stream sends to the model. A larger target_fps is refused; target_fps 0 (the
    /// source's rate) is capped at it, so one fast source cannot take the model from the others. Live sources drop
    /// the frames over it (reason rate_limit); as-fast-as-possible files are read more slowly instead.
    /// </summary>
    [Range(1, 1000)]
    public double MaxStreamFps { get; set; } = 120;
}

public sealed class EndpointSettings
{
    /// <summary>Address Kestrel binds; 127.0.0.1 by default (a single-host install), 0.0.0.0 to serve the network.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>gRPC over cleartext HTTP/2 (h2c).</summary>
    [Range(0, 65535)]
    public int GrpcPort { get; set; } = 50051;

    /// <summary>HTTP/1 endpoint for /metrics and health; 0 disables it.</summary>
    [Range(0, 65535)]
    public int HttpPort { get; set; } = 9090;

    /// <summary>A PFX/PKCS#12 certificate: when set, the gRPC endpoint serves TLS (HTTP/2 negotiated by ALPN).</summary>
    public string? CertificatePath { get; set; }

    /// <summary>Password of <see cref="CertificatePath"/>; prefer the environment variable Detector__Endpoints__CertificatePassword.</summary>
    public string? CertificatePassword { get; set; }
}

/// <summary>
/// Who may call the service. With no API keys (the default) there is no authentication: the service binds 127.0.0.1,
/// so only this host reaches it. Set keys before serving a network (BindAddress 0.0.0.0).
/// </summary>
public sealed class SecuritySettings
{
    /// <summary>
    /// Keys that grant access, at least 16 characters each; a call sends one as <c>authorization: Bearer KEY</c> or
    /// <c>x-api-key: KEY</c>. Give them as environment variables (Detector__Security__ApiKeys__0), not in files.
    /// </summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>With API keys set, /metrics needs a key too (Prometheus sends it with <c>authorization.credentials</c>).</summary>
    public bool ProtectMetrics { get; set; } = true;

    /// <summary>
    /// With API keys set, /readyz needs a key too. Off by default, for probes that cannot send headers; it reveals
    /// only the model's name and how many sources failed. /healthz and the gRPC health service are always open.
    /// </summary>
    public bool ProtectReadiness { get; set; }
}

/// <summary>Which sources a stream may read, for streams from the API and from configuration alike.</summary>
public sealed class SourceSettings
{
    /// <summary>The kinds of source used when <see cref="AllowedSchemes"/> is not set: files, cameras, RTSP and HTTP.</summary>
    public static IReadOnlyList<string> DefaultSchemes { get; } = ["file", "v4l2", "rtsp", "rtsps", "http", "https"];

    /// <summary>
    /// Allowed address schemes, from file (video files), v4l2 (cameras: /dev/videoN or an index), rtsp, rtsps, http,
    /// https and udp; unset means <see cref="DefaultSchemes"/>. udp is left out by default: ffmpeg then listens on a
    /// port of this host for whoever sends to it.
    /// </summary>
    public List<string>? AllowedSchemes { get; set; }

    /// <summary>
    /// Absolute folders video files must be in, after resolving "..", and symbolic links; empty allows any file the
    /// service's user can read (the single-host default). Set it whenever others can reach the service.
    /// </summary>
    public List<string> AllowedFileRoots { get; set; } = [];

    /// <summary>
    /// Threads FFmpeg decodes each stream with (files and network streams); 0 lets FFmpeg choose, one per core, which
    /// with many streams means thousands of threads. Raise it only for a few streams too large for one core.
    /// </summary>
    [Range(0, StreamOptions.MaxDecoderThreads)]
    public int DecoderThreads { get; set; } = 1;

    /// <summary>
    /// Network streams only: ffmpeg input options for hardware decoding, passed as given before <c>-i</c>, e.g.
    /// <c>["-hwaccel", "cuda"]</c> to decode on an NVIDIA GPU (NVDEC) and leave the cores to the rest. Empty (the
    /// default) decodes in software. Frames must come back to system memory, which ffmpeg does unless told
    /// <c>-hwaccel_output_format</c>. Files and V4L2 cameras decode in software regardless.
    /// </summary>
    public List<string> HardwareDecoding { get; set; } = [];
}

/// <summary>Console log format; levels and extra sinks are set in the "Serilog" section.</summary>
public sealed class LoggingSettings
{
    /// <summary>Compact JSON, one object per line with every property (StreamId, RequestId, ...), instead of text.</summary>
    public bool Json { get; set; }

    /// <summary>
    /// Lowest level the console shows; by default whatever the Serilog minimum level lets through. Lets a sink from the
    /// "Serilog" section (a file at Debug, say) see more than the console.
    /// </summary>
    public Serilog.Events.LogEventLevel ConsoleLevel { get; set; } = Serilog.Events.LogEventLevel.Verbose;

    /// <summary>Serilog output template of the text format.</summary>
    public string Template { get; set; } = "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}";
}

public sealed class StreamSettings
{
    [Required]
    public string Id { get; set; } = "";

    [Required]
    public string Url { get; set; } = "";

    public double TargetFps { get; set; }

    public float Confidence { get; set; }

    public List<int> ClassIds { get; set; } = [];

    public bool Loop { get; set; }

    public bool AsFastAsPossible { get; set; }

    public bool RtspUdp { get; set; }
}
