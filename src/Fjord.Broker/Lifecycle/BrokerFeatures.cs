using Fjord.Metadata;

namespace Fjord.Broker.Lifecycle;

/// <summary>
/// The feature ranges a Fjord broker supports: what it registers with (BrokerRegistration) and
/// advertises in ApiVersions. Must cover every finalized level of the cluster, or the controller
/// refuses the registration (UNSUPPORTED_VERSION).
/// </summary>
public static class BrokerFeatures
{
    public const string KRaftVersion = "kraft.version";

    /// <summary><c>metadata.version</c> 1 (3.0-IV1) to the latest level Fjord knows
    /// (<see cref="MetadataVersion.LatestTesting"/>, as the controller accepts), <c>kraft.version</c> 0–1.</summary>
    public static readonly IReadOnlyList<SupportedFeature> Default =
    [
        new(MetadataVersion.FeatureName, MetadataVersion.MinimumKRaftVersion.FeatureLevel, MetadataVersion.LatestTesting.FeatureLevel),
        new(KRaftVersion, 0, 1),
    ];
}
