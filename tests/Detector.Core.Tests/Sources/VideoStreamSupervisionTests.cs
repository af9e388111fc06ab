using Detector.Core.Sources;
using Microsoft.Extensions.Time.Testing;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

/// <summary>The supervisor's rules, on scripted readers and fake time: nothing here sleeps for real.</summary>
public class VideoStreamSupervisionTests
{
    private static readonly StreamAddress Camera = StreamAddress.Parse("rtsp://admin:pw123456@cam.local/stream");
    private static readonly StreamAddress File = StreamAddress.Parse("/videos/scripted.mp4");
    private static readonly TimeSpan Tolerance = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan RealWait = TimeSpan.FromSeconds(10);

    private static StreamOptions Options(ReconnectOptions? reconnect = null) => new()
    {
        OpenTimeout = TimeSpan.FromSeconds(10),
        ReadTimeout = TimeSpan.FromSeconds(3),
        Reconnect = reconnect ?? new ReconnectOptions { InitialDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(3), Jitter = 0 },
    };

    private static VideoStream Stream(StreamAddress address, StreamOptions options, FakeTimeProvider time, ScriptedSource source) =>
        new("cam-1", address, options, logger: null, time, source.Create, new Random(1));

    [Test]
    public async Task Failed_attempts_are_retried_with_capped_exponential_back_off()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(time, Attempt.FailsToOpen(), Attempt.FailsToOpen(), Attempt.FailsToOpen(), Attempt.FailsToOpen(),
            Attempt.Delivers(1) with { ThenHang = true });
        await using var stream = Stream(Camera, Options(), time, source);

        stream.Start();
        await time.StepUntilAsync(() => stream.State == StreamState.Running, TimeSpan.FromSeconds(30), "the fifth attempt to deliver");

        var gaps = Enumerable.Range(1, 4).Select(n => source.Log[n + 1].Opened - source.Log[n].Ended!.Value).ToList();
        var expected = new[] { 1.0, 2.0, 3.0, 3.0 };
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.That(gaps[i], Is.InRange(TimeSpan.FromSeconds(expected[i]), TimeSpan.FromSeconds(expected[i]) + Tolerance), $"gap before attempt {i + 2}");
        }

        Assert.That(stream.Stats.Reconnects, Is.EqualTo(4));
    }

    [Test]
    public async Task A_permanent_error_fails_the_stream_at_once()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(time, Attempt.FailsToOpen(StreamErrorKind.Unauthorized, permanent: true));
        await using var stream = Stream(Camera, Options(), time, source);

        stream.Start();
        await Eventually.StateAsync(stream, StreamState.Failed, RealWait);
        time.Advance(TimeSpan.FromMinutes(1));

        Assert.That(source.Attempts, Is.EqualTo(1));
        Assert.That(stream.LastErrorKind, Is.EqualTo(StreamErrorKind.Unauthorized));
        Assert.That(await stream.ReadAsync(), Is.Null, "a failed stream tells its consumer it is over");
    }

    [Test]
    public async Task A_source_that_stops_sending_is_reconnected_after_the_read_timeout()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(time, Attempt.Delivers(3) with { ThenHang = true }, Attempt.Delivers(1) with { ThenHang = true });
        await using var stream = Stream(Camera, Options(), time, source);
        var states = new List<StreamState>();
        stream.StateChanged += (_, e) => states.Add(e.Current);

        stream.Start();
        await Eventually.StateAsync(stream, StreamState.Running, RealWait);
        var lastFrame = time.GetUtcNow();
        await time.StepUntilAsync(() => stream.State == StreamState.Reconnecting, TimeSpan.FromSeconds(10), "the stall to be noticed");

        Assert.That(time.GetUtcNow() - lastFrame, Is.InRange(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3) + Tolerance));
        Assert.That(stream.LastErrorKind, Is.EqualTo(StreamErrorKind.Timeout));
        Assert.That(stream.LastError, Does.Contain("no frame for 3 s"));
        await time.StepUntilAsync(() => stream.State == StreamState.Running, TimeSpan.FromSeconds(5), "the reconnect");
        Assert.That(states, Is.EqualTo(new[] { StreamState.Running, StreamState.Reconnecting, StreamState.Running }));
    }

    [Test]
    public async Task A_source_that_never_answers_times_out_on_open()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(time, new Attempt { OpenHangs = true });
        await using var stream = Stream(Camera, Options() with { OpenTimeout = TimeSpan.FromSeconds(4) }, time, source);

        stream.Start();
        await time.StepUntilAsync(() => stream.State == StreamState.Reconnecting, TimeSpan.FromSeconds(10), "the open timeout");

        Assert.That(time.GetUtcNow() - source.Log[1].Opened, Is.InRange(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(4) + Tolerance));
        Assert.That(stream.LastError, Does.Contain("no frame within 4 s"));
        Assert.That(stream.LastError, Does.Not.Contain("pw123456"));
    }

    [Test]
    public async Task The_stream_gives_up_after_the_configured_number_of_failures()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(time, Attempt.FailsToOpen());
        var options = Options(new ReconnectOptions { InitialDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(1), Jitter = 0, MaxConsecutiveFailures = 3 });
        await using var stream = Stream(Camera, options, time, source);

        stream.Start();
        await time.StepUntilAsync(() => stream.State == StreamState.Failed, TimeSpan.FromSeconds(10), "the stream to give up");

        Assert.That(source.Attempts, Is.EqualTo(3));
        Assert.That(stream.LastError, Does.StartWith("Gave up after 3 failed attempts in a row"));
        Assert.That(stream.LastErrorKind, Is.EqualTo(StreamErrorKind.Unreachable));
    }

    [Test]
    public async Task A_connection_that_ran_long_enough_resets_the_back_off()
    {
        var time = new FakeTimeProvider();
        var stable = Attempt.Delivers(10) with { FrameInterval = TimeSpan.FromSeconds(0.5), ThenError = new FrameSourceException(StreamErrorKind.Disconnected, "dropped", false) };
        var source = new ScriptedSource(time, Attempt.FailsToOpen(), Attempt.FailsToOpen(), stable, Attempt.Delivers(1) with { ThenHang = true });
        var options = Options(new ReconnectOptions
        {
            InitialDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(8), Jitter = 0, StableAfter = TimeSpan.FromSeconds(4),
        });
        await using var stream = Stream(Camera, options, time, source);

        stream.Start();
        await time.StepUntilAsync(() => source.Attempts == 4 && stream.State == StreamState.Running, TimeSpan.FromSeconds(30), "the fourth attempt");

        Assert.That(source.Log[3].Opened - source.Log[2].Ended!.Value, Is.InRange(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2) + Tolerance), "second retry doubles");
        Assert.That(source.Log[4].Opened - source.Log[3].Ended!.Value, Is.InRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1) + Tolerance), "after 4.5 s of frames the back-off starts over");
    }

    [Test]
    public async Task A_source_that_keeps_dying_right_after_connecting_is_held_to_the_restart_limit()
    {
        var time = new FakeTimeProvider();
        // Each attempt delivers a frame (so it "connected") and dies at once: without a limit this would spin.
        var flapping = Attempt.Delivers(1) with { ThenError = new FrameSourceException(StreamErrorKind.FormatChanged, "size changed", false) };
        var source = new ScriptedSource(time, flapping);
        var options = Options(new ReconnectOptions
        {
            InitialDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(1), Jitter = 0, MaxRestartsPerWindow = 3, RestartWindow = TimeSpan.FromSeconds(30),
        });
        await using var stream = Stream(Camera, options, time, source);

        stream.Start();
        await time.StepUntilAsync(() => source.Attempts >= 5, TimeSpan.FromSeconds(90), () => $"five attempts (now {source.Attempts}, {stream.State}, {stream.LastError}, {stream.Stats})");

        Assert.That(source.Log[4].Opened - source.Log[1].Opened, Is.LessThan(TimeSpan.FromSeconds(1)), "format changes reopen at once while under the limit");
        Assert.That(source.Log[5].Opened - source.Log[2].Opened, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(30)), "then one restart per window slot");
    }

    [Test]
    public async Task A_live_consumer_gets_the_newest_frame_and_every_other_frame_is_counted_as_stale()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(time, Attempt.Delivers(50));
        await using var stream = Stream(File, Options(), time, source);

        stream.Start();
        await Eventually.StateAsync(stream, StreamState.Ended, RealWait);
        using var frame = await stream.ReadAsync();
        var last = await stream.ReadAsync();

        Assert.That(frame!.Number, Is.EqualTo(49));
        Assert.That(last, Is.Null);
        Assert.That(stream.Stats, Is.EqualTo(new StreamStats(Received: 50, Delivered: 1, DroppedStale: 49, DroppedDecodeError: 0, DroppedOnStop: 0, Pending: 0, Reconnects: 0, FormatChanges: 0)));
    }

    [Test]
    public async Task As_fast_as_possible_delivers_every_frame_in_order()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(time, Attempt.Delivers(50));
        await using var stream = Stream(File, Options() with { Mode = PlaybackMode.AsFastAsPossible, QueueCapacity = 2 }, time, source);

        stream.Start();
        var numbers = new List<long>();
        await foreach (var frame in stream.ReadAllAsync())
        {
            numbers.Add(frame.Number);
            frame.Dispose();
            await Task.Yield();
        }

        Assert.That(numbers, Is.EqualTo(Enumerable.Range(0, 50).Select(i => (long)i)));
        Assert.That(stream.Stats.Dropped, Is.Zero);
        Assert.That(stream.State, Is.EqualTo(StreamState.Ended));
        Assert.That(stream.Pool.Stats.Allocated, Is.LessThanOrEqualTo(4), "queue of 2 + one being written + one with the consumer");
    }

    private sealed class RecordingTarget : IFrameTarget
    {
        public readonly List<(long Number, string? Thread)> Frames = [];

        public void Accept(Frame frame, CancellationToken stop)
        {
            lock (Frames)
            {
                Frames.Add((frame.Number, Thread.CurrentThread.Name));
            }

            frame.Dispose();
        }
    }

    [Test]
    public async Task A_target_gets_every_frame_in_order_on_the_streams_own_thread()
    {
        // The service's hand-off: no queue to drop from, and no pool thread between the decoder and the batcher.
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(time, Attempt.Delivers(50));
        await using var stream = Stream(File, Options(), time, source);
        var target = new RecordingTarget();

        stream.Start(target);
        await Eventually.StateAsync(stream, StreamState.Ended, RealWait);

        Assert.That(target.Frames.Select(f => f.Number), Is.EqualTo(Enumerable.Range(0, 50).Select(i => (long)i)));
        Assert.That(target.Frames.Select(f => f.Thread).Distinct(), Is.EqualTo(new[] { "stream cam-1" }));
        Assert.That(stream.Stats, Is.EqualTo(new StreamStats(Received: 50, Delivered: 50, DroppedStale: 0, DroppedDecodeError: 0, DroppedOnStop: 0, Pending: 0, Reconnects: 0, FormatChanges: 0)));
        Assert.That(stream.Pool.Stats.Outstanding, Is.Zero, "the target returned every buffer");
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await stream.ReadAsync(), "the frames went to the target");
    }

    [Test]
    public async Task Frame_numbers_keep_rising_across_reconnects()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(time, Attempt.Delivers(3) with { ThenError = new FrameSourceException(StreamErrorKind.Disconnected, "dropped", false) },
            Attempt.Delivers(3) with { ThenHang = true });
        await using var stream = Stream(Camera, Options() with { Mode = PlaybackMode.Live }, time, source);
        var numbers = new List<long>();

        stream.Start();
        var reading = Task.Run(async () =>
        {
            while (numbers.Count < 6 && await stream.ReadAsync() is { } frame)
            {
                numbers.Add(frame.Number);
                frame.Dispose();
            }
        });
        await time.StepUntilAsync(() => source.Attempts == 2 && stream.Stats.Received == 6, TimeSpan.FromSeconds(5), "six frames over two connections");
        await stream.StopAsync();
        await reading;

        Assert.That(numbers, Is.Ordered.Ascending);
        Assert.That(numbers.Distinct().Count(), Is.EqualTo(numbers.Count));
        Assert.That(numbers.Last(), Is.EqualTo(5));
        var stats = stream.Stats;
        Assert.That(stats.Received, Is.EqualTo(stats.Delivered + stats.DroppedStale + stats.DroppedOnStop + stats.Pending));
    }

    [Test]
    public async Task Stopping_returns_every_buffer_and_ends_the_consumer()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(time, Attempt.Delivers(5) with { ThenHang = true });
        var stream = Stream(Camera, Options(), time, source);

        stream.Start();
        await Eventually.HoldsAsync(() => stream.Stats.Received == 5, RealWait, "five frames");
        var waiting = stream.ReadAsync();
        using (var frame = await waiting)
        {
            Assert.That(frame, Is.Not.Null);
        }

        var afterStop = stream.ReadAsync();
        await stream.DisposeAsync();

        Assert.That(await afterStop, Is.Null);
        Assert.That(stream.State, Is.EqualTo(StreamState.Stopped));
        Assert.That(stream.Pool.Stats.Outstanding, Is.Zero);
        Assert.That(source.Log[1].Ended, Is.Not.Null, "the reader was disposed");
    }

    [Test]
    public void Options_that_do_not_fit_the_source_are_rejected_up_front()
    {
        var time = new FakeTimeProvider();
        var source = new ScriptedSource(time, Attempt.Delivers(1));

        Assert.Throws<ArgumentException>(() => Stream(Camera, new StreamOptions { Mode = PlaybackMode.AsFastAsPossible }, time, source));
        Assert.Throws<ArgumentException>(() => Stream(Camera, new StreamOptions { Loop = true }, time, source));
        Assert.Throws<ArgumentException>(() => Stream(File, new StreamOptions { ReadTimeout = TimeSpan.Zero }, time, source));
    }
}
