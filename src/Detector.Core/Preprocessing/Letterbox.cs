using Detector.Core.Models;

namespace Detector.Core.Preprocessing;

/// <summary>
/// The one owner of the scale/pad math between a frame and the model's input: where the resized frame sits in the
/// input, and how a box in input pixels maps back to frame pixels.
/// </summary>
public readonly record struct Letterbox
{
    public int FrameWidth { get; init; }

    public int FrameHeight { get; init; }

    public int InputWidth { get; init; }

    public int InputHeight { get; init; }

    /// <summary>Size of the resized frame inside the input (the whole input for a stretch).</summary>
    public int ResizedWidth { get; init; }

    public int ResizedHeight { get; init; }

    /// <summary>Offset of the resized frame inside the input.</summary>
    public int PadLeft { get; init; }

    public int PadTop { get; init; }

    /// <summary>Input pixels per frame pixel, horizontally (the rounding of the resized size included).</summary>
    public float ScaleX => (float)ResizedWidth / FrameWidth;

    public float ScaleY => (float)ResizedHeight / FrameHeight;

    public bool HasPadding => ResizedWidth != InputWidth || ResizedHeight != InputHeight;

    public static Letterbox For(int frameWidth, int frameHeight, ModelDescription model) =>
        Create(frameWidth, frameHeight, model.InputWidth, model.InputHeight, model.ResizeMode, model.PadPosition);

    public static Letterbox Create(int frameWidth, int frameHeight, int inputWidth, int inputHeight, ResizeMode mode,
        PadPosition position)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameHeight);
        if (mode == ResizeMode.Stretch)
        {
            return new Letterbox
            {
                FrameWidth = frameWidth, FrameHeight = frameHeight, InputWidth = inputWidth, InputHeight = inputHeight,
                ResizedWidth = inputWidth, ResizedHeight = inputHeight,
            };
        }

        var r = Math.Min((double)inputWidth / frameWidth, (double)inputHeight / frameHeight);
        // Clamp to at least one pixel: a 1x5000 frame still has a visible column.
        var w = Math.Clamp((int)Math.Round(frameWidth * r), 1, inputWidth);
        var h = Math.Clamp((int)Math.Round(frameHeight * r), 1, inputHeight);
        var (left, top) = position == PadPosition.Center ? ((inputWidth - w) / 2, (inputHeight - h) / 2) : (0, 0);
        return new Letterbox
        {
            FrameWidth = frameWidth, FrameHeight = frameHeight, InputWidth = inputWidth, InputHeight = inputHeight,
            ResizedWidth = w, ResizedHeight = h, PadLeft = left, PadTop = top,
        };
    }

    /// <summary>Maps a point in input pixels to frame pixels (not clipped).</summary>
    public (float X, float Y) ToFrame(float x, float y) => ((x - PadLeft) / ScaleX, (y - PadTop) / ScaleY);

    /// <summary>Maps a point in frame pixels to input pixels.</summary>
    public (float X, float Y) ToInput(float x, float y) => (x * ScaleX + PadLeft, y * ScaleY + PadTop);

    /// <summary>Maps a box in input pixels to frame pixels, clipped to the frame.</summary>
    public BoxF BoxToFrame(float x1, float y1, float x2, float y2)
    {
        var (fx1, fy1) = ToFrame(x1, y1);
        var (fx2, fy2) = ToFrame(x2, y2);
        return new BoxF(
            Math.Clamp(fx1, 0, FrameWidth), Math.Clamp(fy1, 0, FrameHeight),
            Math.Clamp(fx2, 0, FrameWidth), Math.Clamp(fy2, 0, FrameHeight));
    }
}

/// <summary>An axis-aligned box by its corners, in pixels.</summary>
public readonly record struct BoxF(float X1, float Y1, float X2, float Y2)
{
    public float Width => X2 - X1;

    public float Height => Y2 - Y1;

    public float Area => MathF.Max(0, Width) * MathF.Max(0, Height);

    public float IoU(BoxF other)
    {
        var iw = MathF.Min(X2, other.X2) - MathF.Max(X1, other.X1);
        var ih = MathF.Min(Y2, other.Y2) - MathF.Max(Y1, other.Y1);
        if (iw <= 0 || ih <= 0)
        {
            return 0;
        }

        var inter = iw * ih;
        return inter / (Area + other.Area - inter);
    }
}
