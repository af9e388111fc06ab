using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using NUnit.Framework;
using OpenCvSharp;

namespace Detector.Core.Tests.Graph;

/// <summary>How a frame is fitted into a shared model's input, per weights/README.md.</summary>
public enum Fit
{
    Stretch,
    LetterboxTopLeft,
    LetterboxCenter,
}

/// <summary>One of the four shared models, with its input and pre-processing as weights/README.md gives them.</summary>
public sealed record SharedModel(string Name, string RelativePath, string InputName, int Size, bool Rgb, float Scale, Fit Fit, int ExpectedReshapesPatched)
{
    public static readonly SharedModel YoloxNano = new("yolox-nano", "yolox-nano/yolox_nano.onnx", "images", 416, Rgb: false, Scale: 1f, Fit.LetterboxTopLeft, 3);
    public static readonly SharedModel YoloV8nInt8 = new("yolov8n-int8", "yolov8n-int8/yolov8n_int8.onnx", "images", 640, Rgb: true, Scale: 1f / 255f, Fit.LetterboxCenter, 8);
    public static readonly SharedModel V5LiteE = new("v5lite-e", "v5lite-e/v5Lite-e-sim-320.onnx", "images", 320, Rgb: true, Scale: 1f / 255f, Fit.Stretch, 34);
    public static readonly SharedModel YoloFastestV2 = new("yolo-fastestv2", "yolo-fastestv2/yolo-fastestv2.onnx", "input.1", 352, Rgb: false, Scale: 1f / 255f, Fit.Stretch, 13);

    public static readonly SharedModel[] All = [YoloxNano, YoloV8nInt8, V5LiteE, YoloFastestV2];

    public string Path => Shared.Weights(RelativePath);

    public byte[] Bytes() => File.ReadAllBytes(Path);

    /// <summary>The image fitted to the input: uint8, BGR, interleaved, <c>[Size, Size, 3]</c>.</summary>
    public byte[] Frame(string image)
    {
        using var source = Cv2.ImRead(Shared.Image(image), ImreadModes.Color);
        Assert.That(source.Empty(), Is.False, image);
        using var canvas = new Mat(Size, Size, MatType.CV_8UC3, new Scalar(114, 114, 114));
        if (Fit == Fit.Stretch)
        {
            Cv2.Resize(source, canvas, new OpenCvSharp.Size(Size, Size), 0, 0, InterpolationFlags.Linear);
        }
        else
        {
            double r = Math.Min((double)Size / source.Rows, (double)Size / source.Cols);
            int w = (int)Math.Round(source.Cols * r), h = (int)Math.Round(source.Rows * r);
            int x = Fit == Fit.LetterboxCenter ? (Size - w) / 2 : 0, y = Fit == Fit.LetterboxCenter ? (Size - h) / 2 : 0;
            using var resized = new Mat();
            Cv2.Resize(source, resized, new OpenCvSharp.Size(w, h), 0, 0, InterpolationFlags.Linear);
            using var roi = new Mat(canvas, new Rect(x, y, w, h));
            resized.CopyTo(roi);
        }

        var bytes = new byte[Size * Size * 3];
        Assert.That(canvas.IsContinuous(), Is.True);
        Marshal.Copy(canvas.Data, bytes, 0, bytes.Length);
        return bytes;
    }

    /// <summary>
    /// The model's float NCHW input for a frame, by plain loops: channel order per <see cref="Rgb"/>,
    /// value <c>byte * Scale</c> in float.
    /// </summary>
    public float[] Planar(byte[] frame)
    {
        int plane = Size * Size;
        var planar = new float[3 * plane];
        for (int c = 0; c < 3; c++)
        {
            int source = Rgb ? 2 - c : c;
            for (int i = 0; i < plane; i++)
            {
                planar[c * plane + i] = frame[i * 3 + source] * Scale;
            }
        }

        return planar;
    }

    /// <summary>Float NCHW inputs of several images stacked into one batch.</summary>
    public float[] PlanarBatch(params string[] images) => images.SelectMany(i => Planar(Frame(i))).ToArray();

    public long[] PlanarShape(int batch) => [batch, 3, Size, Size];

    public long[] FrameShape(int batch) => [batch, Size, Size, 3];

    public override string ToString() => Name;
}

/// <summary>A model output read back: its shape and values.</summary>
public sealed record Output(long[] Shape, float[] Values)
{
    /// <summary>The values of batch item <paramref name="item"/>.</summary>
    public ReadOnlySpan<float> Item(int item)
    {
        int size = Values.Length / (int)Shape[0];
        return Values.AsSpan(item * size, size);
    }
}

/// <summary>Runs serialized models on the CPU with ONNX Runtime.</summary>
public static class Ort
{
    public static Dictionary<string, Output> Run<T>(byte[] model, string inputName, T[] data, long[] shape)
        where T : unmanaged
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, IntraOpNumThreads = 2 };
        using var session = new InferenceSession(model, options);
        using var input = OrtValue.CreateTensorValueFromMemory(data, shape);
        var names = session.OutputNames.ToArray();
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [inputName], [input], names);
        var outputs = new Dictionary<string, Output>(StringComparer.Ordinal);
        for (int i = 0; i < names.Length; i++)
        {
            outputs[names[i]] = new Output(results[i].GetTensorTypeAndShape().Shape, results[i].GetTensorDataAsSpan<float>().ToArray());
        }

        return outputs;
    }

    public static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.That(a.Length, Is.EqualTo(b.Length));
        float max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }

        return max;
    }
}
