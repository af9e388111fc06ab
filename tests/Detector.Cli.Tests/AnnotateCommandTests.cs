using System.Diagnostics;
using System.Text.Json;

namespace Detector.Cli.Tests;

public class AnnotateCommandTests
{
    private static int CountFrames(string video)
    {
        var psi = new ProcessStartInfo("ffprobe") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", video })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return int.Parse(text.Trim());
    }

    [Test]
    public void Annotate_writes_every_frame_with_boxes_and_one_json_line_per_frame()
    {
        var input = Shared.Video("person-bicycle-car-detection.mp4");
        var dir = Path.Combine(Path.GetTempPath(), $"annotate-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var output = Path.Combine(dir, "out.mp4");
        var jsonl = Path.Combine(dir, "out.jsonl");

        var r = CliRunner.Run("annotate", "--model", Shared.YoloxNano, "--input", input, "--out", output, "--jsonl", jsonl);

        Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
        var frames = CountFrames(input);
        Assert.That(CountFrames(output), Is.EqualTo(frames));
        var lines = File.ReadAllLines(jsonl);
        Assert.That(lines, Has.Length.EqualTo(frames));
        var numbers = lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("frame").GetInt64()).ToList();
        Assert.That(numbers, Is.EqualTo(Enumerable.Range(0, frames).Select(i => (long)i)));
        // A street: people, bicycles and cars, small at 480x270; most frames show at least one of them.
        Assert.That(lines.Count(l => l.Contains("\"person\"") || l.Contains("\"car\"") || l.Contains("\"bicycle\"")), Is.GreaterThan(frames / 2));
        Assert.That(r.Stderr, Does.Contain($"{frames}/{frames} frames"), "progress reached the end");
    }

    [Test]
    public void Annotate_of_a_missing_video_is_a_one_line_error()
    {
        var r = CliRunner.Run("annotate", "--model", Shared.YoloxNano, "--input", "/no/such/video.mp4", "--out", "/tmp/x.mp4");
        Assert.That(r.ExitCode, Is.Not.EqualTo(0));
        Assert.That(r.Stderr.Trim().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(r.Stderr, Does.StartWith("error: ").And.Contain("does not exist"));
    }
}
