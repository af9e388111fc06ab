using OpenCvSharp;

namespace Detector.Core.Imaging;

/// <summary>An image that cannot be used, with a message a person can act on.</summary>
public sealed class InvalidImageException(string message) : Exception(message);

/// <summary>
/// Decodes encoded images (JPEG, PNG, BMP, WebP, ...) into BGR frames, refusing what a decoder would silently
/// half-read: libjpeg "decodes" a truncated JPEG into a grey-bottomed picture with only a warning on stderr.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Images larger than this many pixels are refused before decoding (a 100-megapixel frame is no camera's).</summary>
    public const long DefaultMaxPixels = 100_000_000;

    public static Mat ReadFile(string path, long maxPixels = DefaultMaxPixels)
    {
        if (!File.Exists(path))
        {
            throw new InvalidImageException($"Image file '{path}' does not exist.");
        }

        return Decode(File.ReadAllBytes(path), $"'{path}'", maxPixels);
    }

    /// <summary>Decodes <paramref name="bytes"/>; <paramref name="what"/> names the image in errors.</summary>
    public static Mat Decode(ReadOnlySpan<byte> bytes, string what = "the image", long maxPixels = DefaultMaxPixels)
    {
        if (bytes.IsEmpty)
        {
            throw new InvalidImageException($"{what} is empty.");
        }

        if (IsJpeg(bytes) && !HasJpegEnd(bytes))
        {
            throw new InvalidImageException($"{what} is a truncated JPEG (no end-of-image marker).");
        }

        if (IsPng(bytes) && bytes.IndexOf("IEND"u8) < 0)
        {
            throw new InvalidImageException($"{what} is a truncated PNG (no IEND chunk).");
        }

        var (w, h) = PeekSize(bytes);
        if ((long)w * h > maxPixels)
        {
            throw new InvalidImageException($"{what} is {w}x{h} pixels, more than the limit of {maxPixels:N0}.");
        }

        Mat mat;
        try
        {
            mat = Cv2.ImDecode(bytes, ImreadModes.Color);
        }
        catch (OpenCVException e)
        {
            throw new InvalidImageException($"{what} could not be decoded: {e.ErrMsg}");
        }

        if (mat.Empty())
        {
            mat.Dispose();
            throw new InvalidImageException($"{what} is not an image OpenCV can decode (JPEG, PNG, BMP, WebP, TIFF, ...).");
        }

        return mat;
    }

    private static bool IsJpeg(ReadOnlySpan<byte> b) => b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;

    private static bool IsPng(ReadOnlySpan<byte> b) => b.StartsWith(PngSignature);

    // Not a u8 string literal: "\x89" there would be the two UTF-8 bytes of U+0089.
    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private static bool HasJpegEnd(ReadOnlySpan<byte> b)
    {
        // The end-of-image marker is normally the last two bytes; some cameras append padding or metadata after it.
        var tail = b[Math.Max(0, b.Length - 4096)..];
        return tail.LastIndexOf([(byte)0xFF, (byte)0xD9]) >= 0;
    }

    /// <summary>Width and height from a PNG or JPEG header without decoding; (0, 0) when not found.</summary>
    private static (int W, int H) PeekSize(ReadOnlySpan<byte> b)
    {
        if (IsPng(b) && b.Length >= 24)
        {
            return (ReadBigEndian32(b[16..]), ReadBigEndian32(b[20..]));
        }

        if (!IsJpeg(b))
        {
            return (0, 0);
        }

        var i = 2;
        while (i + 9 < b.Length)
        {
            if (b[i] != 0xFF)
            {
                return (0, 0);
            }

            var marker = b[i + 1];
            var length = (b[i + 2] << 8) | b[i + 3];
            // SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                return ((b[i + 7] << 8) | b[i + 8], (b[i + 5] << 8) | b[i + 6]);
            }

            i += 2 + length;
        }

        return (0, 0);
    }

    private static int ReadBigEndian32(ReadOnlySpan<byte> b) =>
        (int)Math.Min(int.MaxValue, (uint)((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]));
}
