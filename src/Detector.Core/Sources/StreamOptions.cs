namespace Detector.Core.Sources;

/// <summary>How a stream hands frames to its consumer.</summary>
public enum PlaybackMode
{
    /// <summary>
    /// Like a camera: files play at their native rate, and the consumer always gets the newest frame;
    /// older frames it had no time for are dropped and counted.
    /// </summary>
    Live,

    /// <summary>Files only: decode as fast as the consumer takes frames and drop nothing (batch processing).</summary>
    AsFastAsPossible,
}

/// <summary>The transport ffmpeg asks an RTSP server for.</summary>
public enum RtspTransport
{
    /// <summary>RTP interleaved in the RTSP TCP connection: no packet loss, passes NAT and firewalls.</summary>
    Tcp,

    /// <summary>RTP over UDP: lower latency on a clean LAN, but lost packets become broken frames.</summary>
    Udp,
}

/// <summary>Per-stream settings. Every option has a default that suits a live camera.</summary>
public sealed record StreamOptions
{
    /// <summary>The most decoder threads accepted: FFmpeg's own automatic choice stops at 16, and it warns against more.</summary>
    public const int MaxDecoderThreads = 16;

    /// <summary>Live (newest frame wins) or, for files, as fast as possible without drops.</summary>
    public PlaybackMode Mode { get; init; } = PlaybackMode.Live;

    /// <summary>Files only: start again from the first frame at the end instead of ending the stream.</summary>
    public bool Loop { get; init; }

    /// <summary>RTSP only: TCP (default) or UDP for the media.</summary>
    public RtspTransport RtspTransport { get; init; } = RtspTransport.Tcp;

    /// <summary>
    /// Network streams only: ffmpeg input options for hardware decoding, passed through as given
    /// before <c>-i</c>, e.g. <c>["-hwaccel", "cuda"]</c> on a GPU host. Empty means software decoding.
    /// Decoded frames must come back to system memory (ffmpeg does that unless told
    /// <c>-hwaccel_output_format</c>), since they are read as BGR bytes.
    /// </summary>
    public IReadOnlyList<string> HardwareDecoding { get; init; } = [];

    /// <summary>
    /// Threads FFmpeg decodes one stream with (files and network streams); 0 lets FFmpeg choose, one per core. One is
    /// the default because a camera service decodes many streams at once: FFmpeg's own choice gives each stream a
    /// thread per core: on a 16-core GPU host with 300 cameras that is thousands of decoder threads, which took 3x the
    /// memory and left the model's own threads short of CPU. Raise it (or 0) for a few high-resolution streams that one
    /// core cannot decode in time, or for one file decoded as fast as possible.
    /// </summary>
    public int DecoderThreads { get; init; } = 1;

    /// <summary>The ffmpeg executable for network streams: a name looked up on PATH or a full path.</summary>
    public string FfmpegPath { get; init; } = "ffmpeg";

    /// <summary>How long ffmpeg may probe a network stream before it starts decoding; shorter starts sooner.</summary>
    public TimeSpan AnalyzeDuration { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest time from the start of a connection attempt to its first frame.</summary>
    public TimeSpan OpenTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Network streams and cameras: longest gap between two frames before the connection is
    /// declared dead and re-opened. Must exceed the source's frame interval.
    /// </summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>AsFastAsPossible only: frames decoded ahead of the consumer, which is then made to wait.</summary>
    public int QueueCapacity { get; init; } = 4;

    /// <summary>Idle frame buffers the stream's pool keeps for reuse; more are freed when returned.</summary>
    public int PoolCapacity { get; init; } = 6;

    /// <summary>
    /// Largest frame accepted, in pixels (width times height); 0 means no limit. A source whose frames are larger
    /// fails for good with a <see cref="StreamErrorKind.TooLarge"/> error instead of filling memory with them.
    /// </summary>
    public long MaxFramePixels { get; init; }

    /// <summary>When and how often to reconnect after a failure.</summary>
    public ReconnectOptions Reconnect { get; init; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> when the options cannot work for <paramref name="address"/>.</summary>
    public void Validate(StreamAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (DecoderThreads is < 0 or > MaxDecoderThreads)
        {
            throw new ArgumentException($"Decoder threads must be between 0 (FFmpeg chooses) and {MaxDecoderThreads}, got {DecoderThreads}.");
        }

        if (Mode == PlaybackMode.AsFastAsPossible && address.Kind != SourceKind.File)
        {
            throw new ArgumentException($"Mode {PlaybackMode.AsFastAsPossible} is for files; {address.Kind} sources are live.", nameof(Mode));
        }

        if (Loop && address.Kind != SourceKind.File)
        {
            throw new ArgumentException($"Loop is for files; {address.Kind} sources reconnect instead.", nameof(Loop));
        }

        RequirePositive(OpenTimeout, nameof(OpenTimeout));
        RequirePositive(ReadTimeout, nameof(ReadTimeout));
        if (AnalyzeDuration < TimeSpan.Zero)
        {
            throw new ArgumentException("AnalyzeDuration cannot be negative.", nameof(AnalyzeDuration));
        }

        if (QueueCapacity < 1)
        {
            throw new ArgumentException("QueueCapacity must be at least 1.", nameof(QueueCapacity));
        }

        if (PoolCapacity < 0)
        {
            throw new ArgumentException("PoolCapacity cannot be negative.", nameof(PoolCapacity));
        }

        if (MaxFramePixels < 0)
        {
            throw new ArgumentException("MaxFramePixels cannot be negative.", nameof(MaxFramePixels));
        }

        if (string.IsNullOrWhiteSpace(FfmpegPath))
        {
            throw new ArgumentException("FfmpegPath is empty.", nameof(FfmpegPath));
        }

        Reconnect.Validate();
    }

    internal static void RequirePositive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{name} must be positive.", name);
        }
    }
}

/// <summary>
/// Reconnection after a failure: capped exponential back-off with jitter, plus a restart-rate
/// limit so a source that connects and immediately dies cannot spin.
/// </summary>
public sealed record ReconnectOptions
{
    /// <summary>Wait before the first retry.</summary>
    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The back-off never waits longer than this, so a camera that comes back is picked up soon.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Each consecutive failure multiplies the delay by this.</summary>
    public double Multiplier { get; init; } = 2.0;

    /// <summary>Random spread of each delay, as a fraction (0.2 = ±20%), so many cameras do not retry in lock-step.</summary>
    public double Jitter { get; init; } = 0.2;

    /// <summary>A connection that delivered frames for this long counts as healthy and resets the back-off.</summary>
    public TimeSpan StableAfter { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>At most this many reconnects per <see cref="RestartWindow"/>; further ones wait for the window.</summary>
    public int MaxRestartsPerWindow { get; init; } = 20;

    /// <summary>The sliding window of the restart-rate limit.</summary>
    public TimeSpan RestartWindow { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Give up (state Failed) after this many failed attempts in a row; null retries for ever.</summary>
    public int? MaxConsecutiveFailures { get; init; }

    public void Validate()
    {
        if (InitialDelay < TimeSpan.Zero || MaxDelay < InitialDelay)
        {
            throw new ArgumentException("Reconnect delays must satisfy 0 <= InitialDelay <= MaxDelay.", nameof(InitialDelay));
        }

        if (Multiplier < 1 || double.IsNaN(Multiplier))
        {
            throw new ArgumentException("Reconnect.Multiplier must be at least 1.", nameof(Multiplier));
        }

        if (Jitter is < 0 or >= 1 || double.IsNaN(Jitter))
        {
            throw new ArgumentException("Reconnect.Jitter must be in [0, 1).", nameof(Jitter));
        }

        if (MaxRestartsPerWindow < 1)
        {
            throw new ArgumentException("Reconnect.MaxRestartsPerWindow must be at least 1.", nameof(MaxRestartsPerWindow));
        }

        StreamOptions.RequirePositive(RestartWindow, nameof(RestartWindow));
        if (MaxConsecutiveFailures is < 1)
        {
            throw new ArgumentException("Reconnect.MaxConsecutiveFailures must be at least 1 when set.", nameof(MaxConsecutiveFailures));
        }
    }
}
