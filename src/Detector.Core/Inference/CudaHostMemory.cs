using System.Runtime.InteropServices;

namespace Detector.Core.Inference;

/// <summary>
/// Page-locks host memory with the CUDA runtime (<c>cudaHostRegister</c>), so that ONNX Runtime's copies between the
/// workspace's buffers and the GPU go by DMA at full speed instead of through the driver's staging buffers. ONNX
/// Runtime reads and writes the same buffers as before; nothing about the session changes. This is the alternative
/// to IOBinding with ONNX Runtime's own pinned allocator (docs/gpu/README.md). Loaded from the CUDA runtime the
/// provider itself uses, on first use; where it cannot be loaded, <see cref="Unavailable"/> says why.
/// </summary>
internal static unsafe class CudaHostMemory
{
    // cudaHostRegisterPortable: pinned for every CUDA context, not only the current one.
    private const uint RegisterPortable = 1;

    private static readonly Lazy<Api?> Functions = new(Load);

    /// <summary>Why registration cannot be used here, or null when it can.</summary>
    public static string? Unavailable => Functions.Value is null ? $"{CudaProbe.RuntimeLibrary} or its cudaHostRegister cannot be loaded" : null;

    /// <summary>Page-locks [address, address+bytes); returns null, or the CUDA runtime's error.</summary>
    public static string? Register(nint address, nuint bytes)
    {
        var api = Functions.Value ?? throw new InvalidOperationException(Unavailable);
        var code = api.Register((void*)address, bytes, RegisterPortable);
        return code == 0 ? null : $"cudaHostRegister: {Describe(api, code)}";
    }

    public static void Unregister(nint address)
    {
        if (Functions.Value is { } api)
        {
            api.Unregister((void*)address);
        }
    }

    private static string Describe(Api api, int code) =>
        $"{Marshal.PtrToStringAnsi((nint)api.ErrorString(code)) ?? "unknown error"} ({code})";

    private static Api? Load()
    {
        if (!NativeLibrary.TryLoad(CudaProbe.RuntimeLibrary, out var lib))
        {
            return null;
        }

        if (!NativeLibrary.TryGetExport(lib, "cudaHostRegister", out var register)
            || !NativeLibrary.TryGetExport(lib, "cudaHostUnregister", out var unregister)
            || !NativeLibrary.TryGetExport(lib, "cudaGetErrorString", out var errorString))
        {
            return null;
        }

        return new Api(register, unregister, errorString);
    }

    private sealed record Api(nint RegisterFn, nint UnregisterFn, nint ErrorStringFn)
    {
        public int Register(void* p, nuint bytes, uint flags) => ((delegate* unmanaged<void*, nuint, uint, int>)RegisterFn)(p, bytes, flags);

        public int Unregister(void* p) => ((delegate* unmanaged<void*, int>)UnregisterFn)(p);

        public byte* ErrorString(int code) => ((delegate* unmanaged<int, byte*>)ErrorStringFn)(code);
    }
}
