using Google.Protobuf;
using Onnx;

namespace Detector.Core.Graph;

/// <summary>
/// Reads an ONNX file into a <see cref="ModelProto"/> for rewriting, with errors a user can act on.
/// </summary>
/// <remarks>
/// <see cref="ModelProto.Parser"/> alone is a poor gate. A truncated model or a file that is not
/// protobuf (a JPEG, a text file) throws <see cref="InvalidProtocolBufferException"/> ("the input
/// ended unexpectedly in the middle of a field", "a tag with an invalid wire type"), which names
/// neither the file nor the cause. Worse, protobuf accepts some inputs that are not models: an
/// empty file parses as an empty <see cref="ModelProto"/> (no graph), and a file cut exactly between
/// two top-level fields parses too (the shared models keep <c>opset_import</c> after the graph, so
/// such a cut loses it). Both are caught here by checking for a graph with inputs, outputs and
/// an opset import.
/// </remarks>
public static class OnnxModelLoader
{
    /// <summary>Reads and checks the model at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidOnnxModelException">The file is not a complete ONNX model.</exception>
    public static ModelProto Load(string path) => Parse(File.ReadAllBytes(path), path);

    /// <summary>Parses and checks a serialized model; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="InvalidOnnxModelException">The bytes are not a complete ONNX model.</exception>
    public static ModelProto Parse(ReadOnlySpan<byte> bytes, string source = "model")
    {
        if (bytes.IsEmpty)
        {
            throw new InvalidOnnxModelException($"{source}: the file is empty, not an ONNX model.");
        }

        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidOnnxModelException(
                $"{source}: not an ONNX model, or a truncated one ({bytes.Length} bytes could not be read as protobuf: {e.Message})", e);
        }

        if (model.Graph is null || model.Graph.Node.Count == 0 || model.Graph.Input.Count == 0 || model.Graph.Output.Count == 0)
        {
            throw new InvalidOnnxModelException(
                $"{source}: parsed as protobuf but holds no ONNX graph with nodes, inputs and outputs; not an ONNX model, or a truncated one.");
        }

        if (model.OpsetImport.Count == 0)
        {
            throw new InvalidOnnxModelException(
                $"{source}: the model declares no opset import; the file is probably truncated (ONNX writes opset_import after the graph).");
        }

        return model;
    }
}
