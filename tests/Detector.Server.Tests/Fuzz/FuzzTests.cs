using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Detector.Server.Tests.Faults;
using Detector.Server.Tests.Grpc;
using Google.Protobuf;
using Grpc.Core;
using OpenCvSharp;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Fuzz;

/// <summary>
/// A few thousand random and mutated requests to every RPC, typed and as raw protobuf bytes, eight at a time. Every
/// call must end with a status a client can act on (never INTERNAL or UNKNOWN, which mean an unhandled exception),
/// and afterwards the service is healthy, a stream that ran all along still delivers to the subscriber it had before,
/// and the process has not piled up threads or memory. The seed is printed; DETECTOR_FUZZ_SEED replays a run and
/// DETECTOR_FUZZ_REQUESTS changes its length.
/// </summary>
[NonParallelizable]
public class FuzzTests
{
    private static readonly StatusCode[] Refusals =
        [StatusCode.OK, StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.AlreadyExists, StatusCode.ResourceExhausted,
            // A source the policy does not allow (udp, by default).
            StatusCode.PermissionDenied];

    [Test]
    public async Task Thousands_of_random_requests_to_every_rpc_leave_the_service_healthy_and_its_streams_running()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("DETECTOR_FUZZ_SEED"), CultureInfo.InvariantCulture, out var s) ? s : Random.Shared.Next();
        var count = int.TryParse(Environment.GetEnvironmentVariable("DETECTOR_FUZZ_REQUESTS"), CultureInfo.InvariantCulture, out var n) ? n : 3000;
        TestContext.Progress.WriteLine($"Fuzz: {count} requests, seed {seed} (replay with DETECTOR_FUZZ_SEED={seed})");

        await using var host = await ServerHost.StartAsync(new Dictionary<string, string>
        {
            ["Detector:Limits:MaxStreams"] = "6",
            ["Detector:Limits:MaxSubscribers"] = "32",
        });
        await using var steady = await SteadySubscriber.StartAsync(host);
        var threadsBefore = ProcessProbe.Threads();
        var managedBefore = GC.GetTotalMemory(forceFullCollection: true);

        var fuzzer = new RequestFuzzer(seed, SmallImages(), [Shared.Video("person-bicycle-car-detection.mp4"), Shared.Video("car-detection.mp4")]);
        var calls = new Calls(host);
        // Generated up front, in order, so a seed always gives the same requests whatever the timing.
        var requests = Enumerable.Range(0, count).Select(_ => calls.Next(fuzzer)).ToList();

        var outcomes = new ConcurrentDictionary<(string Rpc, StatusCode Code), int>();
        var unexpected = new ConcurrentQueue<string>();
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(requests, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (request, _) =>
        {
            var code = await request.Run();
            outcomes.AddOrUpdate((request.Rpc, code.Code), 1, (_, c) => c + 1);
            if (!request.Allowed(code.Code))
            {
                unexpected.Enqueue($"{request.Rpc} -> {code.Code} '{code.Detail}' for {request.Describe()}");
            }
        });
        clock.Stop();

        foreach (var ((rpc, code), times) in outcomes.OrderBy(o => o.Key.Rpc, StringComparer.Ordinal).ThenBy(o => o.Key.Code))
        {
            TestContext.Out.WriteLine($"{rpc,-22} {code,-18} {times,5}");
        }

        TestContext.Progress.WriteLine($"Fuzz: {count} requests in {clock.Elapsed.TotalSeconds:0.0} s, {unexpected.Count} unexpected statuses");
        // A connection-level HTTP/2 error ends every call on that connection, other clients' included.
        var recent = Secrets.LogCapture.Instance.Recent;
        var closed = recent.Select(l => System.Text.RegularExpressions.Regex.Match(l, @"closed stream ID (\d+)")).Where(m => m.Success)
            .Select(m => $":{int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture):X8}").Distinct().ToList();
        var connectionErrors = recent.Where(l => l.Contains("HTTP/2 connection error", StringComparison.Ordinal)).ToList();
        foreach (var line in recent.Where(l => closed.Any(id => l.Contains(id, StringComparison.Ordinal))).Concat(connectionErrors).Take(40))
        {
            TestContext.Out.WriteLine(line.Length > 1500 ? line[..1500] : line);
        }

        Assert.That(unexpected, Is.Empty, $"seed {seed}:\n" + string.Join("\n", unexpected.Take(20)));
        Assert.That(outcomes.Keys.Select(k => k.Rpc).Distinct().Count(), Is.EqualTo(16), "every RPC was called, typed and raw");
        Assert.That(connectionErrors, Is.Empty, "HTTP/2 connection errors");

        await steady.AssertNothingElseAffectedAsync();
        using (var http = new HttpClient())
        {
            var ready = await http.GetAsync($"{host.HttpAddress}/readyz");
            Assert.That(ready.IsSuccessStatusCode, await ready.Content.ReadAsStringAsync());
        }

        foreach (var stream in (await host.Client.ListStreamsAsync(new Rpc.ListStreamsRequest())).Streams.Where(i => i.Id != steady.Id))
        {
            await host.Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = stream.Id });
        }

        await steady.AssertNothingElseAffectedAsync();
        await Task.Delay(TimeSpan.FromSeconds(1));
        var threadsAfter = ProcessProbe.Threads();
        var managedAfter = GC.GetTotalMemory(forceFullCollection: true);
        TestContext.Progress.WriteLine($"Fuzz: threads {threadsBefore} -> {threadsAfter}, managed heap {managedBefore >> 20} -> {managedAfter >> 20} MiB, " +
            $"working set {Environment.WorkingSet >> 20} MiB");
        Assert.That(threadsAfter, Is.LessThan(threadsBefore + 40), "threads");
        Assert.That(managedAfter - managedBefore, Is.LessThan(200L << 20), "managed memory");
        Assert.That(ProcessProbe.ChildProcessNames().Where(p => p is "ffmpeg" or "ffprobe"), Is.Empty, "ffmpeg processes of removed streams");
    }

    /// <summary>Small real images (a few kB each) in every format the API takes, for the mutations to start from.</summary>
    private static IReadOnlyList<byte[]> SmallImages()
    {
        var images = new List<byte[]>();
        foreach (var name in new[] { "dog.jpg", "bus.jpg" })
        {
            using var full = Cv2.ImRead(Shared.Image(name));
            using var small = full.Resize(new Size(160, 120));
            foreach (var extension in new[] { ".jpg", ".png", ".bmp", ".webp" })
            {
                Cv2.ImEncode(extension, small, out var bytes);
                images.Add(bytes);
            }
        }

        return images;
    }

    private sealed record Outcome(StatusCode Code, string Detail);

    private sealed record Request(string Rpc, IMessage Message, Func<Task> Call, StatusCode[] AllowedCodes)
    {
        public bool Allowed(StatusCode code) => AllowedCodes.Contains(code);

        public string Describe()
        {
            var text = Message.ToString() ?? "";
            return text.Length > 300 ? text[..300] + $"... ({text.Length} characters)" : text;
        }

        public async Task<Outcome> Run()
        {
            try
            {
                await Call();
                return new Outcome(StatusCode.OK, "");
            }
            catch (RpcException e)
            {
                return new Outcome(e.StatusCode, e.Status.Detail.Length > 200 ? e.Status.Detail[..200] : e.Status.Detail);
            }
            catch (Exception e)
            {
                // Not a status at all: counted as UNKNOWN, with what was thrown.
                return new Outcome(StatusCode.Unknown, $"{e.GetType().Name}: {e.Message}");
            }
        }
    }

    /// <summary>One random call to one of the eight RPCs, typed or raw.</summary>
    private sealed class Calls(ServerHost host)
    {
        private static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);
        private readonly Rpc.Detector.DetectorClient _client = host.Client;
        private readonly CallInvoker _invoker = host.Calls;

        private static DateTime Deadline(double seconds) => DateTime.UtcNow.AddSeconds(seconds);

        public Request Next(RequestFuzzer f)
        {
            var raw = f.Next(4) == 0;
            return (f.Next(8), raw) switch
            {
                (0, false) => AddStream(f),
                (1, false) => Unary("RemoveStream", new Rpc.RemoveStreamRequest { Id = f.Id() }, m => _client.RemoveStreamAsync(m, deadline: Deadline(20)).ResponseAsync),
                (2, false) => Unary("ListStreams", new Rpc.ListStreamsRequest(), m => _client.ListStreamsAsync(m, deadline: Deadline(20)).ResponseAsync),
                (3, false) => Unary("GetStream", new Rpc.GetStreamRequest { Id = f.Id() }, m => _client.GetStreamAsync(m, deadline: Deadline(20)).ResponseAsync),
                (4, false) => Subscribe(f),
                (5, false) => Unary("Detect", new Rpc.DetectRequest
                {
                    Image = f.Image(), ConfidenceThreshold = f.Float(), IouThreshold = f.Float(), ClassIds = { f.ClassIds() },
                }, m => _client.DetectAsync(m, deadline: Deadline(30)).ResponseAsync),
                (6, false) => DetectFrames(f),
                (7, false) => Unary("GetModel", new Rpc.GetModelRequest(), m => _client.GetModelAsync(m, deadline: Deadline(20)).ResponseAsync),
                (var i, _) => RawCall(f, i),
            };
        }

        private static Request Unary<T>(string rpc, T message, Func<T, Task> call) where T : IMessage =>
            new(rpc, message, () => call(message), Refusals);

        private Request AddStream(RequestFuzzer f)
        {
            var request = new Rpc.AddStreamRequest { Id = f.Id(), Url = f.Url(), Options = f.Options() };
            f.Remember(request.Id);
            return Unary("AddStream", request, m => _client.AddStreamAsync(m, deadline: Deadline(20)).ResponseAsync);
        }

        private Request Subscribe(RequestFuzzer f)
        {
            var request = new Rpc.SubscribeRequest { MinConfidence = f.Float(), ClassIds = { f.ClassIds() } };
            for (var i = f.Next(4); i > 0; i--)
            {
                request.StreamIds.Add(f.Id());
            }

            // A subscription never ends by itself: it is read for a moment, then the client's deadline ends it.
            return new Request("Subscribe", request, async () =>
            {
                using var call = _client.Subscribe(request, deadline: Deadline(0.3));
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                }
            }, [.. Refusals, StatusCode.DeadlineExceeded]);
        }

        private Request DetectFrames(RequestFuzzer f)
        {
            var frames = Enumerable.Range(0, f.Next(4)).Select(i => new Rpc.DetectFramesRequest
            {
                Image = f.Image(), FrameNumber = (ulong)f.Next(int.MaxValue), ConfidenceThreshold = f.Float(), ClassIds = { f.ClassIds() },
            }).ToList();
            return new Request("DetectFrames", new Rpc.DetectRequest { Image = frames.FirstOrDefault()?.Image ?? ByteString.Empty }, async () =>
            {
                // The server ends the call early at a bad frame: its status comes with the response.
                using var call = _client.DetectFrames(deadline: Deadline(30));
                await Duplex.ReadToEndWhileSendingAsync(call, frames);
            }, Refusals);
        }

        /// <summary>Bytes straight to the server's protobuf parser, through the real method paths.</summary>
        private Request RawCall(RequestFuzzer f, int rpc)
        {
            var (name, valid, type) = rpc switch
            {
                0 => ("AddStream", (IMessage)new Rpc.AddStreamRequest { Id = f.Id(), Url = f.Url(), Options = f.Options() }, MethodType.Unary),
                1 => ("RemoveStream", new Rpc.RemoveStreamRequest { Id = f.Id() }, MethodType.Unary),
                2 => ("ListStreams", new Rpc.ListStreamsRequest(), MethodType.Unary),
                3 => ("GetStream", new Rpc.GetStreamRequest { Id = f.Id() }, MethodType.Unary),
                4 => ("Subscribe", new Rpc.SubscribeRequest { StreamIds = { f.Id() }, MinConfidence = f.Float() }, MethodType.ServerStreaming),
                5 => ("Detect", new Rpc.DetectRequest { Image = f.Image(), ConfidenceThreshold = f.Float() }, MethodType.Unary),
                6 => ("DetectFrames", new Rpc.DetectFramesRequest { Image = f.Image(), FrameNumber = 3 }, MethodType.DuplexStreaming),
                _ => ("GetModel", new Rpc.GetModelRequest(), MethodType.Unary),
            };
            var bytes = f.RawMessage(valid);
            var method = new Method<byte[], byte[]>(type, "detector.v1.Detector", name, Raw, Raw);
            var shown = new Rpc.DetectRequest { Image = ByteString.CopyFrom(bytes) };
            return new Request($"raw {name}", shown, type switch
            {
                MethodType.Unary => async () => await _invoker.AsyncUnaryCall(method, null, new CallOptions(deadline: Deadline(30)), bytes),
                MethodType.ServerStreaming => async () =>
                {
                    using var call = _invoker.AsyncServerStreamingCall(method, null, new CallOptions(deadline: Deadline(0.3)), bytes);
                    while (await call.ResponseStream.MoveNext(CancellationToken.None))
                    {
                    }
                },
                _ => async () =>
                {
                    using var call = _invoker.AsyncDuplexStreamingCall(method, null, new CallOptions(deadline: Deadline(30)));
                    await Duplex.ReadToEndWhileSendingAsync(call, [bytes]);
                },
            }, type == MethodType.ServerStreaming ? [.. Refusals, StatusCode.DeadlineExceeded] : Refusals);
        }
    }
}
