using Google.Protobuf;
using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Grpc;

/// <summary>Every status code the API promises, each produced by the bad input that should cause it.</summary>
[NonParallelizable]
public class ErrorStatusTests
{
    private ServerHost _host = null!;

    private Rpc.Detector.DetectorClient Client => _host.Client;

    [OneTimeSetUp]
    public async Task Start() => _host = await ServerHost.StartAsync(new Dictionary<string, string>
    {
        ["Detector:Limits:MaxStreams"] = "2",
        ["Detector:Limits:MaxSubscribers"] = "1",
        ["Detector:Limits:MaxMessageBytes"] = "200000",
        ["Detector:Limits:MaxImagePixels"] = "1000000",
    });

    [OneTimeTearDown]
    public async Task Stop() => await _host.DisposeAsync();

    private static async Task<RpcException> Fails(Func<Task> call, StatusCode code, string messagePart)
    {
        var e = (await Assert.ThrowsAsync<RpcException>(async () => await call()))!;
        Assert.That(e.StatusCode, Is.EqualTo(code), e.Status.Detail);
        Assert.That(e.Status.Detail, Does.Contain(messagePart));
        return e;
    }

    private static ByteString Jpeg(string name = "000000001584.jpg") => ByteString.CopyFrom(File.ReadAllBytes(Shared.Image(name)));

    [TestCase("", "x.mp4", "empty")]
    [TestCase("has space", "x.mp4", "not valid")]
    [TestCase("ok", "ftp://example/stream", "Unsupported scheme")]
    [TestCase("ok", "rtsp://", "rtsp://")]
    [TestCase("ok", "", "empty")]
    public Task Add_stream_with_a_bad_id_or_url_is_invalid_argument(string id, string url, string message) =>
        Fails(() => Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = id, Url = url }).ResponseAsync, StatusCode.InvalidArgument, message);

    [Test]
    public async Task A_ten_megabyte_stream_id_is_refused_and_not_echoed_back()
    {
        var e = await Fails(() => Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = new string('x', 150_000), Url = "x.mp4" }).ResponseAsync,
            StatusCode.InvalidArgument, "not valid");
        Assert.That(e.Status.Detail.Length, Is.LessThan(300));
    }

    [TestCase(-0.1f)]
    [TestCase(1.5f)]
    [TestCase(float.NaN)]
    public async Task Absurd_thresholds_are_invalid_argument(float value)
    {
        await Fails(() => Client.DetectAsync(new Rpc.DetectRequest { Image = Jpeg(), ConfidenceThreshold = value }).ResponseAsync,
            StatusCode.InvalidArgument, "confidence_threshold");
        await Fails(() => Client.AddStreamAsync(new Rpc.AddStreamRequest
        {
            Id = "t", Url = Shared.Video("car-detection.mp4"), Options = new Rpc.StreamOptions { ConfidenceThreshold = value },
        }).ResponseAsync, StatusCode.InvalidArgument, "confidence_threshold");
    }

    [Test]
    public Task An_unknown_class_id_is_invalid_argument() =>
        Fails(() => Client.DetectAsync(new Rpc.DetectRequest { Image = Jpeg(), ClassIds = { 80 } }).ResponseAsync,
            StatusCode.InvalidArgument, "class id 80");

    [Test]
    public async Task Random_bytes_as_an_image_are_invalid_argument()
    {
        var bytes = new byte[5000];
        new Random(3).NextBytes(bytes);
        await Fails(() => Client.DetectAsync(new Rpc.DetectRequest { Image = ByteString.CopyFrom(bytes) }).ResponseAsync,
            StatusCode.InvalidArgument, "not an image");
    }

    [Test]
    public async Task A_truncated_jpeg_is_invalid_argument()
    {
        var bytes = File.ReadAllBytes(Shared.Image("dog.jpg"));
        await Fails(() => Client.DetectAsync(new Rpc.DetectRequest { Image = ByteString.CopyFrom(bytes, 0, bytes.Length / 3) }).ResponseAsync,
            StatusCode.InvalidArgument, "truncated");
    }

    [Test]
    public Task An_empty_image_is_invalid_argument() =>
        Fails(() => Client.DetectAsync(new Rpc.DetectRequest()).ResponseAsync, StatusCode.InvalidArgument, "empty");

    [Test]
    public Task An_image_over_the_pixel_limit_is_invalid_argument() =>
        // zidane.jpg is 1280x720 = 921,600 pixels: under the limit; bus.jpg 810x1080 = 874,800; build a bigger one.
        Fails(() => Client.DetectAsync(new Rpc.DetectRequest { Image = BigPng() }).ResponseAsync, StatusCode.InvalidArgument, "limit");

    private static ByteString BigPng()
    {
        using var big = new OpenCvSharp.Mat(1100, 1100, OpenCvSharp.MatType.CV_8UC3, OpenCvSharp.Scalar.All(0));
        OpenCvSharp.Cv2.ImEncode(".png", big, out var bytes);
        return ByteString.CopyFrom(bytes);
    }

    [Test]
    public async Task A_message_over_the_size_limit_is_resource_exhausted()
    {
        var e = (await Assert.ThrowsAsync<RpcException>(async () =>
            await Client.DetectAsync(new Rpc.DetectRequest { Image = ByteString.CopyFrom(new byte[300_000]) })))!;
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
    }

    [Test]
    public async Task Unknown_streams_are_not_found()
    {
        await Fails(() => Client.GetStreamAsync(new Rpc.GetStreamRequest { Id = "nope" }).ResponseAsync, StatusCode.NotFound, "nope");
        await Fails(() => Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = "nope" }).ResponseAsync, StatusCode.NotFound, "nope");
        await Fails(async () =>
        {
            using var call = Client.Subscribe(new Rpc.SubscribeRequest { StreamIds = { "nope" } });
            await call.ResponseStream.MoveNext(CancellationToken.None);
        }, StatusCode.NotFound, "nope");
    }

    [Test]
    public async Task The_same_id_twice_is_already_exists_and_past_the_limit_is_resource_exhausted()
    {
        var video = Shared.Video("person-bicycle-car-detection.mp4");
        await Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "one", Url = video, Options = new Rpc.StreamOptions { Loop = true } });
        try
        {
            await Fails(() => Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "one", Url = video }).ResponseAsync, StatusCode.AlreadyExists, "one");
            await Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "two", Url = video, Options = new Rpc.StreamOptions { Loop = true } });
            await Fails(() => Client.AddStreamAsync(new Rpc.AddStreamRequest { Id = "three", Url = video }).ResponseAsync,
                StatusCode.ResourceExhausted, "MaxStreams");
        }
        finally
        {
            foreach (var s in (await Client.ListStreamsAsync(new Rpc.ListStreamsRequest())).Streams)
            {
                await Client.RemoveStreamAsync(new Rpc.RemoveStreamRequest { Id = s.Id });
            }
        }
    }

    [Test]
    public async Task Subscribers_past_the_limit_are_resource_exhausted()
    {
        using var first = Client.Subscribe(new Rpc.SubscribeRequest());
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (_host.Engine.Subscribers < 1 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await Fails(async () =>
        {
            using var second = Client.Subscribe(new Rpc.SubscribeRequest());
            await second.ResponseStream.MoveNext(CancellationToken.None);
        }, StatusCode.ResourceExhausted, "MaxSubscribers");
    }

    [Test]
    public async Task A_service_whose_model_failed_to_load_answers_unavailable_with_the_reason()
    {
        await using var broken = await ServerHost.StartAsync(new Dictionary<string, string>
        {
            ["Detector:Model:Path"] = "/nowhere/model.onnx",
        }, waitReady: false);
        Assert.That(async () => await broken.Engine.Ready, Throws.Exception);
        var e = (await Assert.ThrowsAsync<RpcException>(async () => await broken.Client.DetectAsync(new Rpc.DetectRequest { Image = Jpeg() })))!;
        Assert.That(e.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(e.Status.Detail, Does.Contain("/nowhere/model.onnx"));
        await Fails(() => broken.Client.GetModelAsync(new Rpc.GetModelRequest()).ResponseAsync, StatusCode.Unavailable, "could not be loaded");
    }
}
