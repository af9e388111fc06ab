using Detector.Core.Pipeline;

namespace Detector.Core.Tests.Pipeline;

public class WorkerGangTests
{
    [TestCase(0, 5)]
    [TestCase(1, 1)]
    [TestCase(3, 2)]
    [TestCase(3, 1000)]
    public void Every_iteration_runs_exactly_once(int helpers, int count)
    {
        using var gang = new WorkerGang(helpers, "test");
        for (var round = 0; round < 50; round++)
        {
            var hits = new int[count];
            gang.For(count, i => Interlocked.Increment(ref hits[i]));
            Assert.That(hits, Is.All.EqualTo(1), $"round {round}");
        }
    }

    [Test]
    public void Iterations_run_on_more_than_one_thread_and_never_on_the_pool()
    {
        using var gang = new WorkerGang(3, "test");
        var threads = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        gang.For(64, _ =>
        {
            threads[Environment.CurrentManagedThreadId] = Thread.CurrentThread.IsThreadPoolThread;
            Thread.Sleep(2);
        });
        Assert.That(threads.Count, Is.GreaterThan(1));
        Assert.That(threads.Values, Is.All.False);
    }

    [Test]
    public void An_exception_reaches_the_caller_after_the_other_iterations_ran()
    {
        using var gang = new WorkerGang(2, "test");
        var ran = 0;
        var e = Assert.Throws<InvalidOperationException>(() => gang.For(20, i =>
        {
            Interlocked.Increment(ref ran);
            if (i == 7)
            {
                throw new InvalidOperationException("seven");
            }
        }));
        Assert.That(e!.Message, Is.EqualTo("seven"));
        Assert.That(ran, Is.EqualTo(20));
        var again = 0;
        gang.For(10, _ => Interlocked.Increment(ref again));
        Assert.That(again, Is.EqualTo(10), "usable after a failure");
    }
}
