namespace Detector.Cli.Tests;

/// <summary>What the CLI prints about addresses typed with a password never shows the password (test secrets contain "Sekr1t").</summary>
public class CredentialOutputTests
{
    private const string Marker = "Sekr1t";

    [Test]
    public void A_server_address_with_a_password_and_an_unsupported_scheme_is_refused_without_echoing_the_password()
    {
        var r = CliRunner.Run("streams", "list", "--server", "ftp://admin:pw-Sekr1t@127.0.0.1:1");
        Assert.That(r.ExitCode, Is.Not.EqualTo(0));
        Assert.That(r.Stderr, Does.StartWith("error: ").And.Contain("ftp://admin:***@127.0.0.1:1"));
        Assert.That(r.Stdout + r.Stderr, Does.Not.Contain(Marker));
    }

    [Test]
    public void Adding_a_camera_with_a_password_to_a_service_that_is_not_there_fails_without_echoing_the_password()
    {
        var r = CliRunner.Run("streams", "add", "--server", "http://admin:pw-Sekr1t@127.0.0.1:1", "--id", "cam",
            "--url", "rtsp://admin:pw-Sekr1t@127.0.0.1:1/live");
        Assert.That(r.ExitCode, Is.Not.EqualTo(0));
        Assert.That(r.Stderr, Does.StartWith("error: "));
        Assert.That(r.Stdout + r.Stderr, Does.Not.Contain(Marker));
    }
}
