using System.Globalization;
using OpenCvSharp;

namespace Detector.LoadGenerator;

/// <summary>
/// Draws the run as a PNG with OpenCV (already a dependency): images/s against the number of streams or the batch size,
/// with the raw ONNX Runtime ceiling as a dashed line, and latency percentiles beside it. People read a curve faster than a table.
/// </summary>
internal static class Chart
{
    private const int PanelWidth = 560;
    private const int PanelHeight = 380;
    private const int Margin = 60;

    /// <param name="xLabel">What the runs differ in: "streams" or "max batch".</param>
    /// <param name="raw">The raw ONNX Runtime ceiling at each x (the same for every x in a stream sweep).</param>
    public static void Draw(string path, string title, string xLabel, double[] xs, IReadOnlyList<ServiceResult> runs, double[] raw)
    {
        using var image = new Mat(PanelHeight + 50, PanelWidth * 2, MatType.CV_8UC3, Scalar.White);
        Cv2.PutText(image, title, new Point(10, 25), HersheyFonts.HersheySimplex, 0.6, Scalar.Black, 1, LineTypes.AntiAlias);
        Panel(image, new Rect(0, 40, PanelWidth, PanelHeight), "images/s", xLabel, xs,
        [
            ("service", runs.Select(r => r.ImagesPerSecond).ToArray(), new Scalar(200, 80, 0), false),
            ("raw ORT", raw, new Scalar(0, 0, 200), true),
        ]);
        Panel(image, new Rect(PanelWidth, 40, PanelWidth, PanelHeight), "latency ms (capture -> subscriber)", xLabel, xs,
        [
            ("p50", runs.Select(r => r.LatencyP50).ToArray(), new Scalar(0, 150, 0), false),
            ("p95", runs.Select(r => r.LatencyP95).ToArray(), new Scalar(0, 140, 230), false),
            ("p99", runs.Select(r => r.LatencyP99).ToArray(), new Scalar(0, 0, 200), false),
        ]);
        Cv2.ImWrite(path, image);
    }

    private static void Panel(Mat image, Rect area, string yLabel, string xLabel, double[] xs,
        (string Name, double[] Ys, Scalar Colour, bool Dashed)[] series)
    {
        var plot = new Rect(area.X + Margin, area.Y + 20, area.Width - Margin - 20, area.Height - Margin - 20);
        var xMax = Math.Max(1, xs.Max());
        var yMax = Math.Max(1e-6, series.SelectMany(s => s.Ys).Where(double.IsFinite).DefaultIfEmpty(1).Max()) * 1.1;
        Point At(double x, double y) => new(plot.X + (int)(x / xMax * plot.Width), plot.Bottom - (int)(y / yMax * plot.Height));

        Cv2.Rectangle(image, plot, new Scalar(180, 180, 180));
        Cv2.PutText(image, yLabel, new Point(plot.X, plot.Y - 5), HersheyFonts.HersheySimplex, 0.45, Scalar.Black, 1, LineTypes.AntiAlias);
        Cv2.PutText(image, xLabel, new Point(plot.Right - 8 * xLabel.Length, plot.Bottom + 35), HersheyFonts.HersheySimplex, 0.45, Scalar.Black, 1, LineTypes.AntiAlias);
        for (var i = 0; i <= 4; i++)
        {
            var y = yMax * i / 4;
            var p = At(0, y);
            Cv2.Line(image, new Point(plot.X, p.Y), new Point(plot.Right, p.Y), new Scalar(230, 230, 230));
            Cv2.PutText(image, y.ToString("0.#", CultureInfo.InvariantCulture), new Point(area.X + 5, p.Y + 4),
                HersheyFonts.HersheySimplex, 0.4, Scalar.Black, 1, LineTypes.AntiAlias);
        }

        foreach (var x in xs)
        {
            var p = At(x, 0);
            Cv2.PutText(image, x.ToString(CultureInfo.InvariantCulture), new Point(p.X - 5, plot.Bottom + 18),
                HersheyFonts.HersheySimplex, 0.4, Scalar.Black, 1, LineTypes.AntiAlias);
        }

        for (var s = 0; s < series.Length; s++)
        {
            var (name, ys, colour, dashed) = series[s];
            for (var i = 0; i < xs.Length; i++)
            {
                if (!double.IsFinite(ys[i]))
                {
                    continue;
                }

                Cv2.Circle(image, At(xs[i], ys[i]), 4, colour, -1, LineTypes.AntiAlias);
                if (i > 0 && double.IsFinite(ys[i - 1]))
                {
                    Segment(image, At(xs[i - 1], ys[i - 1]), At(xs[i], ys[i]), colour, dashed);
                }
            }

            Cv2.PutText(image, name, new Point(plot.X + 10, plot.Y + 20 + s * 18), HersheyFonts.HersheySimplex, 0.45, colour, 1, LineTypes.AntiAlias);
        }
    }

    /// <summary>A line from a to b; dashed (8 px on, 6 off) for the raw ceiling, so it reads as a reference, not a run.</summary>
    private static void Segment(Mat image, Point a, Point b, Scalar colour, bool dashed)
    {
        if (!dashed)
        {
            Cv2.Line(image, a, b, colour, 2, LineTypes.AntiAlias);
            return;
        }

        var length = Math.Sqrt(Math.Pow(b.X - a.X, 2) + Math.Pow(b.Y - a.Y, 2));
        Point Along(double d) => new(a.X + (int)((b.X - a.X) * d / length), a.Y + (int)((b.Y - a.Y) * d / length));
        for (var d = 0.0; d < length; d += 14)
        {
            Cv2.Line(image, Along(d), Along(Math.Min(length, d + 8)), colour, 2, LineTypes.AntiAlias);
        }
    }
}
