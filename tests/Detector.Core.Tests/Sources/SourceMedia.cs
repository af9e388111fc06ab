using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

/// <summary>
/// The shared test videos, and short clips made from them with Debian's ffmpeg into a temporary
/// folder once per test run (other containers and codecs, a resolution change, broken files).
/// </summary>
internal static class SourceMedia
{
    private static readonly Lazy<string> SharedRoot = new(FindSharedRoot);
    private static readonly Lazy<string> ClipDir = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), $"detector-source-tests-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temp folder is harmless.
            }
        };
        return dir;
    });

    private static readonly Lock ClipLock = new();

    /// <summary>768x432 H.264 at 12.5 fps, 377 frames, with an AAC track.</summary>
    public static string Car => Video("car-detection.mp4");

    /// <summary>480x270 H.264 at 12 fps, 41 frames, B-frames.</summary>
    public static string Street => Video("person-bicycle-car-detection.mp4");

    /// <summary>768x432 H.264 at 10 fps, 1394 frames, a key frame every second.</summary>
    public static string People => Video("one-by-one-person-detection.mp4");

    public static string Video(string name)
    {
        var path = Path.Combine(SharedRoot.Value, "media", "video", name);
        if (!File.Exists(path))
        {
            Assert.Ignore($"Test video {path} is missing.");
        }

        return path;
    }

    /// <summary>A clip made once by running ffmpeg with <paramref name="arguments"/> ("{out}" is the output path).</summary>
    public static string Clip(string name, params string[] arguments)
    {
        var path = Path.Combine(ClipDir.Value, name);
        lock (ClipLock)
        {
            if (!File.Exists(path))
            {
                var temp = Path.Combine(ClipDir.Value, "tmp-" + name);
                Run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", .. arguments.Select(a => a == "{out}" ? temp : a)]);
                File.Move(temp, path);
            }
        }

        return path;
    }

    /// <summary>An MPEG-TS clip: 20 frames at 480x270, then 20 at 320x180, timestamps continuous.</summary>
    public static string ResolutionChange()
    {
        var big = Clip("change-a.ts", "-i", Street, "-frames:v", "20", "-an", "-c:v", "libx264", "-g", "10", "-bf", "0", "-f", "mpegts", "{out}");
        var small = Clip("change-b.ts", "-i", Street, "-frames:v", "20", "-an", "-vf", "scale=320:180", "-c:v", "libx264", "-g", "10", "-bf", "0",
            "-output_ts_offset", "1.6667", "-f", "mpegts", "{out}");
        var path = Path.Combine(ClipDir.Value, "change.ts");
        lock (ClipLock)
        {
            if (!File.Exists(path))
            {
                // Plain concatenation is valid MPEG-TS: the decoder meets a new SPS with the new size mid-stream.
                File.WriteAllBytes(path, [.. File.ReadAllBytes(big), .. File.ReadAllBytes(small)]);
            }
        }

        return path;
    }

    /// <summary>The same two sizes as mp4 files, for the RTSP server's playlist.</summary>
    public static (string Big, string Small) ResolutionChangeMp4() =>
        (Clip("change-a.mp4", "-i", Street, "-frames:v", "24", "-an", "-c:v", "libx264", "-g", "12", "-bf", "0", "{out}"),
         Clip("change-b.mp4", "-i", Street, "-frames:v", "24", "-an", "-vf", "scale=320:180", "-c:v", "libx264", "-g", "12", "-bf", "0", "{out}"));

    /// <summary>The first <paramref name="fraction"/> of <paramref name="source"/>'s bytes.</summary>
    public static string Truncated(string source, string name, double fraction)
    {
        var path = Path.Combine(ClipDir.Value, name);
        lock (ClipLock)
        {
            if (!File.Exists(path))
            {
                var bytes = File.ReadAllBytes(source);
                File.WriteAllBytes(path, bytes.AsSpan(0, (int)(bytes.Length * fraction)).ToArray());
            }
        }

        return path;
    }

    /// <summary>A file of random bytes with a video extension.</summary>
    public static string Garbage()
    {
        var path = Path.Combine(ClipDir.Value, "garbage.mp4");
        lock (ClipLock)
        {
            if (!File.Exists(path))
            {
                var bytes = new byte[256 * 1024];
                new Random(42).NextBytes(bytes);
                File.WriteAllBytes(path, bytes);
            }
        }

        return path;
    }

    /// <summary>The number of video frames ffprobe decodes from <paramref name="path"/>.</summary>
    public static int FfprobeFrameCount(string path)
    {
        var output = Run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path]);
        return int.Parse(output.Trim().TrimEnd(','), CultureInfo.InvariantCulture);
    }

    public static string Run(string program, IReadOnlyList<string> arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} failed ({process.ExitCode}): {stderr.Result}");
        }

        return stdout;
    }

    private static string FindSharedRoot()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("DETECTOR_SHARED_DIR");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return fromEnvironment;
        }

        var fromBuild = typeof(SourceMedia).Assembly.GetCustomAttribute<SharedDataAttribute>()?.Path;
        if (!string.IsNullOrEmpty(fromBuild) && Directory.Exists(fromBuild))
        {
            return fromBuild;
        }

        // The repository root is the folder with Detector.sln; the shared data sits beside it.
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Detector.sln")))
        {
            dir = dir.Parent;
        }

        return Path.GetFullPath(Path.Combine(dir?.FullName ?? ".", "..", "shared"));
    }
}
