using Detector.Core.Inference;
using Detector.Core.Models;
using Detector.Core.Postprocessing;
using Detector.Core.Preprocessing;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace Detector.Core;

/// <summary>
/// Frames in, detections out: pre-processing, one batched run, decoding, NMS and the mapping back to frame pixels.
/// The simple entry point for the CLI and tests; calls are serialised (one workspace), the service's pipeline
/// keeps several workspaces in flight instead.
/// </summary>
public sealed class ObjectDetector : IDisposable
{
    private readonly ModelSession _session;
    private readonly BatchWorkspace _workspace;
    private readonly FramePreprocessor _preprocessor;
    private readonly DetectionPostprocessor _postprocessor;
    private readonly Letterbox[] _letterboxes;
    private readonly Lock _lock = new();

    private ObjectDetector(ModelSession session)
    {
        _session = session;
        _workspace = session.CreateWorkspace();
        _preprocessor = new FramePreprocessor(session.Description);
        _postprocessor = new DetectionPostprocessor(session.Description);
        _letterboxes = new Letterbox[session.MaxBatchSize];
    }

    public ModelDescription Description => _session.Description;

    public ModelSession Session => _session;

    /// <inheritdoc cref="ModelSession.Load"/>
    public static ObjectDetector Load(string modelPath, InferenceOptions? options = null, ILogger? logger = null) =>
        new(ModelSession.Load(modelPath, options, logger));

    /// <summary>Detects objects in one BGR frame.</summary>
    public IReadOnlyList<Detection> Detect(Mat frame, DetectionOptions? options = null) => DetectBatch([frame], options)[0];

    /// <summary>Detects objects in several BGR frames, in runs of at most the session's batch size.</summary>
    public IReadOnlyList<Detection>[] DetectBatch(IReadOnlyList<Mat> frames, DetectionOptions? options = null)
    {
        options ??= new DetectionOptions();
        options.Validate();
        var results = new IReadOnlyList<Detection>[frames.Count];
        lock (_lock)
        {
            for (var start = 0; start < frames.Count; start += _session.MaxBatchSize)
            {
                var count = Math.Min(_session.MaxBatchSize, frames.Count - start);
                for (var i = 0; i < count; i++)
                {
                    _letterboxes[i] = _preprocessor.Write(frames[start + i], _workspace.Input.Slot(i));
                }

                _workspace.Input.Count = count;
                var outputs = _session.Run(_workspace);
                for (var i = 0; i < count; i++)
                {
                    results[start + i] = _postprocessor.Process(outputs, i, _letterboxes[i], options);
                }
            }
        }

        return results;
    }

    public void Dispose()
    {
        _workspace.Dispose();
        _session.Dispose();
    }
}
