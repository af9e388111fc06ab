using System.Net;
using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Health.V1;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Security;

/// <summary>With Detector:Security:ApiKeys set, every API call and /metrics need a key; probes stay open.</summary>
[NonParallelizable]
public class ApiKeyTests
{
    private const string Key = "apikey-Sekr1t-0123456789";
    private const string SecondKey = "apikey-Sekr1t-second-4242";
    private const string WrongKey = "wrong-Sekr1t-9876543210";

    private ServerHost _host = null!;
    private HttpClient _http = null!;

    [OneTimeSetUp]
    public async Task Start()
    {
        _host = await ServerHost.StartAsync(new Dictionary<string, string>
        {
            ["Detector:Security:ApiKeys:0"] = Key,
            ["Detector:Security:ApiKeys:1"] = SecondKey,
        });
        _http = new HttpClient { BaseAddress = new Uri(_host.HttpAddress) };
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _http.Dispose();
        await _host.DisposeAsync();
    }

    private static Metadata Bearer(string key) => new() { { "authorization", $"Bearer {key}" } };

    private static Metadata XApiKey(string key) => new() { { "x-api-key", key } };

    private static async Task<RpcException> Unauthenticated(Func<Task> call)
    {
        var e = (await Assert.ThrowsAsync<RpcException>(async () => await call()))!;
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), e.Status.Detail);
        Assert.That(e.Status.Detail, Does.Not.Contain("Sekr1t"));
        return e;
    }

    [Test]
    public async Task A_call_without_a_key_is_unauthenticated_and_says_how_to_send_one()
    {
        var e = await Unauthenticated(() => _host.Client.GetModelAsync(new Rpc.GetModelRequest()).ResponseAsync);
        Assert.That(e.Status.Detail, Does.Contain("needs an API key").And.Contain("authorization: Bearer"));
    }

    [Test]
    public async Task A_wrong_key_is_unauthenticated_in_either_header_and_never_echoed()
    {
        var e = await Unauthenticated(() => _host.Client.GetModelAsync(new Rpc.GetModelRequest(), Bearer(WrongKey)).ResponseAsync);
        Assert.That(e.Status.Detail, Does.Contain("not valid"));
        e = await Unauthenticated(() => _host.Client.GetModelAsync(new Rpc.GetModelRequest(), XApiKey(WrongKey)).ResponseAsync);
        Assert.That(e.Status.Detail, Does.Contain("not valid"));
        // A prefix of a real key is no key.
        await Unauthenticated(() => _host.Client.GetModelAsync(new Rpc.GetModelRequest(), Bearer(Key[..^1])).ResponseAsync);
    }

    [Test]
    public async Task Every_configured_key_works_in_either_header()
    {
        Assert.That((await _host.Client.GetModelAsync(new Rpc.GetModelRequest(), Bearer(Key))).Name, Is.EqualTo("yolo-fastestv2"));
        Assert.That((await _host.Client.GetModelAsync(new Rpc.GetModelRequest(), XApiKey(SecondKey))).Name, Is.EqualTo("yolo-fastestv2"));
    }

    [Test]
    public async Task Streaming_calls_need_a_key_too()
    {
        await Unauthenticated(async () =>
        {
            using var call = _host.Client.Subscribe(new Rpc.SubscribeRequest());
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });
        var streams = await _host.Client.ListStreamsAsync(new Rpc.ListStreamsRequest(), Bearer(Key));
        Assert.That(streams.Streams, Is.Empty);
    }

    [Test]
    public async Task Grpc_health_stays_open_for_probes_that_cannot_send_metadata()
    {
        var response = await new Health.HealthClient(_host.Calls).CheckAsync(new HealthCheckRequest());
        Assert.That(response.Status, Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
    }

    [Test]
    public async Task Metrics_need_the_key_while_liveness_and_readiness_stay_open()
    {
        using (var refused = await _http.GetAsync("/metrics"))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(refused.Headers.WwwAuthenticate.Select(h => h.Scheme), Does.Contain("Bearer"));
            Assert.That(await refused.Content.ReadAsStringAsync(), Does.Contain("API key"));
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/metrics") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", Key) } })
        using (var allowed = await _http.SendAsync(request))
        {
            Assert.That(allowed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await allowed.Content.ReadAsStringAsync(), Does.Contain("detector_model_ready"));
        }

        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "/metrics") { Headers = { { "x-api-key", WrongKey } } })
        using (var refused = await _http.SendAsync(wrong))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(await refused.Content.ReadAsStringAsync(), Does.Not.Contain("Sekr1t"));
        }

        Assert.That((await _http.GetAsync("/healthz")).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await _http.GetAsync("/readyz")).StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Refused_calls_are_counted_by_reason_in_the_metrics()
    {
        // The authentication handler answers these before the gRPC metrics interceptor sees them: an operator watching
        // for a misconfigured client (or someone guessing keys) needs a counter of its own.
        async Task<(double Missing, double Invalid)> Scrape()
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", Key) } };
            using var response = await _http.SendAsync(request);
            var text = Observability.Exposition.Parse(await response.Content.ReadAsStringAsync());
            return (text.Value("detector_api_unauthenticated_total", "reason=missing_key"),
                text.Value("detector_api_unauthenticated_total", "reason=invalid_key"));
        }

        var before = await Scrape();
        await Unauthenticated(() => _host.Client.GetModelAsync(new Rpc.GetModelRequest()).ResponseAsync);
        await Unauthenticated(() => _host.Client.ListStreamsAsync(new Rpc.ListStreamsRequest()).ResponseAsync);
        for (var i = 0; i < 3; i++)
        {
            await Unauthenticated(() => _host.Client.GetModelAsync(new Rpc.GetModelRequest(), XApiKey(WrongKey)).ResponseAsync);
        }

        using (var refused = await _http.GetAsync("/metrics"))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        var after = await Scrape();
        Assert.That(after.Missing - before.Missing, Is.EqualTo(3), "two gRPC calls and one scrape without a key");
        Assert.That(after.Invalid - before.Invalid, Is.EqualTo(3), "three gRPC calls with a wrong key");
    }

    [Test]
    public async Task Readiness_can_be_protected_and_metrics_opened()
    {
        await using var host = await ServerHost.StartAsync(new Dictionary<string, string>
        {
            ["Detector:Security:ApiKeys:0"] = Key,
            ["Detector:Security:ProtectReadiness"] = "true",
            ["Detector:Security:ProtectMetrics"] = "false",
        });
        using var http = new HttpClient { BaseAddress = new Uri(host.HttpAddress) };
        Assert.That((await http.GetAsync("/readyz")).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/readyz") { Headers = { { "x-api-key", Key } } };
        Assert.That((await http.SendAsync(request)).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await http.GetAsync("/metrics")).StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await http.GetAsync("/healthz")).StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task A_short_key_stops_the_service_at_start_up_without_showing_it()
    {
        Exception? error = null;
        try
        {
            await using var host = await ServerHost.StartAsync(new Dictionary<string, string> { ["Detector:Security:ApiKeys:0"] = "short-Sekr1t" }, waitReady: false);
        }
        catch (Exception e)
        {
            error = e;
        }

        Assert.That(error, Is.Not.Null, "the service started with a 12-character key");
        Assert.That(error!.Message, Does.Contain("Detector:Security:ApiKeys:0").And.Contain("at least 16"));
        Assert.That(error.Message, Does.Not.Contain("Sekr1t"));
    }
}
