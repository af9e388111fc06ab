using Microsoft.ML.OnnxRuntime;

namespace Detector.Core.Inference;

/// <summary>
/// Everything one batch in flight needs: the input slots, the output arrays and the ONNX Runtime values bound to
/// them (made once per batch size, then reused). A session can have several workspaces so that one batch is
/// pre-processed while another runs; each workspace has exactly one user at a time. With
/// <see cref="ModelSession.PageLocksBuffers"/> its buffers are page-locked for the GPU's copies while it lives.
/// </summary>
public sealed class BatchWorkspace : IDisposable
{
    private readonly ModelSession _session;
    private readonly Dictionary<(int Start, int Count), (OrtValue[] Inputs, OrtValue[] Outputs)> _bound = [];
    private readonly List<nint> _pageLocked = [];

    internal BatchWorkspace(ModelSession session)
    {
        _session = session;
        var d = session.Description;
        Input = new InputBatch(session.MaxBatchSize, d.InputHeight, d.InputWidth);
        Outputs = new ModelOutputs(d.OutputShapes, session.MaxBatchSize);
        if (session.PageLocksBuffers)
        {
            PageLock();
        }
    }

    /// <summary>Whether this workspace's buffers are page-locked (false on the CPU, or where the driver refused).</summary>
    public bool IsPageLocked => _pageLocked.Count > 0;

    public InputBatch Input { get; }

    public ModelOutputs Outputs { get; }

    /// <summary>ONNX Runtime values over slots [start, start+count) of the input and outputs.</summary>
    internal (OrtValue[] Inputs, OrtValue[] Outputs) Bind(int start, int count)
    {
        if (!_bound.TryGetValue((start, count), out var values))
        {
            var d = _session.Description;
            var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, Input.Memory(start, count),
                [count, d.InputHeight, d.InputWidth, 3]);
            var outputs = d.OutputShapes.Select((shape, o) => OrtValue.CreateTensorValueFromMemory(
                OrtMemoryInfo.DefaultInstance, Outputs.Memory(o, start, count),
                [count, .. shape.Select(x => (long)x)])).ToArray();
            values = ([input], outputs);
            _bound[(start, count)] = values;
        }

        return values;
    }

    private void PageLock()
    {
        foreach (var (address, bytes) in Outputs.Buffers.Select(b => (b.Address, b.PageBytes)).Prepend((Input.Buffer.Address, Input.Buffer.PageBytes)))
        {
            if (CudaHostMemory.Register(address, bytes) is { } error)
            {
                // Pageable buffers still work, only their copies are slower: say so once and carry on without.
                _session.PageLockFailed(error);
                UnlockPages();
                return;
            }

            _pageLocked.Add(address);
        }
    }

    private void UnlockPages()
    {
        foreach (var address in _pageLocked)
        {
            CudaHostMemory.Unregister(address);
        }

        _pageLocked.Clear();
    }

    public void Dispose()
    {
        UnlockPages();
        foreach (var (inputs, outputs) in _bound.Values)
        {
            foreach (var v in inputs.Concat(outputs))
            {
                v.Dispose();
            }
        }

        _bound.Clear();
    }
}
