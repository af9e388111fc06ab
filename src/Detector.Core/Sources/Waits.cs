namespace Detector.Core.Sources;

/// <summary>Blocking waits for threads of their own (the stream threads and what they call), on an injected clock, that need no thread-pool thread on the real one.</summary>
public static class Waits
{
    /// <summary>Blocks for <paramref name="delay"/>; throws <see cref="OperationCanceledException"/> when the token fires first.</summary>
    public static void Delay(TimeProvider time, TimeSpan delay, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (delay <= TimeSpan.Zero)
        {
            return;
        }

        if (time == TimeProvider.System)
        {
            // A kernel wait: timers run their callbacks on the thread pool, which may be the busy thing.
            cancellationToken.WaitHandle.WaitOne(delay);
        }
        else
        {
            using var timer = new CancellationTokenSource(delay, time);
            using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
            either.Token.WaitHandle.WaitOne();
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>Blocks until <paramref name="task"/> completes and returns its result, throwing its own exception.</summary>
    public static T Result<T>(Task<T> task, CancellationToken cancellationToken)
    {
        Wait(task, cancellationToken);
        return task.GetAwaiter().GetResult();
    }

    /// <summary>Blocks until <paramref name="task"/> completes (without throwing its exception) or the token fires.</summary>
    public static void Wait(Task task, CancellationToken cancellationToken)
    {
        if (!task.IsCompleted)
        {
            WaitHandle.WaitAny([((IAsyncResult)task).AsyncWaitHandle, cancellationToken.WaitHandle]);
        }

        if (!task.IsCompleted)
        {
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}
