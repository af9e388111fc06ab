using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Grpc;

internal static class Results
{
    /// <summary>Reads a subscription until <paramref name="enough"/> says so or the time is up.</summary>
    public static async Task<List<Rpc.DetectionResult>> CollectAsync(Rpc.Detector.DetectorClient client, Rpc.SubscribeRequest request,
        Func<List<Rpc.DetectionResult>, bool> enough, TimeSpan limit)
    {
        var results = new List<Rpc.DetectionResult>();
        using var cts = new CancellationTokenSource(limit);
        using var call = client.Subscribe(request, cancellationToken: cts.Token);
        try
        {
            while (await call.ResponseStream.MoveNext(cts.Token))
            {
                results.Add(call.ResponseStream.Current);
                if (enough(results))
                {
                    break;
                }
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
        {
        }
        catch (OperationCanceledException)
        {
        }

        return results;
    }

    public static async Task<Rpc.StreamInfo> WaitForStateAsync(Rpc.Detector.DetectorClient client, string id,
        Func<Rpc.StreamInfo, bool> condition, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        Rpc.StreamInfo info;
        do
        {
            info = await client.GetStreamAsync(new Rpc.GetStreamRequest { Id = id });
            if (condition(info))
            {
                return info;
            }

            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"stream {id} did not reach the expected state in {limit}: {info}");
        return info;
    }
}
