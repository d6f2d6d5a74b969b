namespace Fjord.Broker.Groups;

/// <summary>Settings of the classic group coordinator (Kafka's config names and defaults).</summary>
public sealed record GroupCoordinatorConfig
{
    /// <summary><c>offsets.topic.num.partitions</c>.</summary>
    public int OffsetsTopicPartitions { get; init; } = 50;

    /// <summary><c>offsets.topic.replication.factor</c>.</summary>
    public short OffsetsTopicReplicationFactor { get; init; } = 3;

    /// <summary><c>offsets.topic.segment.bytes</c> (100 MiB).</summary>
    public int OffsetsTopicSegmentBytes { get; init; } = 100 * 1024 * 1024;

    /// <summary><c>offsets.commit.timeout.ms</c>: how long a write waits for the replicas.</summary>
    public int OffsetCommitTimeoutMs { get; init; } = 5_000;

    /// <summary><c>group.min.session.timeout.ms</c>.</summary>
    public int GroupMinSessionTimeoutMs { get; init; } = 6_000;

    /// <summary><c>group.max.session.timeout.ms</c>.</summary>
    public int GroupMaxSessionTimeoutMs { get; init; } = 1_800_000;

    /// <summary><c>group.initial.rebalance.delay.ms</c>: wait for more members when an empty group starts rebalancing.</summary>
    public int GroupInitialRebalanceDelayMs { get; init; } = 3_000;

    /// <summary><c>group.max.size</c>.</summary>
    public int GroupMaxSize { get; init; } = int.MaxValue;

    /// <summary><c>offsets.retention.minutes</c> (7 days), in ms.</summary>
    public long OffsetsRetentionMs { get; init; } = 7L * 24 * 60 * 60 * 1000;

    /// <summary><c>offsets.retention.check.interval.ms</c>.</summary>
    public long OffsetsRetentionCheckIntervalMs { get; init; } = 600_000;

    /// <summary><c>offset.metadata.max.bytes</c>.</summary>
    public int OffsetMetadataMaxBytes { get; init; } = 4096;

    /// <summary>Kafka's fixed session of a member that joined during a rebalance and has not synced yet (5 min).</summary>
    public int NewMemberJoinTimeoutMs { get; init; } = 300_000;

    /// <summary>KIP-848 consumer groups: <c>group.consumer.session.timeout.ms</c>,
    /// <c>group.consumer.heartbeat.interval.ms</c>, <c>group.consumer.max.size</c>.</summary>
    public Consumer.ConsumerGroupConfig ConsumerGroups { get; init; } = new();

    /// <summary>The server properties <see cref="FromProperties"/> reads.</summary>
    public static IReadOnlyList<string> PropertyKeys { get; } =
    [
        "offsets.topic.num.partitions", "offsets.topic.segment.bytes", "offsets.commit.timeout.ms",
        "group.min.session.timeout.ms", "group.max.session.timeout.ms", "group.initial.rebalance.delay.ms", "group.max.size",
        "offsets.retention.minutes", "offsets.retention.check.interval.ms", "offset.metadata.max.bytes",
        "group.consumer.session.timeout.ms", "group.consumer.heartbeat.interval.ms", "group.consumer.max.size",
    ];

    /// <summary>Reads <see cref="PropertyKeys"/> from server properties (absent: the default; invalid:
    /// <see cref="InvalidBrokerPropertyException"/>, see <see cref="BrokerProperties"/>).</summary>
    public static GroupCoordinatorConfig FromProperties(IReadOnlyDictionary<string, string> p, short replicationFactor)
    {
        ArgumentNullException.ThrowIfNull(p);
        var d = new GroupCoordinatorConfig();
        long L(string key, long def, long min) => BrokerProperties.Long(p, key, def, min);
        int I(string key, int def, int min) => BrokerProperties.Int(p, key, def, min);
        return d with
        {
            OffsetsTopicPartitions = I("offsets.topic.num.partitions", d.OffsetsTopicPartitions, 1),
            OffsetsTopicReplicationFactor = replicationFactor,
            OffsetsTopicSegmentBytes = I("offsets.topic.segment.bytes", d.OffsetsTopicSegmentBytes, 1),
            OffsetCommitTimeoutMs = I("offsets.commit.timeout.ms", d.OffsetCommitTimeoutMs, 1),
            GroupMinSessionTimeoutMs = I("group.min.session.timeout.ms", d.GroupMinSessionTimeoutMs, 0),
            GroupMaxSessionTimeoutMs = I("group.max.session.timeout.ms", d.GroupMaxSessionTimeoutMs, 0),
            GroupInitialRebalanceDelayMs = I("group.initial.rebalance.delay.ms", d.GroupInitialRebalanceDelayMs, 0),
            GroupMaxSize = I("group.max.size", d.GroupMaxSize, 1),
            OffsetsRetentionMs = L("offsets.retention.minutes", 7L * 24 * 60, 1) * 60_000,
            OffsetsRetentionCheckIntervalMs = L("offsets.retention.check.interval.ms", d.OffsetsRetentionCheckIntervalMs, 1),
            OffsetMetadataMaxBytes = I("offset.metadata.max.bytes", d.OffsetMetadataMaxBytes, 0),
            ConsumerGroups = d.ConsumerGroups with
            {
                SessionTimeoutMs = I("group.consumer.session.timeout.ms", d.ConsumerGroups.SessionTimeoutMs, 1),
                HeartbeatIntervalMs = I("group.consumer.heartbeat.interval.ms", d.ConsumerGroups.HeartbeatIntervalMs, 1),
                MaxSize = I("group.consumer.max.size", d.ConsumerGroups.MaxSize, 1),
            },
        };
    }
}
