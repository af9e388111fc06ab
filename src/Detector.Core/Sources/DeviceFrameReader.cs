using OpenCvSharp;

namespace Detector.Core.Sources;

/// <summary>
/// Reads a USB / V4L2 camera (<c>/dev/videoN</c> or an index) through OpenCvSharp. The camera
/// paces itself; a read that blocks (a camera that hangs, an unplugged cable) is abandoned when
/// the caller's token fires, and the device is released once the blocked read returns.
/// </summary>
public sealed class DeviceFrameReader : IFrameReader
{
    // How long disposal waits for a blocked read before releasing the device anyway; V4L2's own select()
    // timeout (10 s in OpenCV) bounds the read itself.
    private static readonly TimeSpan ReleaseWait = TimeSpan.FromSeconds(12);

    private readonly StreamAddress _address;
    private readonly FramePool _pool;
    private readonly TimeProvider _time;
    private VideoCapture? _capture;
    private Task? _pendingRead;

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

    public long DecodeErrors { get; private set; }

    /// <summary>The device node this address names: the path itself, or /dev/videoN for an index.</summary>
    public static string DevicePath(StreamAddress address) =>
        address.DeviceIndex is { } index ? $"/dev/video{index}" : address.Value;

    public async ValueTask OpenAsync(CancellationToken cancellationToken)
    {
        var path = DevicePath(_address);
        if (OperatingSystem.IsLinux() && !File.Exists(path))
        {
            // Not permanent: a USB camera can be plugged (back) in, and the stream should pick it up.
            throw new FrameSourceException(StreamErrorKind.NotFound, $"Camera device {path} does not exist (unplugged?).", isPermanent: false);
        }

        var capture = await Task.Run(
            () => _address.DeviceIndex is { } index
                ? new VideoCapture(index, VideoCaptureAPIs.V4L2)
                : new VideoCapture(_address.Value, VideoCaptureAPIs.V4L2),
            cancellationToken).ConfigureAwait(false);
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
    }

    public async ValueTask<Frame?> ReadAsync(CancellationToken cancellationToken)
    {
        var capture = _capture ?? throw new InvalidOperationException("The reader is not open.");
        if (_pendingRead is { IsCompleted: false })
        {
            throw new InvalidOperationException("A read that timed out is still blocked in the driver.");
        }

        var frame = _pool.Rent(Format.Width, Format.Height);
        var read = Task.Run(() => capture.Read(frame.Mat), CancellationToken.None);
        _pendingRead = read;
        bool ok;
        try
        {
            ok = await read.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The driver still writes into this buffer; give it back only when the read has finished.
            _ = read.ContinueWith(static (_, f) => ((Frame)f!).Dispose(), frame, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
        catch (OpenCVException ex)
        {
            frame.Dispose();
            throw new FrameSourceException(StreamErrorKind.Other, $"Camera {DevicePath(_address)} read failed: {ex.Message}", isPermanent: false, ex);
        }

        if (!ok || frame.Mat.Empty())
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

    public async ValueTask DisposeAsync()
    {
        if (_pendingRead is { IsCompleted: false } pending)
        {
            await Task.WhenAny(pending, Task.Delay(ReleaseWait)).ConfigureAwait(false);
        }

        _capture?.Dispose();
        _capture = null;
    }
}
