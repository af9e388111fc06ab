using Detector.Server.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddDetector();

var app = builder.Build();
app.MapDetector();
app.Run();

/// <summary>Visible to the end-to-end tests, which start the real host.</summary>
public partial class Program;
