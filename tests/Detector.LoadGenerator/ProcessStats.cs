using System.Diagnostics;

namespace Detector.LoadGenerator;

/// <summary>What this process holds right now, read from /proc where .NET has no direct API.</summary>
internal readonly record struct ProcessStats(double RssMiB, double GcHeapMiB, double GcCommittedMiB, int Handles, int Threads, int ChildProcesses)
{
    /// <param name="collect">
    /// Run a full garbage collection first, so the managed heap figure is live objects only (a leak shows as growth
    /// there) rather than wherever the allocation budget happens to stand, and the RSS is not inflated by garbage.
    /// </param>
    public static ProcessStats Now(bool collect = false)
    {
        var heap = GC.GetTotalMemory(forceFullCollection: collect);
        using var self = Process.GetCurrentProcess();
        return new ProcessStats(
            self.WorkingSet64 / 1048576.0,
            heap / 1048576.0,
            // What the GC holds from the OS (live objects, free space, gen-0 budget): the managed share of the RSS.
            GC.GetGCMemoryInfo().TotalCommittedBytes / 1048576.0,
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
