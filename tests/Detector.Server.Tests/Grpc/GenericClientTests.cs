using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;

namespace Detector.Server.Tests.Grpc;

/// <summary>
/// What a generic client that knows nothing of the project sees (the way grpcurl works): the services listed by
/// server reflection, the Detect method's messages described by the descriptors reflection returns, the request
/// encoded and the response decoded from those descriptors alone, and the standard health service.
/// </summary>
[NonParallelizable]
public class GenericClientTests
{
    private ServerHost _host = null!;

    [OneTimeSetUp]
    public async Task Start() => _host = await ServerHost.StartAsync();

    [OneTimeTearDown]
    public async Task Stop() => await _host.DisposeAsync();

    [Test]
    public async Task Health_says_serving_once_the_model_is_warm()
    {
        var health = new Health.HealthClient(_host.Calls);
        var response = await health.CheckAsync(new HealthCheckRequest());
        Assert.That(response.Status, Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
    }

    [Test]
    public async Task Reflection_lists_the_services_and_describes_detect_well_enough_to_call_it()
    {
        var reflection = new ServerReflection.ServerReflectionClient(_host.Calls);
        using var call = reflection.ServerReflectionInfo();

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.ResponseStream.MoveNext(CancellationToken.None);
        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.That(services, Does.Contain("detector.v1.Detector").And.Contain("grpc.health.v1.Health"));

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "detector.v1.Detector" });
        await call.ResponseStream.MoveNext(CancellationToken.None);
        await call.RequestStream.CompleteAsync();
        var files = call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto
            .Select(b => FileDescriptorProto.Parser.ParseFrom(b)).ToList();
        var file = files.Single(f => f.Package == "detector.v1");
        var detect = file.Service.Single(s => s.Name == "Detector").Method.Single(m => m.Name == "Detect");
        var request = file.MessageType.Single(m => "." + file.Package + "." + m.Name == detect.InputType);
        var response = file.MessageType.Single(m => "." + file.Package + "." + m.Name == detect.OutputType);
        var detection = file.MessageType.Single(m => m.Name == "Detection");

        // Encode {image: <jpeg bytes>} using only the field number reflection gave.
        var imageField = request.Field.Single(f => f.Name == "image");
        var body = new MemoryStream();
        var output = new CodedOutputStream(body);
        output.WriteTag(imageField.Number, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(File.ReadAllBytes(Shared.Image("bus.jpg"))));
        output.Flush();

        var method = new Method<byte[], byte[]>(MethodType.Unary, "detector.v1.Detector", "Detect",
            Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));
        var reply = await _host.Calls.AsyncUnaryCall(method, null, new CallOptions(), body.ToArray());

        // Decode the repeated detections and their labels from the descriptors.
        var detectionsField = response.Field.Single(f => f.Name == "detections").Number;
        var labelField = detection.Field.Single(f => f.Name == "label").Number;
        var labels = new List<string>();
        var input = new CodedInputStream(reply);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) != detectionsField)
            {
                input.SkipLastField();
                continue;
            }

            var inner = new CodedInputStream(input.ReadBytes().ToByteArray());
            uint innerTag;
            while ((innerTag = inner.ReadTag()) != 0)
            {
                if (WireFormat.GetTagFieldNumber(innerTag) == labelField)
                {
                    labels.Add(inner.ReadString());
                }
                else
                {
                    inner.SkipLastField();
                }
            }
        }

        Assert.That(labels, Does.Contain("bus"));
        Assert.That(labels.Count(l => l == "person"), Is.GreaterThanOrEqualTo(2));
    }
}
