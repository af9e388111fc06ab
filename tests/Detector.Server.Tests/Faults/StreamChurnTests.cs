using Microsoft.Extensions.DependencyInjection;
using Detector.Core.Tests.Sources;
using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Faults;

/// <summary>
/// Streams added and removed in a tight loop while another runs and is watched: nothing crashes, the running stream
/// keeps producing, and every ffmpeg process and stream thread the loop started is gone afterwards.
/// </summary>
[NonParallelizable]
public class StreamChurnTests
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
        await _host.Client.AddStreamAsync(new Rpc.AddStreamRequest
        {
            Id = "steady", Url = Shared.Video("car-detection.mp4"), Options = new Rpc.StreamOptions { Loop = true },
        });
    }

    [TearDown]
    public async Task StopService() => await _host.DisposeAsync();

    [Test]
    public async Task A_stream_re_added_while_its_predecessor_is_still_stopping_keeps_its_subscribers()
    {
        // The removal ends the subscriptions of the id it removes; a stream added under the same id while the old
        // one is still being torn down (an RTSP stream: its ffmpeg is killed and reaped) must keep the subscribers
        // it gets. The subscription is taken in-process, the moment the add returns, to land inside that window.
        await _host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "cam", Url = _rtsp.Url("/people") });
        var streams = _host.Services.GetRequiredService<Streams.StreamManager>();
        Assert.That(await ProcessProbe.EventuallyAsync(() => streams.Get("cam").FramesProcessed > 0, TimeSpan.FromSeconds(20)),
            Is.True, "the camera delivers");

        var removing = _host.Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = "cam" }).ResponseAsync;
        while (true)
        {
            try
            {
                await _host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "cam", Url = _rtsp.Url("/people") });
                break;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.AlreadyExists)
            {
                // The add overtook the removal: try again at once.
            }
        }

        using var subscription = _host.Engine.Hub.Subscribe(new Core.Pipeline.SubscriptionFilter { StreamIds = new HashSet<string> { "cam" } });
        await removing;
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = 0;
        await foreach (var _ in subscription.ReadAllAsync(limit.Token))
        {
            if (++received == 3)
            {
                break;
            }
        }

        Assert.That(received, Is.EqualTo(3), "the new stream's subscription was not ended by the old one's removal");
    }

    [Test]
    public async Task Thirty_rounds_of_adding_and_removing_file_and_rtsp_streams_leave_no_process_or_thread_behind()
    {
        var me = Environment.ProcessId;
        await using var watcher = new Subscriber(_host.Client, new Rpc.SubscribeRequest { StreamIds = { "steady" } });
        Assert.That(await watcher.WaitForAsync(s => s.Count >= 10, TimeSpan.FromSeconds(30)), Is.True, "warm-up");
        var threadsBefore = ProcessProbe.Threads();
        var random = new Random(7);
        var began = watcher.Now;
        var mostFfmpeg = 0;

        for (var i = 0; i < 30; i++)
        {
            await _host.Client.AddStreamAsync(new Rpc.AddStreamRequest
            {
                Id = $"file-{i}", Url = Shared.Video("one-by-one-person-detection.mp4"), Options = new Rpc.StreamOptions { Loop = true },
            });
            await _host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = $"rtsp-{i}", Url = _rtsp.Url("/people") });
            // Sometimes at once (ffmpeg still connecting), sometimes after the first frames.
            await Task.Delay(random.Next(0, 400));
            mostFfmpeg = Math.Max(mostFfmpeg, ProcessProbe.Children(me).Count);
            await _host.Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = $"rtsp-{i}" });
            await _host.Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = $"file-{i}" });
        }

        var ended = watcher.Now;
        var list = await _host.Client.ListStreamsAsync(new Rpc.ListStreamsRequest());
        Assert.That(list.Streams.Select(s => s.Id), Is.EqualTo(new[] { "steady" }));
        Assert.That(mostFfmpeg, Is.GreaterThanOrEqualTo(1), "the loop did start ffmpeg processes");
        // At once, but for one started just as its stream was removed, which is killed as soon as it runs.
        Assert.That(await ProcessProbe.EventuallyAsync(() => ProcessProbe.Children(me).Count == 0, TimeSpan.FromSeconds(5)), Is.True,
            $"every ffmpeg is gone once its stream is removed: {ProcessProbe.Describe(ProcessProbe.Children(me))}");
        // A stream's threads carry its name (native threads it starts, such as the decoder's, inherit it).
        Assert.That(await ProcessProbe.EventuallyAsync(
            () => ProcessProbe.Threads("ffmpeg stderr") + ProcessProbe.Threads("stream file-") + ProcessProbe.Threads("stream rtsp-") == 0,
            TimeSpan.FromSeconds(10)), Is.True,
            $"stream threads: {ProcessProbe.ThreadNames("stream ")}; ffmpeg stderr threads: {ProcessProbe.ThreadNames("ffmpeg stderr")}");

        var gap = watcher.LongestGap(began, ended);
        TestContext.Out.WriteLine($"30 rounds in {(ended - began).TotalSeconds:0.0} s; steady stream: {watcher.CountSince(began)} results, " +
            $"longest gap {gap.TotalMilliseconds:0} ms; threads {threadsBefore} before, {ProcessProbe.Threads()} after; at most {mostFfmpeg} ffmpeg");
        Assert.That(gap, Is.LessThan(TimeSpan.FromSeconds(2)), "the steady stream kept producing");
        Assert.That(watcher.IsOpen, Is.True);
        Assert.That(await ProcessProbe.EventuallyAsync(() => ProcessProbe.Threads() <= threadsBefore + 12, TimeSpan.FromSeconds(10)), Is.True,
            $"threads back near {threadsBefore}, found {ProcessProbe.Threads()}");
    }

    [Test]
    public async Task Adding_and_removing_the_same_stream_from_two_clients_at_once_answers_only_with_expected_statuses()
    {
        var me = Environment.ProcessId;
        var unexpected = new List<string>();
        var counts = new Dictionary<StatusCode, int>();

        using var adding = new CancellationTokenSource();

        async Task Loop(Func<Task> call, Func<int, bool> goOn)
        {
            for (var i = 0; goOn(i); i++)
            {
                try
                {
                    await call();
                    Count(StatusCode.OK);
                }
                catch (RpcException e) when (e.StatusCode is StatusCode.AlreadyExists or StatusCode.NotFound)
                {
                    Count(e.StatusCode);
                }
                catch (Exception e)
                {
                    lock (unexpected)
                    {
                        unexpected.Add(e.Message);
                    }
                }
            }
        }

        void Count(StatusCode code)
        {
            lock (counts)
            {
                counts[code] = counts.GetValueOrDefault(code) + 1;
            }
        }

        // One client adds 40 times; the other removes as fast as it can until then, so removals meet adds in flight.
        var adder = Task.Run(async () =>
        {
            await Loop(() => _host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "contested", Url = _rtsp.Url("/people") }).ResponseAsync,
                i => i < 40);
            await adding.CancelAsync();
        });
        var remover = Task.Run(() => Loop(() => _host.Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = "contested" }).ResponseAsync,
            _ => !adding.IsCancellationRequested));
        await Task.WhenAll(adder, remover);

        // Then add and remove sent together, for a file (quick to start) and a camera: the removal lands while the add
        // is still setting the stream up.
        for (var i = 0; i < 30; i++)
        {
            var url = i % 2 == 0 ? Shared.Video("car-detection.mp4") : _rtsp.Url("/people");
            var add = Loop(() => _host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "contested", Url = url }).ResponseAsync, n => n < 1);
            await Task.Delay(i % 3);
            await Task.WhenAll(add, Loop(() => _host.Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = "contested" }).ResponseAsync, n => n < 1));
        }
        try
        {
            await _host.Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = "contested" });
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
        }

        TestContext.Out.WriteLine(string.Join(", ", counts.Select(kv => $"{kv.Key}: {kv.Value}")));
        Assert.That(unexpected, Is.Empty, $"only OK, AlreadyExists and NotFound: {string.Join("; ", unexpected.Distinct())}");
        Assert.That(counts.GetValueOrDefault(StatusCode.OK), Is.GreaterThan(2), "some adds and removes went through");
        Assert.That(await ProcessProbe.EventuallyAsync(() => ProcessProbe.Children(me).Count == 0, TimeSpan.FromSeconds(5)), Is.True,
            $"no ffmpeg is left: {ProcessProbe.Describe(ProcessProbe.Children(me))}");
        Assert.That(await ProcessProbe.EventuallyAsync(() => ProcessProbe.Threads("ffmpeg stderr") + ProcessProbe.Threads("stream contest") == 0,
            TimeSpan.FromSeconds(10)), Is.True, $"stream threads: {ProcessProbe.ThreadNames("stream ")}; streams: {(await _host.Client.ListStreamsAsync(new Rpc.ListStreamsRequest())).Streams.Count}");
        var steady = await _host.Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = "steady" });
        Assert.That(steady.State, Is.EqualTo(Rpc.StreamState.Running));
    }
}
