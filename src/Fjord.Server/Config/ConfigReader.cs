using System.Globalization;

namespace Fjord.Server;

/// <summary>
/// Typed reads of raw properties with Kafka's <c>ConfigDef</c> parsing rules (values trimmed;
/// integers in base 10; booleans <c>true</c>/<c>false</c> in any case; lists comma-separated with
/// blanks dropped). Every key read is remembered, so what is left over is unknown. Failures are
/// <see cref="ConfigException"/>s naming the key and the value.
/// </summary>
internal sealed class ConfigReader(IReadOnlyDictionary<string, string> properties)
{
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, string> Properties => properties;

    /// <summary>The trimmed value, or null when the key is absent.</summary>
    public string? Raw(string key)
    {
        _read.Add(key);
        return properties.TryGetValue(key, out var value) ? value.Trim() : null;
    }

    public bool IsSet(string key) => Raw(key) is not null;

    /// <summary>Marks keys as known without reading them.</summary>
    public void Accept(IEnumerable<string> keys) => _read.UnionWith(keys);

    /// <summary>Keys never read nor accepted, in order.</summary>
    public IEnumerable<string> Unread(Func<string, bool> alsoAccepted) =>
        properties.Keys.Where(k => !_read.Contains(k) && !alsoAccepted(k)).Order(StringComparer.Ordinal);

    public int Int(string key, int defaultValue, int min = int.MinValue, int max = int.MaxValue) =>
        OptionalInt(key, min, max) ?? defaultValue;

    public int? OptionalInt(string key, int min = int.MinValue, int max = int.MaxValue) =>
        OptionalNumber(key, min, max, "not a 32-bit integer");

    public short Short(string key, short defaultValue, short min = short.MinValue) =>
        OptionalNumber(key, min, short.MaxValue, "not a 16-bit integer") ?? defaultValue;

    public long Long(string key, long defaultValue, long min = long.MinValue, long max = long.MaxValue) =>
        OptionalLong(key, min, max) ?? defaultValue;

    public long? OptionalLong(string key, long min = long.MinValue, long max = long.MaxValue) =>
        OptionalNumber(key, min, max, "not a 64-bit integer");

    /// <summary>An integer setting: absent → null; unparsable or out of range → <see cref="ConfigException"/> naming the key.</summary>
    private T? OptionalNumber<T>(string key, T min, T max, string notANumber) where T : struct, System.Numerics.IBinaryInteger<T>
    {
        var raw = Raw(key);
        if (raw is null) return null;
        if (!T.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out T value))
            throw new ConfigException(key, raw, notANumber);
        CheckRange(key, raw, value, min, max);
        return value;
    }

    public double Double(string key, double defaultValue, double min, double max)
    {
        var raw = Raw(key);
        if (raw is null) return defaultValue;
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
            throw new ConfigException(key, raw, "not a number");
        if (value < min || value > max)
            throw new ConfigException(key, raw, $"must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}");
        return value;
    }

    public bool Bool(string key, bool defaultValue)
    {
        var raw = Raw(key);
        if (raw is null) return defaultValue;
        if (raw.Equals("true", StringComparison.OrdinalIgnoreCase)) return true;
        if (raw.Equals("false", StringComparison.OrdinalIgnoreCase)) return false;
        throw new ConfigException(key, raw, "must be true or false");
    }

    public string String(string key, string defaultValue) => Raw(key) ?? defaultValue;

    /// <summary>A comma-separated list; null when the key is absent, empty for an empty value.</summary>
    public IReadOnlyList<string>? OptionalList(string key)
    {
        var raw = Raw(key);
        return raw is null ? null : SplitList(raw);
    }

    public IReadOnlyList<string> List(string key, string defaultValue) => SplitList(Raw(key) ?? defaultValue);

    public static IReadOnlyList<string> SplitList(string raw) =>
        raw.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    private static void CheckRange<T>(string key, string raw, T value, T min, T max) where T : IComparable<T>, IFormattable
    {
        if (value.CompareTo(min) < 0)
            throw new ConfigException(key, raw, $"must be at least {min.ToString(null, CultureInfo.InvariantCulture)}");
        if (value.CompareTo(max) > 0)
            throw new ConfigException(key, raw, $"must be at most {max.ToString(null, CultureInfo.InvariantCulture)}");
    }
}
