using System.Runtime.InteropServices;

namespace Detector.Server.Hosting;

/// <summary>
/// Whether glibc's malloc arenas are capped. glibc gives a thread that allocates under contention an arena of its
/// own, up to eight per core, and the service has many native threads (a decoder and a reader per stream, ONNX
/// Runtime's pool): uncapped, their fragmentation grows the resident memory for minutes after start. Only
/// <c>MALLOC_ARENA_MAX</c> in the environment caps them in time: a <c>mallopt</c> call from inside the process was
/// tried and came too late (16 thread arenas when made as the engine starts, 9 even as the first line of the load
/// generator's Main, against 1 with the variable; docs/BENCHMARKS.md).
/// </summary>
public static class MallocArenas
{
    /// <summary>What to tell the operator at start-up, or null when there is nothing to say.</summary>
    public static string? Advice()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.RuntimeIdentifier.StartsWith("linux-musl", StringComparison.Ordinal))
        {
            return null;
        }

        return Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX") is { Length: > 0 }
            ? null
            : "MALLOC_ARENA_MAX is not set: glibc will give up to 8 malloc arenas per core to the decoder and inference " +
              "threads, and resident memory grows for minutes after start. Start the service with MALLOC_ARENA_MAX=2 " +
              "in its environment (scripts/run.sh and the Docker image do).";
    }
}
