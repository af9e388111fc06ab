using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Grpc;

/// <summary>
/// Binds <see cref="DetectorApi"/> as the generated code does, with one difference: a request the protobuf parser
/// cannot read (cut short, a bad length or wire type, a string that is not UTF-8) fails with INVALID_ARGUMENT and
/// says why. gRPC itself parses unary and server-streaming requests before any interceptor runs, and turns a parse
/// error into UNKNOWN ("Exception was thrown by handler") with an Error-level log and stack trace for each one, so
/// any client could fill the logs with garbage requests. Found by the fuzz test.
/// </summary>
public static class DetectorApiBinding
{
    /// <summary>
    /// Found by gRPC through <see cref="BindServiceMethodAttribute"/> on <see cref="DetectorApi"/>. The service parameter is
    /// the generated base type: gRPC looks up the handlers as overrides of its methods (and passes null here).
    /// </summary>
    public static void BindService(ServiceBinderBase binder, Rpc.Detector.DetectorBase? service) =>
        Rpc.Detector.BindService(new ParseErrorBinder(binder), service!);

    /// <summary>The method with a request marshaller whose parse errors are INVALID_ARGUMENT.</summary>
    private static Method<TRequest, TResponse> WithStrictRequests<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class where TResponse : class
    {
        var marshaller = method.RequestMarshaller;
        var strict = new Marshaller<TRequest>(marshaller.ContextualSerializer, context =>
        {
            try
            {
                return marshaller.ContextualDeserializer(context);
            }
            catch (Exception e) when (e is InvalidProtocolBufferException or DecoderFallbackException)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument,
                    $"The request is not a valid {typeof(TRequest).Name} message: {e.Message}"));
            }
        });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, strict, method.ResponseMarshaller);
    }

    private sealed class ParseErrorBinder(ServiceBinderBase inner) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(WithStrictRequests(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(WithStrictRequests(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(WithStrictRequests(method), handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(WithStrictRequests(method), handler);
    }
}
