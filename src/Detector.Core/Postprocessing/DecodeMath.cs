using System.Runtime.CompilerServices;

namespace Detector.Core.Postprocessing;

/// <summary>
/// Scalar arithmetic shared by the vector and scalar twins of every decoder. Both twins compute a kept
/// candidate's box and score through these very functions, so their results are bit-identical: the vector
/// code only decides, faster, which rows are worth that work.
/// </summary>
internal static class DecodeMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>
    /// A bound <c>b</c> such that <c>Sigmoid(x) &gt;= threshold</c>, as computed in float, is impossible for any
    /// <c>x &lt; b</c>; lets a kernel reject logits without computing a sigmoid. It sits a little below the exact
    /// logit of <paramref name="threshold"/>: the margin covers the rounding of the float sigmoid (a few ulps,
    /// which in logit space grows like 1/(1-threshold)) and of the bound itself. Cells between the bound and
    /// the exact logit simply take the full check.
    /// </summary>
    public static float LogitLowerBound(float threshold)
    {
        if (float.IsNaN(threshold))
        {
            // Nothing compares >= NaN, so nothing can pass; NaN also makes every `x >= bound` false.
            return float.NaN;
        }

        if (threshold <= 0f)
        {
            return float.NegativeInfinity;
        }

        if (threshold >= 1f)
        {
            // The float sigmoid reaches exactly 1 only once exp(-x) < 2^-24, i.e. x > 16.6.
            return 16f;
        }

        double t = threshold;
        double logit = Math.Log(t / (1d - t));
        double margin = 1e-2 + 1e-5 / (1d - t);
        return (float)(logit - margin);
    }

    /// <summary>
    /// The first index of the greatest value of a strided sequence, ignoring NaN: the running best starts at
    /// -infinity and only a strictly greater value replaces it, so ties keep the earlier index. Index 0 when no
    /// value is greater than -infinity. The vector argmax kernels reproduce exactly this choice.
    /// </summary>
    public static int ArgMaxScalar(ReadOnlySpan<float> values, int start, int count, int stride)
    {
        float best = float.NegativeInfinity;
        int bestIndex = 0;
        for (int i = 0; i < count; i++)
        {
            float v = values[start + i * stride];
            if (v > best)
            {
                best = v;
                bestIndex = i;
            }
        }

        return bestIndex;
    }
}
