using Detector.Server.Streams;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Security;

/// <summary>
/// Hostile and forbidden stream addresses, each refused with its status and a clear message that shows no password,
/// without starting a decoder; a stream already running is not disturbed by any of them.
/// </summary>
[NonParallelizable]
public class SourcePolicyTests
{
    private const string Keeper = "keeper";
    private string _root = null!;
    private string _allowed = null!;
    private string _outside = null!;
    private ServerHost _host = null!;

    private Rpc.Detector.DetectorClient Client => _host.Client;

    [OneTimeSetUp]
    public async Task Start()
    {
        // allowed/ is the only file root; outside/ holds the same clip; links in allowed/ lead out, in, and round.
        _root = Path.Combine(Path.GetTempPath(), $"detector-sources-{Guid.NewGuid():N}");
        _allowed = Directory.CreateDirectory(Path.Combine(_root, "allowed")).FullName;
        _outside = Directory.CreateDirectory(Path.Combine(_root, "outside")).FullName;
        var clip = Shared.Video("person-bicycle-car-detection.mp4");
        File.Copy(clip, Path.Combine(_allowed, "clip.mp4"));
        File.Copy(clip, Path.Combine(_outside, "clip.mp4"));
        File.CreateSymbolicLink(Path.Combine(_allowed, "escape.mp4"), Path.Combine(_outside, "clip.mp4"));
        Directory.CreateSymbolicLink(Path.Combine(_allowed, "outdir"), "../outside");
        File.CreateSymbolicLink(Path.Combine(_allowed, "inner.mp4"), "clip.mp4");
        File.CreateSymbolicLink(Path.Combine(_allowed, "loop"), "loop");

        _host = await ServerHost.StartAsync(new Dictionary<string, string>
        {
            ["Detector:Sources:AllowedFileRoots:0"] = _allowed,
            ["Detector:Streams:0:Id"] = "configured-outside",
            ["Detector:Streams:0:Url"] = Path.Combine(_outside, "clip.mp4"),
        });
        await Client.AddStreamAsync(new Rpc.AddStreamRequest
        {
            Id = Keeper, Url = Path.Combine(_allowed, "clip.mp4"), Options = new Rpc.StreamOptions { Loop = true, TargetFps = 5 },
        });
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        await _host.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    /// <summary>After every test: the stream that was running before still produces results.</summary>
    [TearDown]
    public async Task The_running_stream_keeps_producing_results()
    {
        var before = (await Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = Keeper })).FramesProcessed;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        Rpc.StreamInfo info;
        do
        {
            await Task.Delay(100);
            info = await Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = Keeper });
        }
        while (info.FramesProcessed <= before && DateTime.UtcNow < deadline);

        Assert.That(info.FramesProcessed, Is.GreaterThan(before), $"the {Keeper} stream stopped: {info.State} {info.LastError}");
    }

    private string Expand(string url) => url.Replace("{allowed}", _allowed).Replace("{outside}", _outside);

    /// <summary>Adds a stream at <paramref name="url"/>, expecting a refusal; checks no decoder process was started.</summary>
    private async Task<RpcException> Refused(string url, StatusCode code, string messagePart)
    {
        var decoders = DecoderProcesses();
        var e = (await Assert.ThrowsAsync<RpcException>(async () =>
            await Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "hostile", Url = url })))!;
        Assert.That(e.StatusCode, Is.EqualTo(code), e.Status.Detail);
        Assert.That(e.Status.Detail, Does.Contain(messagePart));
        Assert.That(e.Status.Detail, Does.Not.Contain("Sekr1t"));
        Assert.That(e.Status.Detail.Length, Is.LessThan(600));
        await Task.Delay(200);
        Assert.That(DecoderProcesses(), Is.EqualTo(decoders), "a decoder process was started for a refused address");
        Assert.That((await Client.ListStreamsAsync(new Rpc.ListStreamsRequest())).Streams.Select(s => s.Id), Is.EqualTo(new[] { Keeper }));
        return e;
    }

    /// <summary>ffmpeg and ffprobe processes whose parent is this process (setpriv execs in place, keeping the pid).</summary>
    private static int DecoderProcesses()
    {
        var me = Environment.ProcessId;
        var count = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var close = stat.LastIndexOf(')');
                var name = stat[(stat.IndexOf('(') + 1)..close];
                var parent = int.Parse(stat[(close + 2)..].Split(' ')[1]);
                count += parent == me && name is "ffmpeg" or "ffprobe" ? 1 : 0;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                // Not a process directory, or the process exited while being read.
            }
        }

        return count;
    }

    [TestCase("/etc/passwd", "'/etc/passwd' is outside")]
    [TestCase("{allowed}/../outside/clip.mp4", "outside/clip.mp4' is outside")]
    [TestCase("file://{outside}/clip.mp4", "outside/clip.mp4' is outside")]
    [TestCase("{allowed}/escape.mp4", "outside/clip.mp4' is outside")]
    [TestCase("{allowed}/outdir/clip.mp4", "outside/clip.mp4' is outside")]
    public async Task A_file_outside_the_allowed_folders_is_permission_denied_wherever_its_path_or_links_lead(string url, string message)
    {
        var e = await Refused(Expand(url), StatusCode.PermissionDenied, message);
        Assert.That(e.Status.Detail, Does.Contain("Detector:Sources:AllowedFileRoots"));
    }

    [Test]
    public async Task An_address_that_looks_like_an_ffmpeg_option_is_a_relative_file_name_and_is_judged_as_its_full_path()
    {
        var e = await Refused("-i /etc/passwd", StatusCode.PermissionDenied, "is outside");
        Assert.That(e.Status.Detail, Does.Contain($"'{Path.Combine(Environment.CurrentDirectory, "-i /etc/passwd")}'"));
    }

    [Test]
    public Task A_loop_of_links_is_invalid_argument() =>
        Refused(Expand("{allowed}/loop/clip.mp4"), StatusCode.InvalidArgument, "symbolic links");

    [Test]
    public async Task A_scheme_left_out_of_the_allowed_ones_is_permission_denied()
    {
        var e = await Refused("udp://127.0.0.1:5004", StatusCode.PermissionDenied, "udp");
        Assert.That(e.Status.Detail, Does.Contain("Detector:Sources:AllowedSchemes"));
    }

    [TestCase("rtsp://127.0.0.1:1/cam|id", "'|' at position 23")]
    [TestCase("rtsp://127.0.0.1:1/cam`id`", "'`' at position 23")]
    [TestCase("rtsp://127.0.0.1:1/cam id", "a space at position 23")]
    [TestCase("rtsp://127.0.0.1:1/cam\nid", "control characters")]
    [TestCase("rtsp://127.0.0.1:1/cam\0", "control characters")]
    [TestCase("rtsp://admin:pw Sekr1t@127.0.0.1:1/cam", "rtsp://***@127.0.0.1:1/cam")]
    [TestCase("rtsp://admin:pw-Sekr1t@127.0.0.1:1/cam|id", "rtsp://admin:***@127.0.0.1:1/cam|id")]
    [TestCase("rtsp://admin:pw\"Sekr1t@127.0.0.1:1/cam", "'\"'")]
    [TestCase("rtsp://admin:pw-Sekr1t@127.0.0.1:1/cam\nx", "rtsp://admin:***@")]
    [TestCase("rtmp://127.0.0.1/live", "Unsupported scheme 'rtmp'")]
    public Task A_malformed_or_hostile_url_is_invalid_argument_and_shows_no_password(string url, string message) =>
        Refused(url, StatusCode.InvalidArgument, message);

    [Test]
    public async Task An_absurdly_long_url_is_invalid_argument_and_not_echoed()
    {
        var e = await Refused("rtsp://admin:pw-Sekr1t@127.0.0.1:1/" + new string('a', 5000), StatusCode.InvalidArgument, "at most 4096");
        Assert.That(e.Status.Detail.Length, Is.LessThan(120));
    }

    [Test]
    public async Task Shell_metacharacters_that_urls_allow_reach_ffmpeg_as_one_argument_and_no_shell_runs_them()
    {
        var marker = Path.Combine(_root, "shell-ran");
        var url = $"rtsp://admin:pw-Sekr1t@127.0.0.1:1/cam;touch$IFS{marker};$(touch$IFS{marker})&x=`";
        await Refused(url, StatusCode.InvalidArgument, "'`'");

        url = $"rtsp://admin:pw-Sekr1t@127.0.0.1:1/cam;touch$IFS{marker};$(touch$IFS{marker})&x=1";
        var info = await Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "metachars", Url = url });
        try
        {
            Assert.That(info.MaskedUrl, Does.StartWith("rtsp://admin:***@127.0.0.1:1/cam;touch$IFS"));
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (info.LastError.Length == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
                info = await Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = "metachars" });
            }

            // ffmpeg ran, tried port 1 and failed; nothing it was given was run as a command.
            Assert.That(info.LastError, Is.Not.Empty);
            Assert.That(info.LastError, Does.Not.Contain("Sekr1t"));
            Assert.That(info.State, Is.Not.EqualTo(Rpc.StreamState.Running));
            Assert.That(File.Exists(marker), Is.False, "a shell ran part of the URL");
        }
        finally
        {
            await Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = "metachars" });
        }
    }

    [Test]
    public async Task A_link_inside_the_allowed_folder_to_a_file_inside_it_plays_from_its_real_path()
    {
        var info = await Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "inner", Url = Path.Combine(_allowed, "inner.mp4") });
        try
        {
            Assert.That(info.MaskedUrl, Is.EqualTo(Path.Combine(_allowed, "clip.mp4")));
        }
        finally
        {
            await Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = "inner" });
        }
    }

    [Test]
    public async Task A_configured_stream_outside_the_allowed_folders_is_not_started_and_counts_as_failed()
    {
        var streams = _host.Services.GetRequiredService<StreamManager>();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (streams.SourceCounts().Failed == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.That(streams.SourceCounts(), Is.EqualTo((2, 1)));
        var e = (await Assert.ThrowsAsync<RpcException>(async () =>
            await Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = "configured-outside" })))!;
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.NotFound));
    }
}
