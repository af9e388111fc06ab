using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Detector.Benchmarks.Preprocessing;

/// <summary>
/// Turns a uint8 BGR NHWC slot into the float RGB NCHW tensor, scaled by 1/255, that a stock YOLO graph takes:
/// the work Detector leaves to the graph, done on the CPU so that FramePreprocessor can be compared with
/// BlobFromImage output for output. Exactly BlobFromImage's values: each byte converted to float and multiplied by
/// the float nearest 1/255.
/// </summary>
internal static class FloatTensorWriter
{
    private const float Scale = 1f / 255f;

    public static void Write(ReadOnlySpan<byte> bgr, Span<float> chw)
    {
        int pixels = bgr.Length / 3;
        if (chw.Length < 3 * pixels)
        {
            throw new ArgumentException($"The tensor holds {chw.Length} floats; {3 * pixels} are needed.", nameof(chw));
        }

        int done = Vector128.IsHardwareAccelerated ? WriteVector128(bgr, chw, pixels) : 0;
        WriteScalar(bgr, chw, pixels, done);
    }

    /// <summary>The plain reference, also the tail of the vector path.</summary>
    public static void WriteScalar(ReadOnlySpan<byte> bgr, Span<float> chw, int pixels, int first = 0)
    {
        for (int i = first; i < pixels; i++)
        {
            chw[i] = bgr[3 * i + 2] * Scale;
            chw[pixels + i] = bgr[3 * i + 1] * Scale;
            chw[2 * pixels + i] = bgr[3 * i] * Scale;
        }
    }

    // Sixteen pixels per step: 48 bytes B0 G0 R0 B1 G1 R1 ... in three vectors a, b, c. One shuffle per source
    // vector gathers a channel's bytes into their pixel lanes (index 0xFF gives 0 for lanes from another source),
    // and ORing the three gives that channel's 16 bytes, lane k = pixel k. Each channel is then widened to four
    // vectors of four ints (pixels 0-3, 4-7, 8-11, 12-15), converted, scaled and stored into its plane; R goes to
    // plane 0 and B to plane 2 (BGR in, RGB out). The last pixels % 16 are left to the scalar loop.
    private static int WriteVector128(ReadOnlySpan<byte> bgr, Span<float> chw, int pixels)
    {
        ref byte src = ref MemoryMarshal.GetReference(bgr);
        ref float r = ref MemoryMarshal.GetReference(chw);
        ref float g = ref Unsafe.Add(ref r, pixels);
        ref float b = ref Unsafe.Add(ref r, 2 * pixels);
        const byte Z = 0xFF;
        int i = 0;
        for (; i <= pixels - 16; i += 16)
        {
            nuint at = (nuint)(3 * i);
            Vector128<byte> va = Vector128.LoadUnsafe(ref src, at);
            Vector128<byte> vb = Vector128.LoadUnsafe(ref src, at + 16);
            Vector128<byte> vc = Vector128.LoadUnsafe(ref src, at + 32);
            Vector128<byte> blue =
                Vector128.Shuffle(va, Vector128.Create((byte)0, 3, 6, 9, 12, 15, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z))
                | Vector128.Shuffle(vb, Vector128.Create(Z, Z, Z, Z, Z, Z, 2, 5, 8, 11, 14, Z, Z, Z, Z, Z))
                | Vector128.Shuffle(vc, Vector128.Create(Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 1, 4, 7, 10, 13));
            Vector128<byte> green =
                Vector128.Shuffle(va, Vector128.Create((byte)1, 4, 7, 10, 13, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z))
                | Vector128.Shuffle(vb, Vector128.Create(Z, Z, Z, Z, Z, 0, 3, 6, 9, 12, 15, Z, Z, Z, Z, Z))
                | Vector128.Shuffle(vc, Vector128.Create(Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 2, 5, 8, 11, 14));
            Vector128<byte> red =
                Vector128.Shuffle(va, Vector128.Create((byte)2, 5, 8, 11, 14, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z))
                | Vector128.Shuffle(vb, Vector128.Create(Z, Z, Z, Z, Z, 1, 4, 7, 10, 13, Z, Z, Z, Z, Z, Z))
                | Vector128.Shuffle(vc, Vector128.Create(Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 0, 3, 6, 9, 12, 15));
            StorePlane(red, ref r, (nuint)i);
            StorePlane(green, ref g, (nuint)i);
            StorePlane(blue, ref b, (nuint)i);
        }

        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StorePlane(Vector128<byte> channel, ref float plane, nuint at)
    {
        var scale = Vector128.Create(Scale);
        var (low, high) = Vector128.Widen(channel);
        var (p0, p1) = Vector128.Widen(low);
        var (p2, p3) = Vector128.Widen(high);
        (Vector128.ConvertToSingle(p0.AsInt32()) * scale).StoreUnsafe(ref plane, at);
        (Vector128.ConvertToSingle(p1.AsInt32()) * scale).StoreUnsafe(ref plane, at + 4);
        (Vector128.ConvertToSingle(p2.AsInt32()) * scale).StoreUnsafe(ref plane, at + 8);
        (Vector128.ConvertToSingle(p3.AsInt32()) * scale).StoreUnsafe(ref plane, at + 12);
    }
}
