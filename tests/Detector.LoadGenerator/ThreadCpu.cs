using System.Globalization;
using System.Text.RegularExpressions;

namespace Detector.LoadGenerator;

/// <summary>
/// CPU time of this process's threads, summed by thread name (digits folded, so "stream s0" and "stream s3" are one
/// group), from /proc/self/task: where the cores went while the service ran. Threads that native code starts
/// (FFmpeg's decoder threads, ONNX Runtime's pool) carry the name they inherited or were given.
/// </summary>
internal sealed partial class ThreadCpu
{
    private readonly Dictionary<string, long> _ticks;

    private ThreadCpu(Dictionary<string, long> ticks) => _ticks = ticks;

    /// <summary>Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on every Linux build that matters).</summary>
    private const double TicksPerSecond = 100;

    public static ThreadCpu Now()
    {
        var ticks = new Dictionary<string, long>();
        if (!Directory.Exists("/proc/self/task"))
        {
            return new ThreadCpu(ticks);
        }

        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var name = Digits().Replace(stat[(stat.IndexOf('(') + 1)..stat.LastIndexOf(')')], "#");
                // After the name: state, ppid, ... utime is the 12th field and stime the 13th after the ')'.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var used = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                ticks[name] = ticks.GetValueOrDefault(name) + used;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The thread ended while we looked.
            }
        }

        return new ThreadCpu(ticks);
    }

    /// <summary>Each group's share of one core between <paramref name="before"/> and now, largest first.</summary>
    public IReadOnlyList<(string Group, double CorePercent)> Since(ThreadCpu before, TimeSpan elapsed) =>
        _ticks.Select(kv => (kv.Key, (kv.Value - before._ticks.GetValueOrDefault(kv.Key)) / TicksPerSecond / elapsed.TotalSeconds * 100))
            .Where(x => x.Item2 >= 0.5)
            .OrderByDescending(x => x.Item2)
            .ToList();

    [GeneratedRegex(@"\d+")]
    private static partial Regex Digits();
}
