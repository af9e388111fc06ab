using Detector.Core.Sources;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

/// <summary>Real files through OpenCvSharp: counts, pacing, looping, containers, and broken input.</summary>
public class FileSourceTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private static readonly StreamOptions Fast = new() { Mode = PlaybackMode.AsFastAsPossible };

    [TestCase("car-detection.mp4")]
    [TestCase("person-bicycle-car-detection.mp4")]
    public async Task As_fast_as_possible_reads_exactly_the_frames_ffprobe_counts(string name)
    {
        var path = SourceMedia.Video(name);
        var expected = SourceMedia.FfprobeFrameCount(path);
        await using var stream = new VideoStream("file", StreamAddress.Parse(path), Fast);

        stream.Start();
        var (count, numbersInOrder) = await DrainAsync(stream);

        Assert.That(count, Is.EqualTo(expected));
        Assert.That(numbersInOrder, Is.True);
        Assert.That(stream.State, Is.EqualTo(StreamState.Ended));
        Assert.That(stream.Stats.Dropped, Is.Zero);
        Assert.That(stream.Pool.Stats.Outstanding, Is.Zero);
        Assert.That(stream.Pool.Stats.Allocated, Is.LessThanOrEqualTo(Fast.QueueCapacity + 2), "frames are decoded into reused buffers");
    }

    [Test]
    public async Task Frames_are_bgr_with_rising_timestamps()
    {
        await using var stream = new VideoStream("file", StreamAddress.Parse(SourceMedia.Street), Fast);
        stream.Start();
        var pts = new List<TimeSpan>();

        await foreach (var frame in stream.ReadAllAsync())
        {
            using (frame)
            {
                Assert.That((frame.Width, frame.Height, frame.Mat.Channels()), Is.EqualTo((480, 270, 3)));
                pts.Add(frame.Pts!.Value);
            }
        }

        Assert.That(pts, Is.Ordered.Ascending);
        Assert.That(pts.Distinct().Count(), Is.EqualTo(pts.Count));
        Assert.That((pts[^1] - pts[0]).TotalSeconds, Is.EqualTo(40 / 12.0).Within(0.05), "41 frames at 12 fps");
    }

    [Test]
    public async Task Live_mode_plays_a_file_at_its_own_rate()
    {
        await using var stream = new VideoStream("file", StreamAddress.Parse(SourceMedia.Street), new StreamOptions { Mode = PlaybackMode.Live });
        var capture = new List<DateTimeOffset>();
        stream.Start();

        while (capture.Count < 13 && await stream.ReadAsync() is { } frame)
        {
            capture.Add(frame.CaptureTime);
            frame.Dispose();
        }

        // 12 intervals at 12 fps: one second, like a camera; a batch reader would take a few milliseconds.
        Assert.That((capture[^1] - capture[0]).TotalSeconds, Is.EqualTo(1.0).Within(0.15));
        Assert.That(stream.Stats.DroppedStale, Is.Zero, "a consumer that keeps up loses nothing");
    }

    [Test]
    public async Task Looping_starts_over_with_timestamps_still_rising()
    {
        await using var stream = new VideoStream("file", StreamAddress.Parse(SourceMedia.Street), Fast with { Loop = true });
        stream.Start();
        var frames = new List<(long Number, TimeSpan Pts)>();

        while (frames.Count < 100 && await stream.ReadAsync() is { } frame)
        {
            frames.Add((frame.Number, frame.Pts!.Value));
            frame.Dispose();
        }

        Assert.That(frames.Select(f => f.Number), Is.EqualTo(Enumerable.Range(0, 100).Select(i => (long)i)), "41 frames per pass, counting on");
        Assert.That(frames.Select(f => f.Pts), Is.Ordered.Ascending);
        Assert.That((frames[41].Pts - frames[40].Pts).TotalSeconds, Is.EqualTo(1 / 12.0).Within(0.01), "no gap or jump at the loop point");
        Assert.That(stream.State, Is.EqualTo(StreamState.Running));
    }

    [TestCase("mjpeg.avi", "-c:v", "mjpeg", "-q:v", "5")]
    [TestCase("hevc.mkv", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error")]
    [TestCase("mpeg4.mp4", "-c:v", "mpeg4")]
    public async Task Other_containers_and_codecs_are_read(string name, params string[] codec)
    {
        var clip = SourceMedia.Clip(name, ["-i", SourceMedia.Street, "-an", .. codec, "{out}"]);
        await using var stream = new VideoStream("file", StreamAddress.Parse(clip), Fast);

        stream.Start();
        var (count, _) = await DrainAsync(stream);

        Assert.That(count, Is.EqualTo(41));
        Assert.That(stream.Format, Is.EqualTo(new VideoFormat(480, 270, 12)).Using<VideoFormat?>((a, b) => a!.Value.Width == b!.Value.Width && a.Value.Height == b.Value.Height));
        Assert.That(stream.State, Is.EqualTo(StreamState.Ended));
    }

    [Test]
    public async Task A_missing_file_fails_with_a_clear_error()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-dir", "missing.mp4");
        await using var stream = new VideoStream("file", StreamAddress.Parse(path), Fast);

        stream.Start();
        await stream.Completion;

        Assert.That(stream.State, Is.EqualTo(StreamState.Failed));
        Assert.That(stream.LastErrorKind, Is.EqualTo(StreamErrorKind.NotFound));
        Assert.That(stream.LastError, Is.EqualTo($"Video file not found: '{path}'."));
        Assert.That(stream.Stats.Reconnects, Is.Zero, "retrying cannot make a file appear");
    }

    [Test]
    public async Task A_file_that_is_not_a_video_fails_with_a_clear_error()
    {
        await using var stream = new VideoStream("file", StreamAddress.Parse(SourceMedia.Garbage()), Fast);

        stream.Start();
        await stream.Completion;

        Assert.That(stream.State, Is.EqualTo(StreamState.Failed));
        Assert.That(stream.LastErrorKind, Is.EqualTo(StreamErrorKind.CorruptInput));
        Assert.That(stream.LastError, Does.StartWith("Cannot open 'garbage.mp4' as a video"));
    }

    [Test]
    public async Task A_truncated_mp4_without_its_index_cannot_be_opened()
    {
        // ffmpeg writes the moov index at the end unless told otherwise; cut the file and the index is gone.
        var whole = SourceMedia.Clip("index-last.mp4", "-i", SourceMedia.Car, "-an", "-c", "copy", "{out}");
        var cut = SourceMedia.Truncated(whole, "index-last-cut.mp4", 0.5);
        await using var stream = new VideoStream("file", StreamAddress.Parse(cut), Fast);

        stream.Start();
        await stream.Completion;

        Assert.That(stream.State, Is.EqualTo(StreamState.Failed));
        Assert.That(stream.LastError, Does.StartWith("Cannot open 'index-last-cut.mp4' as a video"));
    }

    [Test]
    public async Task A_truncated_mp4_delivers_what_it_has_then_fails_saying_how_much_was_missing()
    {
        var whole = SourceMedia.Clip("index-first.mp4", "-i", SourceMedia.Car, "-an", "-c", "copy", "-movflags", "+faststart", "{out}");
        var cut = SourceMedia.Truncated(whole, "index-first-cut.mp4", 0.5);
        await using var stream = new VideoStream("file", StreamAddress.Parse(cut), Fast);

        stream.Start();
        var (count, _) = await DrainAsync(stream);

        Assert.That(count, Is.InRange(100, 300));
        Assert.That(stream.State, Is.EqualTo(StreamState.Failed));
        Assert.That(stream.LastErrorKind, Is.EqualTo(StreamErrorKind.CorruptInput));
        Assert.That(stream.LastError, Does.Match(@"^'index-first-cut\.mp4' ended after \d+ of 377 frames: the file is truncated or corrupt\.$"));
    }

    [Test]
    public async Task A_file_whose_resolution_changes_mid_way_fails_with_a_clear_error()
    {
        // OpenCV's FFmpeg backend would scale every frame to the size it found on opening and report that size
        // throughout, so the reader asks ffprobe for the key frames' sizes and refuses such a file clearly.
        await using var stream = new VideoStream("file", StreamAddress.Parse(SourceMedia.ResolutionChange()), Fast);
        stream.Start();
        var count = 0;
        await foreach (var frame in stream.ReadAllAsync())
        {
            count++;
            frame.Dispose();
        }

        Assert.That(stream.State, Is.EqualTo(StreamState.Failed));
        Assert.That(stream.LastErrorKind, Is.EqualTo(StreamErrorKind.FormatChanged));
        Assert.That(stream.LastError, Does.Contain("changes resolution mid-file (480x270, then 320x180)"));
        Assert.That(count, Is.Zero, "refused before any frame in the wrong size went out");
        Assert.That(stream.Pool.Stats.Outstanding, Is.Zero);
    }

    [Test]
    public async Task A_broken_file_does_not_disturb_another_stream()
    {
        await using var good = new VideoStream("good", StreamAddress.Parse(SourceMedia.Street), Fast);
        await using var bad = new VideoStream("bad", StreamAddress.Parse(SourceMedia.Garbage()), Fast);

        good.Start();
        bad.Start();
        var (count, _) = await DrainAsync(good);
        await bad.Completion;

        Assert.That(count, Is.EqualTo(41));
        Assert.That(good.State, Is.EqualTo(StreamState.Ended));
        Assert.That(good.LastError, Is.Null);
        Assert.That(bad.State, Is.EqualTo(StreamState.Failed));
    }

    [TestCase(1, false)]
    [TestCase(0, true)]
    public async Task A_stream_decodes_with_the_threads_its_options_give(int decoderThreads, bool ffmpegThreadsExpected)
    {
        // FFmpeg names its frame-decoding threads "av:h264:df<n>". Left to choose, it starts one per core for every
        // stream; one thread (the default) decodes on the stream's own reader thread and starts none.
        Assume.That(Environment.ProcessorCount, Is.GreaterThanOrEqualTo(2), "FFmpeg starts no extra threads on one core");
        var before = FfmpegThreads();
        await using var stream = new VideoStream("file", StreamAddress.Parse(SourceMedia.People),
            new StreamOptions { Mode = PlaybackMode.AsFastAsPossible, DecoderThreads = decoderThreads });
        stream.Start();
        using var timeout = new CancellationTokenSource(Wait);
        for (var i = 0; i < 10; i++)
        {
            (await stream.ReadAsync(timeout.Token))!.Dispose();
        }

        var started = FfmpegThreads() - before;

        Assert.That(started, ffmpegThreadsExpected ? Is.GreaterThan(0) : Is.Zero, $"FFmpeg decoder threads started with DecoderThreads = {decoderThreads}");
    }

    [Test]
    public void Decoder_threads_beyond_ffmpegs_limit_are_refused()
    {
        var address = StreamAddress.Parse(SourceMedia.People);
        Assert.That(() => new StreamOptions { DecoderThreads = -1 }.Validate(address), Throws.ArgumentException.With.Message.Contains("Decoder threads"));
        Assert.That(() => new StreamOptions { DecoderThreads = StreamOptions.MaxDecoderThreads + 1 }.Validate(address), Throws.ArgumentException);
    }

    private static int FfmpegThreads() =>
        Directory.EnumerateDirectories("/proc/self/task")
            .Count(t => File.Exists(Path.Combine(t, "comm")) && TryRead(Path.Combine(t, "comm")).StartsWith("av:", StringComparison.Ordinal));

    private static string TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return ""; // the thread ended between listing and reading
        }
    }

    private static async Task<(int Count, bool InOrder)> DrainAsync(VideoStream stream)
    {
        using var timeout = new CancellationTokenSource(Wait);
        var count = 0;
        var inOrder = true;
        await foreach (var frame in stream.ReadAllAsync(timeout.Token))
        {
            inOrder &= frame.Number == count;
            count++;
            frame.Dispose();
        }

        return (count, inOrder);
    }
}
