using System.Runtime.ExceptionServices;

namespace Detector.Core.Pipeline;

/// <summary>
/// Threads of its own that run the iterations of one loop in parallel with the calling thread: a
/// <c>Parallel.For</c> that needs no thread-pool thread. <c>Parallel.For</c> called from a dedicated thread queues
/// even its first part to the pool and waits for it, so when the pool runs short (many streams, many clients, a
/// blocking library call somewhere) every batch waited for the pool to inject a thread: about one batch a second.
/// </summary>
internal sealed class WorkerGang : IDisposable
{
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim _start = new(0);
    private readonly ManualResetEventSlim _done = new(false);
    private Action<int>? _body;
    private int _count;
    private int _next;
    private int _active;
    private Exception? _error;
    private volatile bool _stopping;

    /// <param name="helpers">Threads besides the caller's; 0 runs every iteration on the caller.</param>
    public WorkerGang(int helpers, string name)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(helpers);
        _threads = Enumerable.Range(0, helpers)
            .Select(i => new Thread(Loop) { IsBackground = true, Name = $"{name} {i + 1}" })
            .ToArray();
        foreach (var t in _threads)
        {
            t.Start();
        }
    }

    public int Helpers => _threads.Length;

    /// <summary>Runs <paramref name="body"/> for 0..count-1 on the caller and the helpers; one caller at a time.</summary>
    public void For(int count, Action<int> body)
    {
        var helpers = Math.Min(_threads.Length, count - 1);
        if (helpers <= 0)
        {
            for (var i = 0; i < count; i++)
            {
                body(i);
            }

            return;
        }

        (_body, _count, _next, _error, _active) = (body, count, 0, null, helpers);
        _done.Reset();
        // Each permit is one pass over the remaining iterations by whichever helper takes it.
        _start.Release(helpers);
        Work();
        _done.Wait();
        _body = null;
        if (_error is { } error)
        {
            ExceptionDispatchInfo.Throw(error);
        }
    }

    private void Work()
    {
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < _count)
        {
            try
            {
                _body!(i);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
            }
        }
    }

    private void Loop()
    {
        while (true)
        {
            _start.Wait();
            if (_stopping)
            {
                return;
            }

            Work();
            if (Interlocked.Decrement(ref _active) == 0)
            {
                _done.Set();
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        if (_threads.Length > 0)
        {
            _start.Release(_threads.Length);
        }

        foreach (var t in _threads)
        {
            t.Join();
        }

        _start.Dispose();
        _done.Dispose();
    }
}
