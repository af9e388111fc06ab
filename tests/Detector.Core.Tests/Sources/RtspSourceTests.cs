using System.Diagnostics;
using Detector.Core.Sources;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

/// <summary>
/// Network streams end to end: a real GStreamer RTSP server on loopback, real ffmpeg processes,
/// real drop-outs (the server is killed and restarted), real authentication.
/// </summary>
[NonParallelizable]
public class RtspSourceTests
{
    private const string Password = "s3cret-Pa55";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private RtspServer _server = null!;
    private RtspServer _secured = null!;

    [OneTimeSetUp]
    public void StartServers()
    {
        var (big, small) = SourceMedia.ResolutionChangeMp4();
        _server = new RtspServer([$"/car={SourceMedia.Car}", $"/people={SourceMedia.People}", $"/change={big},{small}"]);
        _server.Start();
        _secured = new RtspServer([$"/car={SourceMedia.Car}"], "admin", Password);
        _secured.Start();
    }

    [OneTimeTearDown]
    public void StopServers()
    {
        _server.Dispose();
        _secured.Dispose();
    }

    [TearDown]
    public async Task NoDecoderOutlivesItsTest()
    {
        // Every stream is disposed by its test; its ffmpeg must be gone (and reaped) by now.
        await Eventually.HoldsAsync(() => ChildProcessList.Count("ffmpeg") == 0, TimeSpan.FromSeconds(5), "no ffmpeg child processes left");
        Assert.That(ChildProcesses.LiveCount, Is.Zero, "every decoder was reaped and forgotten");
    }

    [Test]
    public async Task Frames_are_read_from_a_real_rtsp_camera()
    {
        await using var stream = new VideoStream("cam", StreamAddress.Parse(_server.Url("/car")));
        stream.Start();
        var frames = new List<(int W, int H, TimeSpan? Pts, long Number)>();

        using var timeout = new CancellationTokenSource(Wait);
        while (frames.Count < 10 && await stream.ReadAsync(timeout.Token) is { } frame)
        {
            using (frame)
            {
                frames.Add((frame.Width, frame.Height, frame.Pts, frame.Number));
                Assert.That(Cv2Mean(frame), Is.GreaterThan(10), "a real picture, not a black buffer");
            }
        }

        Assert.That(stream.State, Is.EqualTo(StreamState.Running));
        Assert.That(frames.Select(f => (f.W, f.H)), Is.All.EqualTo((768, 432)));
        Assert.That(frames.Select(f => f.Pts), Is.All.Not.Null);
        Assert.That(frames.Select(f => f.Pts!.Value), Is.Ordered.Ascending);
        Assert.That(frames.Select(f => f.Number), Is.Ordered.Ascending);
        Assert.That(stream.Format!.Value.FramesPerSecond, Is.EqualTo(12.5).Within(0.01));
        Assert.That(ChildProcessList.Count("ffmpeg"), Is.EqualTo(1));
    }

    [Test]
    public async Task Rtsp_over_udp_works_too()
    {
        await using var stream = new VideoStream("cam-udp", StreamAddress.Parse(_server.Url("/car")), new StreamOptions { RtspTransport = RtspTransport.Udp });
        stream.Start();

        using var timeout = new CancellationTokenSource(Wait);
        for (var i = 0; i < 5; i++)
        {
            using var frame = await stream.ReadAsync(timeout.Token);
            Assert.That(frame!.Width, Is.EqualTo(768));
        }
    }

    [Test]
    public async Task A_camera_that_drops_out_is_reconnected_without_help_and_leaks_nothing()
    {
        using var server = new RtspServer([$"/people={SourceMedia.People}"]);
        server.Start();
        var logs = new CollectingLoggerFactory();
        var stream = new VideoStream("flaky", StreamAddress.Parse(server.Url("/people")), new StreamOptions(), logs);
        stream.Start();
        var consumed = 0L;
        using var consumerStop = new CancellationTokenSource();
        var consumer = Task.Run(async () =>
        {
            try
            {
                while (await stream.ReadAsync(consumerStop.Token) is { } frame)
                {
                    frame.Dispose();
                    Interlocked.Increment(ref consumed);
                }
            }
            catch (OperationCanceledException)
            {
                // The test is over.
            }
        });
        await Eventually.StateAsync(stream, StreamState.Running, Wait);
        var threadsBefore = Process.GetCurrentProcess().Threads.Count;

        for (var drop = 1; drop <= 3; drop++)
        {
            await Eventually.HoldsAsync(() => Interlocked.Read(ref consumed) > 0, Wait, "frames before the drop");
            server.Kill();
            var noticed = await Eventually.StateAsync(stream, StreamState.Reconnecting, TimeSpan.FromSeconds(5));
            TestContext.Progress.WriteLine($"drop {drop}: reconnecting after {noticed.TotalSeconds:0.00} s");
            Assert.That(ChildProcessList.Count("ffmpeg"), Is.LessThanOrEqualTo(1), "at most the retrying ffmpeg");

            // Stay down for a few back-off rounds, longer each time.
            await Task.Delay(TimeSpan.FromSeconds(drop));
            Interlocked.Exchange(ref consumed, 0);
            server.Start();
            var back = await Eventually.HoldsAsync(() => Interlocked.Read(ref consumed) > 0, TimeSpan.FromSeconds(10), "frames again within 10 s of the server being ready");
            TestContext.Progress.WriteLine($"drop {drop}: frames back {back.TotalSeconds:0.00} s after the server was ready");
            Assert.That(stream.State, Is.EqualTo(StreamState.Running));
            Assert.That(ChildProcessList.Count("ffmpeg"), Is.EqualTo(1));
        }

        Assert.That(stream.Stats.Reconnects, Is.GreaterThanOrEqualTo(3));
        Assert.That(stream.Pool.Stats.Allocated, Is.LessThanOrEqualTo(stream.Options.PoolCapacity + 3), "buffers are reused across reconnects");
        Assert.That(Process.GetCurrentProcess().Threads.Count, Is.LessThanOrEqualTo(threadsBefore + 8), "no thread per reconnect");

        await stream.DisposeAsync();
        await consumerStop.CancelAsync();
        await consumer;
        Assert.That(stream.State, Is.EqualTo(StreamState.Stopped));
        Assert.That(stream.Pool.Stats.Outstanding, Is.Zero);
        Assert.That(ChildProcessList.Count("ffmpeg"), Is.Zero, "dispose kills and reaps ffmpeg");
        Assert.That(logs.Lines, Has.Some.Contains("Stream flaky reconnecting"));
    }

    [Test]
    public async Task A_camera_that_stops_sending_is_noticed_within_the_read_timeout()
    {
        using var server = new RtspServer([$"/car={SourceMedia.Car}"]);
        server.Start();
        var options = new StreamOptions { ReadTimeout = TimeSpan.FromSeconds(2), OpenTimeout = TimeSpan.FromSeconds(4) };
        await using var stream = new VideoStream("hung", StreamAddress.Parse(server.Url("/car")), options);
        stream.Start();
        await Eventually.StateAsync(stream, StreamState.Running, Wait);

        server.Stall();
        var noticed = await Eventually.StateAsync(stream, StreamState.Reconnecting, TimeSpan.FromSeconds(5));

        Assert.That(noticed, Is.LessThan(TimeSpan.FromSeconds(4)));
        Assert.That(stream.LastErrorKind, Is.EqualTo(StreamErrorKind.Timeout));
        Assert.That(stream.LastError, Does.Contain("no frame for 2 s"));

        server.Resume();
        await Eventually.StateAsync(stream, StreamState.Running, TimeSpan.FromSeconds(15));
    }

    [Test]
    public async Task A_slow_consumer_always_gets_a_fresh_frame_and_every_other_frame_is_counted()
    {
        var interval = TimeSpan.FromSeconds(1 / 12.5);
        var processing = TimeSpan.FromMilliseconds(250);
        await using var stream = new VideoStream("slow", StreamAddress.Parse(_server.Url("/car")));
        stream.Start();
        await Eventually.StateAsync(stream, StreamState.Running, Wait);
        // The first frames come in a burst after ffmpeg's probing; measure the steady state.
        await Task.Delay(TimeSpan.FromSeconds(1));
        var ages = new List<TimeSpan>();
        var behind = new List<long>();

        for (var i = 0; i < 12; i++)
        {
            using var frame = await stream.ReadAsync();
            ages.Add(DateTimeOffset.UtcNow - frame!.CaptureTime);
            behind.Add(stream.Stats.Received - 1 - frame.Number);
            Thread.Sleep(processing);
        }

        await stream.StopAsync();
        var stats = stream.Stats;
        TestContext.Progress.WriteLine($"ages ms: {string.Join(", ", ages.Select(a => (int)a.TotalMilliseconds))}; {stats}");
        // Slack for two busy cores: the frame can be one interval old plus scheduling noise.
        Assert.That(ages, Is.All.LessThanOrEqualTo(interval + TimeSpan.FromMilliseconds(60)));
        Assert.That(behind, Is.All.LessThanOrEqualTo(1), "the newest frame, or the one before if a new one landed meanwhile");
        Assert.That(stats.DroppedStale, Is.GreaterThan(12), "about two of every three frames had to go");
        Assert.That(stats.Received, Is.EqualTo(stats.Delivered + stats.DroppedStale + stats.DroppedOnStop + stats.Pending), "every frame is accounted for");
        Assert.That(stats.Pending, Is.Zero);
    }

    [Test]
    public async Task Wrong_credentials_fail_that_stream_only_and_no_password_is_shown()
    {
        var logs = new CollectingLoggerFactory();
        await using var wrong = new VideoStream("wrong", StreamAddress.Parse(_secured.Url("/car", "admin", "wrong-Pa55")), new StreamOptions(), logs);
        await using var right = new VideoStream("right", StreamAddress.Parse(_secured.Url("/car", "admin", Password)), new StreamOptions(), logs);
        wrong.Start();
        right.Start();

        await Eventually.StateAsync(wrong, StreamState.Failed, Wait);
        await Eventually.StateAsync(right, StreamState.Running, Wait);
        using (var frame = await right.ReadAsync())
        {
            Assert.That(frame!.Width, Is.EqualTo(768));
        }

        Assert.That(wrong.LastErrorKind, Is.EqualTo(StreamErrorKind.Unauthorized));
        Assert.That(wrong.LastError, Does.Contain("authentication failed").And.Contain("401"));
        Assert.That(wrong.LastError, Does.Contain("admin:***@127.0.0.1"));
        Assert.That(wrong.Stats.Reconnects, Is.Zero, "wrong credentials are not retried");
        Assert.That(right.LastError, Is.Null);
        foreach (var shown in new[] { wrong.LastError!, wrong.Address.ToString(), right.Address.ToString(), string.Join('\n', logs.Lines) })
        {
            Assert.That(shown, Does.Not.Contain("wrong-Pa55").And.Not.Contain(Password));
        }

        Assert.That(logs.Lines, Has.Some.Contains("rtsp://admin:***@127.0.0.1"), "the masked address is what is logged");
    }

    [Test]
    public async Task A_camera_password_is_not_on_the_decoders_command_line()
    {
        // Any local user reads a command line (ps, /proc/PID/cmdline), and so does the host for a container's processes.
        // A quote in the password also has to survive the script's quoting, which the real server checks.
        const string quoted = "it's-a-S3cret";
        using var server = new RtspServer([$"/car={SourceMedia.Car}"], "admin", quoted);
        server.Start();
        await using var stream = new VideoStream("cam", StreamAddress.Parse(server.Url("/car", "admin", quoted)));
        stream.Start();
        using (var frame = await stream.ReadAsync(new CancellationTokenSource(Wait).Token))
        {
            Assert.That(frame!.Width, Is.EqualTo(768), "the password reached the camera");
        }

        var decoders = ChildProcessList.Children().Where(c => c.Name == "ffmpeg").ToList();
        Assert.That(decoders, Has.Count.EqualTo(1));
        var commandLine = File.ReadAllText($"/proc/{decoders[0].Pid}/cmdline").Replace('\0', ' ');
        Assert.That(commandLine, Does.Contain("-i pipe:0"));
        Assert.That(commandLine, Does.Not.Contain("S3cret").And.Not.Contain("127.0.0.1"), commandLine);
    }

    [Test]
    public async Task An_unknown_stream_path_is_reported_as_not_found_and_retried()
    {
        await using var stream = new VideoStream("typo", StreamAddress.Parse(_server.Url("/no-such-path")));
        stream.Start();

        await Eventually.HoldsAsync(() => stream.LastErrorKind == StreamErrorKind.NotFound, Wait, "a not-found error");

        Assert.That(stream.State, Is.EqualTo(StreamState.Reconnecting));
        Assert.That(stream.LastError, Does.Contain("404 Not Found"));
    }

    [Test]
    public async Task An_unreachable_server_is_retried_and_then_given_up()
    {
        var closedPort = new RtspServer([]).Port;
        var options = new StreamOptions { Reconnect = new ReconnectOptions { InitialDelay = TimeSpan.FromMilliseconds(200), MaxConsecutiveFailures = 3 } };
        await using var stream = new VideoStream("nobody", StreamAddress.Parse($"rtsp://u:hunter2222@127.0.0.1:{closedPort}/cam"), options);
        var states = new List<StreamState>();
        stream.StateChanged += (_, e) => states.Add(e.Current);
        stream.Start();

        await stream.Completion.WaitAsync(Wait);

        Assert.That(states, Is.EqualTo(new[] { StreamState.Reconnecting, StreamState.Reconnecting, StreamState.Failed }));
        Assert.That(stream.LastErrorKind, Is.EqualTo(StreamErrorKind.Unreachable));
        Assert.That(stream.LastError, Does.StartWith("Gave up after 3 failed attempts in a row").And.Contain("Connection refused"));
        Assert.That(stream.LastError, Does.Not.Contain("hunter2222"));
    }

    [Test]
    public async Task A_resolution_change_reopens_the_stream_at_the_new_size()
    {
        await using var stream = new VideoStream("switch", StreamAddress.Parse(_server.Url("/change")));
        stream.Start();
        var sizes = new List<(int, int)>();

        using var timeout = new CancellationTokenSource(Wait);
        while (!(sizes.Contains((480, 270)) && sizes.Contains((320, 180))) && await stream.ReadAsync(timeout.Token) is { } frame)
        {
            sizes.Add((frame.Width, frame.Height));
            frame.Dispose();
        }

        Assert.That(stream.Stats.FormatChanges, Is.GreaterThanOrEqualTo(1));
        Assert.That(stream.LastErrorKind, Is.EqualTo(StreamErrorKind.FormatChanged));
        Assert.That(stream.LastError, Does.Match(@"Resolution changed from \d+x\d+ to \d+x\d+\.|the frame size changed"));
        Assert.That(stream.State, Is.EqualTo(StreamState.Running));
        await stream.StopAsync();
        Assert.That(stream.Pool.Stats.Outstanding, Is.Zero, "the frame scaled to the old size was given back too");
    }

    [Test]
    public async Task Ffmpeg_exits_by_itself_when_nobody_reads_its_output_any_more()
    {
        // What happens to a decoder whose parent died without killing it: its stdout pipe closes.
        var address = StreamAddress.Parse(_server.Url("/car"));
        var command = FfmpegArguments.Build(address, new StreamOptions());
        var process = await ChildProcesses.StartAsync("ffmpeg", command.Arguments, command.Input);
        try
        {
            _ = process.StandardError.ReadToEndAsync();
            var buffer = new byte[4096];
            await process.StandardOutput.BaseStream.ReadAtLeastAsync(buffer, buffer.Length).AsTask().WaitAsync(Wait);

            process.StandardOutput.Close();

            Assert.That(process.WaitForExit(TimeSpan.FromSeconds(5)), Is.True, "ffmpeg stops at its next write");
        }
        finally
        {
            ChildProcesses.Kill(process, TimeSpan.FromSeconds(5));
            process.Dispose();
        }
    }

    [Test]
    public void Decoders_are_started_so_that_they_die_with_this_process()
    {
        Assert.That(ChildProcesses.DieWithParent, Is.True, "setpriv (util-linux) gives every ffmpeg PR_SET_PDEATHSIG");
    }

    private static double Cv2Mean(Frame frame) => OpenCvSharp.Cv2.Mean(frame.Mat).Val0;
}
