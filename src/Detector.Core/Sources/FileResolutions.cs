using System.Collections.Concurrent;
using System.Diagnostics;

namespace Detector.Core.Sources;

/// <summary>
/// The distinct frame sizes of a video file's key frames, in order, from ffprobe decoding only the key frames
/// (a size can only change at one). Cached per file version, so loops and reconnects do not probe again.
/// </summary>
internal static class FileResolutions
{
    private static readonly ConcurrentDictionary<(string Path, long Length, DateTime Modified), Task<IReadOnlyList<string>?>> Cache = new();

    /// <summary>The sizes as "WxH"; null when ffprobe is missing or fails (then nothing is known, nothing refused).</summary>
    public static Task<IReadOnlyList<string>?> Probe(string path)
    {
        var info = new FileInfo(path);
        return Cache.GetOrAdd((info.FullName, info.Length, info.LastWriteTimeUtc), key => Task.Factory.StartNew(() => Run(key.Path), CancellationToken.None,
            // ffprobe reads the whole file: a blocking wait that must not hold one of the thread pool's few threads.
            TaskCreationOptions.LongRunning, TaskScheduler.Default));
    }

    private static IReadOnlyList<string>? Run(string path)
    {
        Process process;
        try
        {
            // Started like the decoders (ChildProcesses): killed with this process, even by SIGKILL, instead of reading
            // the rest of the file for nobody. The path is absolute, so never taken for an option.
            process = ChildProcesses.StartAsync("ffprobe",
                ["-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries", "frame=width,height", "-of", "csv=p=0", path])
                .GetAwaiter().GetResult();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }

        using (process)
        {
            try
            {
                var stderr = process.StandardError.ReadToEndAsync();
                var sizes = new List<string>();
                while (process.StandardOutput.ReadLine() is { } line)
                {
                    var size = line.Trim().TrimEnd(',').Replace(',', 'x');
                    if (size.Length > 0 && (sizes.Count == 0 || sizes[^1] != size))
                    {
                        sizes.Add(size);
                    }
                }

                process.WaitForExit();
                _ = stderr.Result;
                return process.ExitCode == 0 ? sizes : null;
            }
            finally
            {
                ChildProcesses.Forget(process);
            }
        }
    }
}
