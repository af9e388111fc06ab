using Detector.Server.Hosting;

namespace Detector.Server.Tests.Observability;

/// <summary>An operator who starts the service without MALLOC_ARENA_MAX is told, once, at start-up.</summary>
[NonParallelizable]
public class MallocArenasTests
{
    [Test]
    public void Advice_is_given_only_while_the_variable_is_unset()
    {
        var before = Environment.GetEnvironmentVariable("MALLOC_ARENA_MAX");
        try
        {
            Environment.SetEnvironmentVariable("MALLOC_ARENA_MAX", null);
            Assert.That(MallocArenas.Advice(), Does.Contain("MALLOC_ARENA_MAX=2"), "Debian, glibc, variable unset");
            Environment.SetEnvironmentVariable("MALLOC_ARENA_MAX", "2");
            Assert.That(MallocArenas.Advice(), Is.Null);
        }
        finally
        {
            Environment.SetEnvironmentVariable("MALLOC_ARENA_MAX", before);
        }
    }
}
