using System.Globalization;

namespace Fjord.Metadata;

/// <summary>
/// One level of the <c>metadata.version</c> feature (Kafka's <c>MetadataVersion</c>, KRaft levels
/// only): the level, its version string (<c>3.9-IV0</c>), whether it changed the metadata format,
/// and whether it is stable (production) in Fjord. Levels 1–25 as in PROTOCOL-TARGETS §5.
/// </summary>
public sealed record MetadataVersion(short FeatureLevel, string Release, string InternalVersion, bool DidMetadataChange, bool IsProduction)
{
    public const string FeatureName = "metadata.version";

    /// <summary><c>3.9-IV0</c>.</summary>
    public string Version => Release + "-" + InternalVersion;

    public override string ToString() => Version;

    public static readonly IReadOnlyList<MetadataVersion> All =
    [
        new(1, "3.0", "IV1", true, true),
        new(2, "3.1", "IV0", false, true),
        new(3, "3.2", "IV0", true, true),
        new(4, "3.3", "IV0", false, true),
        new(5, "3.3", "IV1", true, true),
        new(6, "3.3", "IV2", true, true),
        new(7, "3.3", "IV3", true, true),
        new(8, "3.4", "IV0", true, true),
        new(9, "3.5", "IV0", false, true),
        new(10, "3.5", "IV1", false, true),
        new(11, "3.5", "IV2", true, true),
        new(12, "3.6", "IV0", false, true),
        new(13, "3.6", "IV1", true, true),
        new(14, "3.6", "IV2", true, true),
        new(15, "3.7", "IV0", true, true),
        new(16, "3.7", "IV1", false, true), // reserved
        new(17, "3.7", "IV2", true, true),
        new(18, "3.7", "IV3", false, true), // reserved (ELR moved to 4.0-IV1)
        new(19, "3.7", "IV4", false, true),
        new(20, "3.8", "IV0", false, true),
        new(21, "3.9", "IV0", false, true),
        new(22, "4.0", "IV0", false, true),
        new(23, "4.0", "IV1", true, false),
        new(24, "4.0", "IV2", false, false),
        new(25, "4.0", "IV3", false, false),
    ];

    /// <summary>The lowest level KRaft runs at (3.0-IV1).</summary>
    public static MetadataVersion MinimumKRaftVersion => FromFeatureLevel(1);

    /// <summary>The lowest level a new cluster may be formatted with (3.3-IV0), Kafka's MINIMUM_BOOTSTRAP_VERSION.</summary>
    public static MetadataVersion MinimumBootstrapVersion => FromFeatureLevel(4);

    /// <summary>The default for new clusters: 4.0-IV0 (22).</summary>
    public static MetadataVersion LatestProduction => All.Last(v => v.IsProduction);

    /// <summary>The newest level, stable or not: 4.0-IV3 (25).</summary>
    public static MetadataVersion LatestTesting => All[^1];

    /// <summary>SCRAM credentials in the metadata log need 3.5-IV2 (11) or later.</summary>
    public bool IsScramSupported => FeatureLevel >= 11;

    /// <summary>Dynamic quorums (kraft.version 1, KIP-853) need 3.9-IV0 (21) or later.</summary>
    public bool IsKRaftVersion1Supported => FeatureLevel >= 21;

    public static MetadataVersion FromFeatureLevel(short level) =>
        All.FirstOrDefault(v => v.FeatureLevel == level)
        ?? throw new ArgumentException($"unknown {FeatureName} level {level} (known: {All[0].FeatureLevel}-{All[^1].FeatureLevel})", nameof(level));

    /// <summary>
    /// Parses <c>3.9-IV0</c> (exact) or a release such as <c>3.9</c> or <c>3.9.1</c>, which means the
    /// release's highest stable level (or its highest level when it has no stable one).
    /// </summary>
    public static MetadataVersion FromVersionString(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = text.Trim();
        var exact = All.FirstOrDefault(v => string.Equals(v.Version, text, StringComparison.OrdinalIgnoreCase));
        if (exact is not null) return exact;
        var parts = text.Split('.');
        if (parts.Length is 2 or 3 && parts.All(p => p.Length > 0 && p.All(char.IsAsciiDigit)))
        {
            string release = parts[0] + "." + parts[1];
            var levels = All.Where(v => v.Release == release).ToList();
            if (levels.Count > 0) return levels.LastOrDefault(v => v.IsProduction) ?? levels[^1];
        }
        throw new ArgumentException(
            $"unknown release version '{text}'; supported versions are {MinimumBootstrapVersion.Release} to {LatestProduction.Release} " +
            $"(or an exact one such as {LatestProduction.Version})", nameof(text));
    }

    public string Describe() => $"{Version} (level {FeatureLevel.ToString(CultureInfo.InvariantCulture)})";
}
