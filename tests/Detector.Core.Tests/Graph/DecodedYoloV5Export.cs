using Detector.Core.Graph;
using Google.Protobuf;
using Onnx;

namespace Detector.Core.Tests.Graph;

/// <summary>
/// Builds, from v5lite-e, a model shaped like the common YOLOv5 export with the decode inside the
/// graph ("decoded" family): same <c>output</c> <c>[1,6300,85]</c>, rows of cx, cy, w, h in input
/// pixels, then obj and the class scores unchanged. No such model is among the shared weights, so
/// tests of the decoded family's decoder get one from here.
/// </summary>
/// <remarks>
/// The raw output is renamed and these nodes are appended, in the order the formulas read so the
/// result is bit-identical to the same float arithmetic done in C#:
/// <c>cxy = (xy * 2 - 0.5 + grid) * stride</c>, <c>wh = (wh * 2) * (wh * 2) * anchor</c> (squared by
/// Mul, not Pow, which need not be exact), then Concat with the untouched obj and classes. The grid,
/// stride and anchor tables are initializers of one row per output row
/// (level, anchor, y, x order). No metadata is added: nothing reads a <c>detector.*</c> key yet,
/// and a half-filled one would only mislead.
/// </remarks>
public static class DecodedYoloV5Export
{
    public const int InputSize = 320;
    public const int Rows = 6300;
    public const int Columns = 85;

    public static readonly int[] Strides = [8, 16, 32];

    /// <summary>Anchor (w, h) pairs per level, in input pixels (v5Lite-e.yaml, the standard YOLOv5 anchors).</summary>
    public static readonly float[][] Anchors = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]];

    /// <summary>Per output row: grid cell (gx, gy), stride, anchor (aw, ah).</summary>
    public static (float[] Grid, float[] Stride, float[] Anchor) Tables()
    {
        var grid = new float[Rows * 2];
        var stride = new float[Rows];
        var anchor = new float[Rows * 2];
        int row = 0;
        for (int level = 0; level < Strides.Length; level++)
        {
            int cells = InputSize / Strides[level];
            for (int a = 0; a < 3; a++)
            {
                for (int y = 0; y < cells; y++)
                {
                    for (int x = 0; x < cells; x++, row++)
                    {
                        grid[row * 2] = x;
                        grid[row * 2 + 1] = y;
                        stride[row] = Strides[level];
                        anchor[row * 2] = Anchors[level][a * 2];
                        anchor[row * 2 + 1] = Anchors[level][a * 2 + 1];
                    }
                }
            }
        }

        return (grid, stride, anchor);
    }

    /// <summary>The decoded-in-graph model, serialized.</summary>
    public static byte[] Build(string v5litePath)
    {
        var model = OnnxModelLoader.Load(v5litePath);
        var graph = model.Graph;
        const string output = "output";
        var used = OnnxHelpers.UsedNames(graph);
        var producer = graph.Node.Single(n => n.Output.Contains(output));
        string raw = OnnxHelpers.UniqueName(used, "output_raw");
        producer.Output[producer.Output.IndexOf(output)] = raw;

        var (grid, stride, anchor) = Tables();
        string Constant(TensorProto t)
        {
            t.Name = OnnxHelpers.UniqueName(used, "decode/" + t.Name);
            OnnxHelpers.AddInitializer(model, t);
            return t.Name;
        }

        string Int64s(string name, params long[] values) => Constant(OnnxHelpers.Int64Tensor(name, values, [values.Length]));
        string Scalar(string name, float value) => Constant(OnnxHelpers.FloatTensor(name, [value], []));

        string gridName = Constant(OnnxHelpers.FloatTensor("grid", grid, [1, Rows, 2]));
        string strideName = Constant(OnnxHelpers.FloatTensor("stride", stride, [1, Rows, 1]));
        string anchorName = Constant(OnnxHelpers.FloatTensor("anchor", anchor, [1, Rows, 2]));
        string two = Scalar("two", 2f), half = Scalar("half", 0.5f), lastAxis = Int64s("axis", 2);

        string Add(string op, string[] inputs, params AttributeProto[] attributes)
        {
            var result = OnnxHelpers.UniqueName(used, "decode/" + op);
            graph.Node.Add(OnnxHelpers.Node(op, OnnxHelpers.UniqueName(used, "decode/" + op + "_node"), inputs, [result], attributes));
            return result;
        }

        string xy = Add("Slice", [raw, Int64s("xy_start", 0), Int64s("xy_end", 2), lastAxis]);
        string wh = Add("Slice", [raw, Int64s("wh_start", 2), Int64s("wh_end", 4), lastAxis]);
        string rest = Add("Slice", [raw, Int64s("rest_start", 4), Int64s("rest_end", Columns), lastAxis]);

        string cxy = Add("Mul", [Add("Add", [Add("Sub", [Add("Mul", [xy, two]), half]), gridName]), strideName]);
        string wh2 = Add("Mul", [wh, two]);
        string size = Add("Mul", [Add("Mul", [wh2, wh2]), anchorName]);

        graph.Node.Add(OnnxHelpers.Node("Concat", OnnxHelpers.UniqueName(used, "decode/Concat_node"), [cxy, size, rest], [output],
            OnnxHelpers.IntAttribute("axis", 2)));
        return model.ToByteArray();
    }
}
