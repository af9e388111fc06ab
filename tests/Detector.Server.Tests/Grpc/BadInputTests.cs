using System.Globalization;
using Detector.Core.Tests.Sources;
using Detector.Server.Tests.Faults;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Grpc;

/// <summary>
/// Hostile and broken input, each answered with its status code (or its stream failing with a clear error) while a
/// stream that was running before keeps delivering to its subscriber and the service stays healthy. The simpler bad
/// requests (bad ids and URLs, thresholds, small truncated or random images, limits) are in <see cref="ErrorStatusTests"/>.
/// </summary>
[NonParallelizable]
public class BadInputTests
{
    private const int MaxStreams = 16;
    private ServerHost _host = null!;
    private SteadySubscriber _steady = null!;

    private Rpc.Detector.DetectorClient Client => _host.Client;

    [OneTimeSetUp]
    public async Task Start()
    {
        _host = await ServerHost.StartAsync(new Dictionary<string, string>
        {
            ["Detector:Limits:MaxStreams"] = MaxStreams.ToString(CultureInfo.InvariantCulture),
        });
        _steady = await SteadySubscriber.StartAsync(_host);
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        await _steady.DisposeAsync();
        await _host.DisposeAsync();
    }

    private static async Task<RpcException> Fails(Func<Task> call, StatusCode code, string messagePart)
    {
        var e = (await Assert.ThrowsAsync<RpcException>(async () => await call()))!;
        Assert.That(e.StatusCode, Is.EqualTo(code), e.Status.Detail);
        Assert.That(e.Status.Detail, Does.Contain(messagePart));
        return e;
    }

    private Task<RpcException> DetectFails(byte[] image, StatusCode code, string messagePart) =>
        Fails(() => Client.DetectAsync(new Rpc.DetectRequest { Image = ByteString.CopyFrom(image) }).ResponseAsync, code, messagePart);

    /// <summary>The same image as the one frame of a DetectFrames call: the call ends with the status.</summary>
    private Task<RpcException> DetectFramesFails(byte[] image, StatusCode code, string messagePart) =>
        Fails(async () =>
        {
            using var call = Client.DetectFrames();
            await Duplex.ReadToEndWhileSendingAsync(call, [new Rpc.DetectFramesRequest { Image = ByteString.CopyFrom(image), FrameNumber = 7 }]);
        }, code, messagePart);

    [Test]
    public async Task Images_of_zero_pixels_are_invalid_argument()
    {
        await DetectFails(CraftedImages.Png(0, 0), StatusCode.InvalidArgument, "0x0 pixels");
        await DetectFails(CraftedImages.Jpeg(640, 0), StatusCode.InvalidArgument, "no pixels");
        await DetectFramesFails(CraftedImages.Png(0, 480), StatusCode.InvalidArgument, "no pixels");
        await _steady.AssertNothingElseAffectedAsync();
    }

    [Test]
    public async Task Headers_claiming_absurd_dimensions_are_refused_before_anything_is_decoded()
    {
        var before = Environment.WorkingSet;
        await DetectFails(CraftedImages.Png(100_000, 100_000), StatusCode.InvalidArgument, "100000x100000 pixels, more than the limit");
        await DetectFails(CraftedImages.Jpeg(65_500, 65_500), StatusCode.InvalidArgument, "65500x65500 pixels, more than the limit");
        await DetectFails(CraftedImages.Bmp(30_000, 30_000), StatusCode.InvalidArgument, "30000x30000");
        await DetectFails(CraftedImages.WebPExtended(16_384, 16_384), StatusCode.InvalidArgument, "16384x16384");
        await DetectFramesFails(CraftedImages.Jpeg(65_500, 65_500), StatusCode.InvalidArgument, "frame 7 is 65500x65500");
        // Any of them decoded would have cost 0.8 to 30 GB.
        Assert.That(Environment.WorkingSet - before, Is.LessThan(500L << 20), "no picture was allocated");
        await _steady.AssertNothingElseAffectedAsync();
    }

    [Test]
    public async Task Random_bytes_dressed_as_a_jpeg_are_invalid_argument()
    {
        var random = new Random(11);
        foreach (var size in new[] { 16, 1000, 200_000 })
        {
            var bytes = new byte[size];
            random.NextBytes(bytes);
            byte[] jpeg = [0xFF, 0xD8, 0xFF, .. bytes, 0xFF, 0xD9];
            var e = await DetectFails(jpeg, StatusCode.InvalidArgument, "the image");
            TestContext.Out.WriteLine($"{size} random bytes: {e.Status.Detail}");
        }

        // A real JPEG's frame header followed by random scan data: libjpeg gives up, or decodes noise; never a crash.
        var real = File.ReadAllBytes(Shared.Image("dog.jpg"));
        var noise = new byte[real.Length / 2];
        random.NextBytes(noise);
        byte[] scrambled = [.. real.AsSpan(0, real.Length / 4), .. noise, 0xFF, 0xD9];
        try
        {
            await Client.DetectAsync(new Rpc.DetectRequest { Image = ByteString.CopyFrom(scrambled) });
        }
        catch (RpcException e)
        {
            Assert.That(e.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), e.Status.Detail);
        }

        await _steady.AssertNothingElseAffectedAsync();
    }

    [Test]
    public async Task Huge_images_are_resource_exhausted_past_the_message_limit_and_invalid_argument_below_it()
    {
        // Detector:Limits:MaxMessageBytes is 16 MiB by default.
        var overLimit = new byte[17 << 20];
        await DetectFails(overLimit, StatusCode.ResourceExhausted, "");
        await DetectFramesFails(overLimit, StatusCode.ResourceExhausted, "");
        var underLimit = new byte[15 << 20];
        new Random(5).NextBytes(underLimit);
        underLimit[0] = 0x89;
        await DetectFails(underLimit, StatusCode.InvalidArgument, "not an image");
        await _steady.AssertNothingElseAffectedAsync();
    }

    [Test]
    public async Task A_ten_megabyte_stream_id_is_invalid_argument_in_every_call_and_never_echoed_back()
    {
        var id = new string('x', 10 << 20);
        var calls = new (string Name, Func<Task> Call)[]
        {
            ("AddStream", () => Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = id, Url = Shared.Video("car-detection.mp4") }).ResponseAsync),
            ("GetStream", () => Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = id }).ResponseAsync),
            ("RemoveStream", () => Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = id }).ResponseAsync),
            ("Subscribe", async () =>
            {
                using var call = Client.Subscribe(new Rpc.SubscribeRequest { StreamIds = { "steady", id } });
                await call.ResponseStream.MoveNext(CancellationToken.None);
            }),
        };
        foreach (var (name, call) in calls)
        {
            var e = await Fails(call, StatusCode.InvalidArgument, "is not valid");
            Assert.That(e.Status.Detail, Does.Contain($"({id.Length} characters)"), name);
            Assert.That(e.Status.Detail.Length, Is.LessThan(200), $"{name}: the id is not echoed back");
            Assert.That(e.Trailers.Sum(t => t.Key.Length + (t.IsBinary ? t.ValueBytes.Length : t.Value.Length)), Is.LessThan(1024), $"{name}: trailers");
        }

        // Past the message limit the request is not even parsed.
        await Fails(() => Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = new string('x', 17 << 20) }).ResponseAsync,
            StatusCode.ResourceExhausted, "");
        await _steady.AssertNothingElseAffectedAsync();
    }

    [Test]
    public async Task A_request_the_protobuf_parser_cannot_read_is_invalid_argument_for_unary_and_streaming_calls()
    {
        var raw = Marshallers.Create<byte[]>(b => b, b => b);
        // Field 1 (the id, the image), length-delimited, claiming 2 GB that never come.
        byte[] cutShort = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 1, 2, 3];
        var invoker = _host.Calls;
        await Fails(async () => await invoker.AsyncUnaryCall(new Method<byte[], byte[]>(MethodType.Unary, "detector.v1.Detector", "GetStream", raw, raw),
            null, default, cutShort), StatusCode.InvalidArgument, "not a valid GetStreamRequest message");
        await Fails(async () =>
        {
            using var call = invoker.AsyncServerStreamingCall(new Method<byte[], byte[]>(MethodType.ServerStreaming, "detector.v1.Detector", "Subscribe", raw, raw),
                null, default, cutShort);
            await call.ResponseStream.MoveNext(CancellationToken.None);
        }, StatusCode.InvalidArgument, "not a valid SubscribeRequest message");
        await Fails(async () =>
        {
            using var call = invoker.AsyncDuplexStreamingCall(new Method<byte[], byte[]>(MethodType.DuplexStreaming, "detector.v1.Detector", "DetectFrames", raw, raw),
                null, default);
            await Duplex.ReadToEndWhileSendingAsync(call, [cutShort]);
        }, StatusCode.InvalidArgument, "not a valid DetectFramesRequest message");

        // A string field that is not UTF-8.
        byte[] notUtf8 = [0x0A, 0x02, 0xC3, 0x28];
        await Fails(async () => await invoker.AsyncUnaryCall(new Method<byte[], byte[]>(MethodType.Unary, "detector.v1.Detector", "AddStream", raw, raw),
            null, default, notUtf8), StatusCode.InvalidArgument, "not a valid AddStreamRequest message");
        await _steady.AssertNothingElseAffectedAsync();
    }

    [Test]
    public async Task A_truncated_video_file_fails_its_stream_with_a_clear_error()
    {
        var truncated = SourceMedia.Truncated(SourceMedia.Car, "car-first-half.mp4", 0.5);
        await Client.AddStreamAsync(new Rpc.AddStreamRequest
        {
            Id = "truncated", Url = truncated, Options = new Rpc.StreamOptions { AsFastAsPossible = true },
        });
        var info = await Results.WaitForStateAsync(Client, "truncated", i => i.State == Rpc.StreamState.Failed, TimeSpan.FromSeconds(60));
        TestContext.Out.WriteLine(info.LastError);
        Assert.That(info.LastError, Does.Contain("truncated").And.Contain("car-first-half.mp4"));
        await Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = "truncated" });
        await _steady.AssertNothingElseAffectedAsync();
    }

    [Test]
    public async Task A_video_whose_resolution_changes_mid_stream_fails_with_a_clear_error()
    {
        await Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "resized", Url = SourceMedia.ResolutionChange() });
        var info = await Results.WaitForStateAsync(Client, "resized", i => i.State == Rpc.StreamState.Failed, TimeSpan.FromSeconds(60));
        TestContext.Out.WriteLine(info.LastError);
        Assert.That(info.LastError, Does.Contain("changes resolution mid-file (480x270, then 320x180)"));
        await Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = "resized" });
        await _steady.AssertNothingElseAffectedAsync();
    }

    [Test]
    public async Task Two_thousand_concurrent_add_stream_calls_fill_the_free_slots_exactly_and_the_rest_are_resource_exhausted()
    {
        var threadsBefore = ProcessProbe.Threads();
        var free = MaxStreams - (await Client.ListStreamsAsync(new Rpc.ListStreamsRequest())).Streams.Count;
        var video = SourceMedia.Street;
        var calls = Enumerable.Range(0, 2000).Select(async i =>
        {
            try
            {
                await Client.AddStreamAsync(new Rpc.AddStreamRequest
                {
                    Id = $"many-{i}", Url = video, Options = new Rpc.StreamOptions { Loop = true, TargetFps = 1 },
                });
                return (Code: StatusCode.OK, Detail: "");
            }
            catch (RpcException e)
            {
                return (Code: e.StatusCode, e.Status.Detail);
            }
        }).ToList();
        var outcomes = await Task.WhenAll(calls);

        Assert.That(outcomes.Count(o => o.Code == StatusCode.OK), Is.EqualTo(free));
        Assert.That(outcomes.Count(o => o.Code == StatusCode.ResourceExhausted), Is.EqualTo(2000 - free),
            string.Join(", ", outcomes.Where(o => o.Code is not (StatusCode.OK or StatusCode.ResourceExhausted)).Take(5)));
        Assert.That(outcomes.Where(o => o.Code == StatusCode.ResourceExhausted).Select(o => o.Detail).Distinct(),
            Is.EqualTo(new[] { $"The service already runs {MaxStreams} streams, its limit (Detector:Limits:MaxStreams)." }));
        await _steady.AssertNothingElseAffectedAsync();

        var many = (await Client.ListStreamsAsync(new Rpc.ListStreamsRequest())).Streams.Where(s => s.Id.StartsWith("many-", StringComparison.Ordinal)).ToList();
        Assert.That(many, Has.Count.EqualTo(free));
        Assert.That(ProcessProbe.Threads("stream many-"), Is.GreaterThanOrEqualTo(free),
            "a reader thread per stream (the decoder's threads inherit its name)");
        foreach (var s in many)
        {
            await Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = s.Id });
        }

        // Every stream's thread is gone, no ffmpeg or ffprobe is left behind, and the process has about as many threads as before.
        // A stream's stop completes as its thread's last act, so the thread may still be leaving when the call returns.
        Assert.That(await ProcessProbe.EventuallyAsync(() => ProcessProbe.Threads("stream many-") == 0, TimeSpan.FromSeconds(10)), Is.True,
            ProcessProbe.ThreadNames("stream many-"));
        Assert.That(await ProcessProbe.EventuallyAsync(() => !ProcessProbe.ChildProcessNames().Any(n => n is "ffmpeg" or "ffprobe"), TimeSpan.FromSeconds(10)),
            Is.True, string.Join(", ", ProcessProbe.ChildProcessNames()));
        var threadsAfter = ProcessProbe.Threads();
        TestContext.Out.WriteLine($"threads: {threadsBefore} before, {threadsAfter} after");
        Assert.That(threadsAfter, Is.LessThan(threadsBefore + 40));
        await _steady.AssertNothingElseAffectedAsync();
    }
}

/// <summary>
/// A stream that runs for a whole fixture ("steady", a looping file) and a subscriber attached to it from the start,
/// to show that whatever a test did to the service left it alone.
/// </summary>
internal sealed class SteadySubscriber : IAsyncDisposable
{
    private readonly ServerHost _host;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reading;
    private long _received;

    private SteadySubscriber(ServerHost host, string id)
    {
        _host = host;
        Id = id;
        var call = host.Client.Subscribe(new Rpc.SubscribeRequest { StreamIds = { id } }, cancellationToken: _stop.Token);
        _reading = Task.Run(async () =>
        {
            using (call)
            {
                try
                {
                    while (await call.ResponseStream.MoveNext(_stop.Token))
                    {
                        Interlocked.Increment(ref _received);
                    }
                }
                catch (Exception) when (_stop.IsCancellationRequested)
                {
                }
            }
        });
    }

    public string Id { get; }

    public long Received => Interlocked.Read(ref _received);

    /// <summary>Adds the stream, attaches the subscriber and waits for its first results.</summary>
    public static async Task<SteadySubscriber> StartAsync(ServerHost host, string id = "steady")
    {
        await host.Client.AddStreamAsync(new Rpc.AddStreamRequest
        {
            Id = id, Url = Shared.Video("person-bicycle-car-detection.mp4"), Options = new Rpc.StreamOptions { Loop = true, TargetFps = 5 },
        });
        var steady = new SteadySubscriber(host, id);
        await steady.AssertNothingElseAffectedAsync();
        return steady;
    }

    /// <summary>The subscriber still gets new results, the stream still runs, and the service says SERVING.</summary>
    public async Task AssertNothingElseAffectedAsync()
    {
        Assert.That(_reading.IsCompleted, Is.False, $"the subscription to {Id} ended: {_reading.Exception?.InnerException?.Message}");
        var start = Received;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Received < start + 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.That(Received, Is.GreaterThanOrEqualTo(start + 3), $"{Id} kept delivering results to its subscriber");
        var info = await _host.Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = Id });
        Assert.That(info.State, Is.EqualTo(Rpc.StreamState.Running), info.ToString());
        var health = await new Health.HealthClient(_host.Calls).CheckAsync(new HealthCheckRequest());
        Assert.That(health.Status, Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
    }

    /// <summary>Ends the subscription; how it went is for <see cref="AssertNothingElseAffectedAsync"/> to say, not for disposal to throw.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _reading.ContinueWith(_ => { }, TaskScheduler.Default);
        _stop.Dispose();
    }
}
