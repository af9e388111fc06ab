using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using Perfolizer.Horology;

namespace Detector.Benchmarks;

/// <summary>
/// The configuration every suite runs with: medians next to means, ratios of medians against each group's
/// baseline, and, unless a <c>--job</c> is given on the command line, a short job sized so that the whole suite
/// runs in a few minutes on the shared two-core development machine.
/// </summary>
internal static class KernelConfig
{
    public static IConfig Create(string[] args)
    {
        var config = ManualConfig.Create(DefaultConfig.Instance)
            .AddColumn(StatisticColumn.Median, new MedianRatioColumn())
            .WithSummaryStyle(SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend));
        if (!args.Any(a => a is "--job" or "-j"))
        {
            // One process per benchmark, 5 warm-up and 15 measured iterations of ~100 ms each: enough for a
            // stable median of kernels that take microseconds to milliseconds, without holding both cores for long.
            // The runtime's 100 ms call-counting delay restarts with every method it compiles, which kept NMS in
            // unoptimised tier-0 code through the pilot and into the measured iterations (3-5x slower); without
            // the delay a method is optimised (tier 1, dynamic PGO as usual) after its first 30 calls, so the
            // short warm-up measures the code a long-running service runs.
            config = config.AddJob(Job.Default
                .WithLaunchCount(1)
                .WithWarmupCount(5)
                .WithIterationCount(15)
                .WithIterationTime(TimeInterval.FromMilliseconds(100))
                .WithEnvironmentVariable("DOTNET_TC_CallCountingDelayMs", "0")
                .WithId("Kernel"));
        }

        return config;
    }
}
