using Detector.Core.Inference;

namespace Detector.Core.Tests.Inference;

/// <summary>
/// What page-locking relies on, checked here where no GPU is: every buffer starts on a page boundary and the whole pages
/// it spans lie inside its own array, so registering them cannot pin a neighbour's memory. The registration itself
/// (cudaHostRegister) needs a GPU and is measured in docs/gpu/README.md.
/// </summary>
public class PageLockedBufferTests
{
    private const int Page = PageAlignedBuffer<byte>.PageSize;

    [TestCase(1)]
    [TestCase(4095)]
    [TestCase(4096)]
    [TestCase(416 * 416 * 3 * 8)]
    public void Buffers_start_on_a_page_and_own_every_page_they_touch(int length)
    {
        for (var i = 0; i < 20; i++)
        {
            var bytes = new PageAlignedBuffer<byte>(length);
            var floats = new PageAlignedBuffer<float>(length);
            Check(bytes.Address, bytes.PageBytes, length, bytes.ArrayBounds, First(bytes.Span(0, length)));
            Check(floats.Address, floats.PageBytes, length * 4L, floats.ArrayBounds, First(floats.Span(0, length)));
        }
    }

    [Test]
    public void Spans_and_memory_are_the_same_elements()
    {
        var buffer = new PageAlignedBuffer<float>(10);
        buffer.Span(0, 10).Clear();
        buffer.Span(3, 4).Fill(2.5f);
        Assert.That(buffer.Memory(0, 10).ToArray(), Is.EqualTo(new[] { 0f, 0, 0, 2.5f, 2.5f, 2.5f, 2.5f, 0, 0, 0 }));
    }

    [Test]
    public void A_cpu_session_never_page_locks()
    {
        using var session = ModelSession.Load(Shared.YoloFastestV2,
            new InferenceOptions { ExecutionProvider = ExecutionProviderPreference.Cpu, PageLockedBuffers = true });
        using var workspace = session.CreateWorkspace();
        Assert.That((session.PageLocksBuffers, workspace.IsPageLocked), Is.EqualTo((false, false)));
    }

    [Test]
    public void Without_the_cuda_runtime_page_locking_says_why()
    {
        Assume.That(CudaProbe.FirstMissingLibrary, Is.Not.Null, "this host has CUDA");
        Assert.That(CudaHostMemory.Unavailable, Does.Contain(CudaProbe.RuntimeLibrary));
        Assert.Throws<InvalidOperationException>(() => CudaHostMemory.Register(0, 4096));
    }

    private static void Check(nint address, nuint pageBytes, long usable, (nint Start, nint End) array, nint spanStart)
    {
        Assert.That((long)address % Page, Is.Zero, "starts on a page boundary");
        Assert.That((long)spanStart, Is.EqualTo((long)address), "the spans are the registered memory");
        Assert.That((long)pageBytes % Page, Is.Zero);
        Assert.That((long)pageBytes, Is.GreaterThanOrEqualTo(usable).And.LessThan(usable + Page));
        Assert.That((long)address, Is.GreaterThanOrEqualTo((long)array.Start), "the first page is the array's own");
        Assert.That((long)address + (long)pageBytes, Is.LessThanOrEqualTo((long)array.End), "the last page is the array's own");
    }

    private static unsafe nint First<T>(Span<T> span)
        where T : unmanaged
    {
        fixed (T* p = span)
        {
            return (nint)p;
        }
    }
}
