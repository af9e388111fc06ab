using Detector.Core.Inference;

namespace Detector.Core.Tests.Inference;

/// <summary>
/// The run-size rule only: CUDA cannot run on CI, so its effect (96 live cameras from 38 to 961 images/s on an H200)
/// is measured in docs/gpu/README.md, not here.
/// </summary>
public class BatchPaddingTests
{
    [TestCase(1)]
    [TestCase(3)]
    [TestCase(13)]
    [TestCase(32)]
    public void On_cuda_every_batch_runs_at_the_one_maximum_shape(int count) =>
        Assert.That(ModelSession.RunSize(count, maxBatch: 32, fixedShape: true), Is.EqualTo(32));

    [Test]
    public void On_the_cpu_a_batch_runs_at_its_own_size() =>
        Assert.That(ModelSession.RunSize(13, maxBatch: 32, fixedShape: false), Is.EqualTo(13));

    [Test]
    public void The_cpu_session_of_a_real_model_does_not_pad()
    {
        using var session = ModelSession.Load(Shared.YoloFastestV2, new InferenceOptions { ExecutionProvider = ExecutionProviderPreference.Cpu, MaxBatchSize = 4 });
        Assume.That(session.ExecutionProvider, Is.EqualTo("CPU"));
        Assert.That(session.RunSizeFor(3), Is.EqualTo(3));
    }
}
