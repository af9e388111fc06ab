using Detector.Core.Sources;
using Detector.Core.Tests.Sources;
using Detector.Server.Streams;
using Detector.Server.Tests.Grpc;
using Microsoft.Extensions.DependencyInjection;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Faults;

/// <summary>
/// The camera side failing under a running service: the RTSP server dies and comes back, the ffmpeg process that
/// reads it is killed from outside. Streams recover on their own, subscribers keep their call and see results
/// resume, and nothing (processes, threads) piles up.
/// </summary>
[NonParallelizable]
public class SourceFailureTests
{
    private RtspServer _rtsp = null!;
    private ServerHost _host = null!;

    [OneTimeSetUp]
    public void StartCamera() => _rtsp = new RtspServer([$"/people={Shared.Video("one-by-one-person-detection.mp4")}"]);

    [OneTimeTearDown]
    public void StopCamera() => _rtsp.Dispose();

    [SetUp]
    public async Task StartService()
    {
        _rtsp.Start();
        _host = await ServerHost.StartAsync();
    }

    [TearDown]
    public async Task StopService() => await _host.DisposeAsync();

    private async Task<Subscriber> AddCameraAndSubscribeAsync()
    {
        await _host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "cam", Url = _rtsp.Url("/people") });
        var subscriber = new Subscriber(_host.Client, new Rpc.SubscribeRequest { StreamIds = { "cam" } });
        Assert.That(await subscriber.WaitForAsync(s => s.Count >= 5, TimeSpan.FromSeconds(30)), Is.True, "first results from the camera");
        return subscriber;
    }

    [Test]
    public async Task A_camera_that_dies_and_comes_back_three_times_resumes_on_the_same_subscription_without_leaks()
    {
        await using var subscriber = await AddCameraAndSubscribeAsync();
        var me = Environment.ProcessId;
        Assert.That(ProcessProbe.Children(me), Has.Count.EqualTo(1), "one ffmpeg for the one camera");
        var threadsBefore = ProcessProbe.Threads();
        var streamThreadsBefore = ProcessProbe.Threads("stream cam");
        var stream = _host.Services.GetRequiredService<StreamManager>().Get("cam");
        var states = new List<StreamState>();
        stream.Video.StateChanged += (_, e) =>
        {
            lock (states)
            {
                states.Add(e.Current);
            }
        };

        for (var cycle = 1; cycle <= 3; cycle++)
        {
            _rtsp.Kill();
            var killedAt = subscriber.Now;
            await Results.WaitForStateAsync(_host.Client, "cam", i => i.State == Rpc.StreamState.Reconnecting, TimeSpan.FromSeconds(15));
            await Task.Delay(TimeSpan.FromSeconds(1));
            _rtsp.Start();
            var restartedAt = subscriber.Now;

            Assert.That(await subscriber.WaitForAsync(s => s.CountSince(restartedAt) >= 5, TimeSpan.FromSeconds(30)), Is.True,
                $"cycle {cycle}: results resume after the camera is back");
            Assert.That(subscriber.IsOpen, Is.True, $"cycle {cycle}: the subscription survives the drop-out");
            TestContext.Out.WriteLine($"cycle {cycle}: results resumed {subscriber.LongestGap(killedAt, subscriber.Now).TotalSeconds:0.0} s after the kill");
        }

        var info = await Results.WaitForStateAsync(_host.Client, "cam", i => i.State == Rpc.StreamState.Running, TimeSpan.FromSeconds(5));
        Assert.That(info.Reconnects, Is.GreaterThanOrEqualTo(3));
        lock (states)
        {
            Assert.That(states.Count(s => s == StreamState.Running), Is.GreaterThanOrEqualTo(3), "back to Running after each drop-out");
        }

        // The failed attempts' ffmpeg processes and their stderr threads are gone; only the live connection's remain.
        Assert.That(await ProcessProbe.EventuallyAsync(() => ProcessProbe.Children(me).Count == 1, TimeSpan.FromSeconds(10)), Is.True,
            $"one ffmpeg left, found {ProcessProbe.Children(me).Count}");
        Assert.That(await ProcessProbe.EventuallyAsync(() => ProcessProbe.Threads("ffmpeg stderr") == 1, TimeSpan.FromSeconds(10)), Is.True,
            $"one ffmpeg stderr thread left, found {ProcessProbe.Threads("ffmpeg stderr")}");
        Assert.That(ProcessProbe.Threads("stream cam"), Is.EqualTo(streamThreadsBefore), "the stream's own threads do not pile up");
        var threadsAfter = ProcessProbe.Threads();
        TestContext.Out.WriteLine($"threads: {threadsBefore} before the drop-outs, {threadsAfter} after");
        Assert.That(threadsAfter, Is.LessThanOrEqualTo(threadsBefore + 12), "threads do not pile up");
    }

    [Test]
    public async Task An_ffmpeg_killed_from_outside_is_replaced_and_results_resume()
    {
        await using var subscriber = await AddCameraAndSubscribeAsync();
        var me = Environment.ProcessId;
        var ffmpeg = ProcessProbe.Children(me);
        Assert.That(ffmpeg, Has.Count.EqualTo(1), "one ffmpeg for the one camera");
        var stream = _host.Services.GetRequiredService<StreamManager>().Get("cam");
        var states = new List<StreamState>();
        stream.Video.StateChanged += (_, e) =>
        {
            lock (states)
            {
                states.Add(e.Current);
            }
        };

        ProcessProbe.Signal(ffmpeg[0], ProcessProbe.SigKill);
        var killedAt = subscriber.Now;

        var info = await Results.WaitForStateAsync(_host.Client, "cam", i => i.Reconnects >= 1 && i.State == Rpc.StreamState.Running,
            TimeSpan.FromSeconds(20));
        Assert.That(await subscriber.WaitForAsync(s => s.CountSince(killedAt + TimeSpan.FromSeconds(0.5)) >= 5, TimeSpan.FromSeconds(20)), Is.True,
            "results resume");
        Assert.That(subscriber.IsOpen, Is.True, "the subscription survives");
        lock (states)
        {
            Assert.That(states, Is.EqualTo(new[] { StreamState.Reconnecting, StreamState.Running }), "reconnecting, then running again");
        }

        Assert.That(info.LastError, Is.Not.Empty, "the stream says what happened");
        var now = ProcessProbe.Children(me);
        Assert.That(now, Has.Count.EqualTo(1), "one ffmpeg again");
        Assert.That(now[0], Is.Not.EqualTo(ffmpeg[0]), "a new ffmpeg process");
        Assert.That(ProcessProbe.IsAlive(ffmpeg[0]), Is.False, "the killed one was reaped, not left a zombie");
    }
}
