using OpenCvSharp;

namespace Detector.Core.Sources;

/// <summary>Counters of a <see cref="FramePool"/>, read at one moment.</summary>
/// <param name="Allocated">Buffers created since the pool was made.</param>
/// <param name="Outstanding">Frames rented and not yet disposed.</param>
/// <param name="Idle">Buffers waiting in the pool for the next rent.</param>
/// <param name="Freed">Buffers released instead of kept (pool full, size changed, pool disposed).</param>
public readonly record struct FramePoolStats(long Allocated, long Outstanding, int Idle, long Freed);

/// <summary>
/// Reuses frame buffers of one size so a stream allocates nothing per frame once warm. Frames
/// come back through <see cref="Frame.Dispose"/>, from any thread. When the size changes (a new
/// camera mode, a resolution switch) the idle buffers of the old size are freed.
/// </summary>
public sealed class FramePool : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Stack<Mat> _idle = new();
    private readonly int _capacity;
    private int _width;
    private int _height;
    private long _allocated;
    private long _outstanding;
    private long _freed;
    private bool _disposed;

    /// <param name="capacity">Idle buffers kept for reuse; returns beyond it are freed.</param>
    public FramePool(int capacity = 6)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        _capacity = capacity;
    }

    public FramePoolStats Stats
    {
        get
        {
            lock (_lock)
            {
                return new FramePoolStats(_allocated, _outstanding, _idle.Count, _freed);
            }
        }
    }

    /// <summary>A frame of <paramref name="width"/> x <paramref name="height"/> BGR pixels; its content is undefined.</summary>
    public Frame Rent(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        Mat? mat = null;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (width != _width || height != _height)
            {
                FreeIdle();
                _width = width;
                _height = height;
            }

            if (_idle.Count > 0)
            {
                mat = _idle.Pop();
            }

            _outstanding++;
        }

        if (mat is null)
        {
            try
            {
                mat = new Mat(height, width, MatType.CV_8UC3);
            }
            catch
            {
                lock (_lock)
                {
                    _outstanding--;
                }

                throw;
            }

            Interlocked.Increment(ref _allocated);
        }

        return new Frame(this, mat);
    }

    internal void Return(Mat mat)
    {
        lock (_lock)
        {
            _outstanding--;
            // A decoder may have replaced the buffer (OpenCV reallocates when the frame size changes), so check
            // what actually came back before keeping it.
            if (!_disposed && _idle.Count < _capacity && !mat.IsDisposed && mat.Width == _width && mat.Height == _height
                && mat.Type() == MatType.CV_8UC3 && mat.IsContinuous())
            {
                _idle.Push(mat);
                return;
            }

            _freed++;
        }

        mat.Dispose();
    }

    /// <summary>Frees the idle buffers; frames still on lease are freed when they come back.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            FreeIdle();
        }
    }

    private void FreeIdle()
    {
        while (_idle.TryPop(out var mat))
        {
            _freed++;
            mat.Dispose();
        }
    }
}
