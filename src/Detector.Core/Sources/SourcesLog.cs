using Microsoft.Extensions.Logging;

namespace Detector.Core.Sources;

/// <summary>
/// Log events of the video sources. Streams are named by id and masked address only; raw URLs
/// never reach a log. Per-frame events are at Debug or below.
/// </summary>
internal static partial class SourcesLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "Stream {StreamId} starting: {SourceKind} source {Address}")]
    public static partial void Starting(ILogger logger, string streamId, SourceKind sourceKind, string address);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Stream {StreamId} running at {Format}")]
    public static partial void Running(ILogger logger, string streamId, VideoFormat format);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Stream {StreamId} reconnecting in {DelaySeconds:0.0} s after {ErrorKind}: {Error}")]
    public static partial void Reconnecting(ILogger logger, string streamId, double delaySeconds, StreamErrorKind errorKind, string error);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Stream {StreamId} hit its restart limit ({Restarts} in {WindowSeconds:0} s); next attempt in {DelaySeconds:0.0} s")]
    public static partial void RestartLimited(ILogger logger, string streamId, int restarts, double windowSeconds, double delaySeconds);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Error, Message = "Stream {StreamId} failed ({ErrorKind}): {Error}")]
    public static partial void Failed(ILogger logger, string streamId, StreamErrorKind errorKind, string error);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "Stream {StreamId} ended after {Frames} frames")]
    public static partial void Ended(ILogger logger, string streamId, long frames);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Information, Message = "Stream {StreamId} stopped")]
    public static partial void Stopped(ILogger logger, string streamId);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "Stream {StreamId} changed resolution from {Previous} to {Current}")]
    public static partial void FormatChanged(ILogger logger, string streamId, VideoFormat previous, VideoFormat current);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Debug, Message = "Stream {StreamId} started ffmpeg, pid {ProcessId}")]
    public static partial void FfmpegStarted(ILogger logger, string streamId, int processId);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Debug, Message = "Stream {StreamId} ffmpeg pid {ProcessId} exited with code {ExitCode}")]
    public static partial void FfmpegExited(ILogger logger, string streamId, int processId, int exitCode);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Debug, Message = "Stream {StreamId} ffmpeg: {Line}")]
    public static partial void FfmpegOutput(ILogger logger, string streamId, string line);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Error, Message = "Stream {StreamId} supervisor crashed")]
    public static partial void SupervisorCrashed(ILogger logger, string streamId, Exception exception);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Error, Message = "Stream {StreamId}: a StateChanged handler threw")]
    public static partial void StateHandlerFailed(ILogger logger, string streamId, Exception exception);
}
