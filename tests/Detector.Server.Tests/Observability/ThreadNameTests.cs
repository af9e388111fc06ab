using Detector.Server.Tests.Faults;

namespace Detector.Server.Tests.Observability;

/// <summary>Thread names are how `top -H` and the load generator's "CPU by thread" tell inference from the rest.</summary>
[NonParallelizable]
public class ThreadNameTests
{
    [Test]
    public async Task ONNX_Runtime_pool_threads_are_named_onnxruntime()
    {
        // The runtime's pool threads take the name of the thread that created the session; the engine loads the model
        // on one named for it, or they would show as ".NET TP Worker".
        var before = ProcessProbe.Threads("onnxruntime");
        await using var host = await ServerHost.StartAsync(new Dictionary<string, string> { ["Detector:Model:CpuThreads"] = "3" });
        var after = ProcessProbe.Threads("onnxruntime");
        Assert.That(after - before, Is.GreaterThanOrEqualTo(2), "3 threads per run: the caller and 2 pool threads; all threads: " + ProcessProbe.ThreadNames(""));
    }
}
