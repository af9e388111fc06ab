using System.Reflection;
using System.Text.RegularExpressions;

namespace Detector.Core.Models;

/// <summary>Class-name lists: the embedded COCO list, <c>.names</c> files and Ultralytics' metadata dictionary.</summary>
public static partial class ClassNames
{
    private static readonly Lazy<IReadOnlyList<string>> CocoNames = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Detector.Core.weights.coco.names")
            ?? throw new InvalidOperationException("The embedded COCO class list is missing from the build.");
        using var reader = new StreamReader(stream);
        return ParseNamesFile(reader.ReadToEnd());
    });

    /// <summary>The 80 COCO classes in the usual order (0 person, 1 bicycle, 2 car, ...).</summary>
    public static IReadOnlyList<string> Coco => CocoNames.Value;

    /// <summary>One name per non-empty line.</summary>
    public static IReadOnlyList<string> ParseNamesFile(string text) =>
        text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();

    /// <summary>
    /// Parses Ultralytics' <c>names</c> metadata, a Python dict literal such as <c>{0: 'person', 1: "traffic light"}</c>.
    /// Returns null when the text is not such a dict or its keys are not 0..n-1.
    /// </summary>
    public static IReadOnlyList<string>? ParseUltralyticsNames(string text)
    {
        var entries = new SortedDictionary<int, string>();
        foreach (Match m in PythonDictEntry().Matches(text))
        {
            var name = m.Groups["sq"].Success ? m.Groups["sq"].Value : m.Groups["dq"].Value;
            entries[int.Parse(m.Groups["key"].Value, System.Globalization.CultureInfo.InvariantCulture)] =
                Regex.Unescape(name);
        }

        if (entries.Count == 0 || entries.Keys.First() != 0 || entries.Keys.Last() != entries.Count - 1)
        {
            return null;
        }

        return entries.Values.ToArray();
    }

    /// <summary>Names for a model whose classes are unknown: COCO's when it has 80 classes, else class0, class1, ...</summary>
    public static IReadOnlyList<string> Default(int count) =>
        count == Coco.Count ? Coco : Enumerable.Range(0, count).Select(i => $"class{i}").ToArray();

    [GeneratedRegex("""(?<key>\d+)\s*:\s*(?:'(?<sq>(?:[^'\\]|\\.)*)'|"(?<dq>(?:[^"\\]|\\.)*)")""")]
    private static partial Regex PythonDictEntry();
}
