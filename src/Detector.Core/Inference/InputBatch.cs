namespace Detector.Core.Inference;

/// <summary>
/// The model's input for one run: <see cref="Capacity"/> slots of height x width x 3 bytes (uint8 BGR, NHWC) in one
/// pinned, page-aligned array, so ONNX Runtime reads it in place (and, on CUDA, the driver can page-lock it). Owned
/// by one session; slots are filled by the pre-processor.
/// </summary>
public sealed class InputBatch
{
    private readonly PageAlignedBuffer<byte> _buffer;

    internal InputBatch(int capacity, int height, int width)
    {
        Capacity = capacity;
        Height = height;
        Width = width;
        SlotBytes = height * width * 3;
        _buffer = new PageAlignedBuffer<byte>(capacity * SlotBytes);
    }

    public int Capacity { get; }

    public int Height { get; }

    public int Width { get; }

    public int SlotBytes { get; }

    /// <summary>How many slots the next run uses.</summary>
    public int Count { get; set; }

    public Span<byte> Slot(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Capacity, nameof(index));
        return _buffer.Span(index * SlotBytes, SlotBytes);
    }

    internal PageAlignedBuffer<byte> Buffer => _buffer;

    internal Memory<byte> Memory(int start, int count) => _buffer.Memory(start * SlotBytes, count * SlotBytes);
}

/// <summary>
/// The outputs of one run, in the description's output order, held in arrays that live as long as the session:
/// read them before the next run.
/// </summary>
public sealed class ModelOutputs
{
    private readonly PageAlignedBuffer<float>[] _buffers;
    private readonly int[] _elementsPerImage;

    internal ModelOutputs(IReadOnlyList<int[]> shapesWithoutBatch, int capacity)
    {
        _elementsPerImage = shapesWithoutBatch.Select(s => s.Aggregate(1, (a, b) => a * b)).ToArray();
        _buffers = _elementsPerImage.Select(n => new PageAlignedBuffer<float>(n * capacity)).ToArray();
    }

    public int Count { get; internal set; }

    /// <summary>One image's slice of output <paramref name="output"/>.</summary>
    public ReadOnlySpan<float> Get(int output, int image)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)image, (uint)Count, nameof(image));
        var n = _elementsPerImage[output];
        return _buffers[output].Span(image * n, n);
    }

    internal IReadOnlyList<PageAlignedBuffer<float>> Buffers => _buffers;

    internal Memory<float> Memory(int output, int start, int count)
    {
        var n = _elementsPerImage[output];
        return _buffers[output].Memory(start * n, count * n);
    }
}
