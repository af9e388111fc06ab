using Detector.Core.Inference;

namespace Detector.Core.Tests.Inference;

public class RunsInFlightTests
{
    [TestCase(0, 1, 8, null)]
    [TestCase(0, 2, 2, 1)]
    [TestCase(0, 2, 16, 8)]
    [TestCase(0, 3, 16, 5)]
    [TestCase(0, 4, 2, 1)]
    [TestCase(3, 2, 16, 3)]
    [TestCase(3, 1, 16, 3)]
    public void Several_runs_share_the_cores_unless_threads_are_set(int threads, int runs, int cores, int? expected) =>
        Assert.That(ModelSession.IntraOpThreadsFor(new InferenceOptions { IntraOpThreads = threads, RunsInFlight = runs }, cores),
            Is.EqualTo(expected));

    [Test]
    public void Zero_runs_in_flight_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ModelSession.Load(Shared.YoloFastestV2,
            new InferenceOptions { ExecutionProvider = ExecutionProviderPreference.Cpu, RunsInFlight = 0 }));
}
