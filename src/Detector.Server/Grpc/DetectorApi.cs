using System.Threading.Channels;
using Detector.Core;
using Detector.Core.Batching;
using Detector.Core.Imaging;
using Detector.Core.Pipeline;
using Detector.Core.Sources;
using Detector.Server.Hosting;
using Detector.Server.Streams;
using Grpc.Core;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Grpc;

/// <summary>
/// The gRPC surface. Every call validates its input and fails with the status a client can act on; errors are
/// raised as <see cref="DetectorException"/> and turned into statuses by <see cref="ErrorInterceptor"/>; requests that
/// do not even parse are refused by <see cref="DetectorApiBinding"/>.
/// </summary>
[BindServiceMethod(typeof(DetectorApiBinding), nameof(DetectorApiBinding.BindService))]
public sealed class DetectorApi(DetectorEngine engine, StreamManager streams, IHostApplicationLifetime lifetime) : Rpc.Detector.DetectorBase
{
    /// <summary>Frames of one DetectFrames call in the pipeline at once; the next is read when one is answered.</summary>
    private const int FramesInFlightPerCall = 4;

    /// <summary>How long a subscriber gets, once the server is stopping, to take the results already queued for it.</summary>
    private static readonly TimeSpan ShutdownFlush = TimeSpan.FromSeconds(2);

    /// <summary>How long an ending DetectFrames call waits for a response write under way before cutting it short.</summary>
    private static readonly TimeSpan WriteGrace = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long before a Subscribe call's deadline the service ends it itself. At the deadline grpc-dotnet resets the
    /// HTTP/2 stream, and if a result is being written just then the client gets UNAVAILABLE ("the request was
    /// aborted") instead of DEADLINE_EXCEEDED (found by the fuzz test); ended a little earlier, between writes, the call
    /// closes cleanly with DEADLINE_EXCEEDED. Not DetectFrames: ending a call early while the client is still sending
    /// left, under load, the client's pending request write hanging until it disposed the call (a client-side race,
    /// after the server's RST_STREAM NO_ERROR); there the client's own deadline timer, which fires first because the
    /// server reckons the deadline from when it reads the headers, ends the call with DEADLINE_EXCEEDED.
    /// </summary>
    private static readonly TimeSpan DeadlineMargin = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a refused DetectFrames call keeps reading what the client still sends (see <see cref="DrainAsync"/>).</summary>
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(2);

    public override async Task<Rpc.StreamInfo> AddStream(Rpc.AddStreamRequest request, ServerCallContext context) =>
        ApiMapping.ToInfo(await streams.AddAsync(ApiMapping.ToSettings(request), context.CancellationToken));

    public override async Task<Rpc.RemoveStreamResponse> RemoveStream(Rpc.RemoveStreamRequest request, ServerCallContext context)
    {
        await streams.RemoveAsync(request.Id);
        return new Rpc.RemoveStreamResponse();
    }

    public override Task<Rpc.ListStreamsResponse> ListStreams(Rpc.ListStreamsRequest request, ServerCallContext context)
    {
        var response = new Rpc.ListStreamsResponse();
        response.Streams.AddRange(streams.Streams.Select(ApiMapping.ToInfo));
        return Task.FromResult(response);
    }

    public override Task<Rpc.StreamInfo> GetStream(Rpc.GetStreamRequest request, ServerCallContext context) =>
        Task.FromResult(ApiMapping.ToInfo(streams.Get(request.Id)));

    public override async Task Subscribe(Rpc.SubscribeRequest request, IServerStreamWriter<Rpc.DetectionResult> responseStream,
        ServerCallContext context)
    {
        RequireReady();
        foreach (var id in request.StreamIds)
        {
            streams.Get(id);
        }

        RequestValidation.Fraction(request.MinConfidence, "min_confidence");
        ValidatedClassFilter(request.ClassIds);
        if (!engine.TryAddSubscriber())
        {
            throw new DetectorException(DetectorErrorKind.ResourceExhausted,
                $"The service already has {engine.Options.Limits.MaxSubscribers} subscribers, its limit (Detector:Limits:MaxSubscribers).");
        }

        var stopping = lifetime.ApplicationStopping;
        try
        {
            using var subscription = engine.Hub.Subscribe(new SubscriptionFilter
            {
                StreamIds = request.StreamIds.ToHashSet(),
                ClassIds = request.ClassIds.ToHashSet(),
                MinConfidence = request.MinConfidence,
            });

            // Kestrel waits for open calls before the host stops the streams (up to the host's shutdown timeout, 30 s by
            // default), and a subscription has no end of its own: on shutdown, stop queueing, send what is queued, and
            // end the call, so SIGTERM stops the process in seconds.
            using var flush = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
            using var onStopping = stopping.Register(() =>
            {
                subscription.Complete();
                flush.CancelAfter(ShutdownFlush);
            });
            // The deadline stops the reading only: a write under way is never cut short (that would reset the stream).
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(flush.Token);
            if (context.Deadline != DateTime.MaxValue)
            {
                var left = context.Deadline - DateTime.UtcNow - DeadlineMargin;
                deadline.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            }

            try
            {
                await foreach (var (result, droppedBefore) in subscription.ReadAllAsync(deadline.Token))
                {
                    await responseStream.WriteAsync(ApiMapping.ToResult(result, result.FeedId, droppedBefore), flush.Token);
                }
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !flush.IsCancellationRequested)
            {
                throw new RpcException(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"));
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // The client went away: nothing to report.
            return;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // A client that does not read (flow control is full) would hold the shutdown up: reset its call instead.
            context.GetHttpContext().Abort();
            return;
        }
        finally
        {
            engine.RemoveSubscriber();
        }

        if (stopping.IsCancellationRequested)
        {
            throw new DetectorException(DetectorErrorKind.Unavailable,
                "The server is shutting down; subscribe again once it is back (or to another instance).");
        }
    }

    public override async Task<Rpc.DetectionResult> Detect(Rpc.DetectRequest request, ServerCallContext context)
    {
        RequireReady();
        var detection = Options(request.ConfidenceThreshold, request.IouThreshold);
        var classes = ValidatedClassFilter(request.ClassIds);
        var frame = Decode(request.Image, "the image");
        var sink = new CallSink();
        var feed = engine.Batcher.Register($"detect-{Guid.NewGuid():N}", lossless: true, detection, sink, classes);
        try
        {
            await feed.OfferAsync(frame, context.CancellationToken);
            var result = await sink.Results.Reader.ReadAsync(context.CancellationToken);
            return ApiMapping.ToResult(result, "");
        }
        finally
        {
            engine.Batcher.Unregister(feed);
        }
    }

    public override async Task DetectFrames(IAsyncStreamReader<Rpc.DetectFramesRequest> requestStream,
        IServerStreamWriter<Rpc.DetectionResult> responseStream, ServerCallContext context)
    {
        RequireReady();
        var ct = context.CancellationToken;
        var sink = new CallSink();
        var inFlight = new SemaphoreSlim(FramesInFlightPerCall);
        FeedSlot? feed = null;
        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var ending = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            await foreach (var result in sink.Results.Reader.ReadAllAsync(done.Token))
            {
                // Once the call is ending no new write starts, but one under way is never cut short: cancelling a
                // write aborts the HTTP/2 stream (RST_STREAM CANCEL), and the client would get CANCELLED instead of
                // the call's status (the fuzz test found it when a result came back just as a bad frame ended the call).
                if (ending.IsCancellationRequested)
                {
                    break;
                }

                await responseStream.WriteAsync(ApiMapping.ToResult(result, ""), done.Token);
                inFlight.Release();
            }
        }, CancellationToken.None);
        try
        {
            await foreach (var request in requestStream.ReadAllAsync(ct))
            {
                // The call's first message sets its thresholds and filter (documented in the proto).
                feed ??= engine.Batcher.Register($"frames-{Guid.NewGuid():N}", lossless: true,
                    Options(request.ConfidenceThreshold, 0), sink, ValidatedClassFilter(request.ClassIds));
                var frame = Decode(request.Image, $"frame {request.FrameNumber}");
                frame.Number = (long)request.FrameNumber;
                await inFlight.WaitAsync(ct);
                await feed.OfferAsync(frame, ct);
            }

            // Wait until every frame sent has been answered, then end the response stream.
            for (var i = 0; i < FramesInFlightPerCall; i++)
            {
                await inFlight.WaitAsync(ct);
            }
        }
        catch (Exception e) when (e is DetectorException or RpcException { StatusCode: StatusCode.InvalidArgument } && !ct.IsCancellationRequested)
        {
            await DrainAsync(requestStream, ct);
            throw;
        }
        finally
        {
            if (feed is not null)
            {
                engine.Batcher.Unregister(feed);
            }

            await ending.CancelAsync();
            sink.Results.Writer.TryComplete();
            try
            {
                // A write under way finishes when the client reads; one that never does is cut short after a while.
                await writer.WaitAsync(WriteGrace, ct);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
                // The client never read, or is gone: cut the write short, and still wait for the writer to stop.
                await done.CancelAsync();
                try
                {
                    await writer;
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
    }

    /// <summary>
    /// Reads, and drops, what the client is still sending before a refused frame ends the call. Ending a call whose request
    /// stream is still open makes Kestrel reset the stream; a frame the client had already sent then arrives on a closed
    /// stream, which Kestrel takes as a connection error, failing every other call on the same connection (found by the
    /// fuzz test). Bounded, so that a client that never stops sending still gets its answer.
    /// </summary>
    private static async Task DrainAsync(IAsyncStreamReader<Rpc.DetectFramesRequest> requestStream, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(DrainLimit);
        try
        {
            for (var i = 0; i < 1000 && await requestStream.MoveNext(limit.Token); i++)
            {
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or RpcException or InvalidOperationException)
        {
            // Whatever stops the draining, the refusal is what the client gets.
        }
    }

    public override Task<Rpc.ModelInfo> GetModel(Rpc.GetModelRequest request, ServerCallContext context)
    {
        RequireReady();
        var session = engine.Session;
        var d = session.Description;
        var info = new Rpc.ModelInfo
        {
            Name = d.Name,
            Family = ApiMapping.FamilyName(d.Family),
            InputWidth = d.InputWidth,
            InputHeight = d.InputHeight,
            ExecutionProvider = session.ExecutionProvider,
            MaxBatchSize = session.MaxBatchSize,
            BatchMode = d.BatchMode == Core.Models.BatchMode.Dynamic ? "dynamic" : "item-by-item",
            BatchNote = d.ResultsDependOnBatch
                ? "dynamic INT8 quantisation: results would depend on the other images in a batch, so frames run one by one"
                : "",
            Sha256 = d.Sha256,
        };
        info.ClassNames.AddRange(d.ClassNames);
        return Task.FromResult(info);
    }

    private void RequireReady()
    {
        if (!engine.IsReady)
        {
            throw engine.NotReady();
        }
    }

    private DetectionOptions Options(float confidence, float iou)
    {
        RequestValidation.Fraction(confidence, "confidence_threshold");
        RequestValidation.Fraction(iou, "iou_threshold");
        var options = engine.DefaultDetection;
        return options with
        {
            Confidence = confidence > 0 ? confidence : options.Confidence,
            Iou = iou > 0 ? iou : options.Iou,
        };
    }

    private HashSet<int>? ValidatedClassFilter(IReadOnlyCollection<int> ids) =>
        RequestValidation.ClassFilter(ids, engine.Session.Description.NumClasses);

    private Frame Decode(Google.Protobuf.ByteString bytes, string what)
    {
        try
        {
            return Frame.FromMat(ImageDecoder.Decode(bytes.Span, what, engine.Options.Limits.MaxImagePixels));
        }
        catch (InvalidImageException e)
        {
            throw new DetectorException(DetectorErrorKind.InvalidArgument, e.Message);
        }
    }

    /// <summary>Collects the results of one call's own feed.</summary>
    private sealed class CallSink : IResultSink
    {
        public Channel<FrameResult> Results { get; } = Channel.CreateUnbounded<FrameResult>(new UnboundedChannelOptions { SingleReader = true });

        public void Publish(FrameResult result) => Results.Writer.TryWrite(result);
    }
}
