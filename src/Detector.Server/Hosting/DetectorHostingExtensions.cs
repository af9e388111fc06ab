using Detector.Server.Configuration;
using Detector.Server.Grpc;
using Detector.Server.Streams;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Serilog;

namespace Detector.Server.Hosting;

/// <summary>Registration and endpoint mapping, so Program.cs stays a few lines.</summary>
public static class DetectorHostingExtensions
{
    public static WebApplicationBuilder AddDetector(this WebApplicationBuilder builder)
    {
        builder.Services.AddSerilog((services, log) => log
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.FromLogContext());

        builder.Services.AddOptions<DetectorOptions>()
            .Bind(builder.Configuration.GetSection(DetectorOptions.Section), o => o.ErrorOnUnknownConfiguration = true)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        var options = builder.Configuration.GetSection(DetectorOptions.Section).Get<DetectorOptions>() ?? new DetectorOptions();
        ConfigureKestrel(builder, options);

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<DetectorEngine>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DetectorEngine>());
        builder.Services.AddSingleton<StreamManager>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<StreamManager>());

        builder.Services.AddGrpc(o =>
        {
            o.Interceptors.Add<ErrorInterceptor>();
            o.MaxReceiveMessageSize = options.Limits.MaxMessageBytes;
            o.EnableDetailedErrors = false;
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddGrpcHealthChecks().AddCheck<ModelReadyCheck>("model");
        builder.Services.AddHealthChecks();
        return builder;
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
        app.MapGrpcService<DetectorApi>();
        app.MapGrpcReflectionService();
        app.MapGrpcHealthChecksService();
        app.MapHealthChecks("/healthz", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions { Predicate = c => c.Name == "model" });
        return app;
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
