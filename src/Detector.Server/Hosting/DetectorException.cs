namespace Detector.Server.Hosting;

/// <summary>Why a request cannot be served; each kind maps to one gRPC status code.</summary>
public enum DetectorErrorKind
{
    InvalidArgument,
    NotFound,
    AlreadyExists,
    ResourceExhausted,
    Unavailable,

    /// <summary>Well-formed, but the service's settings forbid it (a source outside Detector:Sources).</summary>
    PermissionDenied,
}

/// <summary>A request the service refuses, with a message a person can act on (never a credential).</summary>
public sealed class DetectorException(DetectorErrorKind kind, string message) : Exception(message)
{
    public DetectorErrorKind Kind { get; } = kind;
}
