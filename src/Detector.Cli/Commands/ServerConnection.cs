using System.CommandLine;
using Grpc.Core;
using Grpc.Net.Client;
using Rpc = Detector.Api.V1;

namespace Detector.Cli.Commands;

/// <summary>The --server option and a client for it.</summary>
internal sealed class ServerConnection
{
    public const string DefaultServer = "http://127.0.0.1:50051";

    public Option<string> Server { get; } = new("--server", "-s")
    {
        Description = $"Detector service address (default {DefaultServer}).",
        DefaultValueFactory = _ => DefaultServer,
    };

    public static Rpc.Detector.DetectorClient Connect(string address, out GrpcChannel channel)
    {
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"--server must be an http:// or https:// address, got '{address}'.");
        }

        channel = GrpcChannel.ForAddress(uri, new GrpcChannelOptions { MaxReceiveMessageSize = 64 * 1024 * 1024 });
        return new Rpc.Detector.DetectorClient(channel);
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
