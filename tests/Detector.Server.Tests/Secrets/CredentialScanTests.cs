using Serilog;

namespace Detector.Server.Tests.Secrets;

/// <summary>The scan that <see cref="SecretScanFixture"/> runs over the whole test run can fail: it finds a planted secret.</summary>
public class CredentialScanTests
{
    [Test]
    public void A_secret_planted_in_a_message_a_property_or_an_exception_is_reported_and_redacted_in_the_report()
    {
        var capture = new LogCapture();
        using (var log = new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(capture).CreateLogger())
        {
            log.Information("Stream {StreamId} added: {Url}", "cam", "rtsp://admin:***@127.0.0.1/live");
            Assert.That(capture.LeakReport(), Is.Null, "a masked URL is no leak");

            log.Debug("Connecting to rtsp://admin:pw-Sekr1t@127.0.0.1/live");
            log.ForContext("Headers", new Dictionary<string, string> { ["x-api-key"] = "key-Sekr1t" }).Verbose("Request headers");
            log.Warning(new InvalidOperationException("ffmpeg said: 401 for admin:pw-Sekr1t"), "Stream {StreamId} failed", "cam");
        }

        var report = capture.LeakReport();
        TestContext.Out.WriteLine(report);
        Assert.That(report, Does.StartWith("3 of 4 log lines carry a test secret"));
        Assert.That(report, Does.Contain("Connecting to rtsp://admin:pw-<MARKER>@127.0.0.1/live"));
        Assert.That(report, Does.Contain("x-api-key").And.Contain("401 for admin:pw-<MARKER>"));
        Assert.That(CredentialScan.Contains(report), Is.False, "the report itself does not spread the secret");
    }

    [Test]
    public void The_marker_is_found_whatever_its_case_and_wherever_it_sits_in_a_multi_line_text()
    {
        Assert.That(CredentialScan.Find(["first line", "a\nb SEKR1T c\nd"]), Is.EqualTo(new[] { "b <MARKER> c" }));
        Assert.That(CredentialScan.Find(["rtsp://admin:***@host/live"]), Is.Empty);
    }
}
