using System.Buffers.Binary;
using OpenCvSharp;

namespace Detector.Core.Imaging;

/// <summary>An image that cannot be used, with a message a person can act on.</summary>
public sealed class InvalidImageException(string message) : Exception(message);

/// <summary>
/// Decodes encoded images (JPEG, PNG, BMP, WebP) into BGR frames, refusing what a decoder would silently
/// half-read (libjpeg "decodes" a truncated JPEG into a grey-bottomed picture with only a warning on stderr) and
/// any picture whose header claims more pixels than allowed, before a byte of it is allocated.
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

        // Every format is sized from its header before OpenCV sees it: OpenCV allocates the whole picture from the header
        // first, so a 60-byte file claiming 30000x30000 pixels would cost gigabytes before failing.
        if (Sniff(bytes) is not { } format)
        {
            throw new InvalidImageException($"{what} is not an image in a supported format (JPEG, PNG, BMP, WebP).");
        }

        if (HeaderSize(bytes, format) is not { } size)
        {
            throw new InvalidImageException($"{what} starts like a {Name(format)} image but its header gives no image size; the file is corrupt.");
        }

        var (w, h) = size;
        if (w <= 0 || h <= 0)
        {
            throw new InvalidImageException($"{what} is a {Name(format)} image of {w}x{h} pixels: it has no pixels to detect in.");
        }

        if (w * h > maxPixels)
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

    private enum ImageFormat
    {
        Jpeg,
        Png,
        Bmp,
        WebP,
    }

    private static string Name(ImageFormat format) => format == ImageFormat.WebP ? "WebP" : format.ToString().ToUpperInvariant();

    /// <summary>The format by its signature; null for anything else (OpenCV reads more, but the API takes these four).</summary>
    private static ImageFormat? Sniff(ReadOnlySpan<byte> b) =>
        IsJpeg(b) ? ImageFormat.Jpeg
        : IsPng(b) ? ImageFormat.Png
        : b.StartsWith("BM"u8) ? ImageFormat.Bmp
        : b.Length >= 12 && b.StartsWith("RIFF"u8) && b[8..].StartsWith("WEBP"u8) ? ImageFormat.WebP
        : null;

    /// <summary>Width and height as the header states them (possibly zero or negative); null when the header is cut short or malformed.</summary>
    private static (long W, long H)? HeaderSize(ReadOnlySpan<byte> b, ImageFormat format) => format switch
    {
        // IHDR must be the first chunk.
        ImageFormat.Png => b.Length >= 24 && b[12..].StartsWith("IHDR"u8) ? (ReadBigEndian32(b[16..]), ReadBigEndian32(b[20..])) : null,
        ImageFormat.Jpeg => JpegSize(b),
        ImageFormat.Bmp => BmpSize(b),
        ImageFormat.WebP => WebPSize(b),
        _ => null,
    };

    /// <summary>
    /// The size in the first start-of-frame segment, walking the markers the way libjpeg does: fill bytes (0xFF runs)
    /// before a marker are skipped, and so are stray bytes between segments (libjpeg warns and scans on to the next 0xFF).
    /// </summary>
    private static (long W, long H)? JpegSize(ReadOnlySpan<byte> b)
    {
        var i = 2;
        while (i < b.Length)
        {
            if (b[i] != 0xFF)
            {
                i++;
                continue;
            }

            while (i < b.Length && b[i] == 0xFF)
            {
                i++;
            }

            if (i >= b.Length)
            {
                return null;
            }

            var marker = b[i++];
            if (marker is 0x00 or 0x01 or (>= 0xD0 and <= 0xD7))
            {
                // A stuffed zero, TEM or a restart marker: no length follows.
                continue;
            }

            if (marker is 0xD8 or 0xD9 or 0xDA || i + 2 > b.Length)
            {
                // Another SOI, EOI or the start of scan data before any frame header: there is no size to read.
                return null;
            }

            var length = (b[i] << 8) | b[i + 1];
            // SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC): length, precision, height, width.
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                return i + 7 <= b.Length ? ((b[i + 5] << 8) | b[i + 6], (b[i + 3] << 8) | b[i + 4]) : null;
            }

            if (length < 2)
            {
                return null;
            }

            i += length;
        }

        return null;
    }

    /// <summary>BITMAPCOREHEADER (12 bytes) has 16-bit sizes; every later header 32-bit ones; a negative height means top-down rows.</summary>
    private static (long W, long H)? BmpSize(ReadOnlySpan<byte> b)
    {
        if (b.Length < 26)
        {
            return null;
        }

        var headerSize = BinaryPrimitives.ReadUInt32LittleEndian(b[14..]);
        if (headerSize == 12)
        {
            return (BinaryPrimitives.ReadUInt16LittleEndian(b[18..]), BinaryPrimitives.ReadUInt16LittleEndian(b[20..]));
        }

        return headerSize >= 16
            ? (BinaryPrimitives.ReadInt32LittleEndian(b[18..]), Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b[22..])))
            : null;
    }

    /// <summary>The first chunk of a WebP file: VP8X (extended, the canvas), VP8L (lossless) or VP8 (lossy key frame).</summary>
    private static (long W, long H)? WebPSize(ReadOnlySpan<byte> b)
    {
        if (b.Length < 30)
        {
            return null;
        }

        var chunk = b[12..16];
        if (chunk.SequenceEqual("VP8X"u8))
        {
            return (ReadLittleEndian24(b[24..]) + 1L, ReadLittleEndian24(b[27..]) + 1L);
        }

        if (chunk.SequenceEqual("VP8L"u8))
        {
            var bits = BinaryPrimitives.ReadUInt32LittleEndian(b[21..]);
            return b[20] == 0x2F ? ((bits & 0x3FFF) + 1L, ((bits >> 14) & 0x3FFF) + 1L) : null;
        }

        if (chunk.SequenceEqual("VP8 "u8))
        {
            return b[23] == 0x9D && b[24] == 0x01 && b[25] == 0x2A
                ? (BinaryPrimitives.ReadUInt16LittleEndian(b[26..]) & 0x3FFF, BinaryPrimitives.ReadUInt16LittleEndian(b[28..]) & 0x3FFF)
                : null;
        }

        return null;
    }

    private static int ReadLittleEndian24(ReadOnlySpan<byte> b) => b[0] | (b[1] << 8) | (b[2] << 16);

    private static long ReadBigEndian32(ReadOnlySpan<byte> b) => BinaryPrimitives.ReadUInt32BigEndian(b);
}
