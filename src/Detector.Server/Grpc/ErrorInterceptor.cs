using Detector.Server.Hosting;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Detector.Server.Grpc;

/// <summary>Turns <see cref="DetectorException"/> into the matching gRPC status, with its message as the detail.</summary>
public sealed class ErrorInterceptor : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (DetectorException e)
        {
            throw ToRpc(e);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (DetectorException e)
        {
            throw ToRpc(e);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (DetectorException e)
        {
            throw ToRpc(e);
        }
    }

    private static RpcException ToRpc(DetectorException e) => new(new Status(e.Kind switch
    {
        DetectorErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        DetectorErrorKind.NotFound => StatusCode.NotFound,
        DetectorErrorKind.AlreadyExists => StatusCode.AlreadyExists,
        DetectorErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
        DetectorErrorKind.PermissionDenied => StatusCode.PermissionDenied,
        _ => StatusCode.Unavailable,
    }, e.Message));
}
