namespace Detector.Server.Streams;

/// <summary>
/// Holds one stream to its target rate. Frames are taken on a grid of slots one interval apart; a live frame is taken
/// when it arrives no earlier than half an interval before its slot.
/// </summary>
/// <remarks>
/// The slack is what makes a camera at exactly the target rate keep every frame: measured from the previous frame
/// instead, a frame 99 ms after one taken at 10 fps would be "early" and dropped, and arrival jitter alone thinned
/// a 10 fps file at target 10 to about 6 fps. The long-run rate still never exceeds the target (each frame taken
/// moves the next slot on by a whole interval), and after a stall the grid restarts from the next frame instead of
/// letting a burst through to catch up.
/// </remarks>
public sealed class FramePacer
{
    private readonly TimeSpan _interval;
    private readonly TimeSpan _slack;
    private TimeSpan _nextSlot;
    private bool _started;

    public FramePacer(TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        _interval = interval;
        _slack = interval / 2;
    }

    /// <summary>For a live stream: whether to take a frame arriving at <paramref name="now"/> (any monotonic clock).</summary>
    public bool TryTake(TimeSpan now)
    {
        if (_started && now < _nextSlot - _slack)
        {
            return false;
        }

        Took(now);
        return true;
    }

    /// <summary>For a lossless stream, which waits instead of dropping: how long to wait before taking the next frame.</summary>
    public TimeSpan WaitBeforeNext(TimeSpan now) => _started && _nextSlot > now ? _nextSlot - now : TimeSpan.Zero;

    /// <summary>Records a frame taken at <paramref name="now"/>.</summary>
    public void Took(TimeSpan now)
    {
        // More than a slot behind the grid (the first frame, or a stall): start a new grid from this frame. Otherwise
        // keep to the grid, but never let the next slot's window open before this frame.
        _nextSlot = !_started || now > _nextSlot + _interval
            ? now + _interval
            : Max(_nextSlot + _interval, now + _slack);
        _started = true;
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
