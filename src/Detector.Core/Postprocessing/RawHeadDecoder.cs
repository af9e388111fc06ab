using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Detector.Core.Postprocessing;

/// <summary>
/// Decodes one level of Yolo-FastestV2's raw heads for one image. All three inputs are logits, plane by plane:
/// <c>reg</c> <c>[A*4, H, W]</c> with channel anchor*4 + {x, y, w, h}, <c>obj</c> <c>[A, H, W]</c>, <c>cls</c>
/// <c>[C, H, W]</c>, one class vector shared by the A anchors of a cell (A = anchors.Length / 2, 3 upstream).
/// </summary>
/// <remarks>
/// Per cell (gx, gy) and anchor (aw, ah): cx = (2 sigmoid(x) - 0.5 + gx) * s, cy likewise,
/// w = (2 sigmoid(w))^2 * aw, h likewise; objectness = sigmoid(obj); class probabilities = softmax over the
/// cell's C class logits; score = objectness x the greatest probability (the first class holding it, NaN
/// never chosen). Candidates are appended in cell order (y, then x), then anchor order; the buffer is not
/// cleared. The greatest softmax probability is 1 / sum(exp(l - max l)) and that sum counts exp(0) = 1, so it is
/// at most 1 and the score at most the objectness: an anchor whose objectness misses the threshold is
/// dropped before the softmax, in both twins.
/// </remarks>
public static class RawHeadDecoder
{
    /// <summary>
    /// Decodes one level; the objectness planes are pre-filtered with the widest accelerated vector width.
    /// </summary>
    /// <param name="reg">Box logits <c>[A*4, h, w]</c>.</param>
    /// <param name="obj">Objectness logits <c>[A, h, w]</c>.</param>
    /// <param name="cls">Class logits <c>[numClasses, h, w]</c>.</param>
    /// <param name="h">Grid rows.</param>
    /// <param name="w">Grid columns.</param>
    /// <param name="numClasses">Classes C.</param>
    /// <param name="stride">Input pixels per cell at this level.</param>
    /// <param name="anchors">This level's anchors in input pixels: w0, h0, w1, h1, ...</param>
    /// <param name="threshold">Minimum score objectness x class probability.</param>
    /// <param name="dest">Receives the candidates.</param>
    public static void DecodeLevel(
        ReadOnlySpan<float> reg,
        ReadOnlySpan<float> obj,
        ReadOnlySpan<float> cls,
        int h,
        int w,
        int numClasses,
        int stride,
        ReadOnlySpan<float> anchors,
        float threshold,
        CandidateBuffer dest)
        => DecodeLevel(reg, obj, cls, h, w, numClasses, stride, anchors, threshold, dest, SimdWidths.Best);

    /// <summary>The plain cell-by-cell reference of <see cref="DecodeLevel(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int, int, ReadOnlySpan{float}, float, CandidateBuffer)"/>.</summary>
    public static void DecodeLevelScalar(
        ReadOnlySpan<float> reg,
        ReadOnlySpan<float> obj,
        ReadOnlySpan<float> cls,
        int h,
        int w,
        int numClasses,
        int stride,
        ReadOnlySpan<float> anchors,
        float threshold,
        CandidateBuffer dest)
    {
        ArgumentNullException.ThrowIfNull(dest);
        var level = new Level(reg, obj, cls, h, w, numClasses, stride, anchors, threshold);

        // No pre-filter: every anchor of every cell takes the sigmoid.
        for (int cell = 0; cell < level.Cells; cell++)
        {
            DecodeCell(in level, cell, float.NegativeInfinity, dest);
        }
    }

    internal static void DecodeLevel(
        ReadOnlySpan<float> reg,
        ReadOnlySpan<float> obj,
        ReadOnlySpan<float> cls,
        int h,
        int w,
        int numClasses,
        int stride,
        ReadOnlySpan<float> anchors,
        float threshold,
        CandidateBuffer dest,
        SimdWidth width)
    {
        ArgumentNullException.ThrowIfNull(dest);
        var level = new Level(reg, obj, cls, h, w, numClasses, stride, anchors, threshold);

        // sigmoid is increasing, so sigmoid(obj) >= threshold can be decided on the logit: compare the raw
        // objectness planes against a bound just below logit(threshold) and skip every cell where no anchor
        // reaches it. The bound errs low (see LogitLowerBound); the exact test follows for the cells that pass.
        float bound = DecodeMath.LogitLowerBound(threshold);
        int done = width switch
        {
            SimdWidth.V512 => Prefilter<Vector512<float>, Ops512>(in level, bound, dest),
            SimdWidth.V256 => Prefilter<Vector256<float>, Ops256>(in level, bound, dest),
            SimdWidth.V128 => Prefilter<Vector128<float>, Ops128>(in level, bound, dest),
            _ => 0,
        };

        // Scalar tail: the last Cells % Count cells (all of them for a plane smaller than one vector).
        for (int cell = done; cell < level.Cells; cell++)
        {
            DecodeCell(in level, cell, bound, dest);
        }
    }

    /// <summary>
    /// Decodes the anchors of one cell. <paramref name="logitBound"/> lets an anchor be rejected on its raw
    /// logit; it must not exceed the exact logit of the threshold (-infinity disables it).
    /// </summary>
    private static void DecodeCell(in Level level, int cell, float logitBound, CandidateBuffer dest)
    {
        int cells = level.Cells;
        int classId = -1;
        float classProbability = 0f;
        for (int a = 0; a < level.NumAnchors; a++)
        {
            float objLogit = level.Obj[a * cells + cell];
            if (objLogit < logitBound)
            {
                continue;
            }

            float objectness = DecodeMath.Sigmoid(objLogit);
            if (!(objectness >= level.Threshold))
            {
                continue;
            }

            if (classId < 0)
            {
                // Computed at most once per cell: the anchors share the class vector.
                classId = DecodeMath.ArgMaxScalar(level.Cls, cell, level.NumClasses, cells);
                float maxLogit = level.Cls[classId * cells + cell];
                float sum = 0f;
                for (int c = 0; c < level.NumClasses; c++)
                {
                    sum += MathF.Exp(level.Cls[c * cells + cell] - maxLogit);
                }

                classProbability = 1f / sum;
            }

            float score = objectness * classProbability;
            if (!(score >= level.Threshold))
            {
                continue;
            }

            int gx = cell % level.W;
            int gy = cell / level.W;
            int reg = a * 4 * cells + cell;
            float sx = DecodeMath.Sigmoid(level.Reg[reg]);
            float sy = DecodeMath.Sigmoid(level.Reg[reg + cells]);
            float tw = 2f * DecodeMath.Sigmoid(level.Reg[reg + 2 * cells]);
            float th = 2f * DecodeMath.Sigmoid(level.Reg[reg + 3 * cells]);
            float cx = (2f * sx - 0.5f + gx) * level.Stride;
            float cy = (2f * sy - 0.5f + gy) * level.Stride;
            float halfW = tw * tw * level.Anchors[2 * a] * 0.5f;
            float halfH = th * th * level.Anchors[2 * a + 1] * 0.5f;
            dest.Add(new Candidate(cx - halfW, cy - halfH, cx + halfW, cy + halfH, score, classId));
        }
    }

    // The pre-filter below is one kernel for every width (IVectorOps). Lane k of a vector is cell j + k of the
    // H x W plane; anchor a's objectness logits for those cells are the Count floats at a * H * W + j, so each
    // anchor plane is one contiguous load and the anchors of a cell meet in the same lane.
    //   any - lane k: all bits set when some anchor of cell j + k has a logit >= bound
    // The set lanes of the mask (few: most cells hold nothing) go to DecodeCell, in ascending cell order,
    // which is the scalar twin's order. Tail: the caller runs the last Cells % Count cells through DecodeCell.

    private static int Prefilter<TVec, TOps>(in Level level, float bound, CandidateBuffer dest)
        where TVec : struct
        where TOps : struct, IVectorOps<TVec>
    {
        ref float objOrigin = ref MemoryMarshal.GetReference(level.Obj);
        TVec boundV = TOps.Create(bound);
        int cells = level.Cells;
        int j = 0;
        for (; j <= cells - TOps.Count; j += TOps.Count)
        {
            TVec any = TOps.GreaterThanOrEqual(TOps.Load(ref objOrigin, (nuint)j), boundV);
            for (int a = 1; a < level.NumAnchors; a++)
            {
                any = TOps.Or(any, TOps.GreaterThanOrEqual(TOps.Load(ref objOrigin, (nuint)(a * cells + j)), boundV));
            }

            ulong hits = TOps.MaskBits(any);
            while (hits != 0)
            {
                DecodeCell(in level, j + BitOperations.TrailingZeroCount(hits), bound, dest);
                hits &= hits - 1;
            }
        }

        return j;
    }

    /// <summary>One level's validated inputs, passed by reference to the per-cell code.</summary>
    private readonly ref struct Level
    {
        public readonly ReadOnlySpan<float> Reg;
        public readonly ReadOnlySpan<float> Obj;
        public readonly ReadOnlySpan<float> Cls;
        public readonly ReadOnlySpan<float> Anchors;
        public readonly int W;
        public readonly int Cells;
        public readonly int NumClasses;
        public readonly int NumAnchors;
        public readonly float Stride;
        public readonly float Threshold;

        public Level(
            ReadOnlySpan<float> reg,
            ReadOnlySpan<float> obj,
            ReadOnlySpan<float> cls,
            int h,
            int w,
            int numClasses,
            int stride,
            ReadOnlySpan<float> anchors,
            float threshold)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(h);
            ArgumentOutOfRangeException.ThrowIfNegative(w);
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numClasses);
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride);
            if (anchors.Length == 0 || anchors.Length % 2 != 0)
            {
                throw new ArgumentException("Anchors must be a non-empty list of w, h pairs.", nameof(anchors));
            }

            int cells = checked(h * w);
            int numAnchors = anchors.Length / 2;
            CheckLength(reg, (long)numAnchors * 4 * cells, nameof(reg));
            CheckLength(obj, (long)numAnchors * cells, nameof(obj));
            CheckLength(cls, (long)numClasses * cells, nameof(cls));

            Reg = reg;
            Obj = obj;
            Cls = cls;
            Anchors = anchors;
            W = w;
            Cells = cells;
            NumClasses = numClasses;
            NumAnchors = numAnchors;
            Stride = stride;
            Threshold = threshold;
        }

        private static void CheckLength(ReadOnlySpan<float> values, long expected, string name)
        {
            if (values.Length != expected)
            {
                throw new ArgumentException($"{name} has {values.Length} values, expected {expected}.", name);
            }
        }
    }
}
