using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Rpc = Detector.Api.V1;

namespace Detector.Server.Tests.Grpc;

[NonParallelizable]
public class TlsTests
{
    [Test]
    public async Task With_a_certificate_configured_the_api_is_served_over_tls_only()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var pfx = Path.Combine(Path.GetTempPath(), $"detector-test-{Guid.NewGuid():N}.pfx");
        await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "pw"));

        await using var host = await ServerHost.StartAsync(new Dictionary<string, string>
        {
            ["Detector:Endpoints:CertificatePath"] = pfx,
            ["Detector:Endpoints:CertificatePassword"] = "pw",
        });
        var address = host.GrpcAddress.Replace("http://", "https://");
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                // Trust exactly this self-signed certificate, nothing else.
                RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == certificate.GetCertHashString(),
            },
        };
        using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = handler });
        var model = await new Rpc.Detector.DetectorClient(channel).GetModelAsync(new Rpc.GetModelRequest());
        Assert.That(model.Name, Is.EqualTo("yolo-fastestv2"));

        // Cleartext to the TLS port fails.
        Assert.That(async () => await host.Client.GetModelAsync(new Rpc.GetModelRequest()), Throws.Exception);
    }
}
