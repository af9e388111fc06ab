namespace Detector.Server.Hosting;

/// <summary>The checks every entry point applies to thresholds and class filters, with one wording.</summary>
internal static class RequestValidation
{
    /// <summary>A threshold must be a number from 0 to 1 (NaN included in the refusal).</summary>
    public static void Fraction(float value, string name)
    {
        if (!(value is >= 0 and <= 1))
        {
            throw new DetectorException(DetectorErrorKind.InvalidArgument, $"{name} must be between 0 and 1, got {value}.");
        }
    }

    /// <summary>The class ids as a filter (null for "all"), refusing any the model does not have.</summary>
    public static HashSet<int>? ClassFilter(IReadOnlyCollection<int> ids, int numClasses)
    {
        if (ids.Where(c => c < 0 || c >= numClasses).Select(c => (int?)c).FirstOrDefault() is { } bad)
        {
            throw new DetectorException(DetectorErrorKind.InvalidArgument,
                $"class id {bad} is not one of the model's {numClasses} classes (0-{numClasses - 1}).");
        }

        return ids.Count > 0 ? ids.ToHashSet() : null;
    }
}
