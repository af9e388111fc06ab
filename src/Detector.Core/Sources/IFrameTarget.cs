namespace Detector.Core.Sources;

/// <summary>
/// Where a <see cref="VideoStream"/> hands its frames when its owner takes them on the stream's own thread instead of
/// reading them (<see cref="VideoStream.Start(IFrameTarget)"/>): no queue, and no thread-pool thread between the
/// decoder and the consumer.
/// </summary>
public interface IFrameTarget
{
    /// <summary>
    /// Takes <paramref name="frame"/> (the target owns it from here, whatever happens). Called on the stream's thread,
    /// one frame at a time, in order. A live consumer returns at once; a lossless one may block until it has room, and
    /// must then give up with <see cref="OperationCanceledException"/> when <paramref name="stop"/> fires.
    /// </summary>
    void Accept(Frame frame, CancellationToken stop);
}
