using System.CommandLine;
using System.Globalization;
using Rpc = Detector.Api.V1;

namespace Detector.Cli.Commands;

/// <summary><c>streams add|list|remove</c>: manage the streams a running service reads.</summary>
internal static class StreamsCommand
{
    public static Command Create()
    {
        var command = new Command("streams", "Add, list or remove the streams of a running service.");
        command.Subcommands.Add(Add());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Remove());
        return command;
    }

    private static Command Add()
    {
        var server = new ServerConnection();
        var id = new Option<string>("--id") { Description = "Stream id: 1-64 letters, digits, '.', '_' or '-'.", Required = true };
        var url = new Option<string>("--url") { Description = "rtsp://, http(s)://, udp:// URL, a video file, or /dev/videoN.", Required = true };
        var fps = new Option<double>("--fps") { Description = "Process at most this many frames per second (0 = the source's rate, up to the service's MaxStreamFps)." };
        var conf = new Option<float>("--conf") { Description = "Minimum confidence for this stream (0 = the service's default)." };
        var loop = new Option<bool>("--loop") { Description = "Files: start again at the end." };
        var fast = new Option<bool>("--fast") { Description = "Files: read as fast as processed, dropping nothing." };
        var udp = new Option<bool>("--udp") { Description = "RTSP over UDP instead of TCP." };
        var command = new Command("add", "Start reading a stream.") { server.Server, server.ApiKey, id, url, fps, conf, loop, fast, udp };
        command.SetAction(r => ServerConnection.Call(() =>
        {
            var client = server.Connect(r, out var channel);
            using (channel)
            {
                var info = client.AddStream(new Rpc.AddStreamRequest
                {
                    Id = r.GetValue(id),
                    Url = r.GetValue(url),
                    Options = new Rpc.StreamOptions
                    {
                        TargetFps = r.GetValue(fps),
                        ConfidenceThreshold = r.GetValue(conf),
                        Loop = r.GetValue(loop),
                        AsFastAsPossible = r.GetValue(fast),
                        RtspUdp = r.GetValue(udp),
                    },
                });
                Print(info);
            }

            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var server = new ServerConnection();
        var command = new Command("list", "List the streams and their state.") { server.Server, server.ApiKey };
        command.SetAction(r => ServerConnection.Call(() =>
        {
            var client = server.Connect(r, out var channel);
            using (channel)
            {
                var streams = client.ListStreams(new Rpc.ListStreamsRequest()).Streams;
                if (streams.Count == 0)
                {
                    Console.WriteLine("no streams");
                }

                foreach (var s in streams)
                {
                    Print(s);
                }
            }

            return 0;
        }));
        return command;
    }

    private static Command Remove()
    {
        var server = new ServerConnection();
        var id = new Option<string>("--id") { Description = "Stream id.", Required = true };
        var command = new Command("remove", "Stop a stream.") { server.Server, server.ApiKey, id };
        command.SetAction(r => ServerConnection.Call(() =>
        {
            var client = server.Connect(r, out var channel);
            using (channel)
            {
                client.RemoveStream(new Rpc.RemoveStreamRequest { Id = r.GetValue(id) });
                Console.WriteLine($"removed {r.GetValue(id)}");
            }

            return 0;
        }));
        return command;
    }

    private static void Print(Rpc.StreamInfo s) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{s.Id,-16} {s.State.ToString().ToLowerInvariant(),-12} {s.MeasuredFps,6:0.0} fps  {s.Width}x{s.Height}  " +
        $"received {s.FramesReceived} processed {s.FramesProcessed} dropped {s.FramesDropped} reconnects {s.Reconnects}  " +
        $"{s.MaskedUrl}{(s.LastError.Length > 0 ? "  last error: " + s.LastError : "")}"));
}
