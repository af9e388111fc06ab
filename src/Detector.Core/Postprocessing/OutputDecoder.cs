using Detector.Core.Inference;
using Detector.Core.Models;

namespace Detector.Core.Postprocessing;

/// <summary>
/// Chooses the decoder kernel for a model's output family and feeds it one image's slices of the outputs. Built
/// once per model: the grid tables of the row-major families are computed here, not per frame.
/// </summary>
public sealed class OutputDecoder
{
    private readonly ModelDescription _model;
    private readonly GridTable? _grid;
    private readonly float[][] _anchors;

    public OutputDecoder(ModelDescription model)
    {
        _model = model;
        _anchors = model.Anchors.ToArray();
        var strides = model.Strides.ToArray();
        _grid = model.Family switch
        {
            OutputFamily.Yolox => GridTable.ForYolox(model.InputWidth, model.InputHeight, strides),
            OutputFamily.YoloV5 => GridTable.ForYoloV5(model.InputWidth, model.InputHeight, strides, _anchors),
            _ => null,
        };
    }

    /// <summary>Appends the candidates of image <paramref name="image"/> scoring at least <paramref name="threshold"/>, in input pixels.</summary>
    public void Decode(ModelOutputs outputs, int image, float threshold, CandidateBuffer dest)
    {
        var classes = _model.NumClasses;
        switch (_model.Family)
        {
            case OutputFamily.YoloV8:
                YoloV8Decoder.Decode(outputs.Get(0, image), classes, _model.OutputShapes[0][1], threshold, dest);
                break;
            case OutputFamily.Yolox or OutputFamily.YoloV5 or OutputFamily.YoloV5Decoded:
                RowMajorDecoder.Decode(outputs.Get(0, image), _model.OutputShapes[0][0], classes, _model.Family, _grid,
                    threshold, dest);
                break;
            case OutputFamily.YoloFastestV2:
                for (var level = 0; level < _model.Strides.Count; level++)
                {
                    var shape = _model.OutputShapes[level * 3];
                    RawHeadDecoder.DecodeLevel(outputs.Get(level * 3, image), outputs.Get(level * 3 + 1, image),
                        outputs.Get(level * 3 + 2, image), shape[1], shape[2], classes, _model.Strides[level],
                        _anchors[level], threshold, dest);
                }

                break;
            default:
                throw new NotSupportedException($"No decoder for {_model.Family}.");
        }
    }
}
