using Detector.Core.Models;
using OpenCvSharp;

namespace Detector.Core.Preprocessing;

/// <summary>
/// Fits a BGR frame into one slot of the input batch: a bilinear resize (OpenCV's INTER_LINEAR) straight into the
/// slot's memory plus the padding. The slot holds uint8 BGR pixels in NHWC order; the graph itself casts, reorders
/// colours, scales and transposes (prepended at load), so this is the only per-frame work on the CPU and the bytes
/// copied to a GPU are a quarter of a float tensor's.
/// </summary>
public sealed class FramePreprocessor(ModelDescription model)
{
    private readonly int _width = model.InputWidth;
    private readonly int _height = model.InputHeight;
    private readonly Scalar _pad = Scalar.All(model.PadValue);

    /// <summary>Bytes in one slot: height x width x 3.</summary>
    public int SlotBytes => _width * _height * 3;

    /// <summary>Writes <paramref name="frame"/> into the slot at <paramref name="slot"/> and returns its geometry.</summary>
    /// <exception cref="ArgumentException">The frame is empty or not 8-bit BGR.</exception>
    public unsafe Letterbox Write(Mat frame, Span<byte> slot)
    {
        if (frame.Empty() || frame.Type() != MatType.CV_8UC3)
        {
            throw new ArgumentException(
                $"Expected a non-empty 8-bit BGR frame, got {(frame.Empty() ? "an empty frame" : frame.Type().ToString())}.", nameof(frame));
        }

        if (slot.Length < SlotBytes)
        {
            throw new ArgumentException($"The slot holds {slot.Length} bytes; {SlotBytes} are needed.", nameof(slot));
        }

        var box = Letterbox.For(frame.Width, frame.Height, model);
        fixed (byte* p = slot)
        {
            using var input = Mat.FromPixelData(_height, _width, MatType.CV_8UC3, (nint)p);
            if (box.HasPadding)
            {
                FillPadding(input, box);
            }

            using var target = input.SubMat(box.PadTop, box.PadTop + box.ResizedHeight, box.PadLeft, box.PadLeft + box.ResizedWidth);
            if (box.ResizedWidth == frame.Width && box.ResizedHeight == frame.Height)
            {
                frame.CopyTo(target);
            }
            else
            {
                // dst already has the right size and type, so OpenCV writes into the slot instead of reallocating.
                Cv2.Resize(frame, target, new Size(box.ResizedWidth, box.ResizedHeight), 0, 0, InterpolationFlags.Linear);
            }
        }

        return box;
    }

    private void FillPadding(Mat input, Letterbox box)
    {
        // Only the bands around the image: filling the whole slot first would write every byte twice.
        var right = box.PadLeft + box.ResizedWidth;
        var bottom = box.PadTop + box.ResizedHeight;
        FillRect(input, new Rect(0, 0, _width, box.PadTop));
        FillRect(input, new Rect(0, bottom, _width, _height - bottom));
        FillRect(input, new Rect(0, box.PadTop, box.PadLeft, box.ResizedHeight));
        FillRect(input, new Rect(right, box.PadTop, _width - right, box.ResizedHeight));
    }

    private void FillRect(Mat input, Rect rect)
    {
        if (rect.Width > 0 && rect.Height > 0)
        {
            using var band = new Mat(input, rect);
            band.SetTo(_pad);
        }
    }
}
