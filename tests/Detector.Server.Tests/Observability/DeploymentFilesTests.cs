using System.Diagnostics;
using System.Text.Json;

namespace Detector.Server.Tests.Observability;

/// <summary>
/// The deployment files, checked with the tools that read them where those run here: no Docker engine does, so
/// docker-compose only parses and validates the compose file.
/// </summary>
public class DeploymentFilesTests
{
    private static readonly string Root = FindRoot();

    [Test]
    public async Task The_compose_file_passes_docker_compose_config()
    {
        var (code, output) = await RunAsync("/usr/bin/docker-compose", "-f", Path.Combine(Root, "docker-compose.yml"), "config", "--quiet");
        Assert.That(code, Is.Zero, output);
    }

    [Test]
    public async Task The_prometheus_config_is_valid_and_scrapes_the_detector()
    {
        var path = Path.Combine(Root, "docker", "prometheus.yml");
        var (code, output) = await RunAsync("/usr/bin/promtool", "check", "config", path);
        Assert.That(code, Is.Zero, output);
        Assert.That(await File.ReadAllTextAsync(path), Does.Contain("detector:9090"));
    }

    [Test]
    public async Task The_dashboard_uses_the_provisioned_datasource()
    {
        var datasource = await File.ReadAllTextAsync(Path.Combine(Root, "docker", "grafana", "provisioning", "datasources", "prometheus.yml"));
        Assert.That(datasource, Does.Contain("uid: prometheus").And.Contain("url: http://prometheus:9090"));
        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Root, "docker", "grafana", "dashboards", "detector.json")));
        var uids = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("datasource", out _))
            .Select(p => p.GetProperty("datasource").GetProperty("uid").GetString())
            .Distinct();
        Assert.That(uids, Is.EquivalentTo(new[] { "prometheus" }));
    }

    private static async Task<(int Code, string Output)> RunAsync(string program, params string[] args)
    {
        if (!File.Exists(program))
        {
            Assert.Ignore($"{program} is missing: install it with scripts/setup.sh --with-test-deps (scripts/test-deps.txt).");
        }

        var info = new ProcessStartInfo(program, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Root,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>The checkout these tests were built from: the first folder above the binaries that holds Detector.sln.</summary>
    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Detector.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No Detector.sln above {AppContext.BaseDirectory}.");
    }
}
