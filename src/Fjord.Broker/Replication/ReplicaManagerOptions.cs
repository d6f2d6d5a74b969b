using Fjord.Storage;

namespace Fjord.Broker.Replication;

/// <summary>The replica manager's settings, named after Kafka's broker configs.</summary>
public sealed record ReplicaManagerOptions
{
    public static readonly ReplicaManagerOptions Default = new();

    /// <summary>replica.lag.time.max.ms: an ISR member that has not caught up to the leader's log end for this long is removed.</summary>
    public long ReplicaLagTimeMaxMs { get; init; } = 30_000;

    /// <summary>replica.fetch.backoff.ms: a follower's pause after a failed fetch or a partition error.</summary>
    public int ReplicaFetchBackoffMs { get; init; } = 1_000;

    /// <summary>replica.fetch.wait.max.ms: MaxWaitMs of a follower's fetch.</summary>
    public int ReplicaFetchWaitMaxMs { get; init; } = 500;

    /// <summary>replica.fetch.min.bytes: MinBytes of a follower's fetch.</summary>
    public int ReplicaFetchMinBytes { get; init; } = 1;

    /// <summary>replica.fetch.max.bytes: PartitionMaxBytes of a follower's fetch.</summary>
    public int ReplicaFetchMaxBytes { get; init; } = 1024 * 1024;

    /// <summary>replica.fetch.response.max.bytes: MaxBytes of a follower's fetch.</summary>
    public int ReplicaFetchResponseMaxBytes { get; init; } = 10 * 1024 * 1024;

    /// <summary>The Fetch version followers send (12+ for diverging epochs, 13+ for topic ids, 15+ for ReplicaState).</summary>
    public short ReplicaFetchVersion { get; init; } = 17;

    /// <summary>The AlterPartition version sent to the controller (2+: topic ids; 3: NewIsrWithEpochs).</summary>
    public short AlterPartitionVersion { get; init; } = 3;

    /// <summary>How long an AlterPartition may take (the channel retries across controller changes within it).
    /// A proposal still unanswered, or parked waiting for metadata, after this long is dropped and may be made again.</summary>
    public TimeSpan ControllerRequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a WriteTxnMarkers request waits for its markers to be committed (Kafka: request.timeout.ms).</summary>
    public int TxnMarkerTimeoutMs { get; init; } = 30_000;

    /// <summary>min.insync.replicas when neither the topic nor the broker's dynamic config sets it.</summary>
    public int DefaultMinInsyncReplicas { get; init; } = 1;

    /// <summary>The broker-level log config; topic configs from the metadata image are applied over it.</summary>
    public LogConfig DefaultLogConfig { get; init; } = LogConfig.Default;

    /// <summary>producer.id.expiration.ms: a producer without an open transaction whose last write (its last
    /// batch's timestamp) is this much older than now is forgotten by the partition. A dynamic broker
    /// config in the metadata image (this broker's, then the cluster default) overrides it.</summary>
    public long ProducerIdExpirationMs { get; init; } = 86_400_000;

    /// <summary>producer.id.expiration.check.interval.ms: how often partitions look for expired producer ids.</summary>
    public long ProducerIdExpirationCheckIntervalMs { get; init; } = 600_000;

    /// <summary>How often leaders look for ISR members to remove (Kafka: replica.lag.time.max.ms / 2).</summary>
    public long IsrCheckIntervalMs => Math.Max(1, ReplicaLagTimeMaxMs / 2);

    public ReplicaManagerOptions Validate()
    {
        Check(ReplicaLagTimeMaxMs >= 1, "replica.lag.time.max.ms", ReplicaLagTimeMaxMs);
        Check(ReplicaFetchBackoffMs >= 0, "replica.fetch.backoff.ms", ReplicaFetchBackoffMs);
        Check(ReplicaFetchWaitMaxMs >= 0, "replica.fetch.wait.max.ms", ReplicaFetchWaitMaxMs);
        Check(ReplicaFetchMinBytes >= 0, "replica.fetch.min.bytes", ReplicaFetchMinBytes);
        Check(ReplicaFetchMaxBytes >= 0, "replica.fetch.max.bytes", ReplicaFetchMaxBytes);
        Check(ReplicaFetchResponseMaxBytes >= 0, "replica.fetch.response.max.bytes", ReplicaFetchResponseMaxBytes);
        Check(ReplicaFetchVersion is >= 12 and <= 18, "replica fetch version (12-18)", ReplicaFetchVersion);
        Check(AlterPartitionVersion is >= 2 and <= 3, "AlterPartition version (2-3)", AlterPartitionVersion);
        Check(TxnMarkerTimeoutMs >= 0, "transaction marker timeout", TxnMarkerTimeoutMs);
        Check(DefaultMinInsyncReplicas >= 1, "min.insync.replicas", DefaultMinInsyncReplicas);
        Check(ControllerRequestTimeout > TimeSpan.Zero, "controller request timeout", ControllerRequestTimeout);
        Check(ProducerIdExpirationMs >= 1, "producer.id.expiration.ms", ProducerIdExpirationMs);
        Check(ProducerIdExpirationCheckIntervalMs is >= 1 and <= uint.MaxValue - 1, "producer.id.expiration.check.interval.ms", ProducerIdExpirationCheckIntervalMs);
        return this;
    }

    /// <summary>
    /// These options with the producer-state keys of a server.properties map applied:
    /// <c>producer.id.expiration.ms</c> and <c>producer.id.expiration.check.interval.ms</c> (absent keys
    /// keep the current values; a value that is not an integer ≥ 1 is an <see cref="ArgumentException"/>
    /// naming the key).
    /// </summary>
    public ReplicaManagerOptions WithServerProperties(IReadOnlyDictionary<string, string> properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        return this with
        {
            ProducerIdExpirationMs = BrokerProperties.Long(properties, "producer.id.expiration.ms", ProducerIdExpirationMs, 1),
            ProducerIdExpirationCheckIntervalMs = BrokerProperties.Long(properties, "producer.id.expiration.check.interval.ms", ProducerIdExpirationCheckIntervalMs, 1),
        };
    }

    /// <summary>The server properties <see cref="WithServerProperties"/> reads.</summary>
    public static IReadOnlyList<string> PropertyKeys { get; } = ["producer.id.expiration.ms", "producer.id.expiration.check.interval.ms"];

    private static void Check(bool valid, string key, object value)
    {
        if (!valid) throw new ArgumentException($"invalid value {value} for {key}");
    }
}
