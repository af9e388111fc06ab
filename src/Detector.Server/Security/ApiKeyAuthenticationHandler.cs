using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Detector.Server.Security;

/// <summary>
/// Authenticates a request by the API key in its <c>authorization: Bearer KEY</c> or <c>x-api-key: KEY</c> header
/// (gRPC metadata are headers). A refusal never repeats the key that was presented.
/// </summary>
public sealed partial class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory loggers, UrlEncoder encoder, ApiKeySet keys,
    AuthRefusals refusals)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggers, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string Policy = "ApiKey";
    public const string KeyHeader = "x-api-key";

    private const string Missing = "This call needs an API key: send the header (gRPC metadata) 'authorization: Bearer KEY' or 'x-api-key: KEY'.";
    private const string Invalid = "The API key presented is not valid.";

    private readonly ILogger _log = loggers.CreateLogger<ApiKeyAuthenticationHandler>();

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (keys.IsEmpty || PresentedKey() is not { } presented)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (!keys.Accepts(presented))
        {
            return Task.FromResult(AuthenticateResult.Fail(Invalid));
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.AuthenticationMethod, SchemeName)], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    /// <summary>
    /// gRPC clients get a proper gRPC status (UNAUTHENTICATED with the reason) instead of HTTP 401, which they would
    /// report only as "Bad gRPC response. HTTP status code: 401"; HTTP clients get 401 with WWW-Authenticate.
    /// </summary>
    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        var reason = result.Failure is null ? Missing : Invalid;
        refusals.Count(keyPresented: result.Failure is not null);
        Log.Refused(_log, Request.Path.Value ?? "", Context.Connection.RemoteIpAddress?.ToString() ?? "unknown", result.Failure is null ? "no API key" : "an invalid API key");
        if (Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            // A trailers-only response: the status travels in the headers and there is no body.
            Response.StatusCode = StatusCodes.Status200OK;
            Response.ContentType = "application/grpc";
            Response.Headers["grpc-status"] = ((int)global::Grpc.Core.StatusCode.Unauthenticated).ToString(System.Globalization.CultureInfo.InvariantCulture);
            Response.Headers["grpc-message"] = reason;
            return;
        }

        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers[HeaderNames.WWWAuthenticate] = "Bearer realm=\"detector\"";
        Response.ContentType = "text/plain; charset=utf-8";
        await Response.WriteAsync(reason + "\n");
    }

    private string? PresentedKey()
    {
        if (Request.Headers[KeyHeader].ToString() is { Length: > 0 } key)
        {
            return key.Trim();
        }

        var authorization = Request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : null;
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Information, Message = "Refused {Path} from {RemoteAddress}: {Reason}")]
        public static partial void Refused(ILogger logger, string path, string remoteAddress, string reason);
    }
}
