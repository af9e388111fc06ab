namespace Detector.Core.Sources;

/// <summary>Why a connection attempt failed, in categories an operator can act on.</summary>
public enum StreamErrorKind
{
    /// <summary>The address cannot be used at all.</summary>
    InvalidAddress,

    /// <summary>The file, device or stream path does not exist.</summary>
    NotFound,

    /// <summary>The server refused the credentials (RTSP/HTTP 401 or 403).</summary>
    Unauthorized,

    /// <summary>The host could not be reached (refused, no route, unknown name).</summary>
    Unreachable,

    /// <summary>Nothing arrived within the open or read timeout.</summary>
    Timeout,

    /// <summary>The source ended although it is live, or the connection dropped.</summary>
    Disconnected,

    /// <summary>The data is not a video that can be decoded (corrupt, truncated, unknown codec).</summary>
    CorruptInput,

    /// <summary>The frame size changed mid-stream; the reader reopens at the new size.</summary>
    FormatChanged,

    /// <summary>The decoder is missing or unusable (ffmpeg not installed, protocol not compiled in).</summary>
    Unsupported,

    /// <summary>Anything else; the message carries the decoder's own words.</summary>
    Other,

    /// <summary>The frames are larger than the configured limit (<see cref="StreamOptions.MaxFramePixels"/>).</summary>
    TooLarge,
}

/// <summary>
/// A connection attempt failed. <see cref="IsPermanent"/> tells the supervisor whether retrying can
/// help; the message never contains credentials.
/// </summary>
public sealed class FrameSourceException : Exception
{
    public FrameSourceException(StreamErrorKind kind, string message, bool isPermanent, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        IsPermanent = isPermanent;
    }

    public StreamErrorKind Kind { get; }

    /// <summary>True when another attempt would fail the same way, so the stream goes to Failed.</summary>
    public bool IsPermanent { get; }
}
