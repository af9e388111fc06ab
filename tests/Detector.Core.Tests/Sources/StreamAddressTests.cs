using Detector.Core.Sources;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

public class StreamAddressTests
{
    [TestCase("rtsp://cam.local:554/stream1", "rtsp")]
    [TestCase("rtsps://cam.local/stream1", "rtsps")]
    [TestCase("http://cam.local/mjpeg", "http")]
    [TestCase("https://cdn.example/live/index.m3u8", "https")]
    [TestCase("udp://239.0.0.1:1234", "udp")]
    [TestCase("udp://@:1234", "udp")]
    [TestCase("RTSP://CAM.local/x", "rtsp")]
    public void Network_urls_are_network_sources(string text, string scheme)
    {
        var address = StreamAddress.Parse(text);

        Assert.That(address.Kind, Is.EqualTo(SourceKind.Network));
        Assert.That(address.Scheme, Is.EqualTo(scheme));
        Assert.That(address.HasCredentials, Is.False);
        Assert.That(address.Masked, Is.EqualTo(text));
    }

    [TestCase("/videos/clip.mp4")]
    [TestCase("relative/clip.mkv")]
    [TestCase("file:///videos/clip.avi")]
    [TestCase("clip:1.mp4")]
    public void Paths_and_file_urls_are_files_with_absolute_paths(string text)
    {
        var address = StreamAddress.Parse(text);

        Assert.That(address.Kind, Is.EqualTo(SourceKind.File));
        Assert.That(Path.IsPathRooted(address.Masked), Is.True, address.Masked);
    }

    [TestCase("0", 0)]
    [TestCase("2", 2)]
    public void Numbers_are_camera_indexes(string text, int index)
    {
        var address = StreamAddress.Parse(text);

        Assert.That(address.Kind, Is.EqualTo(SourceKind.Device));
        Assert.That(address.DeviceIndex, Is.EqualTo(index));
        Assert.That(DeviceFrameReader.DevicePath(address), Is.EqualTo($"/dev/video{index}"));
    }

    [Test]
    public void Device_paths_are_cameras()
    {
        var address = StreamAddress.Parse("/dev/video3");

        Assert.That(address.Kind, Is.EqualTo(SourceKind.Device));
        Assert.That(address.DeviceIndex, Is.Null);
        Assert.That(DeviceFrameReader.DevicePath(address), Is.EqualTo("/dev/video3"));
    }

    [Test]
    public void The_password_is_masked_everywhere_the_address_is_shown()
    {
        var address = StreamAddress.Parse("rtsp://admin:Sup3r$ecret@10.0.0.5:554/h264?channel=1");

        Assert.That(address.HasCredentials, Is.True);
        Assert.That(address.Masked, Is.EqualTo("rtsp://admin:***@10.0.0.5:554/h264?channel=1"));
        Assert.That(address.ToString(), Is.EqualTo(address.Masked));
        Assert.That($"{address}", Does.Not.Contain("Sup3r"));
    }

    [Test]
    public void Secret_query_values_are_masked()
    {
        var address = StreamAddress.Parse("http://cam.local/video.cgi?user=admin&password=hunter22&res=hd");

        Assert.That(address.Masked, Is.EqualTo("http://cam.local/video.cgi?user=admin&password=***&res=hd"));
    }

    [Test]
    public void Redact_removes_the_password_from_decoder_messages()
    {
        var address = StreamAddress.Parse("rtsp://admin:s3cret!@127.0.0.1:8554/cam");

        var line = address.Redact("rtsp://admin:s3cret!@127.0.0.1:8554/cam: Server returned 401 Unauthorized; tried s3cret! twice");

        Assert.That(line, Does.Not.Contain("s3cret"));
        Assert.That(line, Does.StartWith("rtsp://admin:***@127.0.0.1:8554/cam: Server returned 401"));
    }

    [TestCase("ftp://cam.local/video.mp4", "Unsupported scheme 'ftp'")]
    [TestCase("rtmpx://u:pw1234@cam.local/live", "Unsupported scheme 'rtmpx'")]
    [TestCase("rtsp:/cam.local/stream", "Malformed rtsp URL")]
    [TestCase("rtsp://", "Malformed rtsp URL")]
    [TestCase("rtsp://u:pw1234@cam.local:99999/stream", "Malformed rtsp URL")]
    [TestCase("rtsp://u:pw1234@:554/stream", "Malformed rtsp URL")]
    [TestCase("http://cam .local/x", "Malformed http URL")]
    [TestCase("rtsp:u:pw1234@cam.local/stream", "Malformed rtsp URL 'rtsp:u:***@cam.local/stream'")]
    [TestCase("rtsp://u:pw/1234@cam.local/stream", "Malformed rtsp URL 'rtsp://u:***@cam.local/stream'")]
    [TestCase("rtmpx://u:pw/pw1234@cam.local/live", "Unsupported scheme 'rtmpx'")]
    [TestCase("udp://239.0.0.1", "a port is required")]
    [TestCase("   ", "empty")]
    [TestCase("rtsp://u:pw1234 x@cam.local/stream", "a space at position")]
    [TestCase("rtsp://u:pw1234@cam.local/a|b", "'|' at position 28")]
    [TestCase("http://cam.local/v.cgi?user=u&password=x pw1234&res=hd", "password=***&res=hd")]
    [TestCase("rtsp://u:pw1234\t@cam.local/a", "control characters")]
    public void Bad_addresses_are_rejected_with_a_clear_message_and_no_password(string text, string expected)
    {
        var ok = StreamAddress.TryParse(text, out var address, out var error);

        Assert.That(ok, Is.False);
        Assert.That(address, Is.Null);
        Assert.That(error, Does.Contain(expected));
        Assert.That(error, Does.Not.Contain("pw1234"));
        Assert.Throws<FormatException>(() => StreamAddress.Parse(text));
    }

    [Test]
    public void An_address_over_the_length_limit_is_refused_without_being_repeated()
    {
        var ok = StreamAddress.TryParse("rtsp://cam.local/" + new string('a', StreamAddress.MaxLength), out _, out var error);

        Assert.That(ok, Is.False);
        Assert.That(error, Does.Contain($"at most {StreamAddress.MaxLength}"));
        Assert.That(error!.Length, Is.LessThan(100));
    }

    [Test]
    public void A_name_starting_with_a_dash_is_a_file_with_an_absolute_path_never_an_option()
    {
        var address = StreamAddress.Parse("-i");

        Assert.That(address.Kind, Is.EqualTo(SourceKind.File));
        Assert.That(address.LocalPath, Is.EqualTo(Path.Combine(Environment.CurrentDirectory, "-i")));
    }

    [Test]
    public void A_dev_path_that_leaves_dev_is_a_file_not_a_camera()
    {
        var address = StreamAddress.Parse("/dev/../etc/passwd");

        Assert.That(address.Kind, Is.EqualTo(SourceKind.File));
        Assert.That(address.LocalPath, Is.EqualTo("/etc/passwd"));
    }

    [Test]
    public void A_network_url_reaches_ffmpeg_whole_as_the_one_file_of_its_input_script()
    {
        var address = StreamAddress.Parse("rtsp://cam.local/a;b$(c)&d");
        var command = FfmpegArguments.Build(address, new StreamOptions());

        Assert.That(command.Input.Split('\n').Where(l => l.StartsWith("file ", StringComparison.Ordinal)),
            Is.EqualTo(new[] { "file 'rtsp://cam.local/a;b$(c)&d'" }));
        Assert.That(command.Arguments.Count(a => a == "-i"), Is.EqualTo(1));
    }

    [Test]
    public void Addresses_compare_by_their_real_value()
    {
        Assert.That(StreamAddress.Parse("rtsp://a:one@h/x"), Is.Not.EqualTo(StreamAddress.Parse("rtsp://a:two@h/x")));
        Assert.That(StreamAddress.Parse("rtsp://a:one@h/x"), Is.EqualTo(StreamAddress.Parse("rtsp://a:one@h/x")));
    }
}
