using System.Runtime.InteropServices;

namespace Detector.Core.Inference;

/// <summary>
/// Checks, without creating a session, that the libraries ONNX Runtime's CUDA provider needs can be loaded.
/// Without it, a CPU-only host pays for a failed provider load and ONNX Runtime prints a native error on every
/// start; <c>OrtEnv.GetAvailableProviders()</c> cannot tell, since it lists CUDA wherever the package ships it.
/// </summary>
public static class CudaProbe
{
    /// <summary>The CUDA runtime the provider of ONNX Runtime 1.31 is built against.</summary>
    public const string RuntimeLibrary = "libcudart.so.13";

    /// <summary>What the provider of ONNX Runtime 1.31 links or loads: CUDA 13, cuDNN 9 and the driver.</summary>
    public static IReadOnlyList<string> RequiredLibraries { get; } =
    [
        "libcuda.so.1", RuntimeLibrary, "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10",
        "libcufft.so.12", "libcudnn.so.9",
    ];

    private static readonly Lazy<string?> Missing = new(() =>
    {
        foreach (var name in RequiredLibraries)
        {
            if (!NativeLibrary.TryLoad(name, out var handle))
            {
                return name;
            }

            NativeLibrary.Free(handle);
        }

        return null;
    });

    /// <summary>The first required library that cannot be loaded, or null when all can.</summary>
    public static string? FirstMissingLibrary => Missing.Value;
}
