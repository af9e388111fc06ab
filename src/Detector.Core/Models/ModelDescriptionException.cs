namespace Detector.Core.Models;

/// <summary>A model cannot be used: the message says what was found and what to do about it, in one paragraph.</summary>
public sealed class ModelDescriptionException(string message, Exception? inner = null) : Exception(message, inner);
