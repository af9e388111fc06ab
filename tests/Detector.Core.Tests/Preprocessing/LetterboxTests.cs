using Detector.Core.Models;
using Detector.Core.Preprocessing;

namespace Detector.Core.Tests.Preprocessing;

public class LetterboxTests
{
    [Test]
    public void A_portrait_frame_is_centred_with_bands_left_and_right()
    {
        // bus.jpg: 810x1080 into 640x640 -> r = 640/1080, 480x640, 80 px each side.
        var box = Letterbox.Create(810, 1080, 640, 640, ResizeMode.Letterbox, PadPosition.Center);
        Assert.That((box.ResizedWidth, box.ResizedHeight, box.PadLeft, box.PadTop), Is.EqualTo((480, 640, 80, 0)));
    }

    [Test]
    public void Yolox_puts_the_image_in_the_top_left_corner()
    {
        var box = Letterbox.Create(1280, 720, 416, 416, ResizeMode.Letterbox, PadPosition.TopLeft);
        Assert.That((box.ResizedWidth, box.ResizedHeight, box.PadLeft, box.PadTop), Is.EqualTo((416, 234, 0, 0)));
    }

    [Test]
    public void A_stretch_fills_the_input_without_padding()
    {
        var box = Letterbox.Create(810, 1080, 320, 320, ResizeMode.Stretch, PadPosition.Center);
        Assert.That((box.ResizedWidth, box.ResizedHeight, box.HasPadding), Is.EqualTo((320, 320, false)));
        Assert.That(box.ToFrame(160, 160), Is.EqualTo((405f, 540f)));
    }

    [Test]
    public void A_needle_thin_frame_keeps_at_least_one_pixel()
    {
        var box = Letterbox.Create(1, 5000, 640, 640, ResizeMode.Letterbox, PadPosition.Center);
        Assert.That(box.ResizedWidth, Is.EqualTo(1));
    }

    [Test]
    public void Points_round_trip_frame_to_input_to_frame(
        [Values(640, 810, 1920, 33)] int w, [Values(480, 1080, 17)] int h,
        [Values] ResizeMode mode, [Values] PadPosition position)
    {
        var box = Letterbox.Create(w, h, 416, 416, mode, position);
        var rng = new Random(w * 31 + h);
        for (var i = 0; i < 50; i++)
        {
            var (x, y) = ((float)rng.NextDouble() * w, (float)rng.NextDouble() * h);
            var (ix, iy) = box.ToInput(x, y);
            Assert.That(ix, Is.InRange(box.PadLeft - 1e-3, box.PadLeft + box.ResizedWidth + 1e-3));
            var (fx, fy) = box.ToFrame(ix, iy);
            Assert.That(fx, Is.EqualTo(x).Within(1e-3 * Math.Max(1, x)));
            Assert.That(fy, Is.EqualTo(y).Within(1e-3 * Math.Max(1, y)));
        }
    }

    [Test]
    public void Boxes_mapped_back_are_clipped_to_the_frame()
    {
        var box = Letterbox.Create(810, 1080, 640, 640, ResizeMode.Letterbox, PadPosition.Center);
        var b = box.BoxToFrame(0, -20, 700, 320);
        Assert.That(b, Is.EqualTo(new BoxF(0, 0, 810, 540)));
    }

    [Test]
    public void Iou_of_hand_drawn_boxes()
    {
        var a = new BoxF(0, 0, 10, 10);
        Assert.Multiple(() =>
        {
            Assert.That(a.IoU(a), Is.EqualTo(1f));
            Assert.That(a.IoU(new BoxF(5, 0, 15, 10)), Is.EqualTo(50f / 150f).Within(1e-6));
            Assert.That(a.IoU(new BoxF(10, 10, 20, 20)), Is.EqualTo(0f));
        });
    }
}
