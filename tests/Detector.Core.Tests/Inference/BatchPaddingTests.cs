using Detector.Core.Inference;

namespace Detector.Core.Tests.Inference;

public class BatchPaddingTests
{
    private static readonly int[] Warmed = [1, 2, 4, 8, 16, 32];

    [TestCase(1, 1)]
    [TestCase(3, 4)]
    [TestCase(13, 16)]
    [TestCase(17, 32)]
    [TestCase(32, 32)]
    public void On_cuda_a_partial_batch_runs_at_the_next_warmed_size(int count, int expected) =>
        Assert.That(ModelSession.PaddedBatchSize(count, Warmed, pad: true), Is.EqualTo(expected));

    [Test]
    public void On_the_cpu_a_batch_runs_at_its_own_size() =>
        Assert.That(ModelSession.PaddedBatchSize(13, Warmed, pad: false), Is.EqualTo(13));

    [Test]
    public void A_count_beyond_every_warmed_size_is_not_padded() =>
        Assert.That(ModelSession.PaddedBatchSize(40, Warmed, pad: true), Is.EqualTo(40));

    [Test]
    public void The_cpu_session_of_a_real_model_does_not_pad()
    {
        using var session = ModelSession.Load(Shared.YoloFastestV2, new InferenceOptions { ExecutionProvider = ExecutionProviderPreference.Cpu, MaxBatchSize = 4 });
        Assume.That(session.ExecutionProvider, Is.EqualTo("CPU"));
        Assert.That(session.RunSizeFor(3), Is.EqualTo(3));
    }
}
