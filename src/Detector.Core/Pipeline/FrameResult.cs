namespace Detector.Core.Pipeline;

/// <summary>How long one frame spent in each stage, in milliseconds.</summary>
public readonly record struct StageTimings(double QueueWaitMs, double PreprocessMs, double InferenceMs, double PostprocessMs, int BatchSize);

/// <summary>The detections of one frame, with where it came from and what it cost.</summary>
public sealed record FrameResult
{
    /// <summary>The feed that gave the frame: a stream id, or the name of an API call's feed.</summary>
    public required string FeedId { get; init; }

    public required long FrameNumber { get; init; }

    public required DateTimeOffset CaptureTime { get; init; }

    /// <summary>The source's presentation timestamp, when it has one.</summary>
    public TimeSpan? Pts { get; init; }

    public required int FrameWidth { get; init; }

    public required int FrameHeight { get; init; }

    public required IReadOnlyList<Detection> Detections { get; init; }

    public required StageTimings Timings { get; init; }

    /// <summary>When the result was ready to publish.</summary>
    public required DateTimeOffset CompletedTime { get; init; }
}
