using Detector.Core.Models;
using Detector.Core.Postprocessing;

namespace Detector.Benchmarks.Postprocessing;

/// <summary>What a post-processing benchmark decodes.</summary>
public enum Scene
{
    /// <summary>Six objects of 6-70% of the input size, mixed classes: a street scene like bus.jpg.</summary>
    FewObjects,

    /// <summary>200 objects of 2-15% of the input size, three in four of them people: a crowd.</summary>
    ManyObjects,

    /// <summary>The real model's real output on bus.jpg (../shared/media/images), captured in the global setup.</summary>
    BusJpg,
}

/// <summary>One object of a synthetic scene: its box in input pixels, class, and how confident the model is about it.</summary>
internal readonly record struct SceneObject(float Cx, float Cy, float W, float H, int ClassId, float Peak);

/// <summary>
/// Synthetic raw outputs shaped like a real model's. Away from objects every score sits where the real models put
/// it on bus.jpg (`--scenes` prints those percentiles): YOLOv8 class scores around 1e-7 to 1e-4, objectness around
/// 1e-5 to 1e-2, never near the threshold. Around each object, the anchors of the level that fits its size respond
/// with a score that falls off with their distance from its centre (and, for anchor-based heads, with the anchor's
/// shape mismatch), and each responding anchor predicts the object's box with a few percent of jitter: a cluster of
/// overlapping candidates per object, as NMS sees them in practice.
/// </summary>
internal sealed class SyntheticScene
{
    public const int Classes = 80;

    private readonly Random _random;
    private readonly SceneObject[] _objects;

    public SyntheticScene(Scene scene, int inputSize, int seed)
    {
        if (scene == Scene.BusJpg)
        {
            throw new ArgumentException("bus.jpg is a real output, not a synthetic one.", nameof(scene));
        }

        _random = new Random(seed);
        _objects = scene == Scene.FewObjects ? Street(inputSize) : Crowd(inputSize);
    }

    public IReadOnlyList<SceneObject> Objects => _objects;

    /// <summary>The channel-major YOLOv8 output <c>[4 + C, N]</c>, anchor points of the given strides, row-major per level.</summary>
    public float[] YoloV8(int inputSize, int[] strides)
    {
        var points = AnchorPoints(inputSize, strides);
        int n = points.Count;
        var output = new float[(4 + Classes) * n];
        for (int a = 0; a < n; a++)
        {
            var (px, py, s) = points[a];
            for (int c = 0; c < Classes; c++)
            {
                output[(4 + c) * n + a] = Sigmoid(Background(-15.5, 2.3));
            }

            var (hit, score) = AnchorFreeResponse(px, py, s, strides);
            var (cx, cy, w, h) = hit is { } o
                ? Jitter(o)
                : (px + Gaussian(0, s / 2f), py + Gaussian(0, s / 2f), s * MathF.Exp(Gaussian(1, 0.7f)), s * MathF.Exp(Gaussian(1, 0.7f)));
            output[a] = cx;
            output[n + a] = cy;
            output[2 * n + a] = w;
            output[3 * n + a] = h;
            if (hit is { } obj)
            {
                output[(4 + obj.ClassId) * n + a] = score;
            }
        }

        return output;
    }

    /// <summary>The YOLOX output <c>[N, 5 + C]</c>: raw offsets from the cell's corner and log sizes in strides.</summary>
    public float[] Yolox(int inputSize, int[] strides)
    {
        var grid = GridTable.ForYolox(inputSize, inputSize, strides);
        var output = new float[grid.Rows * (5 + Classes)];
        for (int row = 0; row < grid.Rows; row++)
        {
            float s = grid.Stride[row], gx = grid.GridX[row], gy = grid.GridY[row];
            var values = output.AsSpan(row * (5 + Classes), 5 + Classes);
            var (hit, score) = AnchorFreeResponse((gx + 0.5f) * s, (gy + 0.5f) * s, s, strides);
            FillBackgroundRow(values, objMean: -10, objSpread: 3, classMean: -7.3, classSpread: 3);
            if (hit is { } o)
            {
                var (cx, cy, w, h) = Jitter(o);
                values[0] = cx / s - gx;
                values[1] = cy / s - gy;
                values[2] = MathF.Log(w / s);
                values[3] = MathF.Log(h / s);
                SetScore(values, o.ClassId, score);
            }
            else
            {
                values[0] = 0.5f + Gaussian(0, 0.3f);
                values[1] = 0.5f + Gaussian(0, 0.3f);
                values[2] = Gaussian(0.5f, 0.7f);
                values[3] = Gaussian(0.5f, 0.7f);
            }
        }

        return output;
    }

    /// <summary>
    /// The YOLOv5 output <c>[N, 5 + C]</c> (level, anchor, y, x): sigmoid outputs before the grid/anchor decode, or
    /// with <paramref name="decoded"/> the boxes as cx, cy, w, h in input pixels (exports with the decode in the graph).
    /// </summary>
    public float[] YoloV5(int inputSize, int[] strides, float[][] anchors, bool decoded)
    {
        var grid = GridTable.ForYoloV5(inputSize, inputSize, strides, anchors);
        var output = new float[grid.Rows * (5 + Classes)];
        for (int row = 0; row < grid.Rows; row++)
        {
            float s = grid.Stride[row], gx = grid.GridX[row], gy = grid.GridY[row];
            float aw = grid.AnchorW[row], ah = grid.AnchorH[row];
            var values = output.AsSpan(row * (5 + Classes), 5 + Classes);
            FillBackgroundRow(values, objMean: -7.5, objSpread: 2.7, classMean: -6.5, classSpread: 2.5);
            var (hit, score) = AnchorResponse((gx + 0.5f) * s, (gy + 0.5f) * s, s, aw, ah);
            float x, y, tw, th;
            if (hit is { } o)
            {
                var (cx, cy, w, h) = Jitter(o);
                x = Math.Clamp((cx / s - gx + 0.5f) / 2f, 0f, 1f);
                y = Math.Clamp((cy / s - gy + 0.5f) / 2f, 0f, 1f);
                tw = Math.Clamp(MathF.Sqrt(w / aw) / 2f, 0f, 1f);
                th = Math.Clamp(MathF.Sqrt(h / ah) / 2f, 0f, 1f);
                SetScore(values, o.ClassId, score);
            }
            else
            {
                x = 0.2f + 0.6f * _random.NextSingle();
                y = 0.2f + 0.6f * _random.NextSingle();
                tw = 0.2f + 0.5f * _random.NextSingle();
                th = 0.2f + 0.5f * _random.NextSingle();
            }

            if (decoded)
            {
                values[0] = (2f * x - 0.5f + gx) * s;
                values[1] = (2f * y - 0.5f + gy) * s;
                values[2] = 4f * tw * tw * aw;
                values[3] = 4f * th * th * ah;
            }
            else
            {
                (values[0], values[1], values[2], values[3]) = (x, y, tw, th);
            }
        }

        return output;
    }

    /// <summary>One Yolo-FastestV2 level: logits <c>reg [A*4, g, g]</c>, <c>obj [A, g, g]</c>, <c>cls [C, g, g]</c>.</summary>
    public (float[] Reg, float[] Obj, float[] Cls) RawHeadLevel(int inputSize, int stride, float[] anchors)
    {
        int g = inputSize / stride, cells = g * g, numAnchors = anchors.Length / 2;
        var reg = new float[numAnchors * 4 * cells];
        var obj = new float[numAnchors * cells];
        var cls = new float[Classes * cells];
        for (int i = 0; i < reg.Length; i++)
        {
            reg[i] = Gaussian(0, 0.8f);
        }

        for (int i = 0; i < cls.Length; i++)
        {
            cls[i] = Gaussian(-0.15f, 1.7f);
        }

        for (int cell = 0; cell < cells; cell++)
        {
            int gx = cell % g, gy = cell / g;
            float bestScore = 0f;
            int bestClass = -1;
            for (int a = 0; a < numAnchors; a++)
            {
                obj[a * cells + cell] = Background(-7.5, 3);
                var (hit, score) = AnchorResponse((gx + 0.5f) * stride, (gy + 0.5f) * stride, stride, anchors[2 * a], anchors[2 * a + 1]);
                if (hit is not { } o)
                {
                    continue;
                }

                // The class probability (about 0.9, see below) is folded into the objectness logit, so that the
                // decoded score objectness x probability lands where the other families' scores land.
                var (cx, cy, w, h) = Jitter(o);
                int at = a * 4 * cells + cell;
                reg[at] = Logit(Math.Clamp((cx / stride - gx + 0.5f) / 2f, 0.01f, 0.99f));
                reg[at + cells] = Logit(Math.Clamp((cy / stride - gy + 0.5f) / 2f, 0.01f, 0.99f));
                reg[at + 2 * cells] = Logit(Math.Clamp(MathF.Sqrt(w / anchors[2 * a]) / 2f, 0.01f, 0.99f));
                reg[at + 3 * cells] = Logit(Math.Clamp(MathF.Sqrt(h / anchors[2 * a + 1]) / 2f, 0.01f, 0.99f));
                obj[a * cells + cell] = Logit(Math.Min(0.99f, score / 0.9f));
                if (score > bestScore)
                {
                    (bestScore, bestClass) = (score, o.ClassId);
                }
            }

            if (bestClass >= 0)
            {
                // One class vector per cell, shared by its anchors: the best responding object's class stands 8
                // above the rest, a softmax probability of about 0.9 against 79 logits spread like these.
                float max = float.NegativeInfinity;
                for (int c = 0; c < Classes; c++)
                {
                    max = MathF.Max(max, cls[c * cells + cell]);
                }

                cls[bestClass * cells + cell] = max + 8f;
            }
        }

        return (reg, obj, cls);
    }

    private SceneObject[] Street(int inputSize)
    {
        // Three people, a bus, a car and a stop sign, like the shared bus.jpg.
        int[] classes = [0, 0, 0, 5, 2, 11];
        return classes.Select(c => NewObject(inputSize, c, 0.06f, 0.7f)).ToArray();
    }

    private SceneObject[] Crowd(int inputSize) =>
        Enumerable.Range(0, 200).Select(_ => NewObject(inputSize, _random.Next(4) == 0 ? _random.Next(Classes) : 0, 0.02f, 0.15f)).ToArray();

    private SceneObject NewObject(int inputSize, int classId, float minFraction, float maxFraction)
    {
        // Log-uniform sizes, aspect ratios from 1:3 to 3:1, boxes inside the input.
        float size = inputSize * minFraction * MathF.Pow(maxFraction / minFraction, _random.NextSingle());
        float aspect = MathF.Exp(Gaussian(0, 0.45f));
        float w = Math.Min(inputSize, size * MathF.Sqrt(aspect));
        float h = Math.Min(inputSize, size / MathF.Sqrt(aspect));
        float cx = w / 2 + (inputSize - w) * _random.NextSingle();
        float cy = h / 2 + (inputSize - h) * _random.NextSingle();
        return new SceneObject(cx, cy, w, h, classId, 0.55f + 0.4f * _random.NextSingle());
    }

    /// <summary>
    /// How an anchor point at (px, py) of a level of stride s responds: the object it sees best, if any, and its
    /// score. An object is seen by the level that fits its size (the smallest stride s with sqrt(w h) at most 8 s),
    /// with a Gaussian fall-off of 15% of its size, at least 0.7 strides, around its centre.
    /// </summary>
    private (SceneObject? Hit, float Score) AnchorFreeResponse(float px, float py, float s, int[] strides)
    {
        SceneObject? hit = null;
        float best = 0f;
        foreach (var o in _objects)
        {
            float size = MathF.Sqrt(o.W * o.H);
            int level = Array.FindIndex(strides, st => size <= 8f * st);
            if ((level < 0 ? strides[^1] : strides[level]) != s)
            {
                continue;
            }

            float sigma = MathF.Max(0.15f * size, 0.7f * s);
            float d2 = (px - o.Cx) * (px - o.Cx) + (py - o.Cy) * (py - o.Cy);
            float score = o.Peak * MathF.Exp(-d2 / (2f * sigma * sigma));
            if (score > best && score > 0.02f)
            {
                (hit, best) = (o, score);
            }
        }

        return hit is null ? (null, 0f) : (hit, best * (0.9f + 0.1f * _random.NextSingle()));
    }

    /// <summary>
    /// The same for an anchor (aw, ah) of a cell centred at (px, py): YOLOv5's rule that an anchor predicts objects
    /// within a factor 4 of its shape, from the object's cell and its neighbours; the score falls off with the
    /// shape mismatch and with the distance in strides.
    /// </summary>
    private (SceneObject? Hit, float Score) AnchorResponse(float px, float py, float s, float aw, float ah)
    {
        SceneObject? hit = null;
        float best = 0f;
        foreach (var o in _objects)
        {
            float dx = MathF.Abs(px - o.Cx) / s, dy = MathF.Abs(py - o.Cy) / s;
            float mismatch = MathF.Max(MathF.Max(o.W / aw, aw / o.W), MathF.Max(o.H / ah, ah / o.H));
            if (dx > 1.5f || dy > 1.5f || mismatch >= 4f)
            {
                continue;
            }

            float shape = MathF.Sqrt(1f - MathF.Log(mismatch) / MathF.Log(4f));
            float score = o.Peak * shape * MathF.Exp(-(dx * dx + dy * dy) / (2f * 0.6f * 0.6f));
            if (score > best && score > 0.02f)
            {
                (hit, best) = (o, score);
            }
        }

        return hit is null ? (null, 0f) : (hit, best * (0.9f + 0.1f * _random.NextSingle()));
    }

    /// <summary>A responding anchor's box: the object's, with 4% jitter of the centre and 6% of the size.</summary>
    private (float Cx, float Cy, float W, float H) Jitter(SceneObject o) => (
        o.Cx + Gaussian(0, 0.04f * o.W),
        o.Cy + Gaussian(0, 0.04f * o.H),
        o.W * MathF.Exp(Gaussian(0, 0.06f)),
        o.H * MathF.Exp(Gaussian(0, 0.06f)));

    private void FillBackgroundRow(Span<float> values, double objMean, double objSpread, double classMean, double classSpread)
    {
        values[4] = Sigmoid(Background(objMean, objSpread));
        for (int c = 5; c < values.Length; c++)
        {
            values[c] = Sigmoid(Background(classMean, classSpread));
        }
    }

    /// <summary>Objectness and the class score of a responding row: a confident class (0.85-0.98) whose product with the objectness is the score.</summary>
    private void SetScore(Span<float> values, int classId, float score)
    {
        float classScore = 0.85f + 0.13f * _random.NextSingle();
        values[4] = Math.Min(1f, score / classScore);
        values[5 + classId] = classScore;
    }

    /// <summary>A background logit: normal, but never above -3 (a score of 0.047), so only objects make candidates.</summary>
    private float Background(double mean, double spread) => (float)Math.Min(-3d, mean + spread * StandardNormal());

    private static List<(float X, float Y, float Stride)> AnchorPoints(int inputSize, int[] strides)
    {
        var points = new List<(float, float, float)>();
        foreach (int s in strides)
        {
            for (int gy = 0; gy < inputSize / s; gy++)
            {
                for (int gx = 0; gx < inputSize / s; gx++)
                {
                    points.Add(((gx + 0.5f) * s, (gy + 0.5f) * s, s));
                }
            }
        }

        return points;
    }

    private float Gaussian(float mean, float spread) => mean + spread * (float)StandardNormal();

    private double StandardNormal()
    {
        // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
        double u = 1d - _random.NextDouble(), v = _random.NextDouble();
        return Math.Sqrt(-2d * Math.Log(u)) * Math.Cos(2d * Math.PI * v);
    }

    private static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    private static float Logit(float p) => MathF.Log(p / (1f - p));
}
