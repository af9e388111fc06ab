using System.Collections.Concurrent;
using System.Globalization;
using Detector.Core.Sources;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

/// <summary>Collects every log line, formatted, so tests can look for leaked secrets; echoes to the test log.</summary>
internal sealed class CollectingLoggerFactory : ILoggerFactory, ILogger
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var line = $"{logLevel}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.Message)}";
        // Structured values too: a secret must not hide in a property that a JSON sink would print.
        if (state is IEnumerable<KeyValuePair<string, object?>> properties)
        {
            line += " | " + string.Join(", ", properties.Select(p => $"{p.Key}={Convert.ToString(p.Value, CultureInfo.InvariantCulture)}"));
        }

        Lines.Enqueue(line);
        if (logLevel >= LogLevel.Information)
        {
            TestContext.Progress.WriteLine(line);
        }
    }
}

internal static class Eventually
{
    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task<TimeSpan> HoldsAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (!condition())
        {
            if (TimeProvider.System.GetElapsedTime(started) > timeout)
            {
                Assert.Fail($"Timed out after {timeout.TotalSeconds:0.#} s waiting for: {what}");
            }

            await Task.Delay(20);
        }

        return TimeProvider.System.GetElapsedTime(started);
    }

    public static Task<TimeSpan> StateAsync(VideoStream stream, StreamState state, TimeSpan timeout) =>
        HoldsAsync(() => stream.State == state, timeout, $"stream {stream.Id} to be {state} (it is {stream.State}, last error: {stream.LastError})");
}

/// <summary>The processes this test process started, read from /proc.</summary>
internal static class ChildProcessList
{
    public static IReadOnlyList<(int Pid, string Name)> Children()
    {
        var self = Environment.ProcessId;
        var children = new List<(int, string)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            // "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split after the last ')'.
            var close = stat.LastIndexOf(')');
            var open = stat.IndexOf('(');
            if (open < 0 || close < open)
            {
                continue;
            }

            var fields = stat[(close + 2)..].Split(' ');
            if (fields.Length > 1 && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ppid) && ppid == self)
            {
                children.Add((pid, stat[(open + 1)..close]));
            }
        }

        return children;
    }

    public static int Count(string name) => Children().Count(c => c.Name == name);
}
