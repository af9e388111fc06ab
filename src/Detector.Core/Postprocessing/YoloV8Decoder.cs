using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Detector.Core.Postprocessing;

/// <summary>
/// Decodes the channel-major YOLOv8 / YOLO11 output <c>[4+C, N]</c> of one image: rows 0-3 hold cx, cy, w, h in
/// input pixels, rows 4.. the class scores (sigmoid applied, no objectness). An anchor becomes a candidate when
/// its best class score is at least the threshold; the box is cx ± w/2, cy ± h/2.
/// </summary>
/// <remarks>
/// The best class of an anchor is the first class with the greatest score, NaN scores never being chosen:
/// the running best starts at -infinity and only a strictly greater score replaces it. Both twins implement
/// exactly that rule, so they return the same candidates, in anchor order, with bit-identical values.
/// Candidates are appended to the buffer; it is not cleared.
/// </remarks>
public static class YoloV8Decoder
{
    /// <summary>Decodes with the widest vector width the hardware accelerates.</summary>
    public static void Decode(ReadOnlySpan<float> output, int numClasses, int numAnchors, float threshold, CandidateBuffer dest)
        => Decode(output, numClasses, numAnchors, threshold, dest, SimdWidths.Best);

    /// <summary>The plain one-anchor-at-a-time reference of <see cref="Decode(ReadOnlySpan{float}, int, int, float, CandidateBuffer)"/>.</summary>
    public static void DecodeScalar(ReadOnlySpan<float> output, int numClasses, int numAnchors, float threshold, CandidateBuffer dest)
    {
        Validate(output, numClasses, numAnchors, dest);
        DecodeAnchorsScalar(output, numClasses, numAnchors, 0, threshold, dest);
    }

    internal static void Decode(
        ReadOnlySpan<float> output, int numClasses, int numAnchors, float threshold, CandidateBuffer dest, SimdWidth width)
    {
        Validate(output, numClasses, numAnchors, dest);

        // Each kernel handles whole vectors of anchors and returns where it stopped; the remaining
        // numAnchors % Count anchors (all of them when N < Count) go through the scalar loop.
        int done = width switch
        {
            SimdWidth.V512 => DecodeVector512(output, numClasses, numAnchors, threshold, dest),
            SimdWidth.V256 => DecodeVector256(output, numClasses, numAnchors, threshold, dest),
            SimdWidth.V128 => DecodeVector128(output, numClasses, numAnchors, threshold, dest),
            _ => 0,
        };

        DecodeAnchorsScalar(output, numClasses, numAnchors, done, threshold, dest);
    }

    private static void Validate(ReadOnlySpan<float> output, int numClasses, int numAnchors, CandidateBuffer dest)
    {
        ArgumentNullException.ThrowIfNull(dest);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numClasses);
        ArgumentOutOfRangeException.ThrowIfNegative(numAnchors);
        long expected = (4L + numClasses) * numAnchors;
        if (output.Length != expected)
        {
            throw new ArgumentException(
                $"Output has {output.Length} values; [4+{numClasses}, {numAnchors}] needs {expected}.", nameof(output));
        }
    }

    private static void DecodeAnchorsScalar(
        ReadOnlySpan<float> output, int numClasses, int numAnchors, int firstAnchor, float threshold, CandidateBuffer dest)
    {
        int scores = 4 * numAnchors;
        for (int anchor = firstAnchor; anchor < numAnchors; anchor++)
        {
            float best = float.NegativeInfinity;
            int bestClass = 0;
            for (int c = 0; c < numClasses; c++)
            {
                float s = output[scores + c * numAnchors + anchor];
                if (s > best)
                {
                    best = s;
                    bestClass = c;
                }
            }

            if (best >= threshold)
            {
                AddCandidate(output, numAnchors, anchor, best, bestClass, dest);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddCandidate(ReadOnlySpan<float> output, int numAnchors, int anchor, float score, int classId, CandidateBuffer dest)
    {
        float cx = output[anchor];
        float cy = output[numAnchors + anchor];
        float halfW = output[2 * numAnchors + anchor] * 0.5f;
        float halfH = output[3 * numAnchors + anchor] * 0.5f;
        dest.Add(new Candidate(cx - halfW, cy - halfH, cx + halfW, cy + halfH, score, classId));
    }

    // The three kernels below are the same loop at three widths. Lane k of a vector is anchor j + k, i.e. one
    // column of the channel-major tensor, so loading class row c at column j reads class c's score for Count
    // consecutive anchors and the scan over classes is purely vertical: no shuffles, no gathers.
    //   best      - lane k: greatest score of anchor j + k so far (-infinity before the first class)
    //   bestClass - lane k: the class index of that score, as a float (exact below 2^24)
    //   classIdx  - every lane: the class index c being scanned, as a float
    // A strictly-greater compare plus ConditionalSelect keeps the earliest class on ties and never adopts a
    // NaN, which is what the scalar loop does; Vector.Max would do neither. Anchors whose best score reaches
    // the threshold are rare, so their lanes are pulled out of the compare mask one set bit at a time.
    // Tail: whatever is left after the 4x-unrolled loop runs one vector at a time, and the last
    // numAnchors % Count anchors are returned to the caller for the scalar loop.

    private static int DecodeVector512(ReadOnlySpan<float> output, int numClasses, int numAnchors, float threshold, CandidateBuffer dest)
    {
        ref float scores = ref Unsafe.Add(ref MemoryMarshal.GetReference(output), 4 * numAnchors);
        Vector512<float> thresholdV = Vector512.Create(threshold);
        Span<float> bestLanes = stackalloc float[4 * Vector512<float>.Count];
        Span<float> classLanes = stackalloc float[4 * Vector512<float>.Count];
        int j = 0;

        // Main loop: four vectors (4 x Count anchors) per pass, so that four independent compare/select chains
        // are in flight; a single chain is bound by its latency, not by the loads.
        for (; j <= numAnchors - 4 * Vector512<float>.Count; j += 4 * Vector512<float>.Count)
        {
            ref float column = ref Unsafe.Add(ref scores, j);
            Vector512<float> best0 = Vector512.Create(float.NegativeInfinity), best1 = best0, best2 = best0, best3 = best0;
            Vector512<float> class0 = Vector512<float>.Zero, class1 = class0, class2 = class0, class3 = class0;
            Vector512<float> classIdx = Vector512<float>.Zero;
            for (int c = 0; c < numClasses; c++)
            {
                ref float row = ref Unsafe.Add(ref column, (nint)c * numAnchors);
                Vector512<float> s0 = Vector512.LoadUnsafe(ref row, 0 * (nuint)Vector512<float>.Count);
                Vector512<float> s1 = Vector512.LoadUnsafe(ref row, 1 * (nuint)Vector512<float>.Count);
                Vector512<float> s2 = Vector512.LoadUnsafe(ref row, 2 * (nuint)Vector512<float>.Count);
                Vector512<float> s3 = Vector512.LoadUnsafe(ref row, 3 * (nuint)Vector512<float>.Count);
                Vector512<float> greater0 = Vector512.GreaterThan(s0, best0);
                Vector512<float> greater1 = Vector512.GreaterThan(s1, best1);
                Vector512<float> greater2 = Vector512.GreaterThan(s2, best2);
                Vector512<float> greater3 = Vector512.GreaterThan(s3, best3);
                best0 = Vector512.ConditionalSelect(greater0, s0, best0);
                best1 = Vector512.ConditionalSelect(greater1, s1, best1);
                best2 = Vector512.ConditionalSelect(greater2, s2, best2);
                best3 = Vector512.ConditionalSelect(greater3, s3, best3);
                class0 = Vector512.ConditionalSelect(greater0, classIdx, class0);
                class1 = Vector512.ConditionalSelect(greater1, classIdx, class1);
                class2 = Vector512.ConditionalSelect(greater2, classIdx, class2);
                class3 = Vector512.ConditionalSelect(greater3, classIdx, class3);
                classIdx += Vector512<float>.One;
            }

            // Bit k of hits is anchor j + k: each vector's Count-bit mask shifted to its place.
            ulong hits = Vector512.GreaterThanOrEqual(best0, thresholdV).ExtractMostSignificantBits()
                | (Vector512.GreaterThanOrEqual(best1, thresholdV).ExtractMostSignificantBits() << (1 * Vector512<float>.Count))
                | (Vector512.GreaterThanOrEqual(best2, thresholdV).ExtractMostSignificantBits() << (2 * Vector512<float>.Count))
                | (Vector512.GreaterThanOrEqual(best3, thresholdV).ExtractMostSignificantBits() << (3 * Vector512<float>.Count));
            if (hits != 0)
            {
                best0.CopyTo(bestLanes);
                best1.CopyTo(bestLanes[(1 * Vector512<float>.Count)..]);
                best2.CopyTo(bestLanes[(2 * Vector512<float>.Count)..]);
                best3.CopyTo(bestLanes[(3 * Vector512<float>.Count)..]);
                class0.CopyTo(classLanes);
                class1.CopyTo(classLanes[(1 * Vector512<float>.Count)..]);
                class2.CopyTo(classLanes[(2 * Vector512<float>.Count)..]);
                class3.CopyTo(classLanes[(3 * Vector512<float>.Count)..]);
                do
                {
                    int lane = BitOperations.TrailingZeroCount(hits);
                    AddCandidate(output, numAnchors, j + lane, bestLanes[lane], (int)classLanes[lane], dest);
                    hits &= hits - 1;
                }
                while (hits != 0);
            }
        }

        // Remaining whole vectors, one at a time, same lanes as above.
        for (; j <= numAnchors - Vector512<float>.Count; j += Vector512<float>.Count)
        {
            ref float column = ref Unsafe.Add(ref scores, j);
            Vector512<float> best = Vector512.Create(float.NegativeInfinity);
            Vector512<float> bestClass = Vector512<float>.Zero;
            Vector512<float> classIdx = Vector512<float>.Zero;
            for (int c = 0; c < numClasses; c++)
            {
                Vector512<float> s = Vector512.LoadUnsafe(ref column, (nuint)c * (nuint)numAnchors);
                Vector512<float> greater = Vector512.GreaterThan(s, best);
                best = Vector512.ConditionalSelect(greater, s, best);
                bestClass = Vector512.ConditionalSelect(greater, classIdx, bestClass);
                classIdx += Vector512<float>.One;
            }

            ulong hits = Vector512.GreaterThanOrEqual(best, thresholdV).ExtractMostSignificantBits();
            while (hits != 0)
            {
                int lane = BitOperations.TrailingZeroCount(hits);
                AddCandidate(output, numAnchors, j + lane, best.GetElement(lane), (int)bestClass.GetElement(lane), dest);
                hits &= hits - 1;
            }
        }

        return j;
    }

    private static int DecodeVector256(ReadOnlySpan<float> output, int numClasses, int numAnchors, float threshold, CandidateBuffer dest)
    {
        ref float scores = ref Unsafe.Add(ref MemoryMarshal.GetReference(output), 4 * numAnchors);
        Vector256<float> thresholdV = Vector256.Create(threshold);
        Span<float> bestLanes = stackalloc float[4 * Vector256<float>.Count];
        Span<float> classLanes = stackalloc float[4 * Vector256<float>.Count];
        int j = 0;

        // Main loop: four vectors (4 x Count anchors) per pass, so that four independent compare/select chains
        // are in flight; a single chain is bound by its latency, not by the loads.
        for (; j <= numAnchors - 4 * Vector256<float>.Count; j += 4 * Vector256<float>.Count)
        {
            ref float column = ref Unsafe.Add(ref scores, j);
            Vector256<float> best0 = Vector256.Create(float.NegativeInfinity), best1 = best0, best2 = best0, best3 = best0;
            Vector256<float> class0 = Vector256<float>.Zero, class1 = class0, class2 = class0, class3 = class0;
            Vector256<float> classIdx = Vector256<float>.Zero;
            for (int c = 0; c < numClasses; c++)
            {
                ref float row = ref Unsafe.Add(ref column, (nint)c * numAnchors);
                Vector256<float> s0 = Vector256.LoadUnsafe(ref row, 0 * (nuint)Vector256<float>.Count);
                Vector256<float> s1 = Vector256.LoadUnsafe(ref row, 1 * (nuint)Vector256<float>.Count);
                Vector256<float> s2 = Vector256.LoadUnsafe(ref row, 2 * (nuint)Vector256<float>.Count);
                Vector256<float> s3 = Vector256.LoadUnsafe(ref row, 3 * (nuint)Vector256<float>.Count);
                Vector256<float> greater0 = Vector256.GreaterThan(s0, best0);
                Vector256<float> greater1 = Vector256.GreaterThan(s1, best1);
                Vector256<float> greater2 = Vector256.GreaterThan(s2, best2);
                Vector256<float> greater3 = Vector256.GreaterThan(s3, best3);
                best0 = Vector256.ConditionalSelect(greater0, s0, best0);
                best1 = Vector256.ConditionalSelect(greater1, s1, best1);
                best2 = Vector256.ConditionalSelect(greater2, s2, best2);
                best3 = Vector256.ConditionalSelect(greater3, s3, best3);
                class0 = Vector256.ConditionalSelect(greater0, classIdx, class0);
                class1 = Vector256.ConditionalSelect(greater1, classIdx, class1);
                class2 = Vector256.ConditionalSelect(greater2, classIdx, class2);
                class3 = Vector256.ConditionalSelect(greater3, classIdx, class3);
                classIdx += Vector256<float>.One;
            }

            // Bit k of hits is anchor j + k: each vector's Count-bit mask shifted to its place.
            uint hits = Vector256.GreaterThanOrEqual(best0, thresholdV).ExtractMostSignificantBits()
                | (Vector256.GreaterThanOrEqual(best1, thresholdV).ExtractMostSignificantBits() << (1 * Vector256<float>.Count))
                | (Vector256.GreaterThanOrEqual(best2, thresholdV).ExtractMostSignificantBits() << (2 * Vector256<float>.Count))
                | (Vector256.GreaterThanOrEqual(best3, thresholdV).ExtractMostSignificantBits() << (3 * Vector256<float>.Count));
            if (hits != 0)
            {
                best0.CopyTo(bestLanes);
                best1.CopyTo(bestLanes[(1 * Vector256<float>.Count)..]);
                best2.CopyTo(bestLanes[(2 * Vector256<float>.Count)..]);
                best3.CopyTo(bestLanes[(3 * Vector256<float>.Count)..]);
                class0.CopyTo(classLanes);
                class1.CopyTo(classLanes[(1 * Vector256<float>.Count)..]);
                class2.CopyTo(classLanes[(2 * Vector256<float>.Count)..]);
                class3.CopyTo(classLanes[(3 * Vector256<float>.Count)..]);
                do
                {
                    int lane = BitOperations.TrailingZeroCount(hits);
                    AddCandidate(output, numAnchors, j + lane, bestLanes[lane], (int)classLanes[lane], dest);
                    hits &= hits - 1;
                }
                while (hits != 0);
            }
        }

        // Remaining whole vectors, one at a time, same lanes as above.
        for (; j <= numAnchors - Vector256<float>.Count; j += Vector256<float>.Count)
        {
            ref float column = ref Unsafe.Add(ref scores, j);
            Vector256<float> best = Vector256.Create(float.NegativeInfinity);
            Vector256<float> bestClass = Vector256<float>.Zero;
            Vector256<float> classIdx = Vector256<float>.Zero;
            for (int c = 0; c < numClasses; c++)
            {
                Vector256<float> s = Vector256.LoadUnsafe(ref column, (nuint)c * (nuint)numAnchors);
                Vector256<float> greater = Vector256.GreaterThan(s, best);
                best = Vector256.ConditionalSelect(greater, s, best);
                bestClass = Vector256.ConditionalSelect(greater, classIdx, bestClass);
                classIdx += Vector256<float>.One;
            }

            uint hits = Vector256.GreaterThanOrEqual(best, thresholdV).ExtractMostSignificantBits();
            while (hits != 0)
            {
                int lane = BitOperations.TrailingZeroCount(hits);
                AddCandidate(output, numAnchors, j + lane, best.GetElement(lane), (int)bestClass.GetElement(lane), dest);
                hits &= hits - 1;
            }
        }

        return j;
    }

    private static int DecodeVector128(ReadOnlySpan<float> output, int numClasses, int numAnchors, float threshold, CandidateBuffer dest)
    {
        ref float scores = ref Unsafe.Add(ref MemoryMarshal.GetReference(output), 4 * numAnchors);
        Vector128<float> thresholdV = Vector128.Create(threshold);
        Span<float> bestLanes = stackalloc float[4 * Vector128<float>.Count];
        Span<float> classLanes = stackalloc float[4 * Vector128<float>.Count];
        int j = 0;

        // Main loop: four vectors (4 x Count anchors) per pass, so that four independent compare/select chains
        // are in flight; a single chain is bound by its latency, not by the loads.
        for (; j <= numAnchors - 4 * Vector128<float>.Count; j += 4 * Vector128<float>.Count)
        {
            ref float column = ref Unsafe.Add(ref scores, j);
            Vector128<float> best0 = Vector128.Create(float.NegativeInfinity), best1 = best0, best2 = best0, best3 = best0;
            Vector128<float> class0 = Vector128<float>.Zero, class1 = class0, class2 = class0, class3 = class0;
            Vector128<float> classIdx = Vector128<float>.Zero;
            for (int c = 0; c < numClasses; c++)
            {
                ref float row = ref Unsafe.Add(ref column, (nint)c * numAnchors);
                Vector128<float> s0 = Vector128.LoadUnsafe(ref row, 0 * (nuint)Vector128<float>.Count);
                Vector128<float> s1 = Vector128.LoadUnsafe(ref row, 1 * (nuint)Vector128<float>.Count);
                Vector128<float> s2 = Vector128.LoadUnsafe(ref row, 2 * (nuint)Vector128<float>.Count);
                Vector128<float> s3 = Vector128.LoadUnsafe(ref row, 3 * (nuint)Vector128<float>.Count);
                Vector128<float> greater0 = Vector128.GreaterThan(s0, best0);
                Vector128<float> greater1 = Vector128.GreaterThan(s1, best1);
                Vector128<float> greater2 = Vector128.GreaterThan(s2, best2);
                Vector128<float> greater3 = Vector128.GreaterThan(s3, best3);
                best0 = Vector128.ConditionalSelect(greater0, s0, best0);
                best1 = Vector128.ConditionalSelect(greater1, s1, best1);
                best2 = Vector128.ConditionalSelect(greater2, s2, best2);
                best3 = Vector128.ConditionalSelect(greater3, s3, best3);
                class0 = Vector128.ConditionalSelect(greater0, classIdx, class0);
                class1 = Vector128.ConditionalSelect(greater1, classIdx, class1);
                class2 = Vector128.ConditionalSelect(greater2, classIdx, class2);
                class3 = Vector128.ConditionalSelect(greater3, classIdx, class3);
                classIdx += Vector128<float>.One;
            }

            // Bit k of hits is anchor j + k: each vector's Count-bit mask shifted to its place.
            uint hits = Vector128.GreaterThanOrEqual(best0, thresholdV).ExtractMostSignificantBits()
                | (Vector128.GreaterThanOrEqual(best1, thresholdV).ExtractMostSignificantBits() << (1 * Vector128<float>.Count))
                | (Vector128.GreaterThanOrEqual(best2, thresholdV).ExtractMostSignificantBits() << (2 * Vector128<float>.Count))
                | (Vector128.GreaterThanOrEqual(best3, thresholdV).ExtractMostSignificantBits() << (3 * Vector128<float>.Count));
            if (hits != 0)
            {
                best0.CopyTo(bestLanes);
                best1.CopyTo(bestLanes[(1 * Vector128<float>.Count)..]);
                best2.CopyTo(bestLanes[(2 * Vector128<float>.Count)..]);
                best3.CopyTo(bestLanes[(3 * Vector128<float>.Count)..]);
                class0.CopyTo(classLanes);
                class1.CopyTo(classLanes[(1 * Vector128<float>.Count)..]);
                class2.CopyTo(classLanes[(2 * Vector128<float>.Count)..]);
                class3.CopyTo(classLanes[(3 * Vector128<float>.Count)..]);
                do
                {
                    int lane = BitOperations.TrailingZeroCount(hits);
                    AddCandidate(output, numAnchors, j + lane, bestLanes[lane], (int)classLanes[lane], dest);
                    hits &= hits - 1;
                }
                while (hits != 0);
            }
        }

        // Remaining whole vectors, one at a time, same lanes as above.
        for (; j <= numAnchors - Vector128<float>.Count; j += Vector128<float>.Count)
        {
            ref float column = ref Unsafe.Add(ref scores, j);
            Vector128<float> best = Vector128.Create(float.NegativeInfinity);
            Vector128<float> bestClass = Vector128<float>.Zero;
            Vector128<float> classIdx = Vector128<float>.Zero;
            for (int c = 0; c < numClasses; c++)
            {
                Vector128<float> s = Vector128.LoadUnsafe(ref column, (nuint)c * (nuint)numAnchors);
                Vector128<float> greater = Vector128.GreaterThan(s, best);
                best = Vector128.ConditionalSelect(greater, s, best);
                bestClass = Vector128.ConditionalSelect(greater, classIdx, bestClass);
                classIdx += Vector128<float>.One;
            }

            uint hits = Vector128.GreaterThanOrEqual(best, thresholdV).ExtractMostSignificantBits();
            while (hits != 0)
            {
                int lane = BitOperations.TrailingZeroCount(hits);
                AddCandidate(output, numAnchors, j + lane, best.GetElement(lane), (int)bestClass.GetElement(lane), dest);
                hits &= hits - 1;
            }
        }

        return j;
    }
}
