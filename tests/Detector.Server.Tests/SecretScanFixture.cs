using Detector.Server.Tests.Secrets;

namespace Detector.Server.Tests;

/// <summary>
/// After every fixture of this assembly has run: no log event of any test server carried a test secret. Tests put
/// secrets in camera URLs, in bad requests and (for API keys) in headers; a leak anywhere fails the run here, with
/// the offending lines shown with the secret redacted.
/// </summary>
[SetUpFixture]
public class SecretScanFixture
{
    [OneTimeTearDown]
    public void No_log_line_of_the_whole_run_carries_a_secret()
    {
        var capture = LogCapture.Instance;
        TestContext.Progress.WriteLine($"Credential scan: {capture.Events:N0} log events checked, {capture.Leaks.Count} with a secret.");
        if (capture.LeakReport() is { } report)
        {
            Assert.Fail(report);
        }
    }
}
