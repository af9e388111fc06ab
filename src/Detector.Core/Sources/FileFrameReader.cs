using OpenCvSharp;

namespace Detector.Core.Sources;

/// <summary>
/// Reads a video file (mp4, mkv, avi; H.264, HEVC, MJPEG, ...) through OpenCvSharp's bundled
/// FFmpeg. In <see cref="PlaybackMode.Live"/> it releases frames at the file's own rate, like a
/// camera; in <see cref="PlaybackMode.AsFastAsPossible"/> it decodes as fast as it is asked.
/// With <see cref="StreamOptions.Loop"/> it starts over at the end, timestamps still rising.
/// </summary>
public sealed class FileFrameReader : IFrameReader
{
    // Falling this far behind the file's clock (a slow consumer in a hand-off, a busy machine) re-anchors
    // the clock instead of rushing out a burst of late frames.
    private static readonly TimeSpan MaxLag = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(40);
    // OpenCV's CAP_PROP_N_THREADS (open-only, FFmpeg back-end), which OpenCvSharp's enum does not name.
    private const int CapPropNThreads = 70;

    private readonly StreamAddress _address;
    private readonly StreamOptions _options;
    private readonly FramePool _pool;
    private readonly TimeProvider _time;
    private readonly string _name;
    private VideoCapture? _capture;
    private long _expectedFrames;
    private long _framesThisPass;
    private TimeSpan _interval = DefaultInterval;
    private TimeSpan _passOffset;
    private TimeSpan? _lastPts;
    private long _clockAnchor;
    private TimeSpan? _ptsAnchor;

    public FileFrameReader(StreamAddress address, StreamOptions options, FramePool pool, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.Kind != SourceKind.File)
        {
            throw new ArgumentException($"{nameof(FileFrameReader)} reads files, not {address.Kind} sources.", nameof(address));
        }

        _address = address;
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _pool = pool ?? throw new ArgumentNullException(nameof(pool));
        _time = timeProvider ?? TimeProvider.System;
        _name = Path.GetFileName(address.Value);
    }

    public VideoFormat Format { get; private set; }

    public long DecodeErrors { get; private set; }

    public void Open(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!File.Exists(_address.Value))
        {
            throw new FrameSourceException(
                Directory.Exists(_address.Value) ? StreamErrorKind.InvalidAddress : StreamErrorKind.NotFound,
                Directory.Exists(_address.Value) ? $"'{_address.Masked}' is a directory, not a video file." : $"Video file not found: '{_address.Masked}'.",
                isPermanent: true);
        }

        OpenCapture();
        _sizes = FileResolutions.Probe(_address.Value);
        // Most files are probed well within this; a long one goes on being probed while it plays.
        _sizes.Wait(TimeSpan.FromSeconds(2), cancellationToken);
        ThrowIfResolutionChanges();
    }

    private Task<IReadOnlyList<string>?>? _sizes;

    /// <summary>
    /// OpenCV's FFmpeg backend rescales every frame to the size it found on opening, so a file whose resolution
    /// changes mid-way would play on with every box in the wrong pixels. The key-frame sizes ffprobe reports tell;
    /// such a file fails with a clear error instead (network streams read through ffmpeg reopen at the new size).
    /// </summary>
    private void ThrowIfResolutionChanges()
    {
        if (_sizes is { IsCompletedSuccessfully: true } probe && probe.Result is { Count: > 1 } sizes)
        {
            throw new FrameSourceException(StreamErrorKind.FormatChanged,
                $"'{_address.Masked}' changes resolution mid-file ({string.Join(", then ", sizes)}); its frames would be rescaled " +
                $"to the first size and the boxes would be wrong. Re-encode it to one size (ffmpeg -i IN -vf scale={sizes[0].Replace('x', ':')} OUT) or serve it as a stream.",
                isPermanent: true);
        }
    }

    public Frame? Read(CancellationToken cancellationToken)
    {
        ThrowIfResolutionChanges();
        var capture = _capture ?? throw new InvalidOperationException("The reader is not open.");
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var frame = _pool.Rent(Format.Width, Format.Height);
            bool ok;
            try
            {
                ok = capture.Read(frame.Mat);
            }
            catch (OpenCVException ex)
            {
                frame.Dispose();
                throw new FrameSourceException(StreamErrorKind.CorruptInput, $"Decoding '{_name}' failed: {ex.Message}", isPermanent: true, ex);
            }

            if (!ok || frame.Mat.Empty())
            {
                frame.Dispose();
                if (!EndOfPass(cancellationToken))
                {
                    return null;
                }

                capture = _capture!;
                continue;
            }

            _framesThisPass++;
            if (frame.Width != Format.Width || frame.Height != Format.Height)
            {
                // OpenCV decoded a new size into a buffer of its own; the frame is still right, and the next rent
                // asks the pool for the new size.
                Format = Format with { Width = frame.Width, Height = frame.Height };
            }

            var pts = NextPts(capture);
            frame.Pts = pts;
            if (_options.Mode == PlaybackMode.Live)
            {
                try
                {
                    WaitForPresentationTime(pts, cancellationToken);
                }
                catch
                {
                    frame.Dispose();
                    throw;
                }
            }

            frame.CaptureTime = _time.GetUtcNow();
            return frame;
        }
    }

    public void Dispose()
    {
        _capture?.Dispose();
        _capture = null;
    }

    private void OpenCapture()
    {
        _capture?.Dispose();
        var capture = _options.DecoderThreads > 0
            ? new VideoCapture(_address.Value, VideoCaptureAPIs.FFMPEG, [CapPropNThreads, _options.DecoderThreads])
            : new VideoCapture(_address.Value, VideoCaptureAPIs.FFMPEG);
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new FrameSourceException(
                StreamErrorKind.CorruptInput,
                $"Cannot open '{_name}' as a video: the file is not a video, is truncated or corrupt, or uses an unsupported codec.",
                isPermanent: true);
        }

        var width = (int)capture.Get(VideoCaptureProperties.FrameWidth);
        var height = (int)capture.Get(VideoCaptureProperties.FrameHeight);
        if (width <= 0 || height <= 0)
        {
            capture.Dispose();
            throw new FrameSourceException(StreamErrorKind.CorruptInput, $"'{_name}' has no video track with a usable frame size.", isPermanent: true);
        }

        var fps = capture.Get(VideoCaptureProperties.Fps);
        double? rate = fps is > 0 and < 1000 ? fps : null;
        if (rate is { } r)
        {
            _interval = TimeSpan.FromSeconds(1 / r);
        }

        var count = capture.Get(VideoCaptureProperties.FrameCount);
        _expectedFrames = count is > 0 and < long.MaxValue ? (long)count : 0;
        _framesThisPass = 0;
        _capture = capture;
        Format = new VideoFormat(width, height, rate);
    }

    /// <summary>Handles the end of the file: true when looping has re-opened it, false when the stream is over.</summary>
    private bool EndOfPass(CancellationToken cancellationToken)
    {
        if (_framesThisPass == 0)
        {
            DecodeErrors++;
            throw new FrameSourceException(StreamErrorKind.CorruptInput, $"'{_name}' opened but no frame could be decoded from it.", isPermanent: true);
        }

        if (!_options.Loop)
        {
            // The container's frame count is exact for mp4 and an estimate from duration x rate elsewhere, hence the slack.
            var slack = Math.Max(2, _expectedFrames / 50);
            if (_expectedFrames > 0 && _framesThisPass + slack < _expectedFrames)
            {
                throw new FrameSourceException(
                    StreamErrorKind.CorruptInput,
                    $"'{_name}' ended after {_framesThisPass} of {_expectedFrames} frames: the file is truncated or corrupt.",
                    isPermanent: true);
            }

            return false;
        }

        cancellationToken.ThrowIfCancellationRequested();
        _passOffset = (_lastPts ?? TimeSpan.Zero) + _interval;
        OpenCapture();
        return true;
    }

    private TimeSpan NextPts(VideoCapture capture)
    {
        var msec = capture.Get(VideoCaptureProperties.PosMsec);
        var pts = _passOffset + (double.IsFinite(msec) && msec >= 0 ? TimeSpan.FromMilliseconds(msec) : TimeSpan.Zero);
        if (_lastPts is { } last && pts <= last)
        {
            // Some containers report no position; keep timestamps rising at the nominal rate.
            pts = last + _interval;
        }

        _lastPts = pts;
        return pts;
    }

    private void WaitForPresentationTime(TimeSpan pts, CancellationToken cancellationToken)
    {
        if (_ptsAnchor is not { } anchor)
        {
            _ptsAnchor = pts;
            _clockAnchor = _time.GetTimestamp();
            return;
        }

        var due = pts - anchor;
        var elapsed = _time.GetElapsedTime(_clockAnchor);
        var wait = due - elapsed;
        if (wait > TimeSpan.Zero)
        {
            Waits.Delay(_time, wait, cancellationToken);
        }
        else if (-wait > MaxLag)
        {
            _ptsAnchor = pts;
            _clockAnchor = _time.GetTimestamp();
        }
    }
}
