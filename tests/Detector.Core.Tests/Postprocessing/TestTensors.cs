using System.Globalization;
using Detector.Core.Postprocessing;
using NUnit.Framework;

namespace Detector.Core.Tests.Postprocessing;

/// <summary>How the class (or objectness) scores of a random test tensor are spread.</summary>
public enum ScoreLayout
{
    /// <summary>Almost everything well below the threshold, a few anchors above: a typical frame.</summary>
    FewObjects,

    /// <summary>Uniform in [0, 1): most anchors pass, every lane of most vectors is a hit.</summary>
    ManyObjects,

    /// <summary>Scores from {0, 0.25, 0.5, 0.75, 1}: many exact ties, and scores exactly at a 0.25 threshold.</summary>
    Ties,

    /// <summary>Like <see cref="FewObjects"/> with NaN, ±infinity, ±0 and the threshold itself sprinkled in.</summary>
    SpecialValues,
}

/// <summary>Seeded random tensors and exact comparisons for the post-processing tests.</summary>
internal static class TestTensors
{
    public const float Threshold = 0.25f;

    private static readonly float[] s_specials =
        [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, Threshold, 1f];

    /// <summary>A score in [0, 1] for <paramref name="layout"/>; <paramref name="hot"/> marks an anchor that holds an object.</summary>
    public static float Score(Random random, ScoreLayout layout, bool hot) => layout switch
    {
        ScoreLayout.FewObjects => hot ? 0.3f + 0.7f * random.NextSingle() : 0.2f * random.NextSingle(),
        ScoreLayout.ManyObjects => random.NextSingle(),
        ScoreLayout.Ties => random.Next(5) * 0.25f,
        _ => random.Next(20) == 0 ? s_specials[random.Next(s_specials.Length)] : Score(random, ScoreLayout.FewObjects, hot),
    };

    /// <summary>Whether an anchor holds an object under <paramref name="layout"/> (about 3% do in the sparse layouts).</summary>
    public static bool Hot(Random random) => random.Next(32) == 0;

    /// <summary>A channel-major <c>[4+C, N]</c> YOLOv8 output.</summary>
    public static float[] YoloV8Output(int seed, int numClasses, int numAnchors, ScoreLayout layout)
    {
        var random = new Random(seed);
        var output = new float[(4 + numClasses) * numAnchors];
        for (int a = 0; a < numAnchors; a++)
        {
            output[a] = 640f * random.NextSingle();
            output[numAnchors + a] = 640f * random.NextSingle();
            output[2 * numAnchors + a] = 1f + 200f * random.NextSingle();
            output[3 * numAnchors + a] = 1f + 200f * random.NextSingle();
            bool hot = Hot(random);
            int hotClass = random.Next(numClasses);
            for (int c = 0; c < numClasses; c++)
            {
                output[(4 + c) * numAnchors + a] = Score(random, layout, hot && c == hotClass);
            }
        }

        return output;
    }

    /// <summary>A row-major <c>[N, 5+C]</c> output: raw x, y, w, h, then objectness and class scores.</summary>
    public static float[] RowMajorOutput(int seed, int numClasses, int numRows, ScoreLayout layout)
    {
        var random = new Random(seed);
        int rowLength = 5 + numClasses;
        var output = new float[numRows * rowLength];
        for (int r = 0; r < numRows; r++)
        {
            Span<float> row = output.AsSpan(r * rowLength, rowLength);
            row[0] = random.NextSingle();
            row[1] = random.NextSingle();
            row[2] = random.NextSingle() * 2f - 0.5f;
            row[3] = random.NextSingle() * 2f - 0.5f;
            bool hot = Hot(random);
            row[4] = Score(random, layout, hot);
            int hotClass = random.Next(numClasses);
            for (int c = 0; c < numClasses; c++)
            {
                row[5 + c] = hot && c == hotClass ? 0.5f + 0.5f * random.NextSingle() : Score(random, layout, false);
            }
        }

        return output;
    }

    /// <summary>A grid with exactly <paramref name="rows"/> rows (one level of rows x 1 cells) for a row-major family.</summary>
    public static GridTable? GridFor(Detector.Core.Models.OutputFamily family, int rows) => family switch
    {
        Detector.Core.Models.OutputFamily.Yolox => GridTable.ForYolox(8 * rows, 8, [8]),
        Detector.Core.Models.OutputFamily.YoloV5 => GridTable.ForYoloV5(8 * rows, 8, [8], [[10f, 13f]]),
        _ => null,
    };

    /// <summary>Yolo-FastestV2 logits for one level: reg [A*4, h, w], obj [A, h, w], cls [C, h, w].</summary>
    public static (float[] Reg, float[] Obj, float[] Cls) RawHeadLevel(
        int seed, int h, int w, int numAnchors, int numClasses, float threshold, ScoreLayout layout)
    {
        var random = new Random(seed);
        int cells = h * w;
        var reg = new float[numAnchors * 4 * cells];
        var obj = new float[numAnchors * cells];
        var cls = new float[numClasses * cells];
        for (int i = 0; i < reg.Length; i++)
        {
            reg[i] = 6f * random.NextSingle() - 3f;
        }

        double logit = threshold <= 0f ? -4d : threshold >= 1f ? 17d : Math.Log(threshold / (1d - threshold));
        for (int i = 0; i < obj.Length; i++)
        {
            obj[i] = layout switch
            {
                // Mostly far below the threshold's logit; a few right on it, within rounding, to test the bound.
                ScoreLayout.FewObjects => Hot(random)
                    ? (float)(logit + (random.NextDouble() - 0.5d) * 1e-3d)
                    : (float)(logit - 2d - 4d * random.NextDouble()),
                ScoreLayout.ManyObjects => (float)(logit + 4d * random.NextDouble() - 1d),
                ScoreLayout.Ties => (float)logit,
                _ => random.Next(10) == 0
                    ? s_specials[random.Next(s_specials.Length - 2)]
                    : (float)(logit + 6d * random.NextDouble() - 3d),
            };
        }

        for (int i = 0; i < cls.Length; i++)
        {
            cls[i] = layout == ScoreLayout.Ties ? random.Next(3) : 8f * random.NextSingle() - 4f;
        }

        // Spread over 80 classes, logits like these give no class more than about 0.1, so make a third of the
        // cells confident (one class 8 above the rest) and a third sure (100 above: its softmax is exactly 1,
        // and the score is exactly the objectness, which puts the pre-filter's bound to the test).
        for (int cell = 0; cell < cells; cell++)
        {
            int mode = random.Next(3);
            if (mode < 2)
            {
                cls[random.Next(numClasses) * cells + cell] += mode == 0 ? 8f : 100f;
            }
        }

        return (reg, obj, cls);
    }

    /// <summary>Fails unless both buffers hold the same candidates, in the same order, bit for bit.</summary>
    public static void AssertIdentical(CandidateBuffer expected, CandidateBuffer actual, string context)
    {
        Assert.That(actual.Count, Is.EqualTo(expected.Count), $"{context}: candidate count");
        for (int i = 0; i < expected.Count; i++)
        {
            if (!BitEqual(expected[i], actual[i]))
            {
                Assert.Fail($"{context}: candidate {i} differs: expected {Describe(expected[i])}, got {Describe(actual[i])}");
            }
        }
    }

    public static string Describe(in Candidate c) => string.Create(
        CultureInfo.InvariantCulture, $"[{c.X1:R}, {c.Y1:R}, {c.X2:R}, {c.Y2:R}] class {c.ClassId} score {c.Score:R}");

    private static bool BitEqual(in Candidate a, in Candidate b) =>
        BitConverter.SingleToInt32Bits(a.X1) == BitConverter.SingleToInt32Bits(b.X1)
        && BitConverter.SingleToInt32Bits(a.Y1) == BitConverter.SingleToInt32Bits(b.Y1)
        && BitConverter.SingleToInt32Bits(a.X2) == BitConverter.SingleToInt32Bits(b.X2)
        && BitConverter.SingleToInt32Bits(a.Y2) == BitConverter.SingleToInt32Bits(b.Y2)
        && BitConverter.SingleToInt32Bits(a.Score) == BitConverter.SingleToInt32Bits(b.Score)
        && a.ClassId == b.ClassId;
}
