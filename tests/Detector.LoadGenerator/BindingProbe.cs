using Detector.Core.Inference;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Detector.LoadGenerator;

/// <summary>
/// The performance issue's IOBinding question, measured: the service's graph run through an <see cref="OrtIoBinding"/>
/// with buffers from ONNX Runtime's own CUDA-pinned allocator (input and outputs), and with the outputs left on the GPU
/// (the ceiling without the copy back), beside <c>session.Run</c> on the workspace's buffers. On the CPU the same code
/// binds CPU buffers, which checks the mechanics only. A variant that fails is reported with ONNX Runtime's message
/// (the first probe failed in <c>GPUDataTransfer::CopyTensorAsync</c>), not hidden.
/// </summary>
internal static class BindingProbe
{
    public static IEnumerable<RawResult> Run(string model, int batch, ExecutionProviderPreference ep, TimeSpan duration)
    {
        using var session = ModelSession.Load(model, new InferenceOptions { ExecutionProvider = ep, MaxBatchSize = batch, WarmupBatchSizes = [batch] });
        if (session.Description.BatchMode != Core.Models.BatchMode.Dynamic)
        {
            yield break;
        }

        // The reference: the same input through session.Run, as the service runs it.
        using var workspace = session.CreateWorkspace();
        var rng = new Random(1);
        for (var i = 0; i < batch; i++)
        {
            rng.NextBytes(workspace.Input.Slot(i));
        }

        workspace.Input.Count = batch;
        var reference = session.Run(workspace);

        var cuda = session.ExecutionProvider == "CUDA";
        var variants = cuda
            ? new[] { ("IOBinding, ONNX Runtime's CUDA-pinned input and outputs", true), ("IOBinding, CUDA-pinned input, outputs left on the GPU", false) }
            : [("IOBinding, CPU input and outputs (mechanics only)", true)];
        foreach (var (name, outputsOnHost) in variants)
        {
            RawResult result;
            try
            {
                result = Measure(session, reference, workspace.Input, batch, duration, outputsOnHost, name);
            }
            catch (OnnxRuntimeException e)
            {
                result = new RawResult($"{name}: FAILED, {e.Message.Split('\n')[0]}", batch, 0, 0, session.ExecutionProvider);
            }

            yield return result;
        }
    }

    private static RawResult Measure(ModelSession model, ModelOutputs reference, InputBatch frames, int batch, TimeSpan duration, bool outputsOnHost, string name)
    {
        var session = model.OrtSession;
        var d = model.Description;
        var cuda = model.ExecutionProvider == "CUDA";
        using var hostInfo = cuda
            ? new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, 0, OrtMemType.CpuOutput)
            : new OrtMemoryInfo(OrtMemoryInfo.allocatorCPU, OrtAllocatorType.DeviceAllocator, 0, OrtMemType.Default);
        using var deviceInfo = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, 0, OrtMemType.Default);
        using var allocator = new OrtAllocator(session, hostInfo);
        using var input = OrtValue.CreateAllocatedTensorValue(allocator, TensorElementType.UInt8, [batch, d.InputHeight, d.InputWidth, 3]);
        var bytes = input.GetTensorMutableDataAsSpan<byte>();
        for (var i = 0; i < batch; i++)
        {
            frames.Slot(i).CopyTo(bytes[(i * frames.SlotBytes)..]);
        }

        var outputs = outputsOnHost
            ? d.OutputShapes.Select(s => OrtValue.CreateAllocatedTensorValue(allocator, TensorElementType.Float, [batch, .. s.Select(x => (long)x)])).ToArray()
            : [];
        try
        {
            using var binding = session.CreateIoBinding();
            using var runOptions = new RunOptions();
            binding.BindInput(ModelSession.FrameInputName, input);
            for (var o = 0; o < d.OutputNames.Count; o++)
            {
                if (outputsOnHost)
                {
                    binding.BindOutput(d.OutputNames[o], outputs[o]);
                }
                else
                {
                    binding.BindOutputToDevice(d.OutputNames[o], deviceInfo);
                }
            }

            void Run()
            {
                session.RunWithBinding(runOptions, binding);
                binding.SynchronizeBoundOutputs();
            }

            Run();
            var check = "";
            if (outputsOnHost)
            {
                // The bound outputs must be the reference's, or the speed means nothing.
                var got = outputs[0].GetTensorDataAsSpan<float>();
                var n = got.Length / batch;
                var worst = 0f;
                for (var i = 0; i < batch; i++)
                {
                    var want = reference.Get(0, i);
                    for (var k = 0; k < n; k++)
                    {
                        worst = MathF.Max(worst, MathF.Abs(want[k] - got[i * n + k]));
                    }
                }

                check = $" (outputs match session.Run's to {worst:G2})";
            }

            var (ips, median) = RawBenchmark.Measure(Run, batch, duration);
            return new RawResult(name + check, batch, ips, median, model.ExecutionProvider);
        }
        finally
        {
            foreach (var o in outputs)
            {
                o.Dispose();
            }
        }
    }
}
