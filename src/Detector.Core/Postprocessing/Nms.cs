using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Detector.Core.Postprocessing;

/// <summary>
/// Greedy non-maximum suppression. Candidates are taken by score, best first (equal scores: the earlier
/// index first, so the result is deterministic; NaN scores last); each kept box suppresses every later box,
/// of the same class unless class-agnostic, whose IoU with it is strictly greater than the threshold. The
/// kept boxes end up at the front of the buffer, best first, and the buffer is truncated to them.
/// </summary>
/// <remarks>
/// IoU = inter / (areaA + areaB - inter), 0 when that union is 0; a box's area is clamped at 0 as in
/// <see cref="Candidate.Area"/> (so a box with a NaN corner has a NaN area, a NaN IoU, and neither suppresses nor
/// is suppressed), and the intersection's sides are clamped at 0 too. The intersection's corners are taken with the
/// platform's native min and max (<see cref="float.MinNative"/>, <see cref="Vector256.MinNative{T}"/>), which on
/// x86 are a &lt; b ? a : b and a &gt; b ? a : b. The vector and scalar twins evaluate the same expression in the
/// same order, so they keep exactly the same boxes in the same order.
/// </remarks>
public static class Nms
{
    /// <summary>Runs NMS with the widest accelerated vector width.</summary>
    /// <param name="candidates">The candidates; on return, the kept ones, best first.</param>
    /// <param name="iouThreshold">A box is suppressed by a kept one when their IoU is strictly greater.</param>
    /// <param name="classAgnostic">Whether boxes of different classes suppress each other.</param>
    /// <param name="maxDetections">The most boxes to keep; 0 keeps none.</param>
    /// <param name="scratch">Working memory, reused between calls.</param>
    public static void Apply(CandidateBuffer candidates, float iouThreshold, bool classAgnostic, int maxDetections, NmsScratch scratch)
        => Apply(candidates, iouThreshold, classAgnostic, maxDetections, scratch, SimdWidths.Best);

    /// <summary>The plain pairwise reference of <see cref="Apply(CandidateBuffer, float, bool, int, NmsScratch)"/>.</summary>
    public static void ApplyScalar(CandidateBuffer candidates, float iouThreshold, bool classAgnostic, int maxDetections, NmsScratch scratch)
    {
        int n = Prepare(candidates, maxDetections, scratch);
        Span<Candidate> sorted = scratch.Sorted.AsSpan(0, n);
        Span<int> suppressed = scratch.Suppressed.AsSpan(0, n);
        int kept = 0;
        for (int i = 0; i < n && kept < maxDetections; i++)
        {
            if (suppressed[i] != 0)
            {
                continue;
            }

            ref readonly Candidate best = ref sorted[i];
            candidates[kept++] = best;
            if (kept == maxDetections)
            {
                break;
            }

            for (int j = i + 1; j < n; j++)
            {
                ref readonly Candidate other = ref sorted[j];
                if (suppressed[j] != 0 || (!classAgnostic && other.ClassId != best.ClassId))
                {
                    continue;
                }

                if (Iou(best.X1, best.Y1, best.X2, best.Y2, best.Area, other.X1, other.Y1, other.X2, other.Y2, other.Area) > iouThreshold)
                {
                    suppressed[j] = 1;
                }
            }
        }

        candidates.Truncate(kept);
    }

    internal static void Apply(
        CandidateBuffer candidates, float iouThreshold, bool classAgnostic, int maxDetections, NmsScratch scratch, SimdWidth width)
    {
        int n = Prepare(candidates, maxDetections, scratch);

        // Struct-of-arrays copy of the sorted boxes for the vector kernels.
        Span<Candidate> sorted = scratch.Sorted.AsSpan(0, n);
        for (int i = 0; i < sorted.Length; i++)
        {
            ref readonly Candidate c = ref sorted[i];
            scratch.X1[i] = c.X1;
            scratch.Y1[i] = c.Y1;
            scratch.X2[i] = c.X2;
            scratch.Y2[i] = c.Y2;
            scratch.Area[i] = c.Area;
            scratch.ClassId[i] = c.ClassId;
        }

        int[] suppressed = scratch.Suppressed;
        int kept = 0;
        for (int i = 0; i < n && kept < maxDetections; i++)
        {
            if (suppressed[i] != 0)
            {
                continue;
            }

            candidates[kept++] = sorted[i];
            if (kept == maxDetections)
            {
                break;
            }

            // Suppress, among the later boxes, those box i overlaps: whole vectors first, then a scalar tail.
            int j = width switch
            {
                SimdWidth.V512 => Suppress<Vector512<float>, Ops512>(scratch, i, n, iouThreshold, classAgnostic),
                SimdWidth.V256 => Suppress<Vector256<float>, Ops256>(scratch, i, n, iouThreshold, classAgnostic),
                SimdWidth.V128 => Suppress<Vector128<float>, Ops128>(scratch, i, n, iouThreshold, classAgnostic),
                _ => i + 1,
            };
            SuppressScalar(scratch, i, j, n, iouThreshold, classAgnostic);
        }

        candidates.Truncate(kept);
    }

    /// <summary>
    /// Validates, sorts the candidates by score into <see cref="NmsScratch.Sorted"/> and clears the suppression
    /// flags; returns the candidate count.
    /// </summary>
    private static int Prepare(CandidateBuffer candidates, int maxDetections, NmsScratch scratch)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(scratch);
        ArgumentOutOfRangeException.ThrowIfNegative(maxDetections);

        int n = candidates.Count;
        scratch.EnsureCapacity(n);
        Span<Candidate> items = candidates.AsSpan();
        Span<ulong> keys = scratch.Keys.AsSpan(0, n);

        // One ulong per candidate, ascending = score descending then index ascending: the index in the low half
        // makes every key distinct, so an unstable sort of plain integers gives the deterministic order.
        for (int i = 0; i < n; i++)
        {
            keys[i] = ((ulong)DescendingKey(items[i].Score) << 32) | (uint)i;
        }

        keys.Sort();
        Span<Candidate> sorted = scratch.Sorted.AsSpan(0, n);
        for (int i = 0; i < n; i++)
        {
            sorted[i] = items[(int)(uint)keys[i]];
        }

        scratch.Suppressed.AsSpan(0, n).Clear();
        return n;
    }

    /// <summary>Maps a score to a uint that sorts ascending as the score sorts descending; NaN goes last.</summary>
    private static uint DescendingKey(float score)
    {
        if (float.IsNaN(score))
        {
            return uint.MaxValue;
        }

        // -0 and +0 are the same score: the tie must fall to the index.
        uint bits = BitConverter.SingleToUInt32Bits(score == 0f ? 0f : score);

        // IEEE floats order like sign-magnitude integers: flipping the sign bit of positives and all bits of
        // negatives gives an ascending unsigned order; its complement is the descending one.
        uint ascending = (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
        return ~ascending;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Iou(float ax1, float ay1, float ax2, float ay2, float aArea, float bx1, float by1, float bx2, float by2, float bArea)
    {
        float interW = Max(Min(ax2, bx2) - Max(ax1, bx1), 0f);
        float interH = Max(Min(ay2, by2) - Max(ay1, by1), 0f);
        float inter = interW * interH;
        float union = aArea + bArea - inter;
        return union == 0f ? 0f : inter / union;
    }

    private static void SuppressScalar(NmsScratch s, int i, int start, int n, float iouThreshold, bool classAgnostic)
    {
        for (int j = start; j < n; j++)
        {
            if ((classAgnostic || s.ClassId[j] == s.ClassId[i])
                && Iou(s.X1[i], s.Y1[i], s.X2[i], s.Y2[i], s.Area[i], s.X1[j], s.Y1[j], s.X2[j], s.Y2[j], s.Area[j]) > iouThreshold)
            {
                s.Suppressed[j] = -1;
            }
        }
    }

    // The kernel below is one loop for every width (IVectorOps): kept box i against Count later boxes at once.
    // Lane k of every vector is box j + k in score order; the kept box's values are broadcast to all lanes.
    //   interW, interH - lane k: the overlap's sides (clamped at 0 when multiplied into inter)
    //   union          - lane k: area(i) + area(j + k) - inter, the same expression and order as Iou()
    //   suppress       - lane k: all bits set when IoU > threshold and (agnostic or same class)
    // Min and Max are the platform's native forms in both twins (see Min below), and the IoU is a true division,
    // so each lane equals the scalar Iou() bit for bit. Suppression flags are ORed in without first checking
    // whether the box is already suppressed: flags only ever turn on. Starting at i + 1, the loads are
    // unaligned; the last (n - i - 1) % Count boxes are returned to the caller for SuppressScalar.

    private static int Suppress<TVec, TOps>(NmsScratch s, int i, int n, float iouThreshold, bool classAgnostic)
        where TVec : struct
        where TOps : struct, IVectorOps<TVec>
    {
        ref float x1s = ref MemoryMarshal.GetArrayDataReference(s.X1);
        ref float y1s = ref MemoryMarshal.GetArrayDataReference(s.Y1);
        ref float x2s = ref MemoryMarshal.GetArrayDataReference(s.X2);
        ref float y2s = ref MemoryMarshal.GetArrayDataReference(s.Y2);
        ref float areas = ref MemoryMarshal.GetArrayDataReference(s.Area);
        ref int classes = ref MemoryMarshal.GetArrayDataReference(s.ClassId);
        ref int suppressed = ref MemoryMarshal.GetArrayDataReference(s.Suppressed);

        TVec x1 = TOps.Create(s.X1[i]);
        TVec y1 = TOps.Create(s.Y1[i]);
        TVec x2 = TOps.Create(s.X2[i]);
        TVec y2 = TOps.Create(s.Y2[i]);
        TVec area = TOps.Create(s.Area[i]);
        TVec classId = TOps.CreateBits(s.ClassId[i]);
        TVec threshold = TOps.Create(iouThreshold);

        int j = i + 1;
        for (; j <= n - TOps.Count; j += TOps.Count)
        {
            nuint at = (nuint)j;
            TVec interW = TOps.Subtract(TOps.MinNative(x2, TOps.Load(ref x2s, at)), TOps.MaxNative(x1, TOps.Load(ref x1s, at)));
            TVec interH = TOps.Subtract(TOps.MinNative(y2, TOps.Load(ref y2s, at)), TOps.MaxNative(y1, TOps.Load(ref y1s, at)));
            TVec inter = TOps.Multiply(TOps.MaxNative(interW, TOps.Zero), TOps.MaxNative(interH, TOps.Zero));
            TVec union = TOps.Subtract(TOps.Add(area, TOps.Load(ref areas, at)), inter);
            TVec iou = TOps.ConditionalSelect(TOps.Equals(union, TOps.Zero), TOps.Zero, TOps.Divide(inter, union));
            TVec suppress = TOps.GreaterThan(iou, threshold);
            if (!classAgnostic)
            {
                suppress = TOps.And(suppress, TOps.EqualsBits(classId, TOps.LoadBits(ref classes, at)));
            }

            TOps.StoreBits(TOps.Or(TOps.LoadBits(ref suppressed, at), suppress), ref suppressed, at);
        }

        return j;
    }

    // min and max as single instructions (minss/minps, maxss/maxps on x86): the Native forms leave NaN and
    // signed-zero handling to the platform, and the scalar and vector forms of one platform handle them alike.
    // Vector Min/Max and MathF.Min/Max follow IEEE 754-2019 instead (NaN propagated, -0 below +0), which costs
    // about eight instructions per vector on x86 and made those four min/max the bulk of the suppression loop.
    // For boxes without NaN corners the two agree except on the sign of a zero, which cannot change how an IoU
    // compares with the threshold; a box with a NaN corner still has a NaN area and a NaN IoU.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Min(float a, float b) => float.MinNative(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Max(float a, float b) => float.MaxNative(a, b);
}
