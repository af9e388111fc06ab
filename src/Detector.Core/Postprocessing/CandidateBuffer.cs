namespace Detector.Core.Postprocessing;

/// <summary>
/// A growable list of candidates that keeps its array between frames, so the per-frame path
/// allocates nothing once it has seen its busiest frame. Owned by exactly one post-processor.
/// </summary>
public sealed class CandidateBuffer
{
    private Candidate[] _items;

    public CandidateBuffer(int initialCapacity = 256) => _items = new Candidate[Math.Max(16, initialCapacity)];

    public int Count { get; private set; }

    public int Capacity => _items.Length;

    public Span<Candidate> AsSpan() => _items.AsSpan(0, Count);

    public ref Candidate this[int index] => ref _items[index];

    public void Clear() => Count = 0;

    public void Add(in Candidate candidate)
    {
        if (Count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }

        _items[Count++] = candidate;
    }

    /// <summary>Keeps the first <paramref name="count"/> items.</summary>
    public void Truncate(int count) => Count = Math.Clamp(count, 0, Count);
}
