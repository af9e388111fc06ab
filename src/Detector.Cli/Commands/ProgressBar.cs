using System.Diagnostics;
using System.Globalization;

namespace Detector.Cli.Commands;

/// <summary>
/// Frames done, FPS and time left on one stderr line, redrawn in place on a terminal; on a pipe or a log file,
/// one plain line every few seconds instead of carriage-return noise.
/// </summary>
internal sealed class ProgressBar(long total)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private TimeSpan? _lastDrawn;

    public void Report(long done, bool final = false)
    {
        var elapsed = _clock.Elapsed;
        var every = _interactive ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromSeconds(5);
        if (!final && _lastDrawn is { } last && elapsed - last < every)
        {
            return;
        }

        _lastDrawn = elapsed;
        var fps = done / Math.Max(1e-6, elapsed.TotalSeconds);
        var left = total > 0 && fps > 0 ? TimeSpan.FromSeconds(Math.Max(0, total - done) / fps) : (TimeSpan?)null;
        var fraction = total > 0 ? Math.Clamp((double)done / total, 0, 1) : 0;
        const int width = 30;
        var bar = total > 0 ? "[" + new string('#', (int)(fraction * width)).PadRight(width, '.') + "] " : "";
        var line = string.Create(CultureInfo.InvariantCulture,
            $"{bar}{done}{(total > 0 ? $"/{total}" : "")} frames  {fps:0.0} fps  {(left is { } l ? $"{l:mm\\:ss} left" : "")}");
        if (_interactive)
        {
            Console.Error.Write("\r" + line.PadRight(Console.IsErrorRedirected ? 0 : 79));
            if (final)
            {
                Console.Error.WriteLine();
            }
        }
        else
        {
            Console.Error.WriteLine(line);
        }
    }
}
