using System.Runtime.CompilerServices;

namespace Detector.Core.Inference;

/// <summary>
/// A pinned array whose usable part starts on a page boundary and ends before the array's last page, so the pages it
/// covers hold nothing else. That lets the CUDA driver page-lock exactly those pages (<see cref="CudaHostMemory"/>)
/// without touching a neighbouring object's memory; on a CPU host it is an ordinary pinned array with a few KiB spare.
/// </summary>
internal sealed class PageAlignedBuffer<T>
    where T : unmanaged
{
    internal const int PageSize = 4096;

    private readonly T[] _array;
    private readonly int _offset;

    public PageAlignedBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        var size = Unsafe.SizeOf<T>();
        // One page before (to reach a boundary) and one after (to round the end up to a whole page).
        var spare = 2 * PageSize / size;
        _array = GC.AllocateUninitializedArray<T>(length + spare, pinned: true);
        unsafe
        {
            var address = (nuint)Unsafe.AsPointer(ref _array[0]);
            var misalignment = (int)(address % PageSize);
            _offset = misalignment == 0 ? 0 : (PageSize - misalignment) / size;
        }
    }

    public int Length { get; }

    /// <summary>Bytes from <see cref="Address"/> to the end of the last page the buffer touches.</summary>
    public nuint PageBytes => (nuint)((Length * (long)Unsafe.SizeOf<T>() + PageSize - 1) / PageSize * PageSize);

    /// <summary>Where element 0 lives; a page boundary, fixed for the buffer's life (the array is pinned).</summary>
    public unsafe nint Address => (nint)Unsafe.AsPointer(ref _array[_offset]);

    /// <summary>The whole array's first and one-past-last byte: the pages from <see cref="Address"/> lie inside it.</summary>
    internal unsafe (nint Start, nint End) ArrayBounds =>
        ((nint)Unsafe.AsPointer(ref _array[0]), (nint)Unsafe.AsPointer(ref _array[0]) + _array.Length * Unsafe.SizeOf<T>());

    public Span<T> Span(int start, int length) => _array.AsSpan(_offset + start, length);

    public Memory<T> Memory(int start, int length) => _array.AsMemory(_offset + start, length);
}
