using Detector.Server.Tests.Faults;

namespace Detector.Server.Tests.Settings;

/// <summary>
/// Detector:Model:RunsInFlight reaches the pipeline: each run has an inference thread of its own ("detector infer",
/// "detector infer2", ...), so counting them tells how many batches the service runs at once.
/// </summary>
[NonParallelizable]
public class RunsInFlightTests
{
    [TestCase(null, 2, TestName = "By default the service runs two batches at once")]
    [TestCase("1", 1, TestName = "RunsInFlight 1 runs one batch at a time")]
    public async Task The_service_starts_one_inference_thread_per_run_in_flight(string? setting, int expected)
    {
        var settings = new Dictionary<string, string>();
        if (setting is not null)
        {
            settings["Detector:Model:RunsInFlight"] = setting;
        }

        var before = ProcessProbe.Threads("detector infer");
        await using var host = await ServerHost.StartAsync(settings);
        var started = ProcessProbe.Threads("detector infer") - before;

        Assert.That(started, Is.EqualTo(expected), "inference threads; all threads: " + ProcessProbe.ThreadNames("detector"));
    }
}
