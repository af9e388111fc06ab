using System.Buffers;

namespace Detector.Core.Sources;

/// <summary>
/// A <see cref="Memory{T}"/> view of a native buffer (an OpenCV Mat's pixels), so async stream
/// reads can fill a frame in place instead of going through a managed copy. The view must not
/// outlive the buffer; readers create one per read while they hold the frame.
/// </summary>
internal sealed unsafe class NativeMemoryManager(IntPtr pointer, int length) : MemoryManager<byte>
{
    public override Span<byte> GetSpan() => new((void*)pointer, length);

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)elementIndex, (uint)length);
        return new MemoryHandle((byte*)pointer + elementIndex);
    }

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
    }
}
