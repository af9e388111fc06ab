using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Detector.Server.Tests.Observability;

/// <summary>
/// A real Prometheus server (Debian's package) on a free loopback port, scraping one target every second, with its
/// configuration and storage in a temporary folder that goes away with it.
/// </summary>
internal sealed class PrometheusServer : IDisposable
{
    public const string Binary = "/usr/bin/prometheus";
    private readonly string _dir;
    private readonly Process _process;
    private readonly HttpClient _http = new();
    private readonly System.Text.StringBuilder _log = new();

    private PrometheusServer(string dir, Process process, int port)
    {
        _dir = dir;
        _process = process;
        Address = $"http://127.0.0.1:{port}";
    }

    public string Address { get; }

    /// <summary>Starts Prometheus scraping <paramref name="target"/> ("host:port") and returns once it is ready.</summary>
    public static async Task<PrometheusServer> StartAsync(string target)
    {
        if (!File.Exists(Binary))
        {
            Assert.Ignore($"{Binary} is missing: install Debian's prometheus package (scripts/test-deps.txt).");
        }

        var dir = Directory.CreateTempSubdirectory("detector-prometheus-").FullName;
        var config = Path.Combine(dir, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: detector
                static_configs:
                  - targets: ["{target}"]
            """);
        var port = FreePorts.Tcp();
        var info = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(dir, "data")}",
                     $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
                 })
        {
            info.ArgumentList.Add(arg);
        }

        var server = new PrometheusServer(dir, Process.Start(info)!, port);
        server._process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        server._process.OutputDataReceived += (_, e) => server.Append(e.Data);
        server._process.BeginErrorReadLine();
        server._process.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !server._process.HasExited)
        {
            try
            {
                if ((await server._http.GetAsync($"{server.Address}/-/ready")).IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(200);
        }

        var log = server.Log;
        server.Dispose();
        Assert.Fail($"Prometheus did not become ready: {log}");
        return null!;
    }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>An instant query through /api/v1/query: each series' labels and value.</summary>
    public async Task<List<(Dictionary<string, string> Labels, double Value)>> QueryAsync(string promql)
    {
        var json = await _http.GetStringAsync($"{Address}/api/v1/query?query={Uri.EscapeDataString(promql)}");
        using var doc = JsonDocument.Parse(json);
        Assert.That(doc.RootElement.GetProperty("status").GetString(), Is.EqualTo("success"), json);
        var data = doc.RootElement.GetProperty("data");
        Assert.That(data.GetProperty("resultType").GetString(), Is.EqualTo("vector"), json);
        return data.GetProperty("result").EnumerateArray().Select(r => (
            r.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
            double.Parse(r.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture))).ToList();
    }

    /// <summary>Runs <paramref name="promql"/> until every one of <paramref name="streams"/> has a value that passes, or the time is up.</summary>
    public async Task<Dictionary<string, double>> WaitForEachStreamAsync(string promql, IReadOnlyCollection<string> streams,
        Func<double, bool> good, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        Dictionary<string, double> byStream;
        do
        {
            byStream = (await QueryAsync(promql))
                .Where(r => r.Labels.ContainsKey("stream"))
                .ToDictionary(r => r.Labels["stream"], r => r.Value);
            if (streams.All(s => byStream.TryGetValue(s, out var v) && good(v)))
            {
                return byStream;
            }

            await Task.Delay(500);
        }
        while (DateTime.UtcNow < deadline);

        return byStream;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        _http.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A folder left in the temp directory is harmless; cleaning up must not fail a test.
        }
    }
}
