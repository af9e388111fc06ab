using OpenCvSharp;

namespace Detector.Core.Sources;

/// <summary>
/// One decoded BGR frame on lease from a <see cref="FramePool"/>. Whoever holds it disposes it
/// exactly once, which gives the buffer back; a second dispose does nothing, and the image cannot
/// be reached after the first.
/// </summary>
public sealed class Frame : IDisposable
{
    private readonly FramePool? _pool;
    private Mat? _mat;

    internal Frame(FramePool? pool, Mat mat)
    {
        _pool = pool;
        _mat = mat;
    }

    /// <summary>
    /// A frame that owns <paramref name="mat"/> outright (an image sent through the API, say): disposing it
    /// disposes the Mat. The Mat must be 8-bit BGR.
    /// </summary>
    public static Frame FromMat(Mat mat, long number = 0) =>
        new(null, mat) { Number = number, CaptureTime = DateTimeOffset.UtcNow };

    /// <summary>The image: 8-bit BGR, continuous. Valid until the frame is disposed.</summary>
    public Mat Mat => _mat ?? throw new ObjectDisposedException(nameof(Frame), "The frame was returned to its pool.");

    public int Width => Mat.Width;

    public int Height => Mat.Height;

    /// <summary>Position in the stream, counting every frame the source produced (dropped ones too) from 0.</summary>
    public long Number { get; set; }

    /// <summary>The presentation timestamp the stream gave this frame, when the source has one.</summary>
    public TimeSpan? Pts { get; internal set; }

    /// <summary>Wall-clock time at which the frame was taken from the decoder.</summary>
    public DateTimeOffset CaptureTime { get; internal set; }

    public bool IsDisposed => Volatile.Read(ref _mat) is null;

    public void Dispose()
    {
        var mat = Interlocked.Exchange(ref _mat, null);
        if (mat is null)
        {
            return;
        }

        if (_pool is null)
        {
            mat.Dispose();
        }
        else
        {
            _pool.Return(mat);
        }
    }
}
