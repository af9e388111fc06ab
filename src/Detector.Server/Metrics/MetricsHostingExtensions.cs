using Prometheus;

namespace Detector.Server.Metrics;

/// <summary>Registration of the metrics and their endpoint.</summary>
public static class MetricsHostingExtensions
{
    /// <summary>
    /// Adds <see cref="DetectorMetrics"/> as a hosted service. Call it before the engine is registered: hosted
    /// services start in registration order, and the metrics must hook into the engine before its model loads.
    /// </summary>
    public static IServiceCollection AddDetectorMetrics(this IServiceCollection services)
    {
        services.AddSingleton<DetectorMetrics>();
        services.AddHostedService(sp => sp.GetRequiredService<DetectorMetrics>());
        return services;
    }

    /// <summary>
    /// Serves this host's registry on /metrics. Prometheus reaches it on the HTTP/1 endpoint
    /// (Detector:Endpoints:HttpPort); the gRPC endpoint speaks HTTP/2 only.
    /// </summary>
    public static IEndpointConventionBuilder MapDetectorMetrics(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapMetrics("/metrics", endpoints.ServiceProvider.GetRequiredService<DetectorMetrics>().Registry);
}
