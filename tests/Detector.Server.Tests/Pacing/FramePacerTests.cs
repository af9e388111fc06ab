using Detector.Server.Streams;

namespace Detector.Server.Tests.Pacing;

public class FramePacerTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    /// <summary>Arrival times of a source at <paramref name="fps"/> for <paramref name="seconds"/>, each off its slot by up to <paramref name="jitterMs"/>.</summary>
    private static IEnumerable<TimeSpan> Arrivals(double fps, double seconds, double jitterMs, int seed = 1, double startMs = 0)
    {
        var rng = new Random(seed);
        for (var k = 0; k < fps * seconds; k++)
        {
            yield return TimeSpan.FromMilliseconds(startMs + k * 1000 / fps + (rng.NextDouble() * 2 - 1) * jitterMs);
        }
    }

    [TestCase(0.0)]
    [TestCase(10.0)]
    [TestCase(30.0)]
    public void A_source_at_the_target_rate_keeps_every_frame_however_its_frames_jitter(double jitterMs)
    {
        // A 10 fps camera at target 10: measuring from the previous frame taken, every frame a little early was
        // dropped, and jitter alone halved the rate.
        var pacer = new FramePacer(Interval);
        var arrivals = Arrivals(10, 60, jitterMs).ToList();
        Assert.That(arrivals.Count(pacer.TryTake), Is.EqualTo(arrivals.Count));
    }

    [TestCase(30, 0.0)]
    [TestCase(30, 10.0)]
    [TestCase(25, 5.0)]
    [TestCase(60, 3.0)]
    public void A_faster_source_is_thinned_to_the_target_rate_and_never_bursts(int fps, double jitterMs)
    {
        var pacer = new FramePacer(Interval);
        var taken = Arrivals(fps, 60, jitterMs).Where(pacer.TryTake).ToList();

        Assert.That(taken, Has.Count.InRange(590, 601), "10 fps over 60 s");
        // No one-second window holds more than the rate allows with half an interval of slack.
        for (var i = 0; i + 11 < taken.Count; i++)
        {
            Assert.That(taken[i + 11] - taken[i], Is.GreaterThan(TimeSpan.FromSeconds(1)), $"12 frames from frame {i} on");
        }
    }

    [Test]
    public void After_a_stall_the_stream_does_not_burst_to_catch_up()
    {
        var pacer = new FramePacer(Interval);
        var before = Arrivals(30, 2, 0).Count(pacer.TryTake);
        // Five seconds with no frame (a camera reconnecting), then 30 fps again.
        var after = Arrivals(30, 1, 0, startMs: 7000).Where(pacer.TryTake).ToList();

        Assert.That(before, Is.InRange(19, 21));
        Assert.That(after, Has.Count.InRange(9, 11), "the first second after the stall");
        Assert.That(after.Zip(after.Skip(1), (a, b) => b - a).Min(), Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(50)));
    }

    [Test]
    public void A_lossless_stream_waits_for_each_slot_exactly()
    {
        var pacer = new FramePacer(Interval);
        var now = TimeSpan.Zero;
        var taken = new List<TimeSpan>();
        for (var k = 0; k < 50; k++)
        {
            now += TimeSpan.FromMilliseconds(3); // decoding a frame of a file is much faster than the target rate
            now += pacer.WaitBeforeNext(now);
            pacer.Took(now);
            taken.Add(now);
        }

        var gaps = taken.Zip(taken.Skip(1), (a, b) => b - a).ToList();
        Assert.That(gaps, Is.All.EqualTo(Interval));
    }

    [Test]
    public void A_zero_interval_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new FramePacer(TimeSpan.Zero));
}
