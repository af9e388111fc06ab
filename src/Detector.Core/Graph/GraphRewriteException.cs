namespace Detector.Core.Graph;

/// <summary>
/// A graph rewrite was refused because the graph does something the rewriter cannot prove safe
/// (for batching: an op that mixes batch items, or a batch axis that cannot be followed).
/// The model passed in is left untouched: the rewriters plan every edit before making any.
/// The engine should fall back (for batching, to running frames one by one).
/// </summary>
public sealed class GraphRewriteException : Exception
{
    public GraphRewriteException(string message, string? nodeName = null)
        : base(nodeName is null ? message : $"{message} (node '{nodeName}')")
    {
        NodeName = nodeName;
    }

    public GraphRewriteException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>The node that stopped the rewrite, when one did.</summary>
    public string? NodeName { get; }
}

/// <summary>
/// The bytes are not a usable ONNX model: not protobuf at all, truncated, or a protobuf message
/// without the parts every ONNX model has (a graph, an opset import).
/// </summary>
public sealed class InvalidOnnxModelException : FormatException
{
    public InvalidOnnxModelException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
