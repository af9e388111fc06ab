using Detector.Core.Sources;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

public class ReconnectScheduleTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);

    [Test]
    public void The_back_off_doubles_up_to_its_cap()
    {
        var schedule = new ReconnectSchedule(new ReconnectOptions
        {
            InitialDelay = TimeSpan.FromSeconds(0.5), MaxDelay = TimeSpan.FromSeconds(5), Multiplier = 2, Jitter = 0,
        });

        var delays = Enumerable.Range(1, 7).Select(n => schedule.Backoff(n).TotalSeconds);

        Assert.That(delays, Is.EqualTo(new[] { 0.5, 1, 2, 4, 5, 5, 5 }));
        Assert.That(schedule.Backoff(10_000).TotalSeconds, Is.EqualTo(5), "a huge failure count neither overflows nor passes the cap");
    }

    [Test]
    public void Jitter_spreads_delays_within_its_fraction_and_never_past_the_cap()
    {
        var schedule = new ReconnectSchedule(
            new ReconnectOptions { InitialDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(4), Jitter = 0.25 },
            new Random(7));

        var first = Enumerable.Range(0, 500).Select(_ => schedule.Backoff(1).TotalSeconds).ToList();
        var capped = Enumerable.Range(0, 500).Select(_ => schedule.Backoff(9).TotalSeconds).ToList();

        Assert.That(first, Is.All.InRange(0.75, 1.25));
        Assert.That(first.Distinct().Count(), Is.GreaterThan(100), "the delays are spread, not one value");
        Assert.That(capped, Is.All.InRange(3.0, 4.0));
    }

    [Test]
    public void Restarts_beyond_the_rate_limit_wait_for_the_window()
    {
        var schedule = new ReconnectSchedule(new ReconnectOptions
        {
            InitialDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(1), Jitter = 0,
            MaxRestartsPerWindow = 3, RestartWindow = TimeSpan.FromMinutes(1),
        });
        for (var i = 0; i < 3; i++)
        {
            schedule.RecordRestart(T0.AddSeconds(i));
        }

        var delay = schedule.NextDelay(1, T0.AddSeconds(10), out var limited);
        var later = schedule.NextDelay(1, T0.AddSeconds(61), out var limitedLater);

        Assert.That(limited, Is.True);
        Assert.That(delay, Is.EqualTo(TimeSpan.FromSeconds(50)), "the oldest restart (t=0) leaves the window at t=60");
        Assert.That(limitedLater, Is.False);
        Assert.That(later, Is.EqualTo(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public void Invalid_options_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new ReconnectSchedule(new ReconnectOptions { InitialDelay = TimeSpan.FromSeconds(10), MaxDelay = TimeSpan.FromSeconds(1) }));
        Assert.Throws<ArgumentException>(() => new ReconnectSchedule(new ReconnectOptions { Jitter = 1.5 }));
        Assert.Throws<ArgumentException>(() => new ReconnectSchedule(new ReconnectOptions { MaxRestartsPerWindow = 0 }));
    }
}
