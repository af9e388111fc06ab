using System.Diagnostics;

namespace Detector.LoadGenerator;

/// <summary>What this process holds right now, read from /proc where .NET has no direct API.</summary>
internal readonly record struct ProcessStats(double RssMiB, double GcHeapMiB, int Handles, int Threads, int ChildProcesses)
{
    public static ProcessStats Now()
    {
        using var self = Process.GetCurrentProcess();
        return new ProcessStats(
            self.WorkingSet64 / 1048576.0,
            GC.GetTotalMemory(forceFullCollection: false) / 1048576.0,
            CountEntries("/proc/self/fd"),
            CountEntries("/proc/self/task"),
            CountChildren(Environment.ProcessId));
    }

    private static int CountEntries(string folder) =>
        Directory.Exists(folder) ? Directory.EnumerateFileSystemEntries(folder).Count() : -1;

    /// <summary>Processes whose parent is this one (ffmpeg readers), from the fourth field of /proc/PID/stat.</summary>
    private static int CountChildren(int pid)
    {
        var count = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!Path.GetFileName(dir).All(char.IsAsciiDigit))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                // The command name is in parentheses and may hold spaces: the fields after its ')' are fixed.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields.Length > 1 && fields[1] == pid.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    count++;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked, or is not ours to read.
            }
        }

        return count;
    }
}
