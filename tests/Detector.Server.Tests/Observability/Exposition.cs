using System.Globalization;
using System.Text;

namespace Detector.Server.Tests.Observability;

/// <summary>One sample of a Prometheus text exposition.</summary>
internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>A scrape of /metrics, parsed: the samples, and the metric families its # TYPE lines declare.</summary>
internal sealed class Exposition
{
    private Exposition(string text, List<Sample> samples, HashSet<string> families)
    {
        Text = text;
        Samples = samples;
        Families = families;
    }

    public string Text { get; }

    public IReadOnlyList<Sample> Samples { get; }

    public IReadOnlySet<string> Families { get; }

    /// <summary>Sample names (histograms give _bucket, _sum and _count) and family names.</summary>
    public IReadOnlySet<string> Names => Samples.Select(s => s.Name).Concat(Families).ToHashSet(StringComparer.Ordinal);

    public static async Task<Exposition> ScrapeAsync(ServerHost host)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync($"{host.HttpAddress}/metrics");
        return Parse(text);
    }

    /// <summary>Scrapes until <paramref name="done"/> holds or the time is up; returns the last scrape either way.</summary>
    public static async Task<Exposition> WaitForAsync(ServerHost host, Func<Exposition, bool> done, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var scrape = await ScrapeAsync(host);
            if (done(scrape) || DateTime.UtcNow > deadline)
            {
                return scrape;
            }

            await Task.Delay(200);
        }
    }

    public static Exposition Parse(string text)
    {
        var samples = new List<Sample>();
        var families = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                families.Add(line.Split(' ')[2]);
            }

            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            samples.Add(ParseSample(line));
        }

        return new Exposition(text, samples, families);
    }

    /// <summary>The one sample of <paramref name="name"/> whose labels include all of <paramref name="labels"/> ("k=v" each).</summary>
    public double Value(string name, params string[] labels) => Find(name, labels).Single().Value;

    /// <summary>The sum over every sample of <paramref name="name"/> whose labels include <paramref name="labels"/>.</summary>
    public double Sum(string name, params string[] labels) => Find(name, labels).Sum(s => s.Value);

    public IEnumerable<Sample> Find(string name, params string[] labels)
    {
        var wanted = labels.Select(l => l.Split('=', 2)).ToArray();
        return Samples.Where(s => s.Name == name && wanted.All(w => s.Labels.TryGetValue(w[0], out var v) && v == w[1]));
    }

    private static Sample ParseSample(string line)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var brace = line.IndexOf('{');
        string name;
        string rest;
        if (brace < 0)
        {
            var space = line.IndexOf(' ');
            name = line[..space];
            rest = line[(space + 1)..];
        }
        else
        {
            name = line[..brace];
            var i = brace + 1;
            while (line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                var key = line[i..eq].Trim();
                i = eq + 2; // past ="
                var value = new StringBuilder();
                while (line[i] != '"')
                {
                    if (line[i] == '\\')
                    {
                        i++;
                        value.Append(line[i] == 'n' ? '\n' : line[i]);
                    }
                    else
                    {
                        value.Append(line[i]);
                    }

                    i++;
                }

                labels[key] = value.ToString();
                i++; // past the closing quote
                if (line[i] == ',')
                {
                    i++;
                }
            }

            rest = line[(i + 1)..].Trim();
        }

        var valueText = rest.Split(' ')[0];
        var number = valueText switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            _ => double.Parse(valueText, CultureInfo.InvariantCulture),
        };
        return new Sample(name, labels, number);
    }
}
