using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Detector.Server.Tests.Faults;

/// <summary>
/// What the fault tests count, read from /proc: the decoder processes a server started, and this process's threads
/// by name (.NET names its threads in the kernel, cut to 15 characters).
/// </summary>
internal static partial class ProcessProbe
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    /// <summary>Live (not zombie) processes whose parent is <paramref name="parentPid"/> and whose name is <paramref name="comm"/>.</summary>
    public static List<int> Children(int parentPid, string comm = "ffmpeg") =>
        ChildrenOf(parentPid).Where(c => c.Name == comm && c.State != 'Z').Select(c => c.Pid).ToList();

    /// <summary>The names of every process whose parent is this one, zombies included (a child not reaped is a leak too).</summary>
    public static List<string> ChildProcessNames() => ChildrenOf(Environment.ProcessId).Select(c => c.Name).ToList();

    private static IEnumerable<(int Pid, string Name, char State)> ChildrenOf(int parentPid)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && TryReadStat(pid, out var name, out var state, out var ppid) && ppid == parentPid)
            {
                yield return (pid, name, state);
            }
        }
    }

    /// <summary>Each process's state and command line, for failure messages.</summary>
    public static string Describe(IEnumerable<int> pids) => string.Join("; ", pids.Select(pid =>
    {
        try
        {
            var state = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("State:", StringComparison.Ordinal));
            var command = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
            return $"{pid} ({state}): {command}";
        }
        catch (IOException)
        {
            return $"{pid} (gone)";
        }
    }));

    /// <summary>True while <paramref name="pid"/> exists and is not a zombie.</summary>
    public static bool IsAlive(int pid) => TryReadStat(pid, out _, out var state, out _) && state != 'Z';

    /// <summary>This process's threads: how many, and how many have a name starting with <paramref name="prefix"/>.</summary>
    public static int Threads(string? prefix = null)
    {
        var count = 0;
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            if (prefix is null)
            {
                count++;
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).StartsWith(prefix, StringComparison.Ordinal))
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // The thread ended while we looked.
            }
        }

        return count;
    }

    /// <summary>The names of this process's threads that start with <paramref name="prefix"/>, for failure messages.</summary>
    public static string ThreadNames(string prefix)
    {
        var names = new List<string>();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var name = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
                if (name.StartsWith(prefix, StringComparison.Ordinal))
                {
                    names.Add(name);
                }
            }
            catch (IOException)
            {
                // The thread ended while we looked.
            }
        }

        return string.Join(", ", names.Order(StringComparer.Ordinal));
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or the time is up; returns whether it held.</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > limit)
            {
                return false;
            }

            await Task.Delay(100);
        }

        return true;
    }

    public static void Signal(int pid, int signal)
    {
        if (SysKill(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    private static bool TryReadStat(int pid, out string comm, out char state, out int ppid)
    {
        comm = "";
        state = '?';
        ppid = 0;
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        // "pid (comm) state ppid ...": the name may hold spaces and parentheses, so split at the last ')'.
        var open = stat.IndexOf('(', StringComparison.Ordinal);
        var close = stat.LastIndexOf(')');
        if (open < 0 || close < open)
        {
            return false;
        }

        comm = stat[(open + 1)..close];
        var rest = stat[(close + 2)..].Split(' ');
        state = rest[0][0];
        ppid = int.Parse(rest[1], CultureInfo.InvariantCulture);
        return true;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);
}
