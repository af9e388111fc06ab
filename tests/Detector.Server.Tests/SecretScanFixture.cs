using Detector.Server.Tests.Secrets;
using NUnit.Framework.Interfaces;

[assembly: Detector.Server.Tests.NoSecretLogged]

namespace Detector.Server.Tests;

/// <summary>
/// After each test of this assembly: no log event of any test server carried a test secret since the previous check.
/// Tests put secrets in camera URLs, in bad requests and (for API keys) in headers; a leak fails the test during which
/// it was logged (or, for a stream's thread that logs a little later, the next one), showing the offending lines with
/// the secret redacted.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class NoSecretLoggedAttribute : Attribute, ITestAction
{
    public ActionTargets Targets => ActionTargets.Test;

    public void BeforeTest(ITest test)
    {
    }

    public void AfterTest(ITest test)
    {
        if (LogCapture.Instance.NewLeakReport() is { } report)
        {
            Assert.Fail(report);
        }
    }
}

/// <summary>
/// The last check, when every fixture has stopped its servers: what they logged while shutting down is checked too.
/// The test adapter does not report a failure in an assembly-wide one-time tear-down, so a leak found here ends the
/// test process with an error, which fails the run.
/// </summary>
[SetUpFixture]
public class SecretScanFixture
{
    [OneTimeTearDown]
    public void No_log_line_of_the_whole_run_carries_a_secret()
    {
        var capture = LogCapture.Instance;
        TestContext.Progress.WriteLine($"Credential scan: {capture.Events:N0} log events checked, {capture.Leaks.Count} with a secret.");
        if (capture.NewLeakReport() is { } unreported)
        {
            Console.Error.WriteLine($"Credential scan failed after the last test: {unreported}");
            Environment.Exit(3);
        }
    }
}
