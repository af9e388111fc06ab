using Detector.Core.Sources;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

/// <summary>USB cameras: this machine has none, so only the missing-camera path runs here.</summary>
public class DeviceSourceTests
{
    [Test]
    public async Task A_missing_camera_is_reported_and_waited_for()
    {
        var path = Enumerable.Range(40, 20).Select(i => $"/dev/video{i}").First(p => !File.Exists(p));
        await using var stream = new VideoStream("usb", StreamAddress.Parse(path));

        stream.Start();
        await Eventually.StateAsync(stream, StreamState.Reconnecting, TimeSpan.FromSeconds(10));

        Assert.That(stream.LastErrorKind, Is.EqualTo(StreamErrorKind.NotFound));
        Assert.That(stream.LastError, Is.EqualTo($"Camera device {path} does not exist (unplugged?)."));
    }
}
