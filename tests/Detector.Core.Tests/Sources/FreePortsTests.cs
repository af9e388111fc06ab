using System.Globalization;
using System.Net;
using System.Net.Sockets;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

/// <summary>
/// The ports test servers are started on: outside the ephemeral range (where an outgoing connection could take one
/// before the server binds it), each handed out once, and free to bind when handed out.
/// </summary>
public class FreePortsTests
{
    [Test]
    public void Ports_come_from_below_the_ephemeral_range_once_each_and_can_be_bound()
    {
        var ephemeralLow = int.Parse(
            File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries)[0],
            CultureInfo.InvariantCulture);
        Assume.That(ephemeralLow, Is.GreaterThan(11000), "this machine's ephemeral range leaves too few ports below it");

        var tcp = Enumerable.Range(0, 50).Select(_ => FreePorts.Tcp()).ToList();
        var udp = Enumerable.Range(0, 50).Select(_ => FreePorts.Udp()).ToList();

        Assert.That(tcp.Concat(udp), Is.All.InRange(10000, ephemeralLow - 1));
        Assert.That(tcp.Concat(udp), Is.Unique);
        using var listener = new TcpListener(IPAddress.Loopback, tcp[^1]);
        Assert.DoesNotThrow(() => listener.Start());
        using var socket = new UdpClient(new IPEndPoint(IPAddress.Loopback, udp[^1]));
    }
}
