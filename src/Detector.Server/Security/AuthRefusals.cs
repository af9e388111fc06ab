namespace Detector.Server.Security;

/// <summary>
/// Calls refused for want of a valid API key, counted where they are refused (the authentication handler answers
/// them before any gRPC interceptor sees the call) and read by the metrics at scrape time.
/// </summary>
public sealed class AuthRefusals
{
    private long _missingKey;
    private long _invalidKey;

    /// <summary>Calls that presented no key.</summary>
    public long MissingKey => Interlocked.Read(ref _missingKey);

    /// <summary>Calls that presented a key that is not one of the configured ones.</summary>
    public long InvalidKey => Interlocked.Read(ref _invalidKey);

    public void Count(bool keyPresented) => Interlocked.Increment(ref keyPresented ? ref _invalidKey : ref _missingKey);
}
