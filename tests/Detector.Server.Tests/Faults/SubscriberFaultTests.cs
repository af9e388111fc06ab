using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Faults;

/// <summary>
/// Subscribers that misbehave or crowd in: one that never reads, ones that hang up mid-stream, fifty at once. The
/// pipeline's rate for a well-behaved subscriber holds, the stalled one loses results instead of holding memory,
/// and every subscription is released when its client goes.
/// </summary>
[NonParallelizable]
public class SubscriberFaultTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(6);
    private ServerHost _host = null!;

    [SetUp]
    public async Task StartService() => _host = await ServerHost.StartAsync();

    [TearDown]
    public async Task StopService() => await _host.DisposeAsync();

    [Test]
    public async Task A_never_reading_subscriber_one_that_hangs_up_and_fifty_at_once_leave_the_others_rate_and_memory_alone()
    {
        // Two files at their native rates (10 and 12.5 fps): a load two cores carry with room to spare. A low confidence
        // threshold makes each result a few kilobytes, so a subscriber that never reads fills HTTP/2 flow control
        // and its queue within seconds instead of minutes.
        foreach (var (id, video) in new[] { ("people", "one-by-one-person-detection.mp4"), ("cars", "car-detection.mp4") })
        {
            await _host.Client.AddStreamAsync(new Rpc.AddStreamRequest
            {
                Id = id, Url = Shared.Video(video), Options = new Rpc.StreamOptions { Loop = true, ConfidenceThreshold = 0.001f },
            });
        }

        long dropped = 0;
        _host.Engine.Hub.ResultDropped += _ => Interlocked.Increment(ref dropped);
        await using var measured = new Subscriber(_host.Client, new Rpc.SubscribeRequest { MinConfidence = 0.5f });
        Assert.That(await measured.WaitForAsync(s => s.Count >= 20, TimeSpan.FromSeconds(30)), Is.True, "warm-up");
        var start = measured.Now;
        await Task.Delay(Window);
        var baseline = measured.CountSince(start);

        // Never read: the server's writes stall on flow control, then its queue drops the oldest results. Two of them:
        // one hangs up later, the other is still stalled when the server stops.
        using var neverReads = _host.Client.Subscribe(new Rpc.SubscribeRequest());
        using var stillStalled = _host.Client.Subscribe(new Rpc.SubscribeRequest());
        var stallingSince = measured.Now;
        Assert.That(await ProcessProbe.EventuallyAsync(() => Interlocked.Read(ref dropped) > 0, TimeSpan.FromSeconds(45)), Is.True,
            "the never-reading subscriber's queue fills and drops");
        TestContext.Out.WriteLine($"the never-reading subscriber lost its first result after {(measured.Now - stallingSince).TotalSeconds:0.0} s");
        var crowd = Enumerable.Range(0, 50).Select(_ => new Subscriber(_host.Client, new Rpc.SubscribeRequest { MinConfidence = 0.5f })).ToList();
        try
        {
            Assert.That(await ProcessProbe.EventuallyAsync(() => crowd.All(s => s.Count > 0), TimeSpan.FromSeconds(20)), Is.True,
                "all fifty get results");
            var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
            var droppedBefore = Interlocked.Read(ref dropped);

            // Clients that read a few results and hang up, one after another, through the measuring window.
            using var stopHangingUp = new CancellationTokenSource();
            var hangUps = 0;
            var hangingUp = Task.Run(async () =>
            {
                while (!stopHangingUp.IsCancellationRequested)
                {
                    await using var quitter = new Subscriber(_host.Client);
                    await quitter.WaitForAsync(s => s.Count >= 3, TimeSpan.FromSeconds(5));
                    hangUps++;
                }
            });

            start = measured.Now;
            var crowdBefore = crowd.Select(s => s.Count).ToArray();
            await Task.Delay(Window);
            var crowded = measured.CountSince(start);
            var crowdGot = crowd.Select((s, i) => s.Count - crowdBefore[i]).ToArray();
            await stopHangingUp.CancelAsync();
            await hangingUp;
            var memoryAfter = GC.GetTotalMemory(forceFullCollection: true);

            TestContext.Out.WriteLine(
                $"results in {Window.TotalSeconds} s: {baseline} alone, {crowded} beside a stalled subscriber, fifty readers and {hangUps} hang-ups; " +
                $"each of the fifty got {crowdGot.Min()}-{crowdGot.Max()}; stalled drops {Interlocked.Read(ref dropped) - droppedBefore} in the window; " +
                $"managed memory {memoryBefore / 1e6:0.0} -> {memoryAfter / 1e6:0.0} MB");
            Assert.That(baseline, Is.GreaterThan(Window.TotalSeconds * 15), "both streams are processed at about their 22.5 fps");
            Assert.That(crowded, Is.GreaterThanOrEqualTo(baseline * 0.65), "the rate a reading subscriber sees holds");
            Assert.That(crowdGot.Min(), Is.GreaterThanOrEqualTo(crowded * 0.5), "every one of the fifty keeps up too");
            Assert.That(hangUps, Is.GreaterThanOrEqualTo(3), "subscribers came and went during the window");
            Assert.That(Interlocked.Read(ref dropped) - droppedBefore, Is.GreaterThan(Window.TotalSeconds * 10),
                "the stalled subscriber keeps losing results rather than queueing them");
            Assert.That(memoryAfter - memoryBefore, Is.LessThan(32_000_000), "memory stays bounded");
        }
        finally
        {
            foreach (var s in crowd)
            {
                await s.DisposeAsync();
            }
        }

        // Gone clients free their subscriptions: the never-reader's too, once it hangs up.
        Assert.That(await ProcessProbe.EventuallyAsync(() => _host.Engine.Subscribers == 3, TimeSpan.FromSeconds(10)), Is.True,
            $"the measuring and the two stalled subscribers remain, found {_host.Engine.Subscribers}");
        neverReads.Dispose();
        Assert.That(await ProcessProbe.EventuallyAsync(() => _host.Engine.Subscribers == 2 && _host.Engine.Hub.SubscriberCount == 2,
            TimeSpan.FromSeconds(10)), Is.True, $"the stalled subscription is released, found {_host.Engine.Subscribers}");
        Assert.That(measured.IsOpen, Is.True);

        // A client that is not reading does not hold the shutdown up (Kestrel would wait for its call for 30 s).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await _host.StopAsync();
        TestContext.Out.WriteLine($"stopped in {clock.Elapsed.TotalSeconds:0.0} s with a stalled subscriber");
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(8)), "the host stops within seconds");
        Assert.That(_host.Engine.Subscribers, Is.Zero, "every subscription ended");
    }
}
