using System.ComponentModel;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detector.Core.Sources;

/// <summary>
/// Reads a network stream (rtsp, rtsps, http(s) MJPEG/HLS, udp) through an ffmpeg process:
/// ffmpeg decodes and writes raw BGR frames to a pipe, read straight into pooled Mats. The frame
/// size comes from ffmpeg's own output header; each frame's timestamp and decoded size from its
/// showinfo log line. When the decoded size changes mid-stream (ffmpeg then scales to the first
/// size) the reader stops with <see cref="StreamErrorKind.FormatChanged"/> so the stream reopens
/// at the real size.
/// </summary>
/// <remarks>
/// The process is killed (with its tree) when the reader is disposed or its token fires, and ffmpeg
/// exits by itself when its stdout closes or its input stalls, so it cannot outlive the stream;
/// see <see cref="ChildProcesses"/> for the parent-death guarantee.
/// </remarks>
public sealed class FfmpegFrameReader : IFrameReader
{
    // ffmpeg writes a frame's showinfo line before the frame itself, so it is normally already parsed when
    // the pixels arrive; this only covers a stderr thread that has not been scheduled yet.
    private static readonly TimeSpan FrameInfoWait = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ExitWait = TimeSpan.FromSeconds(3);
    private const int KeptDiagnostics = 16;
    private const int MaxPendingFrameInfo = 256;

    private readonly StreamAddress _address;
    private readonly StreamOptions _options;
    private readonly FramePool _pool;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _streamId;
    private readonly TaskCompletionSource<VideoFormat> _format = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // showinfo lines not yet matched to a frame; bounded, as a reader that stopped reading must not grow it.
    private readonly Queue<FfmpegLog.FrameInfo> _frameInfo = new();
    private readonly Queue<string> _diagnostics = new();
    private Process? _process;
    private Stream? _stdout;
    private Task? _stderrPump;
    private int _frameBytes;
    private long _framesRead;
    private long _infoBase;
    private long _lastInfoIndex = -1;
    private bool _frameInfoComplete;
    private volatile bool _killed;

    public FfmpegFrameReader(StreamAddress address, StreamOptions options, FramePool pool, ILogger? logger = null, TimeProvider? timeProvider = null, string? streamId = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.Kind != SourceKind.Network)
        {
            throw new ArgumentException($"{nameof(FfmpegFrameReader)} reads network streams, not {address.Kind} sources.", nameof(address));
        }

        _address = address;
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _pool = pool ?? throw new ArgumentNullException(nameof(pool));
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _streamId = streamId ?? address.Masked;
    }

    public VideoFormat Format { get; private set; }

    public long DecodeErrors { get; private set; }

    /// <summary>The ffmpeg process id while it runs; for diagnostics and tests.</summary>
    public int? ProcessId { get; private set; }

    public void Open(CancellationToken cancellationToken)
    {
        var command = FfmpegArguments.Build(_address, _options);
        Process process;
        var starting = ChildProcesses.StartAsync(_options.FfmpegPath, command.Arguments, command.Input);
        try
        {
            process = Waits.Result(starting, cancellationToken);
        }
        catch (Win32Exception ex)
        {
            throw new FrameSourceException(StreamErrorKind.Unsupported, $"Cannot start ffmpeg ('{_options.FfmpegPath}'): {ex.Message}", isPermanent: true, ex);
        }
        catch (OperationCanceledException)
        {
            // Stopped while the launcher thread was still starting ffmpeg: it starts it all the same, and nobody would
            // read or kill that process, which then blocks on its full pipes for as long as the service runs (seen
            // when a stream is removed right after it was added).
            _ = starting.ContinueWith(static t =>
            {
                ChildProcesses.Kill(t.Result, ExitWait);
                t.Result.Dispose();
            }, CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            throw;
        }

        _process = process;
        ProcessId = process.Id;
        _stdout = process.StandardOutput.BaseStream;
        SourcesLog.FfmpegStarted(_logger, _streamId, process.Id);
        _stderrPump = StartStderrPump(process);

        using (cancellationToken.UnsafeRegister(static s => ((FfmpegFrameReader)s!).Kill(), this))
        {
            Format = Waits.Result(_format.Task, cancellationToken);
        }

        var bytes = (long)Format.Width * Format.Height * 3;
        if (bytes > Array.MaxLength)
        {
            throw new FrameSourceException(StreamErrorKind.Unsupported, $"{_address.Masked}: frames of {Format} are too large to read.", isPermanent: true);
        }

        _frameBytes = (int)bytes;
    }

    public Frame? Read(CancellationToken cancellationToken)
    {
        var stdout = _stdout ?? throw new InvalidOperationException("The reader is not open.");
        var frame = _pool.Rent(Format.Width, Format.Height);
        int read;
        try
        {
            // A blocking read: the token kills ffmpeg, which closes the pipe and ends the read.
            using (cancellationToken.UnsafeRegister(static s => ((FfmpegFrameReader)s!).Kill(), this))
            {
                read = ReadFrame(stdout, frame);
            }

            cancellationToken.ThrowIfCancellationRequested();
        }
        catch (IOException)
        {
            read = 0;
        }
        catch
        {
            frame.Dispose();
            throw;
        }

        if (read < _frameBytes)
        {
            frame.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            if (read > 0)
            {
                DecodeErrors++;
            }

            return EndOfStream();
        }

        var info = NextFrameInfo(_framesRead++, cancellationToken);
        if (info is { } i && (i.Width != Format.Width || i.Height != Format.Height))
        {
            // ffmpeg has scaled this frame to the old size; drop it and reopen at the real one.
            frame.Dispose();
            DecodeErrors++;
            throw new FrameSourceException(
                StreamErrorKind.FormatChanged,
                $"{_address.Masked}: the frame size changed from {Format.Width}x{Format.Height} to {i.Width}x{i.Height}; reopening at the new size.",
                isPermanent: false);
        }

        frame.Pts = info?.Pts;
        frame.CaptureTime = _time.GetUtcNow();
        return frame;
    }

    public void Dispose()
    {
        var process = _process;
        if (process is null)
        {
            return;
        }

        _killed = true;
        ChildProcesses.Kill(process, ExitWait);
        DrainStderr();
        if (process.HasExited)
        {
            SourcesLog.FfmpegExited(_logger, _streamId, process.Id, process.ExitCode);
        }

        process.Dispose();
        _process = null;
    }

    private unsafe int ReadFrame(Stream stdout, Frame frame)
    {
        var pixels = new Span<byte>((void*)frame.Mat.Data, _frameBytes);
        return stdout.ReadAtLeast(pixels, _frameBytes, throwOnEndOfStream: false);
    }

    private void Kill()
    {
        _killed = true;
        try
        {
            _process?.Kill(entireProcessTree: true);
        }
        catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // Already exited.
        }
    }

    /// <summary>stdout ended: null when ffmpeg finished cleanly, otherwise the reason it stopped.</summary>
    private Frame? EndOfStream()
    {
        var process = _process!;
        if (!process.WaitForExit(ExitWait))
        {
            // stdout closed but the process lingers: it is of no use any more.
            Kill();
        }

        DrainStderr();
        int? exitCode = process.HasExited ? process.ExitCode : null;
        if (exitCode == 0 && !_killed)
        {
            return null;
        }

        throw FfmpegLog.Classify(Diagnostics(), exitCode, _address.Masked);
    }

    private void DrainStderr()
    {
        if (_stderrPump is { } pump && !pump.Wait(ExitWait))
        {
            // Something else holds ffmpeg's stderr open; the lines read so far will do.
        }
    }

    /// <summary>The showinfo line of frame <paramref name="index"/>; null when it was lost or is late.</summary>
    private FfmpegLog.FrameInfo? NextFrameInfo(long index, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)FrameInfoWait.TotalMilliseconds;
        lock (_frameInfo)
        {
            while (true)
            {
                while (_frameInfo.TryPeek(out var info))
                {
                    if (info.Index > index)
                    {
                        // Its line was lost (the bounded queue overflowed): no timestamp for this frame.
                        return null;
                    }

                    _frameInfo.Dequeue();
                    if (info.Index == index)
                    {
                        return info;
                    }
                }

                var left = deadline - Environment.TickCount64;
                if (_frameInfoComplete || left <= 0 || cancellationToken.IsCancellationRequested)
                {
                    return null;
                }

                Monitor.Wait(_frameInfo, (int)left);
            }
        }
    }

    private void AddFrameInfo(FfmpegLog.FrameInfo info)
    {
        lock (_frameInfo)
        {
            if (_frameInfo.Count == MaxPendingFrameInfo)
            {
                _frameInfo.Dequeue();
            }

            _frameInfo.Enqueue(info);
            Monitor.PulseAll(_frameInfo);
        }
    }

    private void CompleteFrameInfo()
    {
        lock (_frameInfo)
        {
            _frameInfoComplete = true;
            Monitor.PulseAll(_frameInfo);
        }
    }

    /// <summary>
    /// Reads ffmpeg's stderr on a thread of its own: each frame waits for its showinfo line, so this
    /// reader must keep up even when the thread pool is busy with decoding or a slow consumer.
    /// </summary>
    private Task StartStderrPump(Process process)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                PumpStderr(process);
            }
            finally
            {
                done.SetResult();
            }
        })
        {
            IsBackground = true,
            Name = $"ffmpeg stderr {process.Id}",
        };
        thread.Start();
        return done.Task;
    }

    private void PumpStderr(Process process)
    {
        var outputSection = false;
        try
        {
            var stderr = process.StandardError;
            while (stderr.ReadLine() is { } raw)
            {
                if (raw.Contains("Parsed_showinfo", StringComparison.Ordinal))
                {
                    if (FfmpegLog.TryParseFrameInfo(raw, out var info))
                    {
                        AddFrameInfo(info with { Index = NormalizeIndex(info.Index) });
                    }

                    continue;
                }

                var line = _address.Redact(raw);
                if (line.StartsWith("Output #0", StringComparison.Ordinal))
                {
                    outputSection = true;
                }
                else if (outputSection && !_format.Task.IsCompleted && FfmpegLog.TryParseOutputVideo(line, out var format))
                {
                    _format.TrySetResult(format);
                }

                if (FfmpegLog.IsDiagnostic(line))
                {
                    lock (_diagnostics)
                    {
                        if (_diagnostics.Count == KeptDiagnostics)
                        {
                            _diagnostics.Dequeue();
                        }

                        _diagnostics.Enqueue(line);
                    }

                    SourcesLog.FfmpegOutput(_logger, _streamId, line);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The process went away under the reader; what was read is all there is.
        }
        finally
        {
            CompleteFrameInfo();
            if (!_format.Task.IsCompleted)
            {
                int? exitCode = null;
                try
                {
                    if (process.WaitForExit(ExitWait))
                    {
                        exitCode = process.ExitCode;
                    }
                }
                catch (InvalidOperationException)
                {
                    // Exit code unknown; the log lines still say what happened.
                }

                _format.TrySetException(FfmpegLog.Classify(Diagnostics(), exitCode, _address.Masked));
            }
        }
    }

    // showinfo counts from 0 again whenever ffmpeg rebuilds its filter graph; keep one running index.
    private long NormalizeIndex(long n)
    {
        if (n <= _lastInfoIndex - _infoBase && _lastInfoIndex >= 0)
        {
            _infoBase = _lastInfoIndex + 1;
        }

        _lastInfoIndex = _infoBase + n;
        return _lastInfoIndex;
    }

    private List<string> Diagnostics()
    {
        lock (_diagnostics)
        {
            return [.. _diagnostics];
        }
    }
}
