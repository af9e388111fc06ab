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

        // weights/ of this checkout or install, or the shared test data beside the checkout, looked for from the
        // working directory and from the program's folder upwards (dotnet run starts in the project folder).
        var candidates = new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory }
            .SelectMany(Ancestors)
            .SelectMany(dir => new[]
            {
                Path.Combine(dir, "weights", DefaultModel),
                Path.Combine(dir, "..", "shared", "weights", DefaultModel),
            })
            .Append("/weights/" + DefaultModel)
            .Select(Path.GetFullPath)
            .Distinct()
            .ToList();
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException(
                "No model configured (Detector:Model:Path) and the default yolox-nano was not found in weights/ or " +
                "../shared/weights/ above the working directory. Fetch it with weights/fetch.sh yolox-nano.");
    }

    private static IEnumerable<string> Ancestors(string dir)
    {
        for (var d = new DirectoryInfo(dir); d is not null; d = d.Parent)
        {
            yield return d.FullName;
        }
    }
}
