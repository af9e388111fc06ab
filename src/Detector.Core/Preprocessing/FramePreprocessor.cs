using Detector.Core.Models;
using OpenCvSharp;
using OpenCvSharp.Internal;

namespace Detector.Core.Preprocessing;

/// <summary>
/// Fits a BGR frame into one slot of the input batch: a bilinear resize (OpenCV's INTER_LINEAR) straight into the
/// slot's memory plus the padding. The slot holds uint8 BGR pixels in NHWC order; the graph itself casts, reorders
/// colours, scales and transposes (prepended at load), so this is the only per-frame work on the CPU and the bytes
/// copied to a GPU are a quarter of a float tensor's.
/// </summary>
/// <remarks>
/// Allocation-free: the padding is filled through the span, and the resize goes through OpenCvSharp's native entry
/// points (<see cref="NativeMethods"/>) with a native Mat header over the slot, because OpenCvSharp's managed
/// wrappers (a Mat header, and an InputArray and OutputArray per call, the latter two left to their finalizers)
/// would put a few finalizable objects on the heap for every frame. Thread-safe: calls on different slots may run
/// in parallel.
/// </remarks>
public sealed class FramePreprocessor(ModelDescription model)
{
    private readonly int _width = model.InputWidth;
    private readonly int _height = model.InputHeight;
    private readonly byte _pad = model.PadValue;

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
        if (box.HasPadding)
        {
            FillPadding(slot, box);
        }

        fixed (byte* p = slot)
        {
            // The resized frame's rectangle inside the slot: its first pixel, slot rows apart.
            var rowBytes = _width * 3;
            var origin = (nint)(p + box.PadTop * rowBytes + box.PadLeft * 3);
            NativeMethods.HandleException(NativeMethods.core_Mat_new8(
                box.ResizedHeight, box.ResizedWidth, MatType.CV_8UC3, origin, rowBytes, out var target));
            try
            {
                if (box.ResizedWidth == frame.Width && box.ResizedHeight == frame.Height)
                {
                    NativeMethods.HandleException(NativeMethods.core_Mat_copyTo_toMat1(frame.CvPtr, target));
                }
                else
                {
                    Resize(frame, target, box);
                }
            }
            finally
            {
                NativeMethods.HandleException(NativeMethods.core_Mat_delete(target));
                GC.KeepAlive(frame);
            }
        }

        return box;
    }

    private static void Resize(Mat frame, nint target, Letterbox box)
    {
        NativeMethods.HandleException(NativeMethods.core_InputArray_new_byMat(frame.CvPtr, out var src));
        try
        {
            NativeMethods.HandleException(NativeMethods.core_OutputArray_new_byMat(target, out var dst));
            try
            {
                // dst already has the right size and type, so OpenCV writes into the slot instead of reallocating.
                NativeMethods.HandleException(NativeMethods.imgproc_resize(
                    src, dst, new Size(box.ResizedWidth, box.ResizedHeight), 0, 0, (int)InterpolationFlags.Linear));
            }
            finally
            {
                NativeMethods.HandleException(NativeMethods.core_OutputArray_delete(dst));
            }
        }
        finally
        {
            NativeMethods.HandleException(NativeMethods.core_InputArray_delete(src));
        }
    }

    private void FillPadding(Span<byte> slot, Letterbox box)
    {
        // Only the bands around the image: filling the whole slot first would write every byte twice. The pad
        // value is the same in all three channels, so every band is a plain byte fill.
        var rowBytes = _width * 3;
        var bottom = box.PadTop + box.ResizedHeight;
        slot[..(box.PadTop * rowBytes)].Fill(_pad);
        slot[(bottom * rowBytes)..SlotBytes].Fill(_pad);
        var leftBytes = box.PadLeft * 3;
        var rightStart = (box.PadLeft + box.ResizedWidth) * 3;
        if (leftBytes == 0 && rightStart == rowBytes)
        {
            return;
        }

        for (var y = box.PadTop; y < bottom; y++)
        {
            var row = slot.Slice(y * rowBytes, rowBytes);
            row[..leftBytes].Fill(_pad);
            row[rightStart..].Fill(_pad);
        }
    }
}
