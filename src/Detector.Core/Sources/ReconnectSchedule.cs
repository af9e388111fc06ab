namespace Detector.Core.Sources;

/// <summary>
/// Decides how long to wait before the next connection attempt: capped exponential back-off with
/// jitter, never sooner than the restart-rate limit allows. Pure apart from the random source, so
/// it is tested without sleeping.
/// </summary>
public sealed class ReconnectSchedule
{
    private readonly ReconnectOptions _options;
    private readonly Random _random;
    private readonly Queue<DateTimeOffset> _restarts = new();

    public ReconnectSchedule(ReconnectOptions options, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _random = random ?? Random.Shared;
    }

    /// <summary>The back-off before retry number <paramref name="failures"/> (1 for the first retry), jitter included.</summary>
    public TimeSpan Backoff(int failures)
    {
        if (failures < 1)
        {
            return TimeSpan.Zero;
        }

        var initial = _options.InitialDelay.TotalMilliseconds;
        var max = _options.MaxDelay.TotalMilliseconds;
        // Cap the exponent first: Multiplier^failures overflows to infinity long before anyone notices.
        var exponent = Math.Min(failures - 1, 64);
        var delay = Math.Min(max, initial * Math.Pow(_options.Multiplier, exponent));
        var jitter = 1 + _options.Jitter * (2 * _random.NextDouble() - 1);
        return TimeSpan.FromMilliseconds(Math.Min(max, Math.Max(0, delay * jitter)));
    }

    /// <summary>
    /// The wait before the next attempt at <paramref name="now"/>: the back-off, or longer when
    /// <see cref="ReconnectOptions.MaxRestartsPerWindow"/> restarts already happened within the window.
    /// </summary>
    public TimeSpan NextDelay(int failures, DateTimeOffset now, out bool rateLimited)
    {
        var backoff = Backoff(failures);
        Expire(now);
        rateLimited = false;
        if (_restarts.Count >= _options.MaxRestartsPerWindow)
        {
            var windowOpens = _restarts.Peek() + _options.RestartWindow - now;
            if (windowOpens > backoff)
            {
                rateLimited = true;
                return windowOpens;
            }
        }

        return backoff;
    }

    /// <summary>Records a restart at <paramref name="now"/> against the rate limit.</summary>
    public void RecordRestart(DateTimeOffset now)
    {
        Expire(now);
        _restarts.Enqueue(now);
    }

    /// <summary>Restarts within the current window.</summary>
    public int RestartsInWindow(DateTimeOffset now)
    {
        Expire(now);
        return _restarts.Count;
    }

    private void Expire(DateTimeOffset now)
    {
        while (_restarts.Count > 0 && now - _restarts.Peek() >= _options.RestartWindow)
        {
            _restarts.Dequeue();
        }
    }
}
