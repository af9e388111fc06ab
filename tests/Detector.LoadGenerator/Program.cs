using System.CommandLine;
using System.Globalization;
using System.Text;
using Detector.Core.Inference;
using Detector.LoadGenerator;

// The load generator: the real service with N streams, measured as a subscriber sees it, beside the raw ONNX
// Runtime throughput of the same model at the same batch size, measured in the same run.
var model = new Option<string>("--model") { Description = "ONNX model.", Required = true };
var video = new Option<string>("--video") { Description = "Video file every stream loops.", Required = true };
var streams = new Option<string>("--streams") { Description = "Stream counts to sweep, e.g. 1,2,4,8.", DefaultValueFactory = _ => "1,2,4" };
var batch = new Option<int>("--batch") { Description = "Maximum batch size.", DefaultValueFactory = _ => 4 };
var ep = new Option<string>("--ep") { Description = "Auto, Cuda or Cpu.", DefaultValueFactory = _ => "Auto" };
var seconds = new Option<double>("--seconds") { Description = "Measured seconds per run (after warm-up).", DefaultValueFactory = _ => 10 };
var warmup = new Option<double>("--warmup") { Description = "Seconds before measuring.", DefaultValueFactory = _ => 3 };
var fast = new Option<bool>("--fast") { Description = "Streams read as fast as possible (saturation) instead of at the video's rate." };
var delay = new Option<double>("--batch-delay-ms") { Description = "Batcher deadline.", DefaultValueFactory = _ => 10 };
var rawBatches = new Option<string?>("--raw-batches") { Description = "Only measure raw ONNX Runtime at these batch sizes, e.g. 1,8,32,64." };
var compare = new Option<string?>("--compare-image") { Description = "Only compare the engine's detections on this image between --ep and the CPU, for each --model (comma-separated)." };
var soakMinutes = new Option<double?>("--soak-minutes") { Description = "Soak mode: run the streams (live, looping) this long and sample memory, handles and threads." };
var sampleSeconds = new Option<double>("--sample-seconds") { Description = "Soak sampling interval.", DefaultValueFactory = _ => 30 };
var soakWarmup = new Option<double>("--soak-warmup-minutes") { Description = "Soak: growth is measured from the first sample after this.", DefaultValueFactory = _ => 1 };
var deliveryRates = new Option<string?>("--delivery-rates") { Description = "Delivery mode: results offered per second to one gRPC subscriber, e.g. 5000,20000,40000 (no inference)." };
var detectionsPerResult = new Option<int>("--detections") { Description = "Delivery mode: objects per result.", DefaultValueFactory = _ => 10 };
var cpuThreads = new Option<int>("--cpu-threads") { Description = "ONNX Runtime CPU threads per run (0: one per core), raw and service alike." };
var cpuSpinning = new Option<bool>("--cpu-spinning") { Description = "ONNX Runtime CPU threads spin while idle (its default), raw and service alike.", DefaultValueFactory = _ => true };
var inFlight = new Option<int>("--in-flight") { Description = "Batches in flight on the one model session (raw and service alike).", DefaultValueFactory = _ => 1 };
var output = new Option<string>("--out") { Description = "Folder for report.md and chart.png.", DefaultValueFactory = _ => "loadgen-results" };

var root = new RootCommand("Detector load generator") { model, video, streams, batch, ep, seconds, warmup, fast, delay, rawBatches, compare, soakMinutes, sampleSeconds, soakWarmup, deliveryRates, detectionsPerResult, cpuThreads, cpuSpinning, inFlight, output };
video.Required = false;
root.SetAction(async (r, ct) =>
{
    if (r.GetValue(compare) is { } image)
    {
        Console.WriteLine("| model | provider | batch mode | detections | reference | verdict |");
        Console.WriteLine("|---|---|---|---|---|---|");
        var all = r.GetValue(model)!.Split(',').Select(m => CompareProviders.Run(Path.GetFullPath(m), image,
            Enum.Parse<ExecutionProviderPreference>(r.GetValue(ep)!, ignoreCase: true), Console.WriteLine)).ToList();
        return all.All(x => x) ? 0 : 1;
    }

    var modelPath = Path.GetFullPath(r.GetValue(model)!);
    var preference = Enum.Parse<ExecutionProviderPreference>(r.GetValue(ep)!, ignoreCase: true);
    var duration = TimeSpan.FromSeconds(r.GetValue(seconds));
    var outDir = Directory.CreateDirectory(r.GetValue(output)!).FullName;
    var report = new StringBuilder();
    void Say(string line)
    {
        Console.WriteLine(line);
        report.AppendLine(line);
    }

    Say($"# Load generator run, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
    Say($"machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
    Say($"model: {Path.GetFileName(modelPath)}; video: {Path.GetFileName(r.GetValue(video))}; command: Detector.LoadGenerator {string.Join(' ', args)}");
    var tuning = Environment.GetEnvironmentVariables().Keys.Cast<string>()
        .Where(k => k.StartsWith("MALLOC_", StringComparison.Ordinal) || k.StartsWith("DOTNET_GC", StringComparison.OrdinalIgnoreCase))
        .Order(StringComparer.Ordinal).Select(k => $"{k}={Environment.GetEnvironmentVariable(k)}").ToList();
    Say($"GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}; allocator and GC environment: {(tuning.Count == 0 ? "none" : string.Join(' ', tuning))}");
    Say("");

    if (r.GetValue(rawBatches) is { } list)
    {
        Say("| input | batch | provider | median ms/run | images/s |");
        Say("|---|---:|---|---:|---:|");
        foreach (var b in list.Split(',').Select(int.Parse))
        {
            foreach (var result in new[] { RawBenchmark.RunFloatGraph(modelPath, b, preference, duration), RawBenchmark.RunServiceGraph(modelPath, b, preference, duration,
                new RunTuning(r.GetValue(cpuThreads), r.GetValue(cpuSpinning), r.GetValue(inFlight))) })
            {
                if (result is not null)
                {
                    Say(string.Create(CultureInfo.InvariantCulture, $"| {result.Input} | {b} | {result.Provider} | {result.MedianBatchMs:0.00} | {result.ImagesPerSecond:0} |"));
                }
            }
        }

        await File.WriteAllTextAsync(Path.Combine(outDir, "report.md"), report.ToString(), ct);
        return 0;
    }

    var maxBatch = r.GetValue(batch);
    var cpu = new RunTuning(r.GetValue(cpuThreads), r.GetValue(cpuSpinning), r.GetValue(inFlight));
    if (r.GetValue(deliveryRates) is { } rates)
    {
        var objects = r.GetValue(detectionsPerResult);
        Say($"Delivery to one gRPC subscriber over loopback, {objects} objects per result, no inference (results published into the service's hub):");
        Say("");
        Say("| offered/s | received/s | received / offered | dropped | latency p50 / p99 ms | CPU % |");
        Say("|---:|---:|---:|---:|---|---:|");
        foreach (var rate in rates.Split(',').Select(x => double.Parse(x, CultureInfo.InvariantCulture)))
        {
            var d = await DeliveryRun.RunAsync(modelPath, rate, objects, TimeSpan.FromSeconds(r.GetValue(warmup)), duration);
            Say(string.Create(CultureInfo.InvariantCulture,
                $"| {d.OfferedPerSecond:0} | {d.ReceivedPerSecond:0} | {d.ReceivedPerSecond / d.OfferedPerSecond * 100:0}% | {d.Dropped} | {d.LatencyP50:0.0} / {d.LatencyP99:0.0} | {d.CpuPercent:0} |"));
        }

        await File.WriteAllTextAsync(Path.Combine(outDir, "report.md"), report.ToString(), ct);
        return 0;
    }

    if (r.GetValue(soakMinutes) is { } minutes)
    {
        var n = int.Parse(r.GetValue(streams)!.Split(',')[^1], CultureInfo.InvariantCulture);
        Say($"Soak: {n} live looping streams for {minutes} min, one subscriber reading everything, a sample every {r.GetValue(sampleSeconds)} s");
        Say("");
        Say("| minute | RSS MiB | live managed heap MiB (after a full GC) | GC committed MiB | handles | threads | child processes | results | images/s |");
        Say("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var (samples, verdict) = await SoakRun.RunAsync(modelPath, Path.GetFullPath(r.GetValue(video)!), n, maxBatch, r.GetValue(ep)!, r.GetValue(delay),
            TimeSpan.FromMinutes(minutes), TimeSpan.FromSeconds(r.GetValue(sampleSeconds)), TimeSpan.FromMinutes(r.GetValue(soakWarmup)),
            s => Say(string.Create(CultureInfo.InvariantCulture,
                $"| {s.At.TotalMinutes:0.0} | {s.Stats.RssMiB:0.0} | {s.Stats.GcHeapMiB:0.0} | {s.Stats.GcCommittedMiB:0.0} | {s.Stats.Handles} | {s.Stats.Threads} | {s.Stats.ChildProcesses} | {s.Results} | {s.ImagesPerSecond:0.0} |")));
        Say("");
        Say(string.Create(CultureInfo.InvariantCulture,
            $"After warm-up (minute {verdict.Baseline.At.TotalMinutes:0.0} to {verdict.Last.At.TotalMinutes:0.0}): RSS {verdict.Baseline.Stats.RssMiB:0.0} -> {verdict.Last.Stats.RssMiB:0.0} MiB " +
            $"({verdict.RssGrowthPercent:+0.0;-0.0}%, slope {verdict.RssSlopeMiBPerMinute:+0.00;-0.00} MiB/min), threads {verdict.ThreadGrowth:+0;-0;0}, handles {verdict.HandleGrowth:+0;-0;0}: {(verdict.MemoryHolds ? "memory holds (within 5%)" : "MEMORY GREW more than 5%")}"));
        await File.WriteAllTextAsync(Path.Combine(outDir, "report.md"), report.ToString(), ct);
        return verdict.MemoryHolds ? 0 : 1;
    }

    var raw = RawBenchmark.RunServiceGraph(modelPath, maxBatch, preference, duration, cpu);
    Say(string.Create(CultureInfo.InvariantCulture,
        $"raw ONNX Runtime, same graph and batch {maxBatch} on {raw.Provider}: {raw.ImagesPerSecond:0} images/s, {raw.MedianBatchMs:0.00} ms per batch (median)"));
    Say("");
    Say("| streams | images/s | % of raw | per-stream fps (min-max) | latency p50 / p95 / p99 ms | inference ms (median) | latency - its inference, p50 / p99 ms | mean batch | received | dropped | CPU % | RSS MiB |");
    Say("|---:|---:|---:|---|---|---:|---|---:|---:|---:|---:|---:|");
    var runs = new List<ServiceResult>();
    foreach (var n in r.GetValue(streams)!.Split(',').Select(int.Parse))
    {
        var s = await ServiceBenchmark.RunAsync(modelPath, Path.GetFullPath(r.GetValue(video)!), n, maxBatch, r.GetValue(ep)!, r.GetValue(fast),
            r.GetValue(delay), TimeSpan.FromSeconds(r.GetValue(warmup)), duration, cpu);
        runs.Add(s);
        Say(string.Create(CultureInfo.InvariantCulture,
            $"| {n} | {s.ImagesPerSecond:0.0} | {s.ImagesPerSecond / raw.ImagesPerSecond * 100:0}% | {s.MinStreamFps:0.0}-{s.MaxStreamFps:0.0} | " +
            $"{s.LatencyP50:0} / {s.LatencyP95:0} / {s.LatencyP99:0} | {s.InferenceMedianMs:0.0} | {s.OverheadP50:0.0} / {s.OverheadP99:0.0} | {s.MeanBatch:0.00} | {s.FramesReceived} | {s.FramesDropped} | {s.CpuPercent:0} | {s.WorkingSetMiB:0} |"));
        Say("  batch sizes (frames): " + string.Join(", ", s.BatchSizes.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}")));
    }

    var chart = Path.Combine(outDir, "chart.png");
    Chart.Draw(chart, $"{Path.GetFileName(modelPath)}, batch {maxBatch}, {raw.Provider}, {(r.GetValue(fast) ? "as fast as possible" : "live")}", runs, raw.ImagesPerSecond);
    await File.WriteAllTextAsync(Path.Combine(outDir, "report.md"), report.ToString(), ct);
    Console.WriteLine($"report: {Path.Combine(outDir, "report.md")}, chart: {chart}");
    return 0;
});
return await root.Parse(args).InvokeAsync();
