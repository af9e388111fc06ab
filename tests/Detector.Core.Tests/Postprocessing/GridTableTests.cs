using Detector.Core.Postprocessing;
using NUnit.Framework;

namespace Detector.Core.Tests.Postprocessing;

[TestFixture]
public class GridTableTests
{
    /// <summary>The standard YOLOv5 anchors, per level (strides 8, 16, 32), as in weights/README.md.</summary>
    internal static readonly float[][] V5Anchors =
    [
        [10, 13, 16, 30, 33, 23],
        [30, 61, 62, 45, 59, 119],
        [116, 90, 156, 198, 373, 326],
    ];

    [Test]
    public void The_yolox_416_table_has_3549_rows_level_by_level_then_y_then_x()
    {
        GridTable grid = GridTable.ForYolox(416, 416, [8, 16, 32]);

        Assert.That(grid.Rows, Is.EqualTo(52 * 52 + 26 * 26 + 13 * 13).And.EqualTo(3549));
        AssertRow(grid, 0, gx: 0, gy: 0, stride: 8, aw: 0, ah: 0);
        AssertRow(grid, 51, gx: 51, gy: 0, stride: 8, aw: 0, ah: 0);
        AssertRow(grid, 52, gx: 0, gy: 1, stride: 8, aw: 0, ah: 0);
        AssertRow(grid, 2703, gx: 51, gy: 51, stride: 8, aw: 0, ah: 0);
        AssertRow(grid, 2704, gx: 0, gy: 0, stride: 16, aw: 0, ah: 0);
        AssertRow(grid, 2704 + 3 * 26 + 5, gx: 5, gy: 3, stride: 16, aw: 0, ah: 0);
        AssertRow(grid, 3380, gx: 0, gy: 0, stride: 32, aw: 0, ah: 0);
        AssertRow(grid, 3548, gx: 12, gy: 12, stride: 32, aw: 0, ah: 0);
    }

    [Test]
    public void The_yolov5_320_table_has_6300_rows_level_by_level_then_anchor_then_y_then_x()
    {
        GridTable grid = GridTable.ForYoloV5(320, 320, [8, 16, 32], V5Anchors);

        Assert.That(grid.Rows, Is.EqualTo(3 * (40 * 40 + 20 * 20 + 10 * 10)).And.EqualTo(6300));
        AssertRow(grid, 0, gx: 0, gy: 0, stride: 8, aw: 10, ah: 13);
        AssertRow(grid, 1599, gx: 39, gy: 39, stride: 8, aw: 10, ah: 13);
        AssertRow(grid, 1600, gx: 0, gy: 0, stride: 8, aw: 16, ah: 30);
        AssertRow(grid, 3200 + 41, gx: 1, gy: 1, stride: 8, aw: 33, ah: 23);
        AssertRow(grid, 4800, gx: 0, gy: 0, stride: 16, aw: 30, ah: 61);
        AssertRow(grid, 4800 + 400 + 21, gx: 1, gy: 1, stride: 16, aw: 62, ah: 45);
        AssertRow(grid, 6000, gx: 0, gy: 0, stride: 32, aw: 116, ah: 90);
        AssertRow(grid, 6299, gx: 9, gy: 9, stride: 32, aw: 373, ah: 326);
    }

    [Test]
    public void Every_column_has_one_value_per_row()
    {
        GridTable grid = GridTable.ForYoloV5(320, 320, [8, 16, 32], V5Anchors);

        Assert.That(
            new[] { grid.GridX.Length, grid.GridY.Length, grid.Stride.Length, grid.AnchorW.Length, grid.AnchorH.Length },
            Is.All.EqualTo(grid.Rows));
    }

    [Test]
    public void A_non_square_input_gives_a_non_square_grid()
    {
        GridTable grid = GridTable.ForYolox(640, 384, [32]);

        Assert.That(grid.Rows, Is.EqualTo(20 * 12));
        AssertRow(grid, 20, gx: 0, gy: 1, stride: 32, aw: 0, ah: 0);
    }

    [Test]
    public void An_input_that_is_not_a_multiple_of_a_stride_is_rejected()
    {
        Assert.That(() => GridTable.ForYolox(420, 416, [8, 16, 32]), Throws.ArgumentException);
    }

    [Test]
    public void Anchors_for_a_missing_level_or_an_odd_anchor_list_are_rejected()
    {
        Assert.That(() => GridTable.ForYoloV5(320, 320, [8, 16, 32], V5Anchors[..2]), Throws.ArgumentException);
        Assert.That(() => GridTable.ForYoloV5(320, 320, [8], [[10f, 13f, 16f]]), Throws.ArgumentException);
    }

    private static void AssertRow(GridTable grid, int row, float gx, float gy, float stride, float aw, float ah)
    {
        Assert.That(
            (grid.GridX[row], grid.GridY[row], grid.Stride[row], grid.AnchorW[row], grid.AnchorH[row]),
            Is.EqualTo((gx, gy, stride, aw, ah)),
            $"row {row}");
    }
}
