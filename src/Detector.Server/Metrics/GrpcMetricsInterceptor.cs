using Grpc.Core;
using Grpc.Core.Interceptors;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Metrics;

/// <summary>
/// Counts gRPC calls by service, method and final status code, times unary calls, and counts the detection results
/// written to clients. It runs outside <see cref="Grpc.ErrorInterceptor"/>, so it sees the status a client gets.
/// </summary>
public sealed class GrpcMetricsInterceptor(DetectorMetrics metrics) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var call = metrics.StartCall(context.Method);
        try
        {
            var response = await continuation(request, context);
            if (response is Rpc.DetectionResult)
            {
                call.ResultSent();
            }

            call.Finish(CodeOf(context), unary: true);
            return response;
        }
        catch (Exception e)
        {
            call.Finish(CodeOf(e, context), unary: true);
            throw;
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var call = metrics.StartCall(context.Method);
        try
        {
            await continuation(request, Counted(responseStream, call), context);
            call.Finish(CodeOf(context), unary: false);
        }
        catch (Exception e)
        {
            call.Finish(CodeOf(e, context), unary: false);
            throw;
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var call = metrics.StartCall(context.Method);
        try
        {
            await continuation(requestStream, Counted(responseStream, call), context);
            call.Finish(CodeOf(context), unary: false);
        }
        catch (Exception e)
        {
            call.Finish(CodeOf(e, context), unary: false);
            throw;
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var call = metrics.StartCall(context.Method);
        try
        {
            var response = await continuation(requestStream, context);
            call.Finish(CodeOf(context), unary: false);
            return response;
        }
        catch (Exception e)
        {
            call.Finish(CodeOf(e, context), unary: false);
            throw;
        }
    }

    /// <summary>
    /// The status of a call that returned: Cancelled when the client went away first (a Subscribe call ends that way,
    /// and returns quietly), else the status the handler set (OK unless it chose another).
    /// </summary>
    private static StatusCode CodeOf(ServerCallContext context) =>
        context.CancellationToken.IsCancellationRequested ? StatusCode.Cancelled : context.Status.StatusCode;

    /// <summary>The status the client sees: an RpcException's own, Cancelled when the client went away, else Unknown.</summary>
    private static StatusCode CodeOf(Exception e, ServerCallContext context) => e switch
    {
        RpcException rpc => rpc.StatusCode,
        OperationCanceledException when context.CancellationToken.IsCancellationRequested => StatusCode.Cancelled,
        _ => StatusCode.Unknown,
    };

    private static IServerStreamWriter<T> Counted<T>(IServerStreamWriter<T> inner, DetectorMetrics.GrpcCall call) where T : class =>
        typeof(T) == typeof(Rpc.DetectionResult) ? new CountingWriter<T>(inner, call) : inner;

    /// <summary>Counts each result once it has been handed to the transport.</summary>
    private sealed class CountingWriter<T>(IServerStreamWriter<T> inner, DetectorMetrics.GrpcCall call) : IServerStreamWriter<T>
    {
        public WriteOptions? WriteOptions
        {
            get => inner.WriteOptions;
            set => inner.WriteOptions = value;
        }

        public async Task WriteAsync(T message)
        {
            await inner.WriteAsync(message);
            call.ResultSent();
        }

        public async Task WriteAsync(T message, CancellationToken cancellationToken)
        {
            await inner.WriteAsync(message, cancellationToken);
            call.ResultSent();
        }
    }
}
