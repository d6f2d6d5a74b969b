using System.Collections.Immutable;
using Fjord.Metadata;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>The controller's settings (Kafka's keys in the remarks of each).</summary>
public sealed record ControllerConfig
{
    /// <summary>The cluster id the log was formatted with; registrations naming another are refused.</summary>
    public required string ClusterId { get; init; }

    /// <summary><c>broker.session.timeout.ms</c>: a broker not heard from for this long is fenced.</summary>
    public long BrokerSessionTimeoutMs { get; init; } = 9000;

    /// <summary><c>metadata.max.idle.interval.ms</c>: the active controller writes a NoOpRecord this
    /// often, so the high watermark and brokers' metadata offsets keep moving. 0 disables.</summary>
    public long MaxIdleIntervalMs { get; init; } = 500;

    /// <summary>The records the first active controller of an empty log writes, as one atomic batch
    /// (from the bootstrap checkpoint written by <c>storage format</c>: metadata.version's
    /// FeatureLevelRecord first, then other feature levels, SCRAM credentials…).</summary>
    public IReadOnlyList<MetadataRecord> BootstrapRecords { get; init; } = [];

    /// <summary>The feature levels this controller supports (the quorum's supported features). An
    /// UpdateFeatures to a level outside them is refused.</summary>
    public ImmutableSortedDictionary<string, SupportedRange> SupportedFeatures { get; init; } = DefaultSupportedFeatures;

    /// <summary>Producer ids handed out per AllocateProducerIds (Kafka: 1000).</summary>
    public int ProducerIdBlockSize { get; init; } = 1000;

    /// <summary><c>num.partitions</c>: partitions of a topic created with NumPartitions = -1.</summary>
    public int DefaultNumPartitions { get; init; } = 1;

    /// <summary><c>default.replication.factor</c>: replicas per partition when ReplicationFactor = -1.</summary>
    public short DefaultReplicationFactor { get; init; } = 1;

    /// <summary><c>unclean.leader.election.enable</c>: the default when neither the topic nor the
    /// cluster-wide broker config sets it.</summary>
    public bool UncleanLeaderElectionEnable { get; init; }

    /// <summary><c>delete.topic.enable</c>: when false DeleteTopics answers TOPIC_DELETION_DISABLED.</summary>
    public bool DeleteTopicEnable { get; init; } = true;

    /// <summary>Seeds the controller's random source (topic ids, where replica placement starts);
    /// null: unpredictable. Tests set it to get the same ids and placements every run.</summary>
    public int? RandomSeed { get; init; }

    /// <summary>Records per batch when a non-atomic result is split (Kafka's controller: 10,000).
    /// Atomic results are never split, whatever their size.</summary>
    public int MaxRecordsPerBatch { get; init; } = 10_000;

    /// <summary>Framed record bytes per batch when a non-atomic result is split: well under Raft's
    /// 8 MiB fetch size (<c>RaftConfig.FetchMaxBytes</c>), so followers and brokers fetch a batch whole.</summary>
    public int MaxBatchBytes { get; init; } = 4 * 1024 * 1024;

    public static readonly ImmutableSortedDictionary<string, SupportedRange> DefaultSupportedFeatures =
        new Dictionary<string, SupportedRange>
        {
            [MetadataVersion.FeatureName] = new(MetadataVersion.MinimumKRaftVersion.FeatureLevel, MetadataVersion.LatestTesting.FeatureLevel),
            ["kraft.version"] = new(0, 1),
            ["group.version"] = new(0, 1),
            ["transaction.version"] = new(0, 2),
        }.ToImmutableSortedDictionary(StringComparer.Ordinal);

    /// <summary>The bootstrap records of a new cluster at <paramref name="version"/>: its metadata.version.</summary>
    public static IReadOnlyList<MetadataRecord> BootstrapFor(MetadataVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        return [new MetadataRecord(new FeatureLevelRecord { Name = MetadataVersion.FeatureName, FeatureLevel = version.FeatureLevel }, 0)];
    }
}

/// <summary>What one controller operation produced: the records to append and the response to give
/// once they are committed.</summary>
public sealed record ControllerResult<T>(IReadOnlyList<MetadataRecord> Records, T Response)
{
    /// <summary>
    /// True (the default): the records are appended as one batch, all or nothing. False: every record
    /// stands alone (partition changes, broker fencing…), so the controller may split them into several
    /// batches of at most <see cref="ControllerConfig.MaxRecordsPerBatch"/> records /
    /// <see cref="ControllerConfig.MaxBatchBytes"/> bytes (as Kafka's controller does for non-atomic
    /// results); a leadership loss between two of them may leave the first ones committed alone.
    /// </summary>
    public bool IsAtomic { get; init; } = true;

    public static ControllerResult<T> Of(T response, params MetadataRecord[] records) => new(records, response);
}
