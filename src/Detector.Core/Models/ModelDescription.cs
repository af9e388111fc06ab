namespace Detector.Core.Models;

/// <summary>
/// Everything the engine needs to know about one model, read once at load and immutable afterwards:
/// how to feed it, how to read its output, and how it is run.
/// </summary>
public sealed record ModelDescription
{
    /// <summary>The model file as given.</summary>
    public required string Path { get; init; }

    /// <summary>Lower-case hex SHA-256 of the file.</summary>
    public required string Sha256 { get; init; }

    /// <summary>A short name for logs and metrics: the manifest's name, else the file name without extension.</summary>
    public required string Name { get; init; }

    /// <summary>Name of the float NCHW image input in the original graph.</summary>
    public required string InputName { get; init; }

    public required int InputWidth { get; init; }

    public required int InputHeight { get; init; }

    public required OutputFamily Family { get; init; }

    public required ColorOrder ColorOrder { get; init; }

    public required float PixelScale { get; init; }

    public required ResizeMode ResizeMode { get; init; }

    public required PadPosition PadPosition { get; init; }

    public required byte PadValue { get; init; }

    public required IReadOnlyList<int> Strides { get; init; }

    public required IReadOnlyList<float[]> Anchors { get; init; }

    public required IReadOnlyList<string> ClassNames { get; init; }

    /// <summary>
    /// The graph outputs in the order the decoder reads them: one for the single-tensor families; for raw heads
    /// reg, obj, cls of each level, smallest stride first.
    /// </summary>
    public required IReadOnlyList<string> OutputNames { get; init; }

    /// <summary>Shape of each output in <see cref="OutputNames"/> order, without the batch dimension.</summary>
    public required IReadOnlyList<int[]> OutputShapes { get; init; }

    public required DescriptionSource Source { get; init; }

    /// <summary>How batches run; set by the inference session once it has tried to make the batch dynamic.</summary>
    public BatchMode BatchMode { get; init; } = BatchMode.ItemByItem;

    /// <summary>
    /// True when one image's result depends on the other images in its batch (dynamic INT8 quantisation computes
    /// one scale over the whole batch tensor): such a model must never be batched across streams silently.
    /// </summary>
    public bool ResultsDependOnBatch { get; init; }

    public int NumClasses => ClassNames.Count;

    public override string ToString() =>
        $"{Name}: {Family}, input {InputWidth}x{InputHeight} {ColorOrder} x{PixelScale:G4} {ResizeMode}" +
        (ResizeMode == ResizeMode.Letterbox ? $"/{PadPosition} pad {PadValue}" : "") +
        $", strides [{string.Join(",", Strides)}], {NumClasses} classes, batch {BatchMode}" +
        (ResultsDependOnBatch ? " (results depend on batch)" : "") + $", described by {Source}";
}
