using Detector.Core.Pipeline;
using Detector.Core.Preprocessing;

namespace Detector.Core.Tests.Pipeline;

public class ResultHubTests
{
    private static FrameResult Result(string feed, long n, params (int Class, float Conf)[] detections) => new()
    {
        FeedId = feed,
        FrameNumber = n,
        CaptureTime = DateTimeOffset.UtcNow,
        FrameWidth = 10,
        FrameHeight = 10,
        Detections = detections.Select(d => new Detection(d.Class, $"c{d.Class}", d.Conf, new BoxF(0, 0, 1, 1))).ToArray(),
        Timings = default,
        CompletedTime = DateTimeOffset.UtcNow,
    };

    private static async Task<List<SubscriberResult>> Drain(Subscription s, int count)
    {
        var got = new List<SubscriberResult>();
        await foreach (var r in s.ReadAllAsync())
        {
            got.Add(r);
            if (got.Count == count)
            {
                break;
            }
        }

        return got;
    }

    [Test]
    public async Task A_subscriber_that_falls_behind_loses_its_oldest_results_and_is_told_how_many()
    {
        var hub = new ResultHub(queueCapacity: 3);
        using var slow = hub.Subscribe(new SubscriptionFilter());
        using var fast = hub.Subscribe(new SubscriptionFilter());
        var fastGot = new List<long>();
        for (var n = 0; n < 10; n++)
        {
            hub.Publish(Result("cam", n));
            fastGot.AddRange((await Drain(fast, 1)).Select(r => r.Result.FrameNumber));
        }

        var slowGot = await Drain(slow, 3);
        Assert.That(slowGot.Select(r => r.Result.FrameNumber), Is.EqualTo(new long[] { 7, 8, 9 }), "the newest survive");
        Assert.That(slowGot[0].DroppedBefore, Is.EqualTo(7));
        Assert.That(slowGot.Skip(1).Select(r => r.DroppedBefore), Is.All.Zero);
        Assert.That(slow.Dropped, Is.EqualTo(7));
        Assert.That(fastGot, Is.EqualTo(Enumerable.Range(0, 10).Select(i => (long)i)), "the fast one lost nothing");
        Assert.That(fast.Dropped, Is.Zero);
    }

    [Test]
    public async Task Subscribers_see_only_their_streams_classes_and_confidence()
    {
        var hub = new ResultHub();
        using var s = hub.Subscribe(new SubscriptionFilter
        {
            StreamIds = new HashSet<string> { "b" },
            ClassIds = new HashSet<int> { 0 },
            MinConfidence = 0.5f,
        });
        hub.Publish(Result("a", 1, (0, 0.9f)));
        hub.Publish(Result("b", 2, (0, 0.9f), (0, 0.3f), (2, 0.9f)));
        var got = (await Drain(s, 1)).Single().Result;
        Assert.That(got.FeedId, Is.EqualTo("b"));
        Assert.That(got.Detections.Select(d => (d.ClassId, d.Confidence)), Is.EqualTo(new[] { (0, 0.9f) }));
    }

    [Test]
    public void A_disposed_subscriber_is_forgotten()
    {
        var hub = new ResultHub();
        var s = hub.Subscribe(new SubscriptionFilter());
        Assert.That(hub.SubscriberCount, Is.EqualTo(1));
        s.Dispose();
        Assert.That(hub.SubscriberCount, Is.Zero);
        hub.Publish(Result("a", 1));
    }
}
