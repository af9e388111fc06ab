namespace Detector.Core.Sources;

/// <summary>The frame size and rate a reader produces.</summary>
/// <param name="FramesPerSecond">The nominal rate when the source states one.</param>
public readonly record struct VideoFormat(int Width, int Height, double? FramesPerSecond)
{
    public override string ToString() =>
        FramesPerSecond is { } fps ? $"{Width}x{Height}@{fps:0.##}" : $"{Width}x{Height}";
}

/// <summary>
/// One connection attempt to a source: open it, read frames until it ends or fails, dispose it.
/// Reconnection is not the reader's business; <see cref="VideoStream"/> makes a new reader for
/// every attempt. Failures are thrown as <see cref="FrameSourceException"/>.
/// </summary>
/// <remarks>
/// Readers block: each stream drives its reader from a thread of its own, so that a busy thread
/// pool (decoding elsewhere, a slow consumer) can never make a camera's frames late. Cancelling
/// the token unblocks any call promptly.
/// </remarks>
public interface IFrameReader : IDisposable
{
    /// <summary>The size of the frames; set once <see cref="Open"/> has returned.</summary>
    VideoFormat Format { get; }

    /// <summary>Frames the source sent that could not be turned into an image (the stream counts them as dropped).</summary>
    long DecodeErrors { get; }

    /// <summary>Connects or opens the file.</summary>
    void Open(CancellationToken cancellationToken);

    /// <summary>The next frame (the caller owns it), or null when the source ended cleanly.</summary>
    Frame? Read(CancellationToken cancellationToken);
}
