using Detector.Core.Imaging;

namespace Detector.Core.Tests.Imaging;

public class ImageDecoderTests
{
    [Test]
    public void A_real_jpeg_decodes_to_its_size()
    {
        using var mat = ImageDecoder.ReadFile(Shared.Image("bus.jpg"));
        Assert.That((mat.Width, mat.Height, mat.Channels()), Is.EqualTo((810, 1080, 3)));
    }

    [Test]
    public void A_truncated_jpeg_is_refused_not_half_decoded()
    {
        var bytes = File.ReadAllBytes(Shared.Image("bus.jpg"));
        var e = Assert.Throws<InvalidImageException>(() => ImageDecoder.Decode(bytes.AsSpan(0, bytes.Length / 2), "bus"))!;
        Assert.That(e.Message, Does.Contain("truncated JPEG"));
    }

    [Test]
    public void Random_bytes_are_not_an_image()
    {
        var bytes = new byte[4096];
        new Random(1).NextBytes(bytes);
        Assert.That(() => ImageDecoder.Decode(bytes), Throws.TypeOf<InvalidImageException>().With.Message.Contains("not an image"));
    }

    [Test]
    public void An_empty_buffer_is_refused() =>
        Assert.That(() => ImageDecoder.Decode([]), Throws.TypeOf<InvalidImageException>().With.Message.Contains("empty"));

    [Test]
    public void A_png_claiming_absurd_dimensions_is_refused_before_decoding()
    {
        // A valid PNG signature and IHDR claiming 100000 x 100000 pixels, with an IEND chunk.
        byte[] png =
        [
            0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, (byte)'I', (byte)'H', (byte)'D', (byte)'R',
            0x00, 0x01, 0x86, 0xA0, 0x00, 0x01, 0x86, 0xA0, 8, 2, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xAE, 0x42, 0x60, 0x82,
        ];
        Assert.That(() => ImageDecoder.Decode(png), Throws.TypeOf<InvalidImageException>().With.Message.Contains("100000x100000"));
    }

    [Test]
    public void A_missing_file_is_named() =>
        Assert.That(() => ImageDecoder.ReadFile("/no/such.jpg"),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains("/no/such.jpg"));

    [Test]
    public void A_jpeg_frame_header_claiming_65500_squared_pixels_is_refused_before_decoding() =>
        Assert.That(() => ImageDecoder.Decode(CraftedImages.Jpeg(65500, 65500)),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains("65500x65500"));

    [Test]
    public void Fill_bytes_and_stray_bytes_before_the_frame_header_do_not_hide_its_size()
    {
        // libjpeg skips 0xFF fill bytes before a marker, and stray bytes between segments: so must the size check.
        byte[] jpeg = [.. CraftedImages.Jpeg(30000, 30000)];
        byte[] padded = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0x12, 0x34, 0xFF, 0xFF, .. jpeg[2..]];
        Assert.That(() => ImageDecoder.Decode(padded), Throws.TypeOf<InvalidImageException>().With.Message.Contains("30000x30000"));
    }

    [TestCase(0, 0)]
    [TestCase(0, 480)]
    [TestCase(640, 0)]
    public void A_png_or_jpeg_of_zero_pixels_is_refused(int width, int height)
    {
        Assert.That(() => ImageDecoder.Decode(CraftedImages.Png(width, height)),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains("no pixels"));
        Assert.That(() => ImageDecoder.Decode(CraftedImages.Jpeg(width, height)),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains("no pixels"));
    }

    [Test]
    public void Bmp_and_webp_headers_claiming_absurd_sizes_are_refused_before_decoding()
    {
        Assert.That(() => ImageDecoder.Decode(CraftedImages.Bmp(30000, -30000)),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains("30000x30000"));
        Assert.That(() => ImageDecoder.Decode(CraftedImages.WebPExtended(16384, 16384)),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains("16384x16384"));
    }

    [TestCase(".png")]
    [TestCase(".bmp")]
    [TestCase(".webp")]
    public void Real_png_bmp_and_webp_images_still_decode(string extension)
    {
        using var source = ImageDecoder.ReadFile(Shared.Image("dog.jpg"));
        OpenCvSharp.Cv2.ImEncode(extension, source, out var bytes);
        using var mat = ImageDecoder.Decode(bytes, extension, maxPixels: (long)source.Width * source.Height);
        Assert.That((mat.Width, mat.Height), Is.EqualTo((source.Width, source.Height)));
        Assert.That(() => ImageDecoder.Decode(bytes, extension, maxPixels: (long)source.Width * source.Height - 1),
            Throws.TypeOf<InvalidImageException>().With.Message.Contains("limit"), "the header size is the real size");
    }

    [Test]
    public void Formats_the_api_does_not_take_are_refused_by_name()
    {
        using var source = ImageDecoder.ReadFile(Shared.Image("dog.jpg"));
        OpenCvSharp.Cv2.ImEncode(".tiff", source, out var tiff);
        Assert.That(() => ImageDecoder.Decode(tiff), Throws.TypeOf<InvalidImageException>().With.Message.Contains("JPEG, PNG, BMP, WebP"));
    }
}
