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
        SimdWidth.V512 when values.Length >= Vector512<float>.Count => Kernel<Vector512<float>, Ops512>(values),
        SimdWidth.V256 when values.Length >= Vector256<float>.Count => Kernel<Vector256<float>, Ops256>(values),
        SimdWidth.V128 when values.Length >= Vector128<float>.Count => Kernel<Vector128<float>, Ops128>(values),
        _ => DecodeMath.ArgMaxScalar(values, 0, values.Length, 1),
    };

    // The kernel (one for every width, see IVectorOps) keeps, per lane, the best value among the elements that lane
    // has seen and the index where it was first seen: lane k of the vector loaded at i holds values[i + k].
    //   best      - lane k: greatest value of values[k], values[Count + k], ... so far (-infinity at first)
    //   bestIndex - lane k: its index, as a float (exact below 2^24); +infinity while the lane has no best
    //   indices   - lane k: i + k, the index of the element just loaded
    // Strictly-greater compares keep the first index on ties and never take a NaN, so no lane holds NaN.
    // The horizontal step then finds the overall greatest value and, among the lanes holding it, the smallest
    // index, which is the first index overall. Tail: values.Length % Count elements are scanned one by one,
    // continuing from the vector result with the same strictly-greater rule.

    private static int Kernel<TVec, TOps>(ReadOnlySpan<float> values)
        where TVec : struct
        where TOps : struct, IVectorOps<TVec>
    {
        ref float origin = ref MemoryMarshal.GetReference(values);
        TVec best = TOps.Create(float.NegativeInfinity);
        TVec bestIndex = TOps.Create(float.PositiveInfinity);
        TVec indices = TOps.CreateSequence(0f, 1f);
        TVec step = TOps.Create(TOps.Count);
        int i = 0;
        for (; i <= values.Length - TOps.Count; i += TOps.Count)
        {
            TVec v = TOps.Load(ref origin, (nuint)i);
            TVec greater = TOps.GreaterThan(v, best);
            best = TOps.ConditionalSelect(greater, v, best);
            bestIndex = TOps.ConditionalSelect(greater, indices, bestIndex);
            indices = TOps.Add(indices, step);
        }

        float bestValue = TOps.HorizontalMax(best);
        int result = 0;
        if (bestValue != float.NegativeInfinity)
        {
            // Lanes that reached the overall best keep their index; the others drop out as +infinity.
            TVec candidates = TOps.ConditionalSelect(
                TOps.Equals(best, TOps.Create(bestValue)), bestIndex, TOps.Create(float.PositiveInfinity));
            result = (int)TOps.HorizontalMin(candidates);
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
}
