using Detector.Core.Preprocessing;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;

namespace Detector.Core.Tests.Reference;

/// <summary>
/// An independent, deliberately plain detector written from ../shared/weights/README.md alone: the original
/// (unrewritten) graph fed a float NCHW tensor built pixel by pixel after OpenCV's INTER_LINEAR resize, each
/// family's decode formula written out in scalar code, and a textbook per-class NMS. It shares no code with the
/// engine beyond <see cref="BoxF"/>, so agreement between the two means something.
/// </summary>
internal sealed class ReferenceDetector : IDisposable
{
    internal enum Layout { YoloV8, Yolox, YoloV5, YoloV5Decoded, FastestV2 }

    internal sealed record Recipe(Layout Layout, int Size, bool Rgb, bool DivideBy255, bool Letterbox, bool TopLeft,
        int[] Strides, float[][] Anchors);

    private static readonly float[][] V5Anchors = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]];

    /// <summary>The four shared models, as their README describes them.</summary>
    public static readonly Dictionary<string, Recipe> Recipes = new()
    {
        ["yolox_nano.onnx"] = new(Layout.Yolox, 416, Rgb: false, DivideBy255: false, Letterbox: true, TopLeft: true, [8, 16, 32], []),
        ["yolov8n_int8.onnx"] = new(Layout.YoloV8, 640, Rgb: true, DivideBy255: true, Letterbox: true, TopLeft: false, [8, 16, 32], []),
        ["v5Lite-e-sim-320.onnx"] = new(Layout.YoloV5, 320, Rgb: true, DivideBy255: true, Letterbox: false, TopLeft: false, [8, 16, 32], V5Anchors),
        ["yolo-fastestv2.onnx"] = new(Layout.FastestV2, 352, Rgb: false, DivideBy255: true, Letterbox: false, TopLeft: false, [16, 32],
            [[12.64f, 19.39f, 37.88f, 51.48f, 55.71f, 138.31f], [126.91f, 78.23f, 131.57f, 214.55f, 279.92f, 258.87f]]),
    };

    private readonly InferenceSession _session;
    private readonly Recipe _recipe;

    public ReferenceDetector(string modelPath, Recipe? recipe = null)
    {
        _session = new InferenceSession(modelPath);
        _recipe = recipe ?? Recipes[Path.GetFileName(modelPath)];
    }

    public sealed record Box(int ClassId, float Score, BoxF Rect);

    public List<Box> Detect(Mat bgr, float conf, float iou)
    {
        var s = _recipe.Size;
        double rx, ry;
        int nw, nh, left = 0, top = 0;
        if (_recipe.Letterbox)
        {
            var r = Math.Min((double)s / bgr.Width, (double)s / bgr.Height);
            nw = (int)Math.Round(bgr.Width * r);
            nh = (int)Math.Round(bgr.Height * r);
            if (!_recipe.TopLeft)
            {
                left = (s - nw) / 2;
                top = (s - nh) / 2;
            }
        }
        else
        {
            (nw, nh) = (s, s);
        }

        rx = (double)nw / bgr.Width;
        ry = (double)nh / bgr.Height;
        using var resized = new Mat();
        Cv2.Resize(bgr, resized, new Size(nw, nh), 0, 0, InterpolationFlags.Linear);

        var input = new float[3 * s * s];
        var div = _recipe.DivideBy255 ? 255f : 1f;
        for (var y = 0; y < s; y++)
        {
            for (var x = 0; x < s; x++)
            {
                var inside = x >= left && x < left + nw && y >= top && y < top + nh;
                var p = inside ? resized.At<Vec3b>(y - top, x - left) : new Vec3b(114, 114, 114);
                for (var c = 0; c < 3; c++)
                {
                    var bgrChannel = _recipe.Rgb ? 2 - c : c;
                    input[c * s * s + y * s + x] = p[bgrChannel] / div;
                }
            }
        }

        var inputName = _session.InputMetadata.Keys.Single();
        using var tensor = OrtValue.CreateTensorValueFromMemory(input, [1, 3, s, s]);
        using var runOptions = new RunOptions();
        using var results = _session.Run(runOptions, [inputName], [tensor], _session.OutputMetadata.Keys.ToArray());
        var outputs = _session.OutputMetadata.Keys.Zip(results)
            .ToDictionary(p => p.First, p => (Data: p.Second.GetTensorDataAsSpan<float>().ToArray(),
                Shape: p.Second.GetTensorTypeAndShape().Shape));

        var raw = _recipe.Layout switch
        {
            Layout.YoloV8 => DecodeYoloV8(outputs.Values.Single().Data, outputs.Values.Single().Shape, conf),
            Layout.FastestV2 => DecodeFastest(outputs.Values.Select(o => o).ToList(), conf),
            _ => DecodeRows(outputs.Values.Single().Data, outputs.Values.Single().Shape, conf),
        };

        return Nms(raw, iou).Select(b => b with
        {
            Rect = new BoxF(
                Math.Clamp((float)((b.Rect.X1 - left) / rx), 0, bgr.Width),
                Math.Clamp((float)((b.Rect.Y1 - top) / ry), 0, bgr.Height),
                Math.Clamp((float)((b.Rect.X2 - left) / rx), 0, bgr.Width),
                Math.Clamp((float)((b.Rect.Y2 - top) / ry), 0, bgr.Height)),
        }).ToList();
    }

    private static Box FromCenter(int cls, float score, float cx, float cy, float w, float h) =>
        new(cls, score, new BoxF(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2));

    private static List<Box> DecodeYoloV8(float[] o, long[] shape, float conf)
    {
        var (channels, n) = ((int)shape[1], (int)shape[2]);
        var boxes = new List<Box>();
        for (var i = 0; i < n; i++)
        {
            var (best, cls) = (-1f, -1);
            for (var c = 4; c < channels; c++)
            {
                if (o[c * n + i] > best)
                {
                    (best, cls) = (o[c * n + i], c - 4);
                }
            }

            if (best >= conf)
            {
                boxes.Add(FromCenter(cls, best, o[i], o[n + i], o[2 * n + i], o[3 * n + i]));
            }
        }

        return boxes;
    }

    private List<Box> DecodeRows(float[] o, long[] shape, float conf)
    {
        var (rows, cols) = ((int)shape[1], (int)shape[2]);
        // Grid cell, stride and anchor of each row, in the order the README gives.
        var cells = new List<(int Gx, int Gy, int S, float Aw, float Ah)>();
        for (var l = 0; l < _recipe.Strides.Length; l++)
        {
            var st = _recipe.Strides[l];
            var g = _recipe.Size / st;
            var anchors = _recipe.Layout == Layout.YoloV5 ? 3 : 1;
            for (var a = 0; a < anchors; a++)
            {
                for (var y = 0; y < g; y++)
                {
                    for (var x = 0; x < g; x++)
                    {
                        cells.Add(_recipe.Layout == Layout.YoloV5
                            ? (x, y, st, _recipe.Anchors[l][2 * a], _recipe.Anchors[l][2 * a + 1])
                            : (x, y, st, 0, 0));
                    }
                }
            }
        }

        var boxes = new List<Box>();
        for (var i = 0; i < rows; i++)
        {
            var row = o.AsSpan(i * cols, cols);
            var (best, cls) = (-1f, -1);
            for (var c = 5; c < cols; c++)
            {
                if (row[c] > best)
                {
                    (best, cls) = (row[c], c - 5);
                }
            }

            var score = row[4] * best;
            if (score < conf)
            {
                continue;
            }

            switch (_recipe.Layout)
            {
                case Layout.Yolox:
                {
                    var (gx, gy, st, _, _) = cells[i];
                    boxes.Add(FromCenter(cls, score, (row[0] + gx) * st, (row[1] + gy) * st,
                        MathF.Exp(row[2]) * st, MathF.Exp(row[3]) * st));
                    break;
                }
                case Layout.YoloV5:
                {
                    var (gx, gy, st, aw, ah) = cells[i];
                    boxes.Add(FromCenter(cls, score, (2 * row[0] - 0.5f + gx) * st, (2 * row[1] - 0.5f + gy) * st,
                        MathF.Pow(2 * row[2], 2) * aw, MathF.Pow(2 * row[3], 2) * ah));
                    break;
                }
                default:
                    boxes.Add(FromCenter(cls, score, row[0], row[1], row[2], row[3]));
                    break;
            }
        }

        return boxes;
    }

    private List<Box> DecodeFastest(List<(float[] Data, long[] Shape)> outputs, float conf)
    {
        static float Sigmoid(float x) => 1 / (1 + MathF.Exp(-x));
        var boxes = new List<Box>();
        for (var l = 0; l < _recipe.Strides.Length; l++)
        {
            var st = _recipe.Strides[l];
            var g = _recipe.Size / st;
            var reg = outputs.Single(o => o.Shape[1] == 12 && o.Shape[2] == g).Data;
            var obj = outputs.Single(o => o.Shape[1] == 3 && o.Shape[2] == g).Data;
            var cls = outputs.Single(o => o.Shape[1] == 80 && o.Shape[2] == g).Data;
            var plane = g * g;
            for (var y = 0; y < g; y++)
            {
                for (var x = 0; x < g; x++)
                {
                    var cell = y * g + x;
                    var max = float.MinValue;
                    for (var c = 0; c < 80; c++)
                    {
                        max = MathF.Max(max, cls[c * plane + cell]);
                    }

                    var sum = 0f;
                    for (var c = 0; c < 80; c++)
                    {
                        sum += MathF.Exp(cls[c * plane + cell] - max);
                    }

                    var (bestP, bestC) = (-1f, -1);
                    for (var c = 0; c < 80; c++)
                    {
                        var p = MathF.Exp(cls[c * plane + cell] - max) / sum;
                        if (p > bestP)
                        {
                            (bestP, bestC) = (p, c);
                        }
                    }

                    for (var a = 0; a < 3; a++)
                    {
                        var score = Sigmoid(obj[a * plane + cell]) * bestP;
                        if (score < conf)
                        {
                            continue;
                        }

                        float R(int k) => Sigmoid(reg[(a * 4 + k) * plane + cell]);
                        boxes.Add(FromCenter(bestC, score, (2 * R(0) - 0.5f + x) * st, (2 * R(1) - 0.5f + y) * st,
                            MathF.Pow(2 * R(2), 2) * _recipe.Anchors[l][2 * a], MathF.Pow(2 * R(3), 2) * _recipe.Anchors[l][2 * a + 1]));
                    }
                }
            }
        }

        return boxes;
    }

    private static List<Box> Nms(List<Box> boxes, float iou)
    {
        var kept = new List<Box>();
        foreach (var b in boxes.OrderByDescending(b => b.Score))
        {
            if (!kept.Any(k => k.ClassId == b.ClassId && k.Rect.IoU(b.Rect) > iou))
            {
                kept.Add(b);
            }
        }

        return kept;
    }

    public void Dispose() => _session.Dispose();
}
