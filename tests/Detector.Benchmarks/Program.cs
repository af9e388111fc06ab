using BenchmarkDotNet.Running;
using Detector.Benchmarks;

// `--scenes` prints what each benchmark's input holds (candidates above the threshold, boxes kept by NMS, score
// percentiles of the real outputs) instead of timing anything; every other argument goes to BenchmarkDotNet.
if (args is ["--scenes"])
{
    SceneReport.Print(Console.Out);
    return 0;
}

var summaries = BenchmarkSwitcher.FromAssembly(typeof(KernelConfig).Assembly).Run(args, KernelConfig.Create(args));
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
