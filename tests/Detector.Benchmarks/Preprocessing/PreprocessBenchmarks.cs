using BenchmarkDotNet.Attributes;
using Detector.Core.Imaging;
using Detector.Core.Models;
using Detector.Core.Preprocessing;
using OpenCvSharp;
using OpenCvSharp.Dnn;

namespace Detector.Benchmarks.Preprocessing;

/// <summary>
/// A BGR frame into a 640x640 YOLOv8 input (centred letterbox, pad 114). The baseline is the classic path of the
/// OpenCV samples and Ultralytics' letterbox(): resize, copyMakeBorder, then BlobFromImage to float NCHW RGB / 255.
/// Against it: FramePreprocessor writing the uint8 NHWC slot Detector feeds its rewritten graph, and the same
/// followed by the float NCHW conversion on the CPU, for a like-for-like output. OpenCV runs on one thread
/// (Cv2.SetNumThreads(1)) for every path: the service pre-processes several streams side by side, one frame per
/// thread, and on the shared two-core machine a second OpenCV thread would measure the neighbour's load.
/// </summary>
[MemoryDiagnoser]
public class PreprocessBenchmarks
{
    private const int Size = 640;
    private const byte Pad = 114;

    private readonly byte[] _slot = GC.AllocateUninitializedArray<byte>(Size * Size * 3, pinned: true);
    private readonly float[] _tensor = GC.AllocateUninitializedArray<float>(3 * Size * Size, pinned: true);
    private readonly Mat _resized = new();
    private readonly Mat _padded = new();
    private FramePreprocessor _preprocessor = null!;
    private Mat _frame = null!;

    [Params("1920x1080", "640x480")]
    public string Frame { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        Cv2.SetNumThreads(1);
        var size = Frame.Split('x').Select(int.Parse).ToArray();
        using var bus = ImageDecoder.ReadFile(Shared.Image("bus.jpg"));
        _frame = new Mat();
        Cv2.Resize(bus, _frame, new OpenCvSharp.Size(size[0], size[1]), 0, 0, InterpolationFlags.Area);
        _preprocessor = new FramePreprocessor(Model);

        // Same pixels both ways, down to the float: the comparison is of cost only.
        FramePreprocessorFloat();
        using var blob = Blob();
        // A 4-D blob [1, 3, 640, 640]: copied out by its element count (Mat.GetArray expects 2-D).
        var expected = new float[blob.Total()];
        System.Runtime.InteropServices.Marshal.Copy(blob.Data, expected, 0, expected.Length);
        float maxDiff = 0f;
        for (int i = 0; i < expected.Length; i++)
        {
            maxDiff = MathF.Max(maxDiff, MathF.Abs(expected[i] - _tensor[i]));
        }

        if (expected.Length != _tensor.Length || maxDiff > 0f)
        {
            throw new InvalidOperationException($"FramePreprocessor + float conversion differs from letterbox + BlobFromImage by up to {maxDiff}.");
        }

        Console.WriteLine($"// {Frame}: FramePreprocessor + float conversion equals letterbox + BlobFromImage, value for value");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _frame.Dispose();
        _resized.Dispose();
        _padded.Dispose();
    }

    [Benchmark(Baseline = true)]
    public int LetterboxBlobFromImage()
    {
        using var blob = Blob();
        return blob.Cols;
    }

    [Benchmark]
    public int FramePreprocessorUint8() => _preprocessor.Write(_frame, _slot).ResizedWidth;

    [Benchmark]
    public int FramePreprocessorFloat()
    {
        var box = _preprocessor.Write(_frame, _slot);
        FloatTensorWriter.Write(_slot, _tensor);
        return box.ResizedWidth;
    }

    private static ModelDescription Model => new()
    {
        Path = "bench.onnx", Sha256 = "", Name = "bench", InputName = "images", InputWidth = Size, InputHeight = Size,
        Family = OutputFamily.YoloV8, ColorOrder = ColorOrder.Rgb, PixelScale = 1 / 255f, ResizeMode = ResizeMode.Letterbox,
        PadPosition = PadPosition.Center, PadValue = Pad, Strides = [8, 16, 32], Anchors = [], ClassNames = ["object"],
        OutputNames = ["output0"], OutputShapes = [[5, 8400]], Source = DescriptionSource.ConfigFile,
    };

    /// <summary>Ultralytics' letterbox() (resize, then pad (d - 0.1, d + 0.1) rounded) and BlobFromImage.</summary>
    private Mat Blob()
    {
        double r = Math.Min((double)Size / _frame.Width, (double)Size / _frame.Height);
        int w = (int)Math.Round(_frame.Width * r), h = (int)Math.Round(_frame.Height * r);
        double dw = (Size - w) / 2d, dh = (Size - h) / 2d;
        Mat source = _frame;
        if (w != _frame.Width || h != _frame.Height)
        {
            Cv2.Resize(_frame, _resized, new OpenCvSharp.Size(w, h), 0, 0, InterpolationFlags.Linear);
            source = _resized;
        }

        Cv2.CopyMakeBorder(source, _padded, (int)Math.Round(dh - 0.1), (int)Math.Round(dh + 0.1), (int)Math.Round(dw - 0.1),
            (int)Math.Round(dw + 0.1), BorderTypes.Constant, Scalar.All(Pad));
        return CvDnn.BlobFromImage(_padded, 1 / 255d, new OpenCvSharp.Size(Size, Size), new Scalar(), swapRB: true, crop: false);
    }
}
