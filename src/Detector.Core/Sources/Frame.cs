using OpenCvSharp;

namespace Detector.Core.Sources;

/// <summary>
/// One decoded BGR frame on lease from a <see cref="FramePool"/>. Whoever holds it disposes it
/// exactly once, which gives the buffer back; a second dispose does nothing, and the image cannot
/// be reached after the first.
/// </summary>
public sealed class Frame : IDisposable
{
    private readonly FramePool _pool;
    private Mat? _mat;

    internal Frame(FramePool pool, Mat mat)
    {
        _pool = pool;
        _mat = mat;
    }

    /// <summary>The image: 8-bit BGR, continuous. Valid until the frame is disposed.</summary>
    public Mat Mat => _mat ?? throw new ObjectDisposedException(nameof(Frame), "The frame was returned to its pool.");

    public int Width => Mat.Width;

    public int Height => Mat.Height;

    /// <summary>Position in the stream, counting every frame the source produced (dropped ones too) from 0.</summary>
    public long Number { get; internal set; }

    /// <summary>The presentation timestamp the stream gave this frame, when the source has one.</summary>
    public TimeSpan? Pts { get; internal set; }

    /// <summary>Wall-clock time at which the frame was taken from the decoder.</summary>
    public DateTimeOffset CaptureTime { get; internal set; }

    public bool IsDisposed => Volatile.Read(ref _mat) is null;

    public void Dispose()
    {
        var mat = Interlocked.Exchange(ref _mat, null);
        if (mat is not null)
        {
            _pool.Return(mat);
        }
    }
}
