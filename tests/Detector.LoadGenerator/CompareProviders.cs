using System.Globalization;
using Detector.Core;
using Detector.Core.Imaging;
using Detector.Core.Inference;

namespace Detector.LoadGenerator;

/// <summary>
/// Runs one image through the engine on the requested provider and on the CPU, and checks that every confident
/// box has a twin (same class, IoU >= 0.85) on the other side: the CUDA path gives the CPU path's answer.
/// </summary>
internal static class CompareProviders
{
    public static bool Run(string model, string imagePath, ExecutionProviderPreference ep, Action<string> say)
    {
        using var frame = ImageDecoder.ReadFile(imagePath);
        using var gpu = ObjectDetector.Load(model, new InferenceOptions { ExecutionProvider = ep, MaxBatchSize = 4 });
        using var cpu = ObjectDetector.Load(model, new InferenceOptions { ExecutionProvider = ExecutionProviderPreference.Cpu, MaxBatchSize = 4 });
        var a = gpu.Detect(frame);
        var b = cpu.Detect(frame);
        bool Twin(Detection d, IReadOnlyList<Detection> others) => others.Any(o => o.ClassId == d.ClassId && o.Box.IoU(d.Box) >= 0.85f);
        var ok = a.Where(d => d.Confidence >= 0.5f).All(d => Twin(d, b)) && b.Where(d => d.Confidence >= 0.5f).All(d => Twin(d, a));
        string Summary(IReadOnlyList<Detection> ds) => string.Join(", ", ds.GroupBy(d => d.Label).Select(g => $"{g.Count()} {g.Key}"));
        say(string.Create(CultureInfo.InvariantCulture,
            $"| {Path.GetFileName(model)} | {gpu.Session.ExecutionProvider} | {gpu.Description.BatchMode} | {Summary(a)} | CPU: {Summary(b)} | {(ok ? "agree" : "DIFFER")} |"));
        return ok;
    }
}
