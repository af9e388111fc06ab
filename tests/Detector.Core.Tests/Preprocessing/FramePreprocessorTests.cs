using Detector.Core.Models;
using Detector.Core.Preprocessing;
using OpenCvSharp;

namespace Detector.Core.Tests.Preprocessing;

public class FramePreprocessorTests
{
    private static ModelDescription Model(ResizeMode mode, PadPosition position) => new()
    {
        Path = "x.onnx", Sha256 = "", Name = "x", InputName = "images", InputWidth = 64, InputHeight = 48,
        Family = OutputFamily.YoloV8, ColorOrder = ColorOrder.Rgb, PixelScale = 1 / 255f, ResizeMode = mode,
        PadPosition = position, PadValue = 114, Strides = [8], Anchors = [], ClassNames = ["a"],
        OutputNames = ["o"], OutputShapes = [[5, 48]], Source = DescriptionSource.ConfigFile,
    };

    [Test]
    public void The_slot_holds_the_bilinear_resize_and_padding_of_the_frame([Values] PadPosition position)
    {
        using var frame = new Mat(30, 80, MatType.CV_8UC3);
        Cv2.Randu(frame, Scalar.All(0), Scalar.All(255));
        var pre = new FramePreprocessor(Model(ResizeMode.Letterbox, position));
        var slot = new byte[pre.SlotBytes];
        Array.Fill(slot, (byte)7);

        var box = pre.Write(frame, slot);

        using var expected = new Mat();
        Cv2.Resize(frame, expected, new Size(box.ResizedWidth, box.ResizedHeight), 0, 0, InterpolationFlags.Linear);
        Assert.That((box.ResizedWidth, box.ResizedHeight), Is.EqualTo((64, 24)));
        for (var y = 0; y < 48; y++)
        {
            for (var x = 0; x < 64; x++)
            {
                var inside = y >= box.PadTop && y < box.PadTop + box.ResizedHeight;
                for (var c = 0; c < 3; c++)
                {
                    var actual = slot[(y * 64 + x) * 3 + c];
                    var want = inside ? expected.At<Vec3b>(y - box.PadTop, x)[c] : (byte)114;
                    Assert.That(actual, Is.EqualTo(want), $"pixel ({x},{y}) channel {c}");
                }
            }
        }
    }

    [Test]
    public void A_tall_frame_is_padded_left_and_right_like_copy_make_border([Values] PadPosition position)
    {
        using var frame = new Mat(80, 30, MatType.CV_8UC3);
        Cv2.Randu(frame, Scalar.All(0), Scalar.All(255));
        var pre = new FramePreprocessor(Model(ResizeMode.Letterbox, position));
        var slot = new byte[pre.SlotBytes];
        Array.Fill(slot, (byte)7);

        var box = pre.Write(frame, slot);

        using var resized = new Mat();
        using var expected = new Mat();
        Cv2.Resize(frame, resized, new Size(box.ResizedWidth, box.ResizedHeight), 0, 0, InterpolationFlags.Linear);
        Cv2.CopyMakeBorder(resized, expected, box.PadTop, 48 - box.PadTop - box.ResizedHeight, box.PadLeft,
            64 - box.PadLeft - box.ResizedWidth, BorderTypes.Constant, Scalar.All(114));
        expected.GetArray(out Vec3b[] pixels);
        Assert.That((box.ResizedWidth, box.ResizedHeight, box.PadLeft), Is.EqualTo((18, 48, position == PadPosition.Center ? 23 : 0)));
        Assert.That(slot, Is.EqualTo(pixels.SelectMany(p => new[] { p.Item0, p.Item1, p.Item2 }).ToArray()));
    }

    [Test]
    public void Writing_a_frame_allocates_nothing_after_the_first_call([Values(80, 64)] int frameWidth)
    {
        // 80x30 is resized and padded, 64x48 copied as it is.
        using var frame = new Mat(frameWidth == 64 ? 48 : 30, frameWidth, MatType.CV_8UC3, Scalar.All(50));
        var pre = new FramePreprocessor(Model(ResizeMode.Letterbox, PadPosition.Center));
        var slot = new byte[pre.SlotBytes];
        pre.Write(frame, slot);

        var before = GC.GetAllocatedBytesForCurrentThread();
        pre.Write(frame, slot);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.That(allocated, Is.Zero);
    }

    [Test]
    public void A_frame_of_the_input_size_is_copied_unchanged()
    {
        using var frame = new Mat(48, 64, MatType.CV_8UC3);
        Cv2.Randu(frame, Scalar.All(0), Scalar.All(255));
        var pre = new FramePreprocessor(Model(ResizeMode.Stretch, PadPosition.Center));
        var slot = new byte[pre.SlotBytes];
        pre.Write(frame, slot);
        frame.GetArray(out Vec3b[] pixels);
        Assert.That(slot, Is.EqualTo(pixels.SelectMany(p => new[] { p.Item0, p.Item1, p.Item2 }).ToArray()));
    }

    [Test]
    public void A_grey_or_empty_frame_is_refused_with_what_was_given()
    {
        var pre = new FramePreprocessor(Model(ResizeMode.Stretch, PadPosition.Center));
        using var grey = new Mat(10, 10, MatType.CV_8UC1);
        using var empty = new Mat();
        Assert.That(() => pre.Write(grey, new byte[pre.SlotBytes]), Throws.ArgumentException.With.Message.Contains("BGR"));
        Assert.That(() => pre.Write(empty, new byte[pre.SlotBytes]), Throws.ArgumentException.With.Message.Contains("empty"));
    }
}
