using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Detector.Core.Sources;
using Detector.Core.Tests.Sources;
using Detector.Server.Metrics;
using Detector.Server.Tests.Grpc;
using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Observability;

/// <summary>
/// The service with two streams (a password-protected RTSP camera and a looping file), scraped every second by a
/// real Prometheus; the tests read the metrics back through Prometheus' query API and check the exposition itself.
/// </summary>
[NonParallelizable]
public partial class PrometheusScrapeTests
{
    private const string User = "watcher";
    private const string Password = "pa55-Secret";
    private static readonly string[] StreamIds = ["camera", "file"];
    private static readonly string FileVideo = Shared.Video("car-detection.mp4");
    private RtspServer _rtsp = null!;
    private ServerHost _host = null!;
    private PrometheusServer _prometheus = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _rtsp = new RtspServer([$"/people={Shared.Video("one-by-one-person-detection.mp4")}"], User, Password);
        _rtsp.Start();
        _host = await ServerHost.StartAsync();
        await _host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "camera", Url = _rtsp.Url("/people", User, Password) });
        await _host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "file", Url = FileVideo, Options = new Rpc.StreamOptions { Loop = true } });
        _prometheus = await PrometheusServer.StartAsync(new Uri(_host.HttpAddress).Authority);
        // A subscriber that reads a few results, so the API metrics have something to count.
        var results = await Results.CollectAsync(_host.Client, new Rpc.SubscribeRequest(),
            rs => StreamIds.All(id => rs.Count(r => r.StreamId == id) >= 3), TimeSpan.FromSeconds(30));
        Assert.That(results.Select(r => r.StreamId).Distinct(), Is.EquivalentTo(StreamIds), "both streams deliver results");
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _prometheus?.Dispose();
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        _rtsp?.Dispose();
    }

    [Test]
    public async Task Prometheus_reads_a_processed_fps_and_latency_quantiles_for_each_stream()
    {
        var limit = TimeSpan.FromSeconds(30);
        var rate = await _prometheus.WaitForEachStreamAsync("rate(detector_stream_frames_processed_total[5s])", StreamIds, v => v > 1, limit);
        var gauge = await _prometheus.WaitForEachStreamAsync("detector_stream_processed_fps", StreamIds, v => v > 1, limit);
        var quantiles = new Dictionary<double, Dictionary<string, double>>();
        foreach (var q in new[] { 0.5, 0.95, 0.99 })
        {
            quantiles[q] = await _prometheus.WaitForEachStreamAsync(
                $"histogram_quantile({q}, sum by (stream, le) (rate(detector_stream_latency_seconds_bucket[5s])))",
                StreamIds, v => v is > 0 and < 5, limit);
        }

        foreach (var id in StreamIds)
        {
            TestContext.Out.WriteLine($"{id}: {rate.GetValueOrDefault(id):0.0} fps (rate), {gauge.GetValueOrDefault(id):0.0} fps (gauge), latency " +
                string.Join(", ", quantiles.Select(q => $"p{q.Key * 100:0} {q.Value.GetValueOrDefault(id) * 1000:0} ms")));
            // Both sources run at 10-12.5 fps and nothing thins them: several results a second each.
            Assert.That(rate.GetValueOrDefault(id), Is.GreaterThan(1), $"{id}: processed-frames rate");
            Assert.That(gauge.GetValueOrDefault(id), Is.GreaterThan(1), $"{id}: processed-FPS gauge");
            foreach (var q in quantiles)
            {
                Assert.That(q.Value.GetValueOrDefault(id), Is.InRange(0.0001, 5.0), $"{id}: latency p{q.Key * 100}");
            }

            Assert.That(quantiles[0.5][id], Is.LessThanOrEqualTo(quantiles[0.95][id]).And.LessThanOrEqualTo(quantiles[0.99][id]), id);
        }
    }

    [Test]
    public async Task Promtool_finds_no_problem_in_the_exposition()
    {
        const string promtool = "/usr/bin/promtool";
        if (!File.Exists(promtool))
        {
            Assert.Ignore($"{promtool} is missing: install Debian's prometheus package (scripts/test-deps.txt).");
        }

        var scrape = await Exposition.ScrapeAsync(_host);
        Assert.That(scrape.Find("detector_stream_latency_seconds_bucket", "stream=camera"), Is.Not.Empty, "a representative scrape, with streams");
        var info = new ProcessStartInfo(promtool, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(scrape.Text);
        process.StandardInput.Close();
        await process.WaitForExitAsync();
        var problems = (await stdout + await stderr).Trim();
        Assert.That(problems, Is.Empty, "promtool's findings");
        Assert.That(process.ExitCode, Is.Zero);
    }

    [Test]
    public async Task No_url_password_or_unbounded_value_appears_in_any_label()
    {
        var scrape = await Exposition.ScrapeAsync(_host);
        foreach (var secret in new[] { Password, User, "rtsp", "://", "127.0.0.1", _rtsp.Port.ToString(), FileVideo, "car-detection" })
        {
            Assert.That(scrape.Text, Does.Not.Contain(secret), "the exposition names no URL, path or credential");
        }

        string[] labelNames = ["stream", "reason", "state", "stage", "model", "family", "provider", "service", "method", "code", "le", "generation"];
        var states = Enum.GetNames<StreamState>().Select(s => s.ToLowerInvariant()).ToArray();
        foreach (var sample in scrape.Samples)
        {
            foreach (var (name, value) in sample.Labels)
            {
                Assert.That(labelNames, Does.Contain(name), $"{sample.Name}: label {name}");
                Assert.That(value, Does.Match(BoundedValue()), $"{sample.Name}{{{name}}}");
                switch (name)
                {
                    case "stream":
                        Assert.That(StreamIds, Does.Contain(value), sample.Name);
                        break;
                    case "reason":
                        var reasons = sample.Name.StartsWith("detector_api_unauthenticated", StringComparison.Ordinal)
                            ? DetectorMetrics.RefusalReason.All
                            : DetectorMetrics.DropReason.All;
                        Assert.That(reasons, Does.Contain(value), sample.Name);
                        break;
                    case "state":
                        Assert.That(states, Does.Contain(value), sample.Name);
                        break;
                    case "stage":
                        Assert.That(new[] { "preprocess", "inference", "postprocess" }, Does.Contain(value), sample.Name);
                        break;
                }
            }
        }

        Assert.That(scrape.Samples.Where(s => s.Labels.ContainsKey("stream")).Select(s => s.Labels["stream"]).Distinct(), Is.EquivalentTo(StreamIds));
    }

    [Test]
    public async Task Every_dashboard_query_is_valid_promql_and_names_only_metrics_the_service_exports()
    {
        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Observability", "detector.json")));
        var root = dashboard.RootElement;
        Assert.That(root.GetProperty("uid").GetString(), Is.EqualTo("detector"));
        var queries = Queries(root).ToList();
        Assert.That(queries, Has.Count.GreaterThan(15), "queries found in the dashboard");

        var exported = (await Exposition.ScrapeAsync(_host)).Names;
        foreach (var query in queries)
        {
            var names = MetricName().Matches(query).Select(m => m.Value).Distinct().ToList();
            Assert.That(names, Is.Not.Empty, $"'{query}' names a metric");
            foreach (var name in names)
            {
                Assert.That(exported, Does.Contain(name), $"'{query}': {name} is exported");
            }

            // Prometheus itself parses and runs it, with Grafana's variables filled in.
            var promql = query.Replace("$__rate_interval", "5s").Replace("$__range", "1m").Replace("$stream", ".*");
            if (!promql.StartsWith("label_values(", StringComparison.Ordinal))
            {
                await _prometheus.QueryAsync(promql);
            }
        }
    }

    [Test]
    public async Task Api_calls_results_sent_pipeline_stages_and_the_model_are_counted()
    {
        var bad = await Assert.ThrowsAsync<RpcException>(async () =>
            await _host.Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "no spaces allowed", Url = FileVideo }));
        Assert.That(bad!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));

        const string api = "service=detector.v1.Detector";
        // The setup's subscriber has gone away; the server notices within moments.
        var scrape = await Exposition.WaitForAsync(_host,
            s => s.Find("detector_grpc_requests_total", api, "method=Subscribe", "code=Cancelled").Any() && s.Value("detector_api_subscribers") == 0,
            TimeSpan.FromSeconds(10));
        Assert.That(scrape.Value("detector_grpc_requests_total", api, "method=AddStream", "code=OK"), Is.EqualTo(2));
        Assert.That(scrape.Value("detector_grpc_requests_total", api, "method=AddStream", "code=InvalidArgument"), Is.EqualTo(1));
        Assert.That(scrape.Value("detector_grpc_requests_total", api, "method=Subscribe", "code=Cancelled"), Is.EqualTo(1), "the setup's subscriber went away");
        Assert.That(scrape.Value("detector_grpc_requests_in_progress", api, "method=Subscribe"), Is.Zero);
        Assert.That(scrape.Value("detector_grpc_request_duration_seconds_count", api, "method=AddStream"), Is.EqualTo(3));
        Assert.That(scrape.Value("detector_api_results_sent_total", "method=Subscribe"), Is.GreaterThanOrEqualTo(6));
        Assert.That(scrape.Value("detector_api_subscribers"), Is.Zero);

        Assert.That(scrape.Value("detector_model_info", "model=yolo-fastestv2", "provider=CPU"), Is.EqualTo(1));
        Assert.That(scrape.Value("detector_model_load_seconds", "model=yolo-fastestv2"), Is.GreaterThan(0));
        Assert.That(scrape.Value("detector_model_ready"), Is.EqualTo(1));
        Assert.That(scrape.Value("detector_streams"), Is.EqualTo(2));
        var batches = scrape.Value("detector_batch_size_frames_count");
        Assert.That(batches, Is.GreaterThan(0));
        foreach (var stage in new[] { "preprocess", "inference", "postprocess" })
        {
            // Batches go on while the scrape is written: a later family may have counted one or two more.
            Assert.That(scrape.Value("detector_stage_duration_seconds_count", $"stage={stage}"), Is.InRange(batches, batches + 2), stage);
        }

        Assert.That(scrape.Value("detector_batch_queue_wait_seconds_count"), Is.GreaterThan(0));
        Assert.That(scrape.Value("process_working_set_bytes"), Is.GreaterThan(0), "prometheus-net's process metrics");
        Assert.That(scrape.Find("dotnet_collection_count_total"), Is.Not.Empty, "prometheus-net's GC metrics");
    }

    /// <summary>Every PromQL expression in a dashboard: panel targets (rows' nested panels too) and query variables.</summary>
    private static IEnumerable<string> Queries(JsonElement dashboard)
    {
        IEnumerable<JsonElement> Panels(JsonElement holder) =>
            holder.TryGetProperty("panels", out var panels)
                ? panels.EnumerateArray().SelectMany(p => Panels(p).Prepend(p))
                : [];

        foreach (var panel in Panels(dashboard))
        {
            if (panel.TryGetProperty("targets", out var targets))
            {
                foreach (var target in targets.EnumerateArray())
                {
                    yield return target.GetProperty("expr").GetString()!;
                }
            }
        }

        foreach (var variable in dashboard.GetProperty("templating").GetProperty("list").EnumerateArray())
        {
            if (variable.GetProperty("type").GetString() == "query")
            {
                yield return variable.GetProperty("definition").GetString()!;
            }
        }
    }

    /// <summary>The metric families a query can name: the service's own and prometheus-net's process and GC metrics.</summary>
    [GeneratedRegex(@"\b(?:detector|process|dotnet)_[a-z0-9_]+")]
    private static partial Regex MetricName();

    /// <summary>Short, and only characters that ids, enum names and numbers use: no '/', ':', '@' or spaces.</summary>
    [GeneratedRegex(@"^[A-Za-z0-9._+-]{1,64}$")]
    private static partial Regex BoundedValue();
}
