using System.Runtime.InteropServices;

namespace Detector.Core.Postprocessing;

/// <summary>A box before NMS: corners in the network's input pixels, the best class and its score.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Candidate
{
    public float X1;
    public float Y1;
    public float X2;
    public float Y2;
    public float Score;
    public int ClassId;

    public Candidate(float x1, float y1, float x2, float y2, float score, int classId)
    {
        X1 = x1;
        Y1 = y1;
        X2 = x2;
        Y2 = y2;
        Score = score;
        ClassId = classId;
    }

    public readonly float Area => MathF.Max(0, X2 - X1) * MathF.Max(0, Y2 - Y1);

    public override readonly string ToString() => $"[{X1:F1},{Y1:F1},{X2:F1},{Y2:F1}] c{ClassId} {Score:F3}";
}
