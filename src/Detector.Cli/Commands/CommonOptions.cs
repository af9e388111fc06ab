using System.CommandLine;
using Detector.Core.Inference;
using Microsoft.Extensions.Logging;

namespace Detector.Cli.Commands;

/// <summary>Options shared by the commands that load a model locally.</summary>
internal sealed class ModelOptions
{
    public Option<string> Model { get; } = new("--model", "-m")
    {
        Description = "Path to an ONNX YOLO model (YOLOv8/YOLO11, YOLOX, YOLOv5, Yolo-FastestV2 layouts).",
        Required = true,
    };

    public ModelOptions(bool modelRequired = true) => Model.Required = modelRequired;

    public Option<string?> ModelConfig { get; } = new("--model-config")
    {
        Description = "JSON or YAML file describing the model, for models without metadata or a manifest entry.",
    };

    public Option<ExecutionProviderPreference> Provider { get; } = new("--ep")
    {
        Description = "Execution provider: Auto (CUDA if usable, else CPU), Cuda or Cpu.",
        DefaultValueFactory = _ => ExecutionProviderPreference.Auto,
    };

    public Option<bool> Verbose { get; } = new("--verbose", "-v")
    {
        Description = "Log model loading and provider choice to stderr.",
    };

    public IEnumerable<Option> All => [Model, ModelConfig, Provider, Verbose];

    public InferenceOptions ToInferenceOptions(ParseResult r, int maxBatch = 1) => new()
    {
        ModelConfigPath = r.GetValue(ModelConfig),
        ExecutionProvider = r.GetValue(Provider),
        MaxBatchSize = maxBatch,
    };

    public ILoggerFactory CreateLoggerFactory(ParseResult r) => LoggerFactory.Create(b => b
        .SetMinimumLevel(r.GetValue(Verbose) ? LogLevel.Information : LogLevel.Error)
        .AddSimpleConsole(o => o.SingleLine = true)
        // Logs go to stderr so that stdout carries only results (e.g. exactly one JSON document).
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
}
