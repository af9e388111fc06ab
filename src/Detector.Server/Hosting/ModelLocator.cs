namespace Detector.Server.Hosting;

/// <summary>Finds the model to serve: the configured path, or the default yolox-nano where it usually lives.</summary>
public static class ModelLocator
{
    private const string DefaultModel = "yolox-nano/yolox_nano.onnx";

    public static string Resolve(string configured)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        var candidates = new[]
        {
            Path.Combine(Directory.GetCurrentDirectory(), "weights", DefaultModel),
            Path.Combine(AppContext.BaseDirectory, "weights", DefaultModel),
            Path.Combine(Directory.GetCurrentDirectory(), "..", "shared", "weights", DefaultModel),
            "/weights/" + DefaultModel,
        };
        return candidates.Select(Path.GetFullPath).FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException(
                "No model configured (Detector:Model:Path) and the default yolox-nano was not found in " +
                string.Join(", ", candidates.Select(Path.GetFullPath)) + ". Fetch it with weights/fetch.sh yolox-nano.");
    }
}
