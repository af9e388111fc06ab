namespace Detector.Core.Postprocessing;

/// <summary>
/// Working memory for <see cref="Nms"/>, kept between frames so that NMS allocates nothing once it has seen
/// its busiest frame. Owned by exactly one post-processor (not thread-safe).
/// </summary>
public sealed class NmsScratch
{
    public NmsScratch(int initialCapacity = 256) => Grow(Math.Max(16, initialCapacity));

    /// <summary>How many candidates fit without growing.</summary>
    public int Capacity => Sorted.Length;

    /// <summary>Sort keys: descending-score bits in the high half, the original index in the low half.</summary>
    internal ulong[] Keys { get; private set; } = [];

    /// <summary>The candidates in score order.</summary>
    internal Candidate[] Sorted { get; private set; } = [];

    // The sorted boxes again as struct-of-arrays, so that a vector loads one coordinate of Count boxes.
    internal float[] X1 { get; private set; } = [];

    internal float[] Y1 { get; private set; } = [];

    internal float[] X2 { get; private set; } = [];

    internal float[] Y2 { get; private set; } = [];

    internal float[] Area { get; private set; } = [];

    internal int[] ClassId { get; private set; } = [];

    /// <summary>Per sorted box: 0 while alive, non-zero (all bits set in the vector path) once suppressed.</summary>
    internal int[] Suppressed { get; private set; } = [];

    internal void EnsureCapacity(int count)
    {
        if (count > Sorted.Length)
        {
            Grow(Math.Max(count, 2 * Sorted.Length));
        }
    }

    private void Grow(int capacity)
    {
        Keys = new ulong[capacity];
        Sorted = new Candidate[capacity];
        X1 = new float[capacity];
        Y1 = new float[capacity];
        X2 = new float[capacity];
        Y2 = new float[capacity];
        Area = new float[capacity];
        ClassId = new int[capacity];
        Suppressed = new int[capacity];
    }
}
