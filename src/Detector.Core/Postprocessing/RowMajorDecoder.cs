using Detector.Core.Models;

namespace Detector.Core.Postprocessing;

/// <summary>
/// Decodes row-major heads <c>[N, 5+C]</c> of one image: per row x, y, w, h, objectness, then C class scores,
/// objectness and class scores already through a sigmoid. The score is objectness x best class score; a row
/// is a candidate when the score is at least the threshold.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><see cref="OutputFamily.Yolox"/>: cx = (x + gx) * s, cy = (y + gy) * s, w = exp(w) * s, h = exp(h) * s.</item>
/// <item><see cref="OutputFamily.YoloV5"/>: cx = (2x - 0.5 + gx) * s, cy likewise, w = (2w)^2 * aw, h = (2h)^2 * ah.</item>
/// <item><see cref="OutputFamily.YoloV5Decoded"/>: x, y, w, h are already cx, cy, w, h in input pixels; no grid.</item>
/// </list>
/// Class scores are taken to be at most 1 (they are sigmoid outputs), so objectness x class cannot exceed the
/// objectness and rows whose objectness is below the threshold are dropped before their classes are read;
/// both twins do so. The best class is the first with the greatest score, NaN never chosen (as in
/// <see cref="YoloV8Decoder"/>). Candidates are appended to the buffer in row order; it is not cleared.
/// </remarks>
public static class RowMajorDecoder
{
    /// <summary>Decodes, scanning each surviving row's classes with the widest accelerated vector width.</summary>
    /// <param name="output">One image's <c>[numRows, 5 + numClasses]</c> slice.</param>
    /// <param name="numRows">Rows N.</param>
    /// <param name="numClasses">Classes C.</param>
    /// <param name="family"><see cref="OutputFamily.Yolox"/>, <see cref="OutputFamily.YoloV5"/> or <see cref="OutputFamily.YoloV5Decoded"/>.</param>
    /// <param name="grid">The model's grid, with <paramref name="numRows"/> rows; ignored (may be null) for <see cref="OutputFamily.YoloV5Decoded"/>.</param>
    /// <param name="threshold">Minimum score objectness x class.</param>
    /// <param name="dest">Receives the candidates.</param>
    public static void Decode(
        ReadOnlySpan<float> output, int numRows, int numClasses, OutputFamily family, GridTable? grid, float threshold, CandidateBuffer dest)
        => Decode(output, numRows, numClasses, family, grid, threshold, dest, SimdWidths.Best);

    /// <summary>The plain element-by-element reference of <see cref="Decode(ReadOnlySpan{float}, int, int, OutputFamily, GridTable?, float, CandidateBuffer)"/>.</summary>
    public static void DecodeScalar(
        ReadOnlySpan<float> output, int numRows, int numClasses, OutputFamily family, GridTable? grid, float threshold, CandidateBuffer dest)
        => Decode(output, numRows, numClasses, family, grid, threshold, dest, SimdWidth.Scalar);

    internal static void Decode(
        ReadOnlySpan<float> output,
        int numRows,
        int numClasses,
        OutputFamily family,
        GridTable? grid,
        float threshold,
        CandidateBuffer dest,
        SimdWidth width)
    {
        Validate(output, numRows, numClasses, family, grid, dest);

        // Rows are 5 + C floats apart, so objectness is a strided column: reading it for a whole vector of rows
        // would need a gather. It is read one row at a time instead, and the vector work goes where the data is
        // contiguous: the scan over a surviving row's C class scores (ArgMax.Contiguous).
        int rowLength = 5 + numClasses;
        for (int row = 0; row < numRows; row++)
        {
            ReadOnlySpan<float> values = output.Slice(row * rowLength, rowLength);
            float objectness = values[4];

            // Negated so that a NaN objectness is skipped too.
            if (!(objectness >= threshold))
            {
                continue;
            }

            ReadOnlySpan<float> classes = values[5..];
            int classId = ArgMax.Contiguous(classes, width);
            float score = objectness * classes[classId];
            if (score >= threshold)
            {
                AddCandidate(values, row, family, grid, score, classId, dest);
            }
        }
    }

    private static void Validate(
        ReadOnlySpan<float> output, int numRows, int numClasses, OutputFamily family, GridTable? grid, CandidateBuffer dest)
    {
        ArgumentNullException.ThrowIfNull(dest);
        ArgumentOutOfRangeException.ThrowIfNegative(numRows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numClasses);
        long expected = (long)numRows * (5L + numClasses);
        if (output.Length != expected)
        {
            throw new ArgumentException(
                $"Output has {output.Length} values; [{numRows}, 5+{numClasses}] needs {expected}.", nameof(output));
        }

        switch (family)
        {
            case OutputFamily.Yolox:
            case OutputFamily.YoloV5:
                ArgumentNullException.ThrowIfNull(grid);
                if (grid.Rows != numRows)
                {
                    throw new ArgumentException($"Grid has {grid.Rows} rows, output has {numRows}.", nameof(grid));
                }

                break;
            case OutputFamily.YoloV5Decoded:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(family), family, "Not a row-major [N, 5+C] family.");
        }
    }

    private static void AddCandidate(
        ReadOnlySpan<float> values, int row, OutputFamily family, GridTable? grid, float score, int classId, CandidateBuffer dest)
    {
        float x = values[0];
        float y = values[1];
        float w = values[2];
        float h = values[3];
        float cx, cy, bw, bh;
        switch (family)
        {
            case OutputFamily.Yolox:
            {
                float s = grid!.Stride[row];
                cx = (x + grid.GridX[row]) * s;
                cy = (y + grid.GridY[row]) * s;
                bw = MathF.Exp(w) * s;
                bh = MathF.Exp(h) * s;
                break;
            }

            case OutputFamily.YoloV5:
            {
                float s = grid!.Stride[row];
                cx = (2f * x - 0.5f + grid.GridX[row]) * s;
                cy = (2f * y - 0.5f + grid.GridY[row]) * s;
                float tw = 2f * w;
                float th = 2f * h;
                bw = tw * tw * grid.AnchorW[row];
                bh = th * th * grid.AnchorH[row];
                break;
            }

            default:
                cx = x;
                cy = y;
                bw = w;
                bh = h;
                break;
        }

        float halfW = bw * 0.5f;
        float halfH = bh * 0.5f;
        dest.Add(new Candidate(cx - halfW, cy - halfH, cx + halfW, cy + halfH, score, classId));
    }
}
