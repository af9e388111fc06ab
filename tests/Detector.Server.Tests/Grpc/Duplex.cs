using Grpc.Core;

namespace Detector.Server.Tests.Grpc;

/// <summary>
/// Drives a duplex call whose server may end it early (a refused frame): the messages go out on their own task while
/// the responses, and at the end the status, are read. A server that has ended the call stops reading, and .NET's
/// HTTP/2 client can then leave a pending write hanging until the call is disposed, past the call's deadline (a
/// clean-clone CI run hung 10 minutes awaiting such a write). So the sending is never awaited: disposing the call ends
/// it, and whatever it ended with is observed here.
/// </summary>
internal static class Duplex
{
    /// <summary>Sends <paramref name="messages"/>, completes the request stream, and reads responses until the call
    /// ends; the call's status comes as the <see cref="RpcException"/> of the response stream.</summary>
    public static async Task ReadToEndWhileSendingAsync<TRequest, TResponse>(AsyncDuplexStreamingCall<TRequest, TResponse> call,
        IEnumerable<TRequest> messages)
    {
        var sending = Task.Run(async () =>
        {
            foreach (var message in messages)
            {
                await call.RequestStream.WriteAsync(message);
            }

            await call.RequestStream.CompleteAsync();
        });
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        }
        finally
        {
            _ = sending.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
    }
}
