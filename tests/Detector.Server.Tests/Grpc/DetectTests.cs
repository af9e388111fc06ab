using Google.Protobuf;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Grpc;

[NonParallelizable]
public class DetectTests
{
    private ServerHost _host = null!;

    [OneTimeSetUp]
    public async Task Start() => _host = await ServerHost.StartAsync(new Dictionary<string, string> { ["Detector:Model:Path"] = Shared.YoloxNano });

    [OneTimeTearDown]
    public async Task Stop() => await _host.DisposeAsync();

    private static ByteString Image(string name) => ByteString.CopyFrom(File.ReadAllBytes(Shared.Image(name)));

    [Test]
    public async Task Detect_finds_the_bus_and_the_people_in_the_image_pixels()
    {
        var r = await _host.Client.DetectAsync(new Rpc.DetectRequest { Image = Image("bus.jpg") });
        Assert.That((r.FrameWidth, r.FrameHeight), Is.EqualTo((810, 1080)));
        Assert.That(r.Detections.Count(d => d.Label == "bus"), Is.EqualTo(1));
        Assert.That(r.Detections.Count(d => d.Label == "person"), Is.GreaterThanOrEqualTo(3));
        Assert.That(r.Detections.All(d => d.Box.X2 <= 810 && d.Box.Y2 <= 1080));
    }

    [Test]
    public async Task Detect_applies_the_class_filter_and_threshold()
    {
        var r = await _host.Client.DetectAsync(new Rpc.DetectRequest { Image = Image("bus.jpg"), ClassIds = { 5 }, ConfidenceThreshold = 0.5f });
        Assert.That(r.Detections.Select(d => d.Label), Is.EqualTo(new[] { "bus" }));
    }

    [Test]
    public async Task Detect_frames_answers_every_frame_in_the_order_sent()
    {
        var names = new[] { "bus.jpg", "zidane.jpg", "dog.jpg", "000000001532.jpg", "000000002006.jpg", "000000000139.jpg" };
        using var call = _host.Client.DetectFrames();
        var reading = Task.Run(async () =>
        {
            var got = new List<Rpc.DetectionResult>();
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                got.Add(call.ResponseStream.Current);
            }

            return got;
        });
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < names.Length; i++)
            {
                await call.RequestStream.WriteAsync(new Rpc.DetectFramesRequest { Image = Image(names[i]), FrameNumber = (ulong)(round * 100 + i) });
            }
        }

        await call.RequestStream.CompleteAsync();
        var results = await reading.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(results.Select(r => r.FrameNumber), Is.EqualTo(
            Enumerable.Range(0, 3).SelectMany(round => Enumerable.Range(0, names.Length).Select(i => (ulong)(round * 100 + i)))));
        Assert.That(results[0].Detections.Any(d => d.Label == "bus"));
        Assert.That(results[1].FrameWidth, Is.EqualTo(1280));
    }

    [Test]
    public async Task Get_model_describes_what_is_served()
    {
        var m = await _host.Client.GetModelAsync(new Rpc.GetModelRequest());
        Assert.Multiple(() =>
        {
            Assert.That(m.Name, Is.EqualTo("yolox-nano"));
            Assert.That(m.Family, Is.EqualTo("yolox"));
            Assert.That((m.InputWidth, m.InputHeight), Is.EqualTo((416, 416)));
            Assert.That(m.ClassNames, Has.Count.EqualTo(80));
            Assert.That(m.ExecutionProvider, Is.EqualTo("CPU"));
            Assert.That(m.BatchMode, Is.EqualTo("dynamic"));
            Assert.That(m.MaxBatchSize, Is.EqualTo(4));
        });
    }
}
