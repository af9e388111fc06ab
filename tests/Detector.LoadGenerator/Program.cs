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
var batch = new Option<string>("--batch") { Description = "Maximum batch sizes to sweep, e.g. 1,8,32,64 (each against raw at its own size; run largest first).", DefaultValueFactory = _ => "4" };
var ep = new Option<string>("--ep") { Description = "Auto, Cuda or Cpu.", DefaultValueFactory = _ => "Auto" };
var seconds = new Option<double>("--seconds") { Description = "Measured seconds per run (after warm-up).", DefaultValueFactory = _ => 10 };
var warmup = new Option<double>("--warmup") { Description = "Seconds before measuring.", DefaultValueFactory = _ => 3 };
var jitQuiet = new Option<double>("--jit-quiet") { Description = "Service runs: after --warmup, also wait (up to 60 s) until the JIT has compiled nothing for this many seconds; 0 does not wait.", DefaultValueFactory = _ => 2 };
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
var inFlight = new Option<int>("--in-flight") { Description = "Batches in flight on the one model session (raw and service alike; the service's default is 2).", DefaultValueFactory = _ => 2 };
var dispatchWhenIdle = new Option<bool>("--dispatch-when-idle") { Description = "The service hands a partial batch to an idle model at once (its default) instead of waiting out --batch-delay-ms.", DefaultValueFactory = _ => true };
var repeat = new Option<int>("--repeat") { Description = "Rounds of the stream sweep; raw runs go between every service run.", DefaultValueFactory = _ => 1 };
var pageLocked = new Option<bool>("--page-locked") { Description = "On CUDA, page-lock the model's input and output buffers (cudaHostRegister; the service's default), raw and service alike; false to compare without.", DefaultValueFactory = _ => true };
var noBinding = new Option<bool>("--raw-no-binding") { Description = "--raw-batches: leave out the IOBinding rows." };
var rawSeconds = new Option<double?>("--raw-seconds") { Description = "Seconds per raw measurement (default: --seconds)." };
var output = new Option<string>("--out") { Description = "Folder for report.md and chart.png.", DefaultValueFactory = _ => "loadgen-results" };

var root = new RootCommand("Detector load generator") { model, video, streams, batch, ep, seconds, warmup, jitQuiet, fast, delay, rawBatches, compare, soakMinutes, sampleSeconds, soakWarmup, deliveryRates, detectionsPerResult, cpuThreads, cpuSpinning, inFlight, dispatchWhenIdle, pageLocked, noBinding, repeat, rawSeconds, output };
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
            var rawTuning = new RunTuning(r.GetValue(cpuThreads), r.GetValue(cpuSpinning), r.GetValue(inFlight));
            // On a GPU: the copies in and out are the limit, so the same graph also runs with page-locked buffers and
            // through IOBinding with ONNX Runtime's pinned buffers, each in the same run (on the CPU both are moot,
            // and the IOBinding row only checks the mechanics).
            var gpu = preference != ExecutionProviderPreference.Cpu && CudaProbe.FirstMissingLibrary is null;
            IEnumerable<RawResult?> rows = [RawBenchmark.RunFloatGraph(modelPath, b, preference, duration), RawBenchmark.RunServiceGraph(modelPath, b, preference, duration, rawTuning with { PageLocked = false })];
            if (gpu)
            {
                rows = rows.Append(RawBenchmark.RunServiceGraph(modelPath, b, preference, duration, rawTuning with { PageLocked = true }));
            }

            foreach (var result in rows.Concat(r.GetValue(noBinding) ? [] : BindingProbe.Run(modelPath, b, preference, duration)))
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

    var batchSizes = r.GetValue(batch)!.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();
    var maxBatch = batchSizes.Max();
    var cpu = new RunTuning(r.GetValue(cpuThreads), r.GetValue(cpuSpinning), r.GetValue(inFlight), r.GetValue(dispatchWhenIdle), r.GetValue(pageLocked));
    Say(string.Create(CultureInfo.InvariantCulture,
        $"settings: max batch {string.Join(", ", batchSizes)}, batch delay {r.GetValue(delay)} ms, dispatch when idle {cpu.DispatchWhenIdle}, runs in flight {cpu.RunsInFlight}, page-locked buffers {cpu.PageLocked}, CPU threads per run {(cpu.Threads == 0 ? "auto" : cpu.Threads)}, spinning {cpu.Spinning}, " +
        $"decoder threads per stream {Environment.GetEnvironmentVariable("Detector__Sources__DecoderThreads") ?? "1 (the service's default)"}"));
    Say("");
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

    // The ceiling: the same graph and batch size called directly. A shared machine drifts by more than the effects
    // measured here, so raw and service runs alternate (raw, service, raw, service, ..., raw) and each service run
    // is compared with the mean of the raw runs on either side of it. Each raw point measures every run-in-flight
    // setting the service could use (1, and --in-flight when above 1) and keeps the best: the service is held to
    // the fastest way of calling the model, not to its own setting.
    var rawConfigs = cpu.RunsInFlight == 1 ? [cpu] : new[] { cpu with { RunsInFlight = 1 }, cpu };
    var rawDuration = TimeSpan.FromSeconds(r.GetValue(rawSeconds) ?? r.GetValue(seconds));
    var rawPoints = new Dictionary<int, List<double>>();
    var provider = "";
    double RawPoint(int b)
    {
        var results = rawConfigs.Select(c => (Config: c, Result: RawBenchmark.RunServiceGraph(modelPath, b, preference, rawDuration, c))).ToArray();
        provider = results[0].Result.Provider;
        var each = string.Join("; ", results.Select(x => string.Create(CultureInfo.InvariantCulture,
            $"{x.Config.RunsInFlight} run(s) in flight {x.Result.ImagesPerSecond:0.0} images/s ({x.Result.MedianBatchMs:0.0} ms per batch, median)")));
        Say($"raw ONNX Runtime, same graph, batch {b}, {provider}: {each}");
        var best = results.Max(x => x.Result.ImagesPerSecond);
        (rawPoints.TryGetValue(b, out var points) ? points : rawPoints[b] = []).Add(best);
        return best;
    }

    var header = "| streams | images/s | ceiling (raw either side) | % of ceiling | per-stream fps (min-max) | latency p50 / p95 / p99 ms | inference ms (median) | latency - its inference, p50 / p99 ms | mean batch | received | dropped | CPU % | RSS MiB |";
    var runs = new List<(ServiceResult Result, double Ceiling)>();
    var repeats = r.GetValue(repeat);
    // Largest batch first: a small batch that cannot keep up with the streams (overloaded, dropping frames) left the
    // larger sizes run after it in the same process below their standalone rate (docs/gpu/README.md, the sweeps).
    foreach (var b in batchSizes.OrderDescending())
    {
        if (batchSizes.Length > 1)
        {
            Say($"### Maximum batch {b}");
            Say("");
        }

        var previousRaw = RawPoint(b);
        for (var round = 1; round <= repeats; round++)
        {
            foreach (var n in r.GetValue(streams)!.Split(',').Select(int.Parse))
            {
                var s = await ServiceBenchmark.RunAsync(modelPath, Path.GetFullPath(r.GetValue(video)!), n, b, r.GetValue(ep)!, r.GetValue(fast),
                    r.GetValue(delay), TimeSpan.FromSeconds(r.GetValue(warmup)), TimeSpan.FromSeconds(r.GetValue(jitQuiet)), duration, cpu);
                var nextRaw = RawPoint(b);
                var ceiling = (previousRaw + nextRaw) / 2;
                previousRaw = nextRaw;
                runs.Add((s, ceiling));
                Say("");
                Say(header);
                Say("|---:|---:|---:|---:|---|---|---:|---|---:|---:|---:|---:|---:|");
                Say(string.Create(CultureInfo.InvariantCulture,
                    $"| {n} | {s.ImagesPerSecond:0.0} | {ceiling:0.0} | {s.ImagesPerSecond / ceiling * 100:0}% | {s.MinStreamFps:0.0}-{s.MaxStreamFps:0.0} | " +
                    $"{s.LatencyP50:0} / {s.LatencyP95:0} / {s.LatencyP99:0} | {s.InferenceMedianMs:0.0} | {s.OverheadP50:0.0} / {s.OverheadP99:0.0} | {s.MeanBatch:0.00} | {s.FramesReceived} | {s.FramesDropped} | {s.CpuPercent:0} | {s.WorkingSetMiB:0} |"));
                Say("  batch sizes (frames): " + string.Join(", ", s.BatchSizes.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}")));
                Say("  CPU by thread, % of one core: " + string.Join(", ", s.ThreadCpu.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Group} {t.CorePercent:0.0}"))));
                Say(string.Create(CultureInfo.InvariantCulture,
                    $"  warm-up {s.Jit.Warmup.TotalSeconds:0.0} s (--warmup {r.GetValue(warmup):0.#}, --jit-quiet {r.GetValue(jitQuiet):0.#}); JIT while measuring: {s.Jit.Methods} methods, {s.Jit.CompileTime.TotalMilliseconds:0} ms"));
                Say("");
            }
        }
    }

    Say("## Summary");
    Say("");
    Say("| max batch | streams | runs | images/s (median) | % of ceiling per run | % of ceiling (median) | latency p99 ms (median) |");
    Say("|---:|---:|---:|---:|---|---:|---:|");
    static double Median(IEnumerable<double> xs)
    {
        var sorted = xs.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    var groups = runs.GroupBy(x => (x.Result.MaxBatch, x.Result.Streams)).OrderBy(g => g.Key.MaxBatch).ThenBy(g => g.Key.Streams).ToList();
    foreach (var g in groups)
    {
        var ratios = g.Select(x => x.Result.ImagesPerSecond / x.Ceiling * 100).ToArray();
        Say(string.Create(CultureInfo.InvariantCulture,
            $"| {g.Key.MaxBatch} | {g.Key.Streams} | {g.Count()} | {Median(g.Select(x => x.Result.ImagesPerSecond)):0.0} | {string.Join(", ", ratios.Select(x => $"{x:0}%"))} | **{Median(ratios):0}%** | {Median(g.Select(x => x.Result.LatencyP99)):0} |"));
    }

    foreach (var (b, points) in rawPoints)
    {
        Say(string.Create(CultureInfo.InvariantCulture, $"raw ceiling over the run, batch {b}: {points.Min():0.0}-{points.Max():0.0} images/s (median {Median(points):0.0})"));
    }

    var chart = Path.Combine(outDir, "chart.png");
    var mode = r.GetValue(fast) ? "as fast as possible" : "live";
    if (batchSizes.Length > 1)
    {
        // Against the batch size: the last run of the largest stream count at each size, beside that size's raw ceiling.
        var last = groups.GroupBy(g => g.Key.MaxBatch).Select(g => g.Last().Last()).ToList();
        Chart.Draw(chart, $"{Path.GetFileName(modelPath)}, {last[^1].Result.Streams} streams, {provider}, {mode}", "max batch",
            last.Select(x => (double)x.Result.MaxBatch).ToArray(), last.Select(x => x.Result).ToList(),
            last.Select(x => Median(rawPoints[x.Result.MaxBatch])).ToArray());
    }
    else
    {
        // Against the number of streams: the last run of each stream count (the tables have every run), beside the median ceiling.
        var last = groups.Select(g => g.Last().Result).ToList();
        Chart.Draw(chart, $"{Path.GetFileName(modelPath)}, batch {maxBatch}, {provider}, {mode}", "streams",
            last.Select(x => (double)x.Streams).ToArray(), last, last.Select(_ => Median(rawPoints[maxBatch])).ToArray());
    }

    await File.WriteAllTextAsync(Path.Combine(outDir, "report.md"), report.ToString(), ct);
    Console.WriteLine($"report: {Path.Combine(outDir, "report.md")}, chart: {chart}");
    return 0;
});
return await root.Parse(args).InvokeAsync();
