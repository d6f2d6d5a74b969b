using Fjord.Broker.Lifecycle;
using Fjord.Metadata;

namespace Fjord.Broker.Apis;

/// <summary>What <see cref="BrokerMetadataApis"/> needs from the server configuration.</summary>
public sealed record BrokerApiOptions
{
    /// <summary><c>node.id</c>.</summary>
    public required int NodeId { get; init; }

    /// <summary>The cluster id from <c>meta.properties</c>.</summary>
    public required string ClusterId { get; init; }

    /// <summary><c>auto.create.topics.enable</c> (Kafka's default: true).</summary>
    public bool AutoCreateTopicsEnable { get; init; } = true;

    /// <summary><c>num.partitions</c>: partitions of an auto-created topic.</summary>
    public int NumPartitions { get; init; } = 1;

    /// <summary><c>default.replication.factor</c>: replication factor of an auto-created topic.</summary>
    public short DefaultReplicationFactor { get; init; } = 1;

    /// <summary>
    /// The static broker configs from <c>server.properties</c> (key → value as written), for
    /// DescribeConfigs: STATIC_BROKER_CONFIG entries of this broker and of the topic configs whose
    /// broker synonym they set (<c>log.retention.ms</c> → <c>retention.ms</c>, …).
    /// </summary>
    public IReadOnlyDictionary<string, string> StaticConfigs { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>How long a request to the active controller (auto-creation) may take.</summary>
    public TimeSpan ControllerRequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary><c>max.request.partition.size.limit</c>: the most partitions one DescribeTopicPartitions answer holds.</summary>
    public int MaxRequestPartitionSizeLimit { get; init; } = 2000;

    /// <summary>Features this broker supports (advertised in ApiVersions).</summary>
    public IReadOnlyList<SupportedFeature> SupportedFeatures { get; init; } = BrokerFeatures.Default;
}
