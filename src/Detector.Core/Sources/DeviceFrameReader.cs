using OpenCvSharp;

namespace Detector.Core.Sources;

/// <summary>
/// Reads a USB / V4L2 camera (<c>/dev/videoN</c> or an index) through OpenCvSharp. The camera
/// paces itself. Reads run on a worker thread of the reader's own, so a read that blocks in the
/// driver (a camera that hangs, a cable pulled) is abandoned as soon as the caller's token fires;
/// the device is released once the blocked read returns, which V4L2's select() timeout bounds
/// (10 s in OpenCV; set OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT in the environment to change it).
/// </summary>
public sealed class DeviceFrameReader : IFrameReader
{
    private static readonly TimeSpan ReleaseWait = TimeSpan.FromSeconds(12);

    private readonly StreamAddress _address;
    private readonly FramePool _pool;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _request = new(0);
    private readonly ManualResetEventSlim _done = new(false);
    private VideoCapture? _capture;
    private Thread? _worker;
    private Frame? _target;
    private bool _ok;
    private Exception? _error;
    private volatile bool _closing;
    private volatile bool _busy;

    public DeviceFrameReader(StreamAddress address, FramePool pool, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.Kind != SourceKind.Device)
        {
            throw new ArgumentException($"{nameof(DeviceFrameReader)} reads cameras, not {address.Kind} sources.", nameof(address));
        }

        _address = address;
        _pool = pool ?? throw new ArgumentNullException(nameof(pool));
        _time = timeProvider ?? TimeProvider.System;
    }

    public VideoFormat Format { get; private set; }

    public long DecodeErrors => 0;

    /// <summary>The device node this address names: the path itself, or /dev/videoN for an index.</summary>
    public static string DevicePath(StreamAddress address) =>
        address.DeviceIndex is { } index ? $"/dev/video{index}" : address.Value;

    public void Open(CancellationToken cancellationToken)
    {
        var path = DevicePath(_address);
        if (OperatingSystem.IsLinux() && !File.Exists(path))
        {
            // Not permanent: a USB camera can be plugged (back) in, and the stream should pick it up.
            throw new FrameSourceException(StreamErrorKind.NotFound, $"Camera device {path} does not exist (unplugged?).", isPermanent: false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var capture = _address.DeviceIndex is { } index
            ? new VideoCapture(index, VideoCaptureAPIs.V4L2)
            : new VideoCapture(_address.Value, VideoCaptureAPIs.V4L2);
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new FrameSourceException(StreamErrorKind.Unsupported, $"Camera {path} exists but cannot be opened (busy, no permission, or not a capture device).", isPermanent: false);
        }

        var width = (int)capture.Get(VideoCaptureProperties.FrameWidth);
        var height = (int)capture.Get(VideoCaptureProperties.FrameHeight);
        var fps = capture.Get(VideoCaptureProperties.Fps);
        _capture = capture;
        Format = new VideoFormat(Math.Max(width, 1), Math.Max(height, 1), fps is > 0 and < 1000 ? fps : null);
        _worker = new Thread(Work) { IsBackground = true, Name = $"camera {path}" };
        _worker.Start();
    }

    public Frame? Read(CancellationToken cancellationToken)
    {
        if (_capture is null)
        {
            throw new InvalidOperationException("The reader is not open.");
        }

        if (_busy)
        {
            throw new InvalidOperationException("A read that timed out is still blocked in the driver.");
        }

        var frame = _pool.Rent(Format.Width, Format.Height);
        _target = frame;
        _busy = true;
        _done.Reset();
        _request.Release();
        try
        {
            _done.Wait(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The driver still writes into this buffer; the worker gives it back when the read returns.
            throw;
        }

        _busy = false;
        if (_error is { } error)
        {
            frame.Dispose();
            throw new FrameSourceException(StreamErrorKind.Other, $"Camera {DevicePath(_address)} read failed: {error.Message}", isPermanent: false, error);
        }

        if (!_ok || frame.Mat.Empty())
        {
            frame.Dispose();
            // A camera does not end: no frame means it went away.
            throw new FrameSourceException(StreamErrorKind.Disconnected, $"Camera {DevicePath(_address)} stopped delivering frames (unplugged or reset).", isPermanent: false);
        }

        if (frame.Width != Format.Width || frame.Height != Format.Height)
        {
            Format = Format with { Width = frame.Width, Height = frame.Height };
        }

        frame.CaptureTime = _time.GetUtcNow();
        return frame;
    }

    public void Dispose()
    {
        _closing = true;
        if (_worker is { } worker)
        {
            _request.Release();
            if (!worker.Join(ReleaseWait))
            {
                // Stuck in the driver beyond its own timeout: leave the device to the thread rather than free it under it.
                return;
            }
        }

        _capture?.Dispose();
        _capture = null;
        _request.Dispose();
        _done.Dispose();
    }

    private void Work()
    {
        while (true)
        {
            _request.Wait();
            if (_closing)
            {
                if (_busy)
                {
                    _target?.Dispose();
                }

                return;
            }

            var frame = _target!;
            try
            {
                _error = null;
                _ok = _capture!.Read(frame.Mat);
            }
            catch (OpenCVException ex)
            {
                _error = ex;
            }

            _done.Set();
            if (_closing)
            {
                // The caller gave up on this read and is disposing the reader.
                frame.Dispose();
                return;
            }
        }
    }
}
