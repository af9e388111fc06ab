using Detector.Core.Imaging;
using Detector.Core.Inference;
using Detector.Core.Models;
using Detector.Core.Preprocessing;

namespace Detector.Benchmarks.Postprocessing;

/// <summary>The raw outputs of a real model on a real image, the "typical scene" the synthetic tensors imitate.</summary>
internal sealed class RealOutputs
{
    private RealOutputs(ModelDescription model, float[][] outputs)
    {
        Model = model;
        Outputs = outputs;
    }

    public ModelDescription Model { get; }

    /// <summary>One copy per model output, in the description's order, without the batch dimension.</summary>
    public float[][] Outputs { get; }

    /// <summary>Runs <paramref name="modelPath"/> once, on the CPU, over <paramref name="imagePath"/> and keeps its outputs.</summary>
    public static RealOutputs Capture(string modelPath, string imagePath)
    {
        // One frame, one warm-up: the run only has to produce the tensors, its speed is not measured.
        var options = new InferenceOptions
        {
            ExecutionProvider = ExecutionProviderPreference.Cpu, MaxBatchSize = 1, WarmupBatchSizes = [1],
        };
        using var session = ModelSession.Load(modelPath, options);
        using var workspace = session.CreateWorkspace();
        using var image = ImageDecoder.ReadFile(imagePath);
        new FramePreprocessor(session.Description).Write(image, workspace.Input.Slot(0));
        workspace.Input.Count = 1;
        var outputs = session.Run(workspace);
        var copies = new float[session.Description.OutputNames.Count][];
        for (var o = 0; o < copies.Length; o++)
        {
            copies[o] = outputs.Get(o, 0).ToArray();
        }

        return new RealOutputs(session.Description, copies);
    }

    public static RealOutputs BusJpg(string modelPath) => Capture(modelPath, Shared.Image("bus.jpg"));
}
