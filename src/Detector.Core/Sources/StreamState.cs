namespace Detector.Core.Sources;

/// <summary>Where a stream's supervisor is in its life.</summary>
public enum StreamState
{
    /// <summary>First connection attempt, no frame yet.</summary>
    Connecting,

    /// <summary>Frames are arriving.</summary>
    Running,

    /// <summary>The last attempt failed or the source went away; waiting to retry or retrying.</summary>
    Reconnecting,

    /// <summary>A file reached its end (not looping). Final.</summary>
    Ended,

    /// <summary>The source cannot work (bad file, wrong credentials, too many failures). Final.</summary>
    Failed,

    /// <summary>Stopped by its owner. Final.</summary>
    Stopped,
}

/// <summary>One state transition, with the error that caused it when there was one (already masked).</summary>
public sealed class StreamStateChangedEventArgs(StreamState previous, StreamState current, string? error, StreamErrorKind? errorKind) : EventArgs
{
    public StreamState Previous { get; } = previous;

    public StreamState Current { get; } = current;

    public string? Error { get; } = error;

    public StreamErrorKind? ErrorKind { get; } = errorKind;
}

/// <summary>The frame counters of one stream, read at one moment.</summary>
/// <remarks>
/// Every frame taken from the source is either delivered, dropped for a reason, or still pending:
/// <c>Received == Delivered + DroppedStale + DroppedOnStop + Pending</c> once the producer is idle.
/// Decode errors are frames the source sent but that never became an image; they are not in Received.
/// </remarks>
public readonly record struct StreamStats(
    long Received,
    long Delivered,
    long DroppedStale,
    long DroppedDecodeError,
    long DroppedOnStop,
    long Pending,
    long Reconnects,
    long FormatChanges)
{
    /// <summary>All frames lost, whatever the reason.</summary>
    public long Dropped => DroppedStale + DroppedDecodeError + DroppedOnStop;
}
