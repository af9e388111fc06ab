using System.Diagnostics;
using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Faults;

/// <summary>
/// One Subscribe call read in the background: counts what arrives and when, and keeps the status the call ended with,
/// so a test can ask "did results resume after X" and "is the subscription still open".
/// </summary>
internal sealed class Subscriber : IAsyncDisposable
{
    private readonly AsyncServerStreamingCall<Rpc.DetectionResult> _call;
    private readonly CancellationTokenSource _cancel = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _lock = new();
    private readonly List<(TimeSpan At, string StreamId, long FrameNumber)> _received = [];

    public Subscriber(Rpc.Detector.DetectorClient client, Rpc.SubscribeRequest? request = null)
    {
        _call = client.Subscribe(request ?? new Rpc.SubscribeRequest(), cancellationToken: _cancel.Token);
        Reading = Task.Run(ReadAsync);
    }

    /// <summary>Completes when the call ends, with its status (OK for a clean end of stream).</summary>
    public Task<Status> Reading { get; }

    public bool IsOpen => !Reading.IsCompleted;

    /// <summary>Time since the subscriber started, on the clock that stamps results.</summary>
    public TimeSpan Now => _clock.Elapsed;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _received.Count;
            }
        }
    }

    /// <summary>Results received after <paramref name="since"/> (a <see cref="Now"/> reading).</summary>
    public int CountSince(TimeSpan since, string? streamId = null)
    {
        lock (_lock)
        {
            return _received.Count(r => r.At >= since && (streamId is null || r.StreamId == streamId));
        }
    }

    /// <summary>The longest time between two results (or from the start to the first) between two clock readings.</summary>
    public TimeSpan LongestGap(TimeSpan from, TimeSpan to)
    {
        lock (_lock)
        {
            var times = _received.Where(r => r.At >= from && r.At <= to).Select(r => r.At).Prepend(from).Append(to).ToList();
            return times.Zip(times.Skip(1), (a, b) => b - a).Max();
        }
    }

    public async Task<bool> WaitForAsync(Func<Subscriber, bool> condition, TimeSpan limit) =>
        await ProcessProbe.EventuallyAsync(() => condition(this), limit);

    private async Task<Status> ReadAsync()
    {
        try
        {
            while (await _call.ResponseStream.MoveNext(_cancel.Token))
            {
                var r = _call.ResponseStream.Current;
                lock (_lock)
                {
                    _received.Add((_clock.Elapsed, r.StreamId, (long)r.FrameNumber));
                }
            }

            return _call.GetStatus();
        }
        catch (RpcException e)
        {
            return e.Status;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _cancel.CancelAsync();
        await Reading;
        _call.Dispose();
        _cancel.Dispose();
    }
}
