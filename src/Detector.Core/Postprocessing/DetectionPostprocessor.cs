using Detector.Core.Inference;
using Detector.Core.Models;
using Detector.Core.Preprocessing;

namespace Detector.Core.Postprocessing;

/// <summary>
/// One frame's outputs to its detections: decode above the threshold, NMS, class filter, and boxes mapped back
/// through the letterbox into frame pixels. Owns its scratch buffers, so one instance serves one thread.
/// </summary>
public sealed class DetectionPostprocessor(ModelDescription model)
{
    private readonly OutputDecoder _decoder = new(model);
    private readonly CandidateBuffer _candidates = new();
    private readonly NmsScratch _nms = new();

    public List<Detection> Process(ModelOutputs outputs, int image, Letterbox letterbox, DetectionOptions options,
        IReadOnlySet<int>? classFilter = null)
    {
        _candidates.Clear();
        _decoder.Decode(outputs, image, options.Confidence, _candidates);
        Nms.Apply(_candidates, options.Iou, options.ClassAgnostic, options.MaxDetections, _nms);
        var names = model.ClassNames;
        var detections = new List<Detection>(_candidates.Count);
        foreach (ref readonly var c in _candidates.AsSpan())
        {
            if (classFilter is not null && !classFilter.Contains(c.ClassId))
            {
                continue;
            }

            var box = letterbox.BoxToFrame(c.X1, c.Y1, c.X2, c.Y2);
            if (box.Area > 0)
            {
                detections.Add(new Detection(c.ClassId, names[c.ClassId], c.Score, box));
            }
        }

        return detections;
    }
}
