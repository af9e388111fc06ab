using Detector.Core.Preprocessing;

namespace Detector.Core;

/// <summary>One detected object: its class, the model's confidence, and its box in the frame's own pixels.</summary>
public readonly record struct Detection(int ClassId, string Label, float Confidence, BoxF Box);

/// <summary>Thresholds for one detection call.</summary>
public sealed record DetectionOptions
{
    /// <summary>Minimum confidence (objectness x class score where the model has objectness), 0-1.</summary>
    public float Confidence { get; init; } = 0.25f;

    /// <summary>Boxes of the same class overlapping a better one by more than this IoU are suppressed, 0-1.</summary>
    public float Iou { get; init; } = 0.45f;

    /// <summary>Suppress overlapping boxes whatever their class.</summary>
    public bool ClassAgnostic { get; init; }

    /// <summary>At most this many detections per frame, best first.</summary>
    public int MaxDetections { get; init; } = 300;

    /// <summary>Throws <see cref="ArgumentException"/> with a message a person can act on.</summary>
    public void Validate()
    {
        if (!(Confidence is >= 0 and <= 1))
        {
            throw new ArgumentException($"Confidence must be between 0 and 1, got {Confidence}.");
        }

        if (!(Iou is >= 0 and <= 1))
        {
            throw new ArgumentException($"IoU threshold must be between 0 and 1, got {Iou}.");
        }

        if (MaxDetections < 1)
        {
            throw new ArgumentException($"MaxDetections must be at least 1, got {MaxDetections}.");
        }
    }
}
