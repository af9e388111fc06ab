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
}
