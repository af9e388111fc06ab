using System.Collections.Concurrent;
using Detector.Core.Sources;
using Microsoft.Extensions.Time.Testing;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

/// <summary>What one scripted connection attempt does.</summary>
internal sealed record Attempt
{
    public FrameSourceException? OpenError { get; init; }

    public bool OpenHangs { get; init; }

    public int Frames { get; init; }

    /// <summary>Fake time between frames.</summary>
    public TimeSpan FrameInterval { get; init; }

    public FrameSourceException? ThenError { get; init; }

    public bool ThenHang { get; init; }

    public int Width { get; init; } = 4;

    public static Attempt FailsToOpen(StreamErrorKind kind = StreamErrorKind.Unreachable, bool permanent = false) =>
        new() { OpenError = new FrameSourceException(kind, $"scripted {kind}", permanent) };

    public static Attempt Delivers(int frames) => new() { Frames = frames };
}

/// <summary>Readers that follow a script, one <see cref="Attempt"/> per connection, on fake time.</summary>
internal sealed class ScriptedSource(FakeTimeProvider time, params Attempt[] script)
{
    private int _attempts;

    public int Attempts => Volatile.Read(ref _attempts);

    /// <summary>Fake time at which each attempt opened and ended.</summary>
    public ConcurrentDictionary<int, (DateTimeOffset Opened, DateTimeOffset? Ended)> Log { get; } = new();

    public IFrameReader Create(FramePool pool)
    {
        var n = Interlocked.Increment(ref _attempts);
        var attempt = script[Math.Min(n, script.Length) - 1];
        return new Reader(this, n, attempt, pool, time);
    }

    private sealed class Reader(ScriptedSource source, int n, Attempt attempt, FramePool pool, FakeTimeProvider time) : IFrameReader
    {
        private int _sent;

        public VideoFormat Format => new(attempt.Width, 4, 10);

        public long DecodeErrors => 0;

        public void Open(CancellationToken cancellationToken)
        {
            source.Log[n] = (time.GetUtcNow(), null);
            if (attempt.OpenHangs)
            {
                cancellationToken.WaitHandle.WaitOne();
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (attempt.OpenError is { } error)
            {
                throw error;
            }
        }

        public Frame? Read(CancellationToken cancellationToken)
        {
            if (_sent < attempt.Frames)
            {
                if (attempt.FrameInterval > TimeSpan.Zero && _sent > 0)
                {
                    using var interval = new CancellationTokenSource(attempt.FrameInterval, time);
                    using var either = CancellationTokenSource.CreateLinkedTokenSource(interval.Token, cancellationToken);
                    either.Token.WaitHandle.WaitOne();
                    cancellationToken.ThrowIfCancellationRequested();
                }

                var frame = pool.Rent(attempt.Width, 4);
                frame.Pts = TimeSpan.FromMilliseconds(100 * _sent++);
                frame.CaptureTime = time.GetUtcNow();
                return frame;
            }

            if (attempt.ThenHang)
            {
                cancellationToken.WaitHandle.WaitOne();
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (attempt.ThenError is { } error)
            {
                throw error;
            }

            return null;
        }

        public void Dispose() =>
            source.Log[n] = (source.Log.TryGetValue(n, out var entry) ? entry.Opened : time.GetUtcNow(), time.GetUtcNow());
    }
}

internal static class FakeTime
{
    /// <summary>
    /// Moves fake time forward in small steps, letting the supervisor run between them, until
    /// <paramref name="condition"/> holds. Steps keep the supervisor's timers honest: a timer is
    /// never skipped past, only reached up to one step late.
    /// </summary>
    public static Task StepUntilAsync(this FakeTimeProvider time, Func<bool> condition, TimeSpan limit, string what) =>
        time.StepUntilAsync(condition, limit, () => what);

    public static async Task StepUntilAsync(this FakeTimeProvider time, Func<bool> condition, TimeSpan limit, Func<string> what)
    {
        var step = TimeSpan.FromMilliseconds(50);
        var advanced = TimeSpan.Zero;
        var started = TimeProvider.System.GetTimestamp();
        while (!condition())
        {
            if (advanced > limit || TimeProvider.System.GetElapsedTime(started) > TimeSpan.FromSeconds(20))
            {
                Assert.Fail($"Still waiting after {advanced.TotalSeconds:0.##} fake s for: {what()}");
            }

            await Task.Delay(3);
            time.Advance(step);
            advanced += step;
        }
    }
}
