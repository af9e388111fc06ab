using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Detector.Core.Postprocessing;

/// <summary>
/// Argmax over a contiguous run of class scores (one row of a <c>[N, 5+C]</c> head), with exactly the choice
/// of <see cref="DecodeMath.ArgMaxScalar"/>: the first index of the greatest value, NaN never chosen, index 0
/// when nothing is greater than -infinity.
/// </summary>
internal static class ArgMax
{
    public static int Contiguous(ReadOnlySpan<float> values, SimdWidth width) => width switch
    {
        SimdWidth.V512 when values.Length >= Vector512<float>.Count => Vector512Kernel(values),
        SimdWidth.V256 when values.Length >= Vector256<float>.Count => Vector256Kernel(values),
        SimdWidth.V128 when values.Length >= Vector128<float>.Count => Vector128Kernel(values),
        _ => DecodeMath.ArgMaxScalar(values, 0, values.Length, 1),
    };

    // Each kernel keeps, per lane, the best value among the elements that lane has seen and the index where
    // it was first seen: lane k of the vector loaded at i holds values[i + k].
    //   best      - lane k: greatest value of values[k], values[Count + k], ... so far (-infinity at first)
    //   bestIndex - lane k: its index, as a float (exact below 2^24); +infinity while the lane has no best
    //   indices   - lane k: i + k, the index of the element just loaded
    // Strictly-greater compares keep the first index on ties and never take a NaN, so no lane holds NaN.
    // The horizontal step then finds the overall greatest value and, among the lanes holding it, the smallest
    // index, which is the first index overall. Tail: values.Length % Count elements are scanned one by one,
    // continuing from the vector result with the same strictly-greater rule.

    private static int Vector512Kernel(ReadOnlySpan<float> values)
    {
        ref float origin = ref MemoryMarshal.GetReference(values);
        Vector512<float> best = Vector512.Create(float.NegativeInfinity);
        Vector512<float> bestIndex = Vector512.Create(float.PositiveInfinity);
        Vector512<float> indices = Vector512.CreateSequence(0f, 1f);
        Vector512<float> step = Vector512.Create((float)Vector512<float>.Count);
        int i = 0;
        for (; i <= values.Length - Vector512<float>.Count; i += Vector512<float>.Count)
        {
            Vector512<float> v = Vector512.LoadUnsafe(ref origin, (nuint)i);
            Vector512<float> greater = Vector512.GreaterThan(v, best);
            best = Vector512.ConditionalSelect(greater, v, best);
            bestIndex = Vector512.ConditionalSelect(greater, indices, bestIndex);
            indices += step;
        }

        float bestValue = HorizontalMax(best);
        int result = 0;
        if (bestValue != float.NegativeInfinity)
        {
            // Lanes that reached the overall best keep their index; the others drop out as +infinity.
            Vector512<float> candidates = Vector512.ConditionalSelect(
                Vector512.Equals(best, Vector512.Create(bestValue)), bestIndex, Vector512.Create(float.PositiveInfinity));
            result = (int)HorizontalMin(candidates);
            bestValue = values[result];
        }

        for (; i < values.Length; i++)
        {
            if (values[i] > bestValue)
            {
                bestValue = values[i];
                result = i;
            }
        }

        return result;
    }

    private static int Vector256Kernel(ReadOnlySpan<float> values)
    {
        ref float origin = ref MemoryMarshal.GetReference(values);
        Vector256<float> best = Vector256.Create(float.NegativeInfinity);
        Vector256<float> bestIndex = Vector256.Create(float.PositiveInfinity);
        Vector256<float> indices = Vector256.CreateSequence(0f, 1f);
        Vector256<float> step = Vector256.Create((float)Vector256<float>.Count);
        int i = 0;
        for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
        {
            Vector256<float> v = Vector256.LoadUnsafe(ref origin, (nuint)i);
            Vector256<float> greater = Vector256.GreaterThan(v, best);
            best = Vector256.ConditionalSelect(greater, v, best);
            bestIndex = Vector256.ConditionalSelect(greater, indices, bestIndex);
            indices += step;
        }

        float bestValue = HorizontalMax(best);
        int result = 0;
        if (bestValue != float.NegativeInfinity)
        {
            // Lanes that reached the overall best keep their index; the others drop out as +infinity.
            Vector256<float> candidates = Vector256.ConditionalSelect(
                Vector256.Equals(best, Vector256.Create(bestValue)), bestIndex, Vector256.Create(float.PositiveInfinity));
            result = (int)HorizontalMin(candidates);
            bestValue = values[result];
        }

        for (; i < values.Length; i++)
        {
            if (values[i] > bestValue)
            {
                bestValue = values[i];
                result = i;
            }
        }

        return result;
    }

    private static int Vector128Kernel(ReadOnlySpan<float> values)
    {
        ref float origin = ref MemoryMarshal.GetReference(values);
        Vector128<float> best = Vector128.Create(float.NegativeInfinity);
        Vector128<float> bestIndex = Vector128.Create(float.PositiveInfinity);
        Vector128<float> indices = Vector128.CreateSequence(0f, 1f);
        Vector128<float> step = Vector128.Create((float)Vector128<float>.Count);
        int i = 0;
        for (; i <= values.Length - Vector128<float>.Count; i += Vector128<float>.Count)
        {
            Vector128<float> v = Vector128.LoadUnsafe(ref origin, (nuint)i);
            Vector128<float> greater = Vector128.GreaterThan(v, best);
            best = Vector128.ConditionalSelect(greater, v, best);
            bestIndex = Vector128.ConditionalSelect(greater, indices, bestIndex);
            indices += step;
        }

        float bestValue = HorizontalMax(best);
        int result = 0;
        if (bestValue != float.NegativeInfinity)
        {
            // Lanes that reached the overall best keep their index; the others drop out as +infinity.
            Vector128<float> candidates = Vector128.ConditionalSelect(
                Vector128.Equals(best, Vector128.Create(bestValue)), bestIndex, Vector128.Create(float.PositiveInfinity));
            result = (int)HorizontalMin(candidates);
            bestValue = values[result];
        }

        for (; i < values.Length; i++)
        {
            if (values[i] > bestValue)
            {
                bestValue = values[i];
                result = i;
            }
        }

        return result;
    }

    // Horizontal reductions of NaN-free vectors: halve the width until one Vector128 is left, then fold its
    // four lanes with two shuffles (swap pairs of lanes, then neighbours).

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector512<float> v) => HorizontalMax(Vector256.Max(v.GetLower(), v.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector256<float> v) => HorizontalMax(Vector128.Max(v.GetLower(), v.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector128<float> v)
    {
        v = Vector128.Max(v, Vector128.Shuffle(v, Vector128.Create(2, 3, 0, 1)));
        v = Vector128.Max(v, Vector128.Shuffle(v, Vector128.Create(1, 0, 3, 2)));
        return v.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMin(Vector512<float> v) => HorizontalMin(Vector256.Min(v.GetLower(), v.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMin(Vector256<float> v) => HorizontalMin(Vector128.Min(v.GetLower(), v.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMin(Vector128<float> v)
    {
        v = Vector128.Min(v, Vector128.Shuffle(v, Vector128.Create(2, 3, 0, 1)));
        v = Vector128.Min(v, Vector128.Shuffle(v, Vector128.Create(1, 0, 3, 2)));
        return v.ToScalar();
    }
}
