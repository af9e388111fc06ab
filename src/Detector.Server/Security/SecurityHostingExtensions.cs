using Detector.Server.Configuration;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Detector.Server.Security;

/// <summary>Registration of API-key authentication, the source policy and their start-up checks.</summary>
public static class SecurityHostingExtensions
{
    public static IServiceCollection AddDetectorSecurity(this IServiceCollection services)
    {
        services.AddSingleton<IValidateOptions<DetectorOptions>, SecurityOptionsValidator>();
        services.AddSingleton(sp => new ApiKeySet(sp.GetRequiredService<IOptions<DetectorOptions>>().Value.Security.ApiKeys));
        services.AddSingleton<SourcePolicy>();
        services.AddSingleton<AuthRefusals>();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, _ => { });
        services.AddAuthorizationBuilder()
            .AddPolicy(ApiKeyAuthenticationHandler.Policy, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser());
        return services;
    }

    /// <summary>
    /// Requires an API key on <paramref name="endpoints"/> when keys are configured and <paramref name="protect"/>
    /// holds; with no keys, everything stays open (the single-host default).
    /// </summary>
    public static TBuilder RequireApiKey<TBuilder>(this TBuilder endpoints, IServiceProvider services, bool protect = true)
        where TBuilder : IEndpointConventionBuilder
    {
        if (protect && !services.GetRequiredService<ApiKeySet>().IsEmpty)
        {
            endpoints.RequireAuthorization(ApiKeyAuthenticationHandler.Policy);
        }

        return endpoints;
    }
}
