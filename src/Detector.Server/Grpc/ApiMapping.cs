using Detector.Core.Pipeline;
using Detector.Core.Sources;
using Detector.Server.Configuration;
using Detector.Server.Streams;
using Google.Protobuf.WellKnownTypes;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Grpc;

/// <summary>Between the engine's types and the API's messages.</summary>
internal static class ApiMapping
{
    public static StreamSettings ToSettings(Rpc.AddStreamRequest r) => new()
    {
        Id = r.Id,
        Url = r.Url,
        TargetFps = r.Options?.TargetFps ?? 0,
        Confidence = r.Options?.ConfidenceThreshold ?? 0,
        ClassIds = r.Options?.ClassIds.ToList() ?? [],
        Loop = r.Options?.Loop ?? false,
        AsFastAsPossible = r.Options?.AsFastAsPossible ?? false,
        RtspUdp = r.Options?.RtspUdp ?? false,
    };

    public static Rpc.StreamInfo ToInfo(ManagedStream s)
    {
        var stats = s.Video.Stats;
        var info = new Rpc.StreamInfo
        {
            Id = s.Id,
            MaskedUrl = s.Video.Address.Masked,
            State = ToState(s.Video.State),
            LastError = s.Video.LastError ?? "",
            MeasuredFps = s.MeasuredFps,
            Width = s.Video.Format?.Width ?? 0,
            Height = s.Video.Format?.Height ?? 0,
            FramesReceived = (ulong)stats.Received,
            FramesProcessed = (ulong)s.FramesProcessed,
            FramesDropped = (ulong)(stats.Dropped + s.Feed.DroppedStale + s.DroppedForRate),
            Reconnects = (uint)stats.Reconnects,
            Options = new Rpc.StreamOptions
            {
                TargetFps = s.Settings.TargetFps,
                ConfidenceThreshold = s.Settings.Confidence,
                Loop = s.Settings.Loop,
                AsFastAsPossible = s.Settings.AsFastAsPossible,
                RtspUdp = s.Settings.RtspUdp,
            },
        };
        info.Options.ClassIds.AddRange(s.Settings.ClassIds);
        return info;
    }

    /// <summary>The output family as the API and the metrics name it.</summary>
    public static string FamilyName(Core.Models.OutputFamily family) => family.ToString().ToLowerInvariant() switch
    {
        "yolov5decoded" => "yolov5-decoded",
        "yolofastestv2" => "yolo-fastestv2",
        var f => f,
    };

        public static Rpc.StreamState ToState(StreamState state) => state switch
    {
        StreamState.Connecting => Rpc.StreamState.Connecting,
        StreamState.Running => Rpc.StreamState.Running,
        StreamState.Reconnecting => Rpc.StreamState.Reconnecting,
        StreamState.Ended or StreamState.Stopped => Rpc.StreamState.Ended,
        StreamState.Failed => Rpc.StreamState.Failed,
        _ => Rpc.StreamState.Unspecified,
    };

    public static Rpc.DetectionResult ToResult(FrameResult r, string streamId, long droppedBefore = 0)
    {
        var result = new Rpc.DetectionResult
        {
            StreamId = streamId,
            FrameNumber = (ulong)Math.Max(0, r.FrameNumber),
            CaptureTime = Timestamp.FromDateTimeOffset(r.CaptureTime),
            PtsMs = r.Pts?.TotalMilliseconds ?? -1,
            FrameWidth = r.FrameWidth,
            FrameHeight = r.FrameHeight,
            Timings = new Rpc.Timings
            {
                QueueWaitMs = r.Timings.QueueWaitMs + r.Timings.PreprocessMs,
                InferenceMs = r.Timings.InferenceMs,
                PostprocessMs = r.Timings.PostprocessMs,
                BatchSize = r.Timings.BatchSize,
            },
            DroppedBefore = (ulong)droppedBefore,
        };
        foreach (var d in r.Detections)
        {
            result.Detections.Add(new Rpc.Detection
            {
                ClassId = d.ClassId,
                Label = d.Label,
                Confidence = d.Confidence,
                Box = new Rpc.Box { X1 = d.Box.X1, Y1 = d.Box.Y1, X2 = d.Box.X2, Y2 = d.Box.Y2 },
            });
        }

        return result;
    }
}
