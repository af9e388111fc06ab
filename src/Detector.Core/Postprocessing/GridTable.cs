namespace Detector.Core.Postprocessing;

/// <summary>
/// Per output row of a row-major head (<c>[N, 5+C]</c>), the grid cell, stride and anchor that the row's raw
/// x, y, w, h are relative to. Built once per model and shared by every frame. Struct-of-arrays: each column is
/// its own <see cref="float"/> array so that a kernel can load consecutive rows' values as one vector.
/// </summary>
public sealed class GridTable
{
    private readonly float[] _gridX;
    private readonly float[] _gridY;
    private readonly float[] _stride;
    private readonly float[] _anchorW;
    private readonly float[] _anchorH;

    private GridTable(int rows)
    {
        Rows = rows;
        _gridX = new float[rows];
        _gridY = new float[rows];
        _stride = new float[rows];
        _anchorW = new float[rows];
        _anchorH = new float[rows];
    }

    /// <summary>Number of output rows the table describes.</summary>
    public int Rows { get; }

    /// <summary>Cell column gx of each row.</summary>
    public ReadOnlySpan<float> GridX => _gridX;

    /// <summary>Cell row gy of each row.</summary>
    public ReadOnlySpan<float> GridY => _gridY;

    /// <summary>Stride s (input pixels per cell) of each row's level.</summary>
    public ReadOnlySpan<float> Stride => _stride;

    /// <summary>Anchor width in input pixels of each row; 0 for anchor-free heads.</summary>
    public ReadOnlySpan<float> AnchorW => _anchorW;

    /// <summary>Anchor height in input pixels of each row; 0 for anchor-free heads.</summary>
    public ReadOnlySpan<float> AnchorH => _anchorH;

    /// <summary>
    /// The YOLOX layout: rows ordered by level, then y, then x; anchor-free (anchor sizes 0).
    /// </summary>
    /// <param name="inputW">Network input width in pixels; a multiple of every stride.</param>
    /// <param name="inputH">Network input height in pixels; a multiple of every stride.</param>
    /// <param name="strides">One stride per level, in output order (e.g. 8, 16, 32).</param>
    public static GridTable ForYolox(int inputW, int inputH, int[] strides)
    {
        ArgumentNullException.ThrowIfNull(strides);
        int rows = 0;
        foreach (int s in strides)
        {
            (int gw, int gh) = GridSize(inputW, inputH, s);
            rows = checked(rows + gw * gh);
        }

        var table = new GridTable(rows);
        int row = 0;
        foreach (int s in strides)
        {
            (int gw, int gh) = GridSize(inputW, inputH, s);
            table.FillLevel(ref row, gw, gh, s, 0f, 0f);
        }

        return table;
    }

    /// <summary>
    /// The YOLOv5 layout: rows ordered by level, then anchor, then y, then x.
    /// </summary>
    /// <param name="inputW">Network input width in pixels; a multiple of every stride.</param>
    /// <param name="inputH">Network input height in pixels; a multiple of every stride.</param>
    /// <param name="strides">One stride per level, in output order (e.g. 8, 16, 32).</param>
    /// <param name="anchorsPerLevel">Per level, the anchor sizes in input pixels as <c>w0, h0, w1, h1, ...</c>.</param>
    public static GridTable ForYoloV5(int inputW, int inputH, int[] strides, float[][] anchorsPerLevel)
    {
        ArgumentNullException.ThrowIfNull(strides);
        ArgumentNullException.ThrowIfNull(anchorsPerLevel);
        if (anchorsPerLevel.Length != strides.Length)
        {
            throw new ArgumentException(
                $"Expected one anchor list per level ({strides.Length}), got {anchorsPerLevel.Length}.", nameof(anchorsPerLevel));
        }

        int rows = 0;
        for (int level = 0; level < strides.Length; level++)
        {
            float[] anchors = anchorsPerLevel[level];
            if (anchors is null || anchors.Length == 0 || anchors.Length % 2 != 0)
            {
                throw new ArgumentException(
                    $"Level {level}: anchors must be a non-empty list of w, h pairs.", nameof(anchorsPerLevel));
            }

            (int gw, int gh) = GridSize(inputW, inputH, strides[level]);
            rows = checked(rows + anchors.Length / 2 * gw * gh);
        }

        var table = new GridTable(rows);
        int row = 0;
        for (int level = 0; level < strides.Length; level++)
        {
            int s = strides[level];
            float[] anchors = anchorsPerLevel[level];
            (int gw, int gh) = GridSize(inputW, inputH, s);
            for (int a = 0; a < anchors.Length; a += 2)
            {
                table.FillLevel(ref row, gw, gh, s, anchors[a], anchors[a + 1]);
            }
        }

        return table;
    }

    private static (int GridW, int GridH) GridSize(int inputW, int inputH, int stride)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputW);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputH);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride);

        // A size that is not a multiple of the stride leaves the grid size to the backbone's padding rules,
        // which differ between exporters; refuse rather than guess and mislabel every row after the first level.
        if (inputW % stride != 0 || inputH % stride != 0)
        {
            throw new ArgumentException($"Input {inputW}x{inputH} is not a multiple of stride {stride}.");
        }

        return (inputW / stride, inputH / stride);
    }

    private void FillLevel(ref int row, int gw, int gh, int stride, float anchorW, float anchorH)
    {
        for (int y = 0; y < gh; y++)
        {
            for (int x = 0; x < gw; x++)
            {
                _gridX[row] = x;
                _gridY[row] = y;
                _stride[row] = stride;
                _anchorW[row] = anchorW;
                _anchorH[row] = anchorH;
                row++;
            }
        }
    }
}
