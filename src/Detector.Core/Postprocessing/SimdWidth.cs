using System.Runtime.Intrinsics;

namespace Detector.Core.Postprocessing;

/// <summary>
/// Which vector width a kernel runs with. The public entry points always take <see cref="SimdWidths.Best"/>;
/// the tests name each width explicitly so that every code path is checked against its scalar twin on any
/// machine (a <see cref="Vector512{T}"/> path still runs, in software, where it is not accelerated).
/// </summary>
internal enum SimdWidth
{
    Scalar = 0,
    V128 = 128,
    V256 = 256,
    V512 = 512,
}

internal static class SimdWidths
{
    /// <summary>The widest vector width the hardware accelerates, or <see cref="SimdWidth.Scalar"/>.</summary>
    public static SimdWidth Best { get; } =
        Vector512.IsHardwareAccelerated ? SimdWidth.V512 :
        Vector256.IsHardwareAccelerated ? SimdWidth.V256 :
        Vector128.IsHardwareAccelerated ? SimdWidth.V128 :
        SimdWidth.Scalar;
}
