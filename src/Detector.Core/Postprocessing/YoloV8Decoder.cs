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
            SimdWidth.V512 => DecodeVector<Vector512<float>, Ops512>(output, numClasses, numAnchors, threshold, dest),
            SimdWidth.V256 => DecodeVector<Vector256<float>, Ops256>(output, numClasses, numAnchors, threshold, dest),
            SimdWidth.V128 => DecodeVector<Vector128<float>, Ops128>(output, numClasses, numAnchors, threshold, dest),
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

    // The kernel below is one loop for every width (IVectorOps). Lane k of a vector is anchor j + k, i.e. one
    // column of the channel-major tensor, so loading class row c at column j reads class c's score for Count
    // consecutive anchors and the scan over classes is purely vertical: no shuffles, no gathers.
    //
    // Anchors go in blocks of BlockAnchors, and the running best of each anchor of the block lives in two small
    // stack buffers that stay in L1:
    //   best      - element a: greatest score of anchor start + a so far (-infinity before the first class)
    //   bestClass - element a: the class index of that score, as a float (exact below 2^24)
    //   classIdx  - every lane: the class index of the first of the four rows being scanned, as a float
    // The class rows are scanned four at a time (one load and store of best and bestClass per four rows), each
    // row's BlockAnchors scores front to back. Reading the tensor in runs of BlockAnchors x 4 bytes per row is
    // what lets the hardware prefetcher stream it: the earlier register-tiled loop read 128 bytes from each of
    // the 80 rows before moving on, more streams than the prefetcher follows, and took about 1.5x as long as one
    // plain read of the tensor; this one takes about as long as that read (docs/BENCHMARKS.md).
    // A strictly-greater compare plus ConditionalSelect keeps the earliest class on ties and never adopts a
    // NaN, which is what the scalar loop does; Vector.Max would do neither. Anchors whose best score reaches
    // the threshold are rare, so their lanes are pulled out of the compare mask one set bit at a time.
    // Tails: the last numClasses % 4 classes of a block go through a one-row loop, and the last
    // numAnchors % Count anchors are returned to the caller for the scalar loop.

    /// <summary>Anchors per block: 2 KB runs of each class row, 4 KB of running best score and class in L1.</summary>
    private const int BlockAnchors = 512;

    private static int DecodeVector<TVec, TOps>(ReadOnlySpan<float> output, int numClasses, int numAnchors, float threshold, CandidateBuffer dest)
        where TVec : struct
        where TOps : struct, IVectorOps<TVec>
    {
        ref float scores = ref Unsafe.Add(ref MemoryMarshal.GetReference(output), 4 * numAnchors);
        Span<float> best = stackalloc float[BlockAnchors];
        Span<float> bestClass = stackalloc float[BlockAnchors];
        ref float bestRef = ref MemoryMarshal.GetReference(best);
        ref float classRef = ref MemoryMarshal.GetReference(bestClass);
        TVec thresholdV = TOps.Create(threshold);
        TVec four = TOps.Create(4f);
        int vectorAnchors = numAnchors - numAnchors % TOps.Count;
        for (int start = 0; start < vectorAnchors; start += BlockAnchors)
        {
            nuint count = (nuint)Math.Min(BlockAnchors, vectorAnchors - start);
            ref float column = ref Unsafe.Add(ref scores, start);
            best[..(int)count].Fill(float.NegativeInfinity);
            bestClass[..(int)count].Clear();
            TVec classIdx = TOps.Zero;
            int c = 0;
            for (; c <= numClasses - 4; c += 4)
            {
                ref float row0 = ref Unsafe.Add(ref column, (nint)c * numAnchors);
                ref float row1 = ref Unsafe.Add(ref row0, numAnchors);
                ref float row2 = ref Unsafe.Add(ref row1, numAnchors);
                ref float row3 = ref Unsafe.Add(ref row2, numAnchors);
                TVec class1 = TOps.Add(classIdx, TOps.One);
                TVec class2 = TOps.Add(class1, TOps.One);
                TVec class3 = TOps.Add(class2, TOps.One);
                for (nuint a = 0; a < count; a += (nuint)TOps.Count)
                {
                    TVec b = TOps.Load(ref bestRef, a);
                    TVec k = TOps.Load(ref classRef, a);
                    TVec s = TOps.Load(ref row0, a);
                    TVec greater = TOps.GreaterThan(s, b);
                    b = TOps.ConditionalSelect(greater, s, b);
                    k = TOps.ConditionalSelect(greater, classIdx, k);
                    s = TOps.Load(ref row1, a);
                    greater = TOps.GreaterThan(s, b);
                    b = TOps.ConditionalSelect(greater, s, b);
                    k = TOps.ConditionalSelect(greater, class1, k);
                    s = TOps.Load(ref row2, a);
                    greater = TOps.GreaterThan(s, b);
                    b = TOps.ConditionalSelect(greater, s, b);
                    k = TOps.ConditionalSelect(greater, class2, k);
                    s = TOps.Load(ref row3, a);
                    greater = TOps.GreaterThan(s, b);
                    TOps.Store(TOps.ConditionalSelect(greater, s, b), ref bestRef, a);
                    TOps.Store(TOps.ConditionalSelect(greater, class3, k), ref classRef, a);
                }

                classIdx = TOps.Add(classIdx, four);
            }

            for (; c < numClasses; c++)
            {
                ref float row = ref Unsafe.Add(ref column, (nint)c * numAnchors);
                for (nuint a = 0; a < count; a += (nuint)TOps.Count)
                {
                    TVec b = TOps.Load(ref bestRef, a);
                    TVec s = TOps.Load(ref row, a);
                    TVec greater = TOps.GreaterThan(s, b);
                    TOps.Store(TOps.ConditionalSelect(greater, s, b), ref bestRef, a);
                    TOps.Store(TOps.ConditionalSelect(greater, classIdx, TOps.Load(ref classRef, a)), ref classRef, a);
                }

                classIdx = TOps.Add(classIdx, TOps.One);
            }

            for (nuint a = 0; a < count; a += (nuint)TOps.Count)
            {
                ulong hits = TOps.MaskBits(TOps.GreaterThanOrEqual(TOps.Load(ref bestRef, a), thresholdV));
                while (hits != 0)
                {
                    int lane = (int)a + BitOperations.TrailingZeroCount(hits);
                    AddCandidate(output, numAnchors, start + lane, best[lane], (int)bestClass[lane], dest);
                    hits &= hits - 1;
                }
            }
        }

        return vectorAnchors;
    }
}
