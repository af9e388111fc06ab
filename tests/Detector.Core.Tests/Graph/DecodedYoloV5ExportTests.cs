using NUnit.Framework;

namespace Detector.Core.Tests.Graph;

[TestFixture]
public class DecodedYoloV5ExportTests
{
    [Test]
    public void Output_is_the_yolov5_decode_applied_to_the_raw_output()
    {
        var shared = SharedModel.V5LiteE;
        var input = shared.PlanarBatch("bus.jpg");
        var raw = Ort.Run(shared.Bytes(), shared.InputName, input, shared.PlanarShape(1))["output"];

        var decoded = Ort.Run(DecodedYoloV5Export.Build(shared.Path), shared.InputName, input, shared.PlanarShape(1));

        Assert.That(decoded.Keys, Is.EqualTo(new[] { "output" }));
        var actual = decoded["output"];
        Assert.That(actual.Shape, Is.EqualTo(new long[] { 1, DecodedYoloV5Export.Rows, DecodedYoloV5Export.Columns }));
        var (grid, stride, anchor) = DecodedYoloV5Export.Tables();
        var expected = (float[])raw.Values.Clone();
        for (int r = 0; r < DecodedYoloV5Export.Rows; r++)
        {
            int o = r * DecodedYoloV5Export.Columns;
            expected[o] = (2f * raw.Values[o] - 0.5f + grid[r * 2]) * stride[r];
            expected[o + 1] = (2f * raw.Values[o + 1] - 0.5f + grid[r * 2 + 1]) * stride[r];
            float w = 2f * raw.Values[o + 2], h = 2f * raw.Values[o + 3];
            expected[o + 2] = w * w * anchor[r * 2];
            expected[o + 3] = h * h * anchor[r * 2 + 1];
        }

        TestContext.Out.WriteLine($"max |graph - C#| = {Ort.MaxAbsDiff(actual.Values, expected):G3}");
        Assert.That(actual.Values, Is.EqualTo(expected), "bit-identical");
    }

    [Test]
    public void The_bus_comes_out_as_a_large_box_in_input_pixels()
    {
        var shared = SharedModel.V5LiteE;
        var decoded = Ort.Run(DecodedYoloV5Export.Build(shared.Path), shared.InputName, shared.PlanarBatch("bus.jpg"), shared.PlanarShape(1))["output"].Values;

        const int bus = 5;
        int best = Enumerable.Range(0, DecodedYoloV5Export.Rows)
            .MaxBy(r => decoded[r * DecodedYoloV5Export.Columns + 4] * decoded[r * DecodedYoloV5Export.Columns + 5 + bus]);
        var box = decoded.AsSpan(best * DecodedYoloV5Export.Columns, 4).ToArray();
        TestContext.Out.WriteLine($"bus: cx {box[0]:F1} cy {box[1]:F1} w {box[2]:F1} h {box[3]:F1}");

        Assert.That(box[0], Is.InRange(100f, 220f));
        Assert.That(box[2], Is.GreaterThan(200f));
        Assert.That(box[3], Is.GreaterThan(100f));
    }
}
