using System.Collections.Concurrent;
using System.Text;
using Serilog.Core;
using Serilog.Events;

namespace Detector.Server.Tests.Secrets;

/// <summary>
/// Every log event of every <see cref="ServerHost"/> in this test run, rendered to one line with its message, all
/// its properties and its exception, and checked for the test secrets' marker as it arrives. The lines with the
/// marker are all kept (for <see cref="SecretScanFixture"/> to report); of the others only the most recent few
/// thousand, so a whole run does not hold every per-frame Debug event in memory.
/// </summary>
internal sealed class LogCapture : ILogEventSink
{
    private const int RecentCapacity = 50_000;

    private readonly ConcurrentQueue<string> _recent = new();
    private readonly ConcurrentQueue<string> _leaks = new();
    private long _events;
    private int _reported;

    /// <summary>The capture every <see cref="ServerHost"/> writes to.</summary>
    public static LogCapture Instance { get; } = new();

    /// <summary>Events seen so far.</summary>
    public long Events => Interlocked.Read(ref _events);

    /// <summary>The lines that carry the marker, unredacted.</summary>
    public IReadOnlyCollection<string> Leaks => _leaks.ToArray();

    /// <summary>The latest lines, oldest first.</summary>
    public IReadOnlyList<string> Recent => _recent.ToArray();

    public void Emit(LogEvent logEvent) => Add(Render(logEvent));

    /// <summary>What <see cref="SecretScanFixture"/> fails the run with; null when no line carries the marker.</summary>
    public string? LeakReport() => Report(Leaks);

    /// <summary>The report of the leaks since the previous call (each test's own check); null when there are none.</summary>
    public string? NewLeakReport()
    {
        var all = Leaks;
        var seen = Interlocked.Exchange(ref _reported, all.Count);
        return Report(all.Skip(seen).ToList());
    }

    private string? Report(IReadOnlyCollection<string> lines)
    {
        var leaks = CredentialScan.Find(lines);
        return leaks.Count == 0 ? null
            : $"{leaks.Count} of {Events:N0} log lines carry a test secret (shown with it replaced by <MARKER>):\n" + string.Join("\n", leaks.Take(50));
    }

    private void Add(string line)
    {
        Interlocked.Increment(ref _events);
        if (CredentialScan.Contains(line))
        {
            _leaks.Enqueue(line);
        }

        _recent.Enqueue(line);
        while (_recent.Count > RecentCapacity && _recent.TryDequeue(out _))
        {
        }
    }

    public static string Render(LogEvent e)
    {
        var line = new StringBuilder();
        line.Append(e.Level).Append(' ').Append(e.RenderMessage());
        foreach (var (name, value) in e.Properties)
        {
            line.Append(" | ").Append(name).Append('=').Append(value.ToString());
        }

        if (e.Exception is { } exception)
        {
            line.Append(" | exception: ").Append(exception);
        }

        return line.ToString();
    }
}
