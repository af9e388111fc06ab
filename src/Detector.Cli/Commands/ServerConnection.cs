using System.CommandLine;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Rpc = Detector.Api.V1;

namespace Detector.Cli.Commands;

/// <summary>The --server and --api-key options and a client for them.</summary>
internal sealed class ServerConnection
{
    public const string DefaultServer = "http://127.0.0.1:50051";

    /// <summary>Read when --api-key is not given, so the key need not appear in the shell's history or `ps`.</summary>
    public const string ApiKeyVariable = "DETECTOR_API_KEY";

    public Option<string> Server { get; } = new("--server", "-s")
    {
        Description = $"Detector service address (default {DefaultServer}).",
        DefaultValueFactory = _ => DefaultServer,
    };

    public Option<string?> ApiKey { get; } = CreateApiKeyOption();

    /// <summary>
    /// The key is looked up in the environment at connection time, not as the option's default value, which
    /// --help would print.
    /// </summary>
    public static Option<string?> CreateApiKeyOption() => new("--api-key")
    {
        Description = $"API key of a service that requires one (default: the {ApiKeyVariable} environment variable).",
    };

    public Rpc.Detector.DetectorClient Connect(ParseResult r, out GrpcChannel channel) =>
        Connect(r.GetValue(Server)!, r.GetValue(ApiKey), out channel);

    public static Rpc.Detector.DetectorClient Connect(string address, string? apiKey, out GrpcChannel channel)
    {
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"--server must be an http:// or https:// address, got '{address}'.");
        }

        channel = GrpcChannel.ForAddress(uri, new GrpcChannelOptions { MaxReceiveMessageSize = 64 * 1024 * 1024 });
        var key = string.IsNullOrEmpty(apiKey) ? Environment.GetEnvironmentVariable(ApiKeyVariable) : apiKey;
        if (string.IsNullOrEmpty(key))
        {
            return new Rpc.Detector.DetectorClient(channel);
        }

        return new Rpc.Detector.DetectorClient(channel.Intercept(metadata =>
        {
            metadata.Add("authorization", $"Bearer {key}");
            return metadata;
        }));
    }

    /// <summary>Runs a client call, turning RPC failures into one line and an exit code.</summary>
    public static int Call(Func<int> action) => CliErrors.Run(() =>
    {
        try
        {
            return action();
        }
        catch (RpcException e)
        {
            var message = e.StatusCode == StatusCode.Unavailable && e.Status.Detail.Contains("connect", StringComparison.OrdinalIgnoreCase)
                ? $"cannot reach the service ({e.Status.Detail})"
                : e.Status.Detail;
            return CliErrors.Fail($"{e.StatusCode}: {message}", CliErrors.RuntimeError);
        }
    });
}
