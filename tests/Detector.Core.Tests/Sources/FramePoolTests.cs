using Detector.Core.Sources;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

public class FramePoolTests
{
    [Test]
    public void A_returned_buffer_is_reused()
    {
        using var pool = new FramePool();

        for (var i = 0; i < 10; i++)
        {
            using var frame = pool.Rent(64, 48);
            Assert.That(frame.Mat.Width, Is.EqualTo(64));
            Assert.That(frame.Mat.Height, Is.EqualTo(48));
            Assert.That(frame.Mat.Channels(), Is.EqualTo(3));
        }

        Assert.That(pool.Stats, Is.EqualTo(new FramePoolStats(Allocated: 1, Outstanding: 0, Idle: 1, Freed: 0)));
    }

    [Test]
    public void Disposing_a_frame_twice_returns_it_once()
    {
        using var pool = new FramePool();
        var frame = pool.Rent(8, 8);

        frame.Dispose();
        frame.Dispose();

        Assert.That(pool.Stats.Outstanding, Is.Zero);
        Assert.That(pool.Stats.Idle, Is.EqualTo(1));
        Assert.That(frame.IsDisposed, Is.True);
        Assert.Throws<ObjectDisposedException>(() => _ = frame.Mat);
    }

    [Test]
    public void A_stale_reference_cannot_return_a_newer_lease()
    {
        using var pool = new FramePool();
        var first = pool.Rent(8, 8);
        first.Dispose();
        using var second = pool.Rent(8, 8);

        first.Dispose();

        Assert.That(second.IsDisposed, Is.False);
        Assert.That(pool.Stats.Outstanding, Is.EqualTo(1));
    }

    [Test]
    public void Buffers_beyond_the_capacity_are_freed()
    {
        using var pool = new FramePool(capacity: 2);
        var frames = Enumerable.Range(0, 5).Select(_ => pool.Rent(8, 8)).ToList();

        frames.ForEach(f => f.Dispose());

        Assert.That(pool.Stats, Is.EqualTo(new FramePoolStats(Allocated: 5, Outstanding: 0, Idle: 2, Freed: 3)));
    }

    [Test]
    public void A_new_size_frees_the_buffers_of_the_old_one()
    {
        using var pool = new FramePool();
        var late = pool.Rent(8, 8);
        pool.Rent(8, 8).Dispose();

        using var frame = pool.Rent(16, 8);
        late.Dispose();

        Assert.That(frame.Width, Is.EqualTo(16));
        Assert.That(pool.Stats, Is.EqualTo(new FramePoolStats(Allocated: 3, Outstanding: 1, Idle: 0, Freed: 2)), "the idle 8x8 buffer when 16x8 came, and the late 8x8 one");
    }

    [Test]
    public void Frames_returned_after_the_pool_is_disposed_are_freed()
    {
        var pool = new FramePool();
        var frame = pool.Rent(8, 8);
        pool.Dispose();

        frame.Dispose();

        Assert.That(pool.Stats, Is.EqualTo(new FramePoolStats(Allocated: 1, Outstanding: 0, Idle: 0, Freed: 1)));
        Assert.Throws<ObjectDisposedException>(() => pool.Rent(8, 8));
    }

    [Test]
    public void Frames_can_come_back_from_many_threads()
    {
        using var pool = new FramePool(capacity: 4);
        var frames = Enumerable.Range(0, 200).Select(_ => pool.Rent(4, 4)).ToList();

        Parallel.ForEach(frames, f => f.Dispose());

        Assert.That(pool.Stats.Outstanding, Is.Zero);
        Assert.That(pool.Stats.Idle + pool.Stats.Freed, Is.EqualTo(200));
    }
}
