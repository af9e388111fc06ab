using Detector.Core.Sources;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

public class FfmpegCommandTests
{
    [Test]
    public void Rtsp_goes_over_tcp_by_default_and_the_url_reaches_ffmpeg_on_stdin_not_its_command_line()
    {
        var address = StreamAddress.Parse("rtsp://u:p&b;rm$(x)@cam/x");

        var command = FfmpegArguments.Build(address, new StreamOptions());

        Assert.That(Option(command, "rtsp_transport"), Is.EqualTo("tcp"));
        Assert.That(Pair(command.Arguments, "-f"), Is.EqualTo("concat"));
        Assert.That(Pair(command.Arguments, "-i"), Is.EqualTo("pipe:0"));
        Assert.That(command.Input, Does.StartWith("ffconcat version 1.0\nfile 'rtsp://u:p&b;rm$(x)@cam/x'\n"));
        Assert.That(command.Arguments.Where(a => a.Contains("p&b", StringComparison.Ordinal) || a.Contains("cam/x", StringComparison.Ordinal)),
            Is.Empty, "no argument carries the address or its password (a command line is public)");
        Assert.That(Pair(command.Arguments, "-fps_mode"), Is.EqualTo("passthrough"));
        Assert.That(Pair(command.Arguments, "-pix_fmt"), Is.EqualTo("bgr24"));
        Assert.That(command.Arguments[^1], Is.EqualTo("pipe:1"));
    }

    [Test]
    public void A_quote_in_the_url_is_escaped_in_the_script_and_a_line_break_is_refused()
    {
        var script = FfmpegArguments.InputScript("rtsp://u:it's@cam/x", []);

        Assert.That(script, Is.EqualTo("ffconcat version 1.0\nfile 'rtsp://u:it'\\''s@cam/x'\n"));
        Assert.Throws<ArgumentException>(() => FfmpegArguments.InputScript("rtsp://cam/x'\nfile '/etc/passwd", []));
    }

    [Test]
    public void Udp_transport_and_hardware_decoding_are_passed_through_before_the_input()
    {
        var address = StreamAddress.Parse("rtsp://cam/x");

        var command = FfmpegArguments.Build(address, new StreamOptions { RtspTransport = RtspTransport.Udp, HardwareDecoding = ["-hwaccel", "cuda"] });

        Assert.That(Option(command, "rtsp_transport"), Is.EqualTo("udp"));
        Assert.That(Pair(command.Arguments, "-hwaccel"), Is.EqualTo("cuda"));
        Assert.That(command.Arguments.ToList().IndexOf("-hwaccel"), Is.LessThan(command.Arguments.ToList().IndexOf("-i")));
    }

    [Test]
    public void The_decoder_gets_one_thread_by_default_and_ffmpegs_own_choice_at_zero()
    {
        var address = StreamAddress.Parse("rtsp://cam/x");

        var one = FfmpegArguments.Build(address, new StreamOptions()).Arguments.ToList();
        var auto = FfmpegArguments.Build(address, new StreamOptions { DecoderThreads = 0 }).Arguments.ToList();

        Assert.That(Pair(one, "-threads"), Is.EqualTo("1"));
        Assert.That(one.IndexOf("-threads"), Is.LessThan(one.IndexOf("-i")), "before -i it sets the decoder's threads, after it the encoder's");
        Assert.That(auto, Does.Not.Contain("-threads"));
    }

    [Test]
    public void Ffmpeg_gives_up_on_a_dead_input_by_itself_later_than_the_stream_would()
    {
        var options = new StreamOptions { OpenTimeout = TimeSpan.FromSeconds(10), ReadTimeout = TimeSpan.FromSeconds(5) };

        var rtsp = FfmpegArguments.Build(StreamAddress.Parse("rtsp://cam/x"), options);
        var http = FfmpegArguments.Build(StreamAddress.Parse("http://cam/x.mjpg"), options);

        Assert.That(Option(rtsp, "timeout"), Is.EqualTo("20000000"));
        Assert.That(Option(http, "rw_timeout"), Is.EqualTo("20000000"));
        Assert.That(Option(http, "timeout"), Is.Null, "http's timeout option means something else (and an unknown one is ignored)");
    }

    [Test]
    public void The_output_header_gives_the_frame_size_and_rate()
    {
        const string line = "  Stream #0:0: Video: rawvideo (BGR[24] / 0x18524742), bgr24(pc, gbr/unknown/unknown, progressive), 768x432 [SAR 1:1 DAR 16:9], q=2-31, 79626 kb/s, 12.50 fps, 12.50 tbn";

        Assert.That(FfmpegLog.TryParseOutputVideo(line, out var format), Is.True);
        Assert.That(format, Is.EqualTo(new VideoFormat(768, 432, 12.5)));
    }

    [Test]
    public void A_showinfo_line_gives_the_frame_index_timestamp_and_decoded_size()
    {
        const string line = "[Parsed_showinfo_0 @ 0x564c7a54f980] n:  17 pts: 127500 pts_time:1.41667 pos:    18800 fmt:yuv420p sar:0/1 s:320x180 i:P iskey:0 type:P ";

        Assert.That(FfmpegLog.TryParseFrameInfo(line, out var info), Is.True);
        Assert.That(info.Index, Is.EqualTo(17));
        Assert.That(info.Pts!.Value.TotalSeconds, Is.EqualTo(1.41667).Within(1e-6));
        Assert.That((info.Width, info.Height), Is.EqualTo((320, 180)));
        Assert.That(FfmpegLog.TryParseFrameInfo("[Parsed_showinfo_0 @ 0x1] color_range:unknown", out _), Is.False);
    }

    [TestCase("rtsp://u:***@h/x: Server returned 401 Unauthorized (authorization failed)", StreamErrorKind.Unauthorized, true)]
    [TestCase("rtsp://h/x: Server returned 404 Not Found", StreamErrorKind.NotFound, false)]
    [TestCase("rtsp://127.0.0.1:8599/p: Connection refused", StreamErrorKind.Unreachable, false)]
    [TestCase("rtsp://nohost.invalid/p: Name or service not known", StreamErrorKind.Unreachable, false)]
    [TestCase("rtsp://h/p: Connection timed out", StreamErrorKind.Timeout, false)]
    [TestCase("gopher://h/p: Protocol not found", StreamErrorKind.Unsupported, true)]
    [TestCase("http://h/p: Invalid data found when processing input", StreamErrorKind.CorruptInput, false)]
    [TestCase("something nobody expected", StreamErrorKind.Other, false)]
    public void Ffmpeg_errors_are_classified(string lastLine, StreamErrorKind kind, bool permanent)
    {
        var error = FfmpegLog.Classify(["[rtsp @ 0x1] some context", lastLine], 1, "rtsp://masked");

        Assert.That(error.Kind, Is.EqualTo(kind));
        Assert.That(error.IsPermanent, Is.EqualTo(permanent));
        Assert.That(error.Message, Does.StartWith("rtsp://masked: "));
    }

    [Test]
    public void An_error_message_names_the_stream_once_and_keeps_ffmpegs_words()
    {
        var error = FfmpegLog.Classify(
            ["[tcp @ 0x55e1acc44680] Connection to tcp://127.0.0.1:8599?timeout=0 failed: Connection refused", "rtsp://u:***@127.0.0.1:8599/p: Connection refused"],
            1,
            "rtsp://u:***@127.0.0.1:8599/p");

        Assert.That(error.Message, Is.EqualTo("rtsp://u:***@127.0.0.1:8599/p: cannot reach the server (Connection refused)."));
    }

    [Test]
    public void An_error_message_leaves_out_the_name_of_ffmpegs_stdin()
    {
        // What ffmpeg 5.1 prints when the camera refuses the connection, the address coming from the script on stdin.
        var error = FfmpegLog.Classify(
            [
                "[tcp @ 0x559bf6369f00] Connection to tcp://127.0.0.1:8599?timeout=0 failed: Connection refused",
                "[concat @ 0x559bf6355940] Impossible to open 'rtsp://u:***@127.0.0.1:8599/p'",
                "pipe:0: Connection refused",
            ],
            1,
            "rtsp://u:***@127.0.0.1:8599/p");

        Assert.That(error.Message, Is.EqualTo("rtsp://u:***@127.0.0.1:8599/p: cannot reach the server (Connection refused)."));
    }

    [Test]
    public void An_ffmpeg_too_old_for_the_input_script_is_named_and_not_retried()
    {
        // ffmpeg 5.1's words for a directive it does not know; before 5.0, "option" was one.
        var error = FfmpegLog.Classify(
            ["[concat @ 0x563cd1575940] Line 3: unknown keyword 'option'", "pipe:0: Invalid data found when processing input"], 1, "rtsp://cam/x");

        Assert.That(error.Kind, Is.EqualTo(StreamErrorKind.Unsupported));
        Assert.That(error.IsPermanent, Is.True);
        Assert.That(error.Message, Is.EqualTo(
            "rtsp://cam/x: this ffmpeg is too old to read network streams here; version 5.0 or later is needed (Line 3: unknown keyword 'option')."));
    }

    [Test]
    public void A_silent_exit_says_its_exit_code_once()
    {
        var error = FfmpegLog.Classify([], 137, "rtsp://masked");

        Assert.That(error.Message, Is.EqualTo("rtsp://masked: ffmpeg stopped with exit code 137 and no output."));
    }

    /// <summary>The value of an <c>option</c> line of the command's ffconcat script, or null.</summary>
    private static string? Option(FfmpegCommand command, string name) =>
        command.Input.Split('\n').Where(l => l.StartsWith($"option {name} ", StringComparison.Ordinal))
            .Select(l => l[$"option {name} ".Length..]).SingleOrDefault();

    private static string Pair(IReadOnlyList<string> args, string name)
    {
        var index = args.ToList().IndexOf(name);
        Assert.That(index, Is.GreaterThanOrEqualTo(0), $"{name} missing from: {string.Join(' ', args)}");
        return args[index + 1];
    }
}
