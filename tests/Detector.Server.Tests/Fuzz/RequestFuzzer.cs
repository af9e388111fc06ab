using System.Globalization;
using System.Text;
using Google.Protobuf;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Fuzz;

/// <summary>
/// Random and mutated requests from one seeded <see cref="Random"/>: strings from empty to 100k characters (control
/// characters, unpaired surrogates, URLs of every scheme with and without credentials), thresholds from NaN to
/// infinity, class ids from int.MinValue up, and images from real ones with flipped bits, cut short or spliced, to
/// headers claiming absurd sizes and plain noise.
/// </summary>
internal sealed class RequestFuzzer(int seed, IReadOnlyList<byte[]> images, IReadOnlyList<string> videos)
{
    private static readonly float[] OddFloats =
        [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -1, -0f, 0, float.Epsilon, 0.5f, 1, 1.0000001f, 2, float.MaxValue, float.MinValue];

    private readonly Random _random = new(seed);

    /// <summary>Ids the fuzzer may have added, so later requests (remove, get, subscribe) sometimes hit a real stream.</summary>
    private readonly List<string> _ids = ["f-0", "f-1", "f-2"];

    public int Next(int max) => _random.Next(max);

    private bool Chance(double p) => _random.NextDouble() < p;

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];

    public string Id()
    {
        if (Chance(0.5))
        {
            return Pick(_ids);
        }

        var id = Chance(0.5) ? $"f-{_random.Next(40)}" : String();
        // Never the fixture's own stream: the fuzz must not remove what it checks afterwards.
        return id == "steady" ? "steady-not" : id;
    }

    public void Remember(string id)
    {
        if (!_ids.Contains(id))
        {
            _ids.Add(id);
        }
    }

    public string String() => _random.Next(9) switch
    {
        0 => "",
        1 => new string('x', _random.Next(1, 100_000)),
        2 => Ascii(_random.Next(1, 80)),
        3 => new string(Enumerable.Range(0, _random.Next(1, 40)).Select(_ => (char)_random.Next(0, 0xFFFF)).ToArray()),
        4 => "\0\u0001\u001b[31m\r\n",
        5 => "\ud800" + Ascii(5),
        6 => "../../../../etc/passwd",
        7 => "%s%n%x{0}{{}}'\"; DROP TABLE streams; --",
        _ => $"cam-{_random.Next(100)}",
    };

    private string Ascii(int length)
    {
        var s = new StringBuilder(length);
        for (var i = 0; i < length; i++)
        {
            s.Append((char)_random.Next(32, 127));
        }

        return s.ToString();
    }

    public string Url() => _random.Next(16) switch
    {
        0 => Pick(videos),
        1 => "file://" + Pick(videos),
        2 => "/no/such/video.mp4",
        3 => $"rtsp://127.0.0.1:1/{Ascii(5)}",
        4 => $"rtsp://user:fuzz@127.0.0.1:{_random.Next(-5, 70_000)}/live",
        5 => $"http://127.0.0.1:1/video.mjpg?token={Ascii(4)}",
        6 => "udp://127.0.0.1:" + _random.Next(0, 70_000).ToString(CultureInfo.InvariantCulture),
        7 => Pick(new[] { "ftp://x/y", "gopher://h", "javascript:alert(1)", "rtsp:", "rtsp://", "rtsp:///", "http://[::1", "udp://@:1234" }),
        8 => "/dev/video" + _random.Next(0, 100).ToString(CultureInfo.InvariantCulture),
        9 => _random.Next(-3, 100).ToString(CultureInfo.InvariantCulture),
        10 => "usb:" + _random.Next(0, 3).ToString(CultureInfo.InvariantCulture),
        11 => Pick(videos) + "\0.mp4",
        12 => Path.GetTempPath(),
        _ => String(),
    };

    public float Float() => Chance(0.5) ? Pick(OddFloats) : (float)(_random.NextDouble() * 3 - 1);

    public double Fps() => _random.Next(6) switch
    {
        0 => double.NaN,
        1 => double.PositiveInfinity,
        2 => -1,
        3 => 1e9,
        _ => _random.NextDouble() * 30,
    };

    public IEnumerable<int> ClassIds() => _random.Next(6) switch
    {
        0 or 1 => [],
        2 => [_random.Next(0, 80)],
        3 => [int.MinValue, -1, int.MaxValue],
        4 => Enumerable.Range(0, _random.Next(1, 1000)).Select(_ => _random.Next(-5, 100)),
        _ => Enumerable.Range(0, _random.Next(1, 5)).Select(_ => _random.Next(0, 200)),
    };

    public Rpc.StreamOptions? Options() => Chance(0.2) ? null : new Rpc.StreamOptions
    {
        TargetFps = Fps(),
        ConfidenceThreshold = Float(),
        ClassIds = { ClassIds() },
        Loop = Chance(0.5),
        AsFastAsPossible = Chance(0.3),
        RtspUdp = Chance(0.3),
    };

    public ByteString Image()
    {
        var real = Pick(images);
        byte[] bytes = _random.Next(10) switch
        {
            0 => real,
            1 or 2 => FlipBits(real, _random.Next(1, 30)),
            3 => real[..Math.Max(0, _random.Next(real.Length))],
            4 => [.. real[..(real.Length / 2)], .. Noise(_random.Next(1, 5000)), .. real[^2..]],
            5 => Noise(_random.Next(0, 20_000)),
            6 => [.. real[..4], .. Noise(_random.Next(0, 2000))],
            7 => Pick(new[]
            {
                CraftedImages.Png(_random.Next(0, 200_000), _random.Next(0, 200_000)),
                CraftedImages.Jpeg(_random.Next(0, 65_536), _random.Next(0, 65_536)),
                CraftedImages.Bmp(_random.Next(int.MinValue, int.MaxValue), _random.Next(int.MinValue, int.MaxValue)),
                CraftedImages.WebPExtended(_random.Next(1, 1 << 24), _random.Next(1, 1 << 24)),
            }),
            8 => [],
            _ => OverwriteRun(real),
        };
        return ByteString.CopyFrom(bytes);
    }

    private byte[] Noise(int length)
    {
        var bytes = new byte[length];
        _random.NextBytes(bytes);
        return bytes;
    }

    private byte[] FlipBits(byte[] source, int flips)
    {
        var bytes = (byte[])source.Clone();
        for (var i = 0; i < flips; i++)
        {
            bytes[_random.Next(bytes.Length)] ^= (byte)(1 << _random.Next(8));
        }

        return bytes;
    }

    private byte[] OverwriteRun(byte[] source)
    {
        var bytes = (byte[])source.Clone();
        var start = _random.Next(bytes.Length);
        var length = Math.Min(bytes.Length - start, _random.Next(1, 64));
        _random.NextBytes(bytes.AsSpan(start, length));
        return bytes;
    }

    /// <summary>Bytes for the protobuf parser: noise, a real request's encoding mutated, or wire-format edge cases.</summary>
    public byte[] RawMessage(IMessage valid)
    {
        var encoded = valid.ToByteArray();
        return _random.Next(7) switch
        {
            0 => Noise(_random.Next(0, 300)),
            1 => encoded.Length > 0 ? FlipBits(encoded, _random.Next(1, 8)) : Noise(8),
            2 => encoded[..Math.Max(0, _random.Next(encoded.Length + 1) - 1)],
            // Field 1, length-delimited, claiming far more bytes than follow.
            3 => [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, .. Noise(10)],
            // An over-long varint, then a group start with no end.
            4 => [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x0B],
            // Unknown fields of every wire type, with field numbers up to the maximum.
            5 => [0xF8, 0xFF, 0xFF, 0xFF, 0x0F, 0x01, 0x9D, 0x01, 1, 2, 3, 4, 0xA1, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, .. encoded],
            // Nested messages nested too deep (the options field of AddStreamRequest, again and again).
            _ => Nest(_random.Next(50, 200)),
        };
    }

    private static byte[] Nest(int depth)
    {
        byte[] inner = [];
        for (var i = 0; i < depth; i++)
        {
            var length = new byte[5];
            var n = 0;
            var value = (uint)inner.Length;
            do
            {
                length[n++] = (byte)(value > 0x7F ? (value & 0x7F) | 0x80 : value);
                value >>= 7;
            }
            while (value > 0);

            inner = [0x1A, .. length[..n], .. inner];
        }

        return inner;
    }
}
