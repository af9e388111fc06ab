using Detector.Server.Configuration;
using Detector.Server.Grpc;
using Detector.Server.Metrics;
using Detector.Server.Security;
using Detector.Server.Streams;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Serilog;
using Serilog.Formatting.Compact;

namespace Detector.Server.Hosting;

/// <summary>Registration and endpoint mapping, so Program.cs stays a few lines.</summary>
public static class DetectorHostingExtensions
{
    public static WebApplicationBuilder AddDetector(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<DetectorOptions>()
            .Bind(builder.Configuration.GetSection(DetectorOptions.Section), o => o.ErrorOnUnknownConfiguration = true)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        var options = builder.Configuration.GetSection(DetectorOptions.Section).Get<DetectorOptions>() ?? new DetectorOptions();
        builder.Services.AddSerilog((services, log) => ConfigureLogging(log, builder.Configuration, options.Logging, services));
        ConfigureKestrel(builder, options);

        builder.Services.AddDetectorSecurity();
        builder.Services.AddSingleton(TimeProvider.System);
        // Before the engine: the metrics hook into it as it starts (see AddDetectorMetrics).
        builder.Services.AddDetectorMetrics();
        builder.Services.AddSingleton<DetectorEngine>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DetectorEngine>());
        builder.Services.AddSingleton<StreamManager>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<StreamManager>());

        builder.Services.AddGrpc(o =>
        {
            // Outermost first: the metrics see the status code ErrorInterceptor gives the client.
            o.Interceptors.Add<GrpcMetricsInterceptor>();
            o.Interceptors.Add<ErrorInterceptor>();
            o.MaxReceiveMessageSize = options.Limits.MaxMessageBytes;
            o.EnableDetailedErrors = false;
        });
        builder.Services.AddGrpcReflection();
        // The gRPC health service says SERVING once the model is warm: every call works from then on, with or
        // without streams. /readyz also wants a source that has not failed (see SourcesReadyCheck).
        builder.Services.AddGrpcHealthChecks(o => o.Services.Map("", r => r.Name == ModelCheck))
            .AddCheck<ModelReadyCheck>(ModelCheck, tags: [ReadyTag])
            .AddCheck<SourcesReadyCheck>(SourcesCheck, tags: [ReadyTag]);
        return builder;
    }

    private const string ModelCheck = "model";
    private const string SourcesCheck = "sources";
    private const string ReadyTag = "ready";

    /// <summary>
    /// Levels, overrides and any extra sinks come from the "Serilog" section; the console sink is added here, as
    /// text for people or, with Detector:Logging:Json, compact JSON (one object per line) for log collectors.
    /// Scopes become properties, so events carry the request (RequestId, RequestPath = the gRPC method) and the
    /// stream (StreamId) they belong to. Sinks registered as <see cref="Serilog.Core.ILogEventSink"/> services are
    /// added too (the end-to-end tests register one that checks every event for leaked secrets).
    /// </summary>
    internal static LoggerConfiguration ConfigureLogging(LoggerConfiguration log, IConfiguration configuration, LoggingSettings settings,
        IServiceProvider services)
    {
        log.ReadFrom.Configuration(configuration).ReadFrom.Services(services).Enrich.FromLogContext();
        return settings.Json
            ? log.WriteTo.Console(new RenderedCompactJsonFormatter(), restrictedToMinimumLevel: settings.ConsoleLevel)
            : log.WriteTo.Console(outputTemplate: settings.Template, restrictedToMinimumLevel: settings.ConsoleLevel);
    }

    /// <summary>
    /// gRPC gets its own HTTP/2-only endpoint: without TLS, an endpoint that also allows HTTP/1 falls back to
    /// HTTP/1.1 and every gRPC call fails. Metrics and health live on a separate HTTP/1 endpoint.
    /// </summary>
    private static void ConfigureKestrel(WebApplicationBuilder builder, DetectorOptions options)
    {
        builder.WebHost.ConfigureKestrel(k =>
        {
            var address = System.Net.IPAddress.Parse(options.Endpoints.BindAddress);
            k.Listen(address, options.Endpoints.GrpcPort, l =>
            {
                if (options.Endpoints.CertificatePath is { Length: > 0 } certificate)
                {
                    // With TLS, ALPN settles on HTTP/2 for gRPC clients, so HTTP/1 can be allowed beside it.
                    l.Protocols = HttpProtocols.Http1AndHttp2;
                    l.UseHttps(certificate, options.Endpoints.CertificatePassword);
                }
                else
                {
                    l.Protocols = HttpProtocols.Http2;
                }
            });
            if (options.Endpoints.HttpPort > 0)
            {
                k.Listen(address, options.Endpoints.HttpPort, l => l.Protocols = HttpProtocols.Http1);
            }
        });
    }

    public static WebApplication MapDetector(this WebApplication app)
    {
        var security = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<DetectorOptions>>().Value.Security;
        app.UseAuthentication();
        app.UseAuthorization();
        // With API keys configured, the API and reflection need one. gRPC health stays open: Kubernetes' gRPC probes
        // cannot send metadata, and it tells no more than whether the model is warm.
        app.MapGrpcService<DetectorApi>().RequireApiKey(app.Services);
        app.MapGrpcReflectionService().RequireApiKey(app.Services);
        app.MapGrpcHealthChecksService();
        // Live: the process answers (always open). Ready: the model is warm and not every source has failed.
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag), ResponseWriter = WriteReport })
            .RequireApiKey(app.Services, security.ProtectReadiness);
        app.MapDetectorMetrics().RequireApiKey(app.Services, security.ProtectMetrics);
        return app;
    }

    /// <summary>"Healthy" or "Unhealthy", then one line per check with its reason, so a failed probe says why.</summary>
    private static Task WriteReport(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var lines = report.Entries.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}: {e.Value.Status}: {e.Value.Description}");
        return context.Response.WriteAsync($"{report.Status}\n{string.Join("\n", lines)}\n");
    }
}

/// <summary>Healthy once the model is loaded and warmed up; the gRPC health service reports it as SERVING.</summary>
public sealed class ModelReadyCheck(DetectorEngine engine) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(engine.IsReady
            ? HealthCheckResult.Healthy($"model {engine.Session.Description.Name} on {engine.Session.ExecutionProvider}")
            : HealthCheckResult.Unhealthy(engine.LoadError ?? "model loading"));
}

/// <summary>
/// Healthy while at least one source has not failed for good, or when there are no sources at all (the service
/// still answers Detect calls). A configured stream refused at start-up counts as failed.
/// </summary>
public sealed class SourcesReadyCheck(StreamManager streams) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (sources, failed) = streams.SourceCounts();
        return Task.FromResult(sources > 0 && failed == sources
            ? HealthCheckResult.Unhealthy($"all {sources} sources failed")
            : HealthCheckResult.Healthy($"{sources - failed} of {sources} sources not failed"));
    }
}
