using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Detector.Tests;

/// <summary>
/// Ports for the servers tests start (Kestrel, the RTSP server, Prometheus, ffmpeg listening for UDP).
/// </summary>
/// <remarks>
/// The usual trick, bind port 0 and let go, takes a port from the kernel's ephemeral range, and between letting go and
/// the server binding it any outgoing connection on the machine may be given that same port: a CI run lost a whole
/// fixture to "address already in use" that way. Ports below the ephemeral range are never handed out to outgoing
/// connections, so one found free there stays free unless another server binds it. Each port is handed out once per
/// process, and checked with a bind on every address (which fails if anything listens on it, on any address).
/// </remarks>
public static class FreePorts
{
    // Below 10000 sit many well-known services' ports.
    private const int Floor = 10000;

    private static readonly object Gate = new();
    private static readonly HashSet<int> Given = [];

    /// <summary>A TCP port nothing listens on, outside the ephemeral range.</summary>
    public static int Tcp() => Next(SocketType.Stream, ProtocolType.Tcp);

    /// <summary>A UDP port nothing is bound to, outside the ephemeral range.</summary>
    public static int Udp() => Next(SocketType.Dgram, ProtocolType.Udp);

    private static int Next(SocketType type, ProtocolType protocol)
    {
        var ceiling = EphemeralLow();
        lock (Gate)
        {
            // A machine whose ephemeral range starts low leaves too few ports below it: take the kernel's then.
            for (var attempt = 0; ceiling - Floor >= 1000 && attempt < 1000; attempt++)
            {
                var port = Random.Shared.Next(Floor, ceiling);
                if (Given.Add(port) && CanBind(port, type, protocol))
                {
                    return port;
                }
            }

            using var socket = new Socket(AddressFamily.InterNetwork, type, protocol);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var given = ((IPEndPoint)socket.LocalEndPoint!).Port;
            Given.Add(given);
            return given;
        }
    }

    private static bool CanBind(int port, SocketType type, ProtocolType protocol)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, type, protocol);
            socket.Bind(new IPEndPoint(IPAddress.Any, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The first port of the ephemeral range (Linux: net.ipv4.ip_local_port_range; 32768 by default).</summary>
    private static int EphemeralLow()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range")
                .Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32768;
        }
    }
}
