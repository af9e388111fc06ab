using OpenCvSharp;

namespace Detector.Core.Imaging;

/// <summary>Draws detections onto a frame: a box and a "label 0.91" tag per detection, one colour per class.</summary>
public static class DetectionRenderer
{
    public static void Draw(Mat frame, IEnumerable<Detection> detections)
    {
        var thickness = Math.Max(1, (int)Math.Round(Math.Max(frame.Width, frame.Height) / 500.0));
        var fontScale = thickness * 0.5;
        foreach (var d in detections)
        {
            var colour = ColourOf(d.ClassId);
            var box = new Rect((int)d.Box.X1, (int)d.Box.Y1, (int)Math.Ceiling(d.Box.Width), (int)Math.Ceiling(d.Box.Height));
            Cv2.Rectangle(frame, box, colour, thickness);
            var text = $"{d.Label} {d.Confidence:0.00}";
            var size = Cv2.GetTextSize(text, HersheyFonts.HersheySimplex, fontScale, thickness, out var baseline);
            var top = Math.Max(0, box.Y - size.Height - baseline);
            Cv2.Rectangle(frame, new Rect(box.X, top, size.Width, size.Height + baseline), colour, -1);
            Cv2.PutText(frame, text, new Point(box.X, top + size.Height), HersheyFonts.HersheySimplex, fontScale,
                Scalar.White, thickness, LineTypes.AntiAlias);
        }
    }

    private static Scalar ColourOf(int classId)
    {
        // Spread hues with the golden ratio so neighbouring class ids get distinct colours.
        var hue = (classId * 0.618034) % 1.0 * 180;
        using var hsv = new Mat(1, 1, MatType.CV_8UC3, new Scalar(hue, 200, 230));
        using var bgr = new Mat();
        Cv2.CvtColor(hsv, bgr, ColorConversionCodes.HSV2BGR);
        var p = bgr.At<Vec3b>(0, 0);
        return new Scalar(p.Item0, p.Item1, p.Item2);
    }
}
