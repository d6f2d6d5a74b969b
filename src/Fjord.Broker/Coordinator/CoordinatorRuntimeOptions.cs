namespace Fjord.Broker.Coordinator;

/// <summary>Settings of one coordinator topic (Kafka's <c>offsets.topic.*</c> or <c>transaction.state.log.*</c>).</summary>
public sealed record CoordinatorRuntimeOptions
{
    /// <summary>The internal topic (<c>__consumer_offsets</c>, <c>__transaction_state</c>).</summary>
    public required string TopicName { get; init; }

    /// <summary><c>offsets.topic.num.partitions</c> (50): used for the key → partition mapping and at creation.</summary>
    public int Partitions { get; init; } = 50;

    /// <summary><c>offsets.topic.replication.factor</c> (3).</summary>
    public short ReplicationFactor { get; init; } = 3;

    /// <summary>Topic configs sent at creation (<c>cleanup.policy=compact</c>, segment bytes, min ISR…).</summary>
    public IReadOnlyDictionary<string, string> TopicConfigs { get; init; } = new Dictionary<string, string> { ["cleanup.policy"] = "compact" };

    /// <summary>How long the CreateTopics of the internal topic may take.</summary>
    public TimeSpan ControllerTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary><c>offsets.commit.timeout.ms</c> (5000): how long an append waits for the HW (acks=all).</summary>
    public int AppendTimeoutMs { get; init; } = 5_000;

    /// <summary><c>offsets.load.buffer.size</c> (5 MiB): bytes read from the log per step while loading.</summary>
    public int LoadBufferBytes { get; init; } = 5 * 1024 * 1024;

    /// <summary>Largest decompressed batch accepted while loading.</summary>
    public int MaxDecompressedBatchBytes { get; init; } = 64 * 1024 * 1024;
}

/// <summary>Where a key's coordinator is: an error (COORDINATOR_NOT_AVAILABLE…) or the leader's endpoint.</summary>
public readonly record struct CoordinatorLocation(Fjord.Common.ErrorCode Error, int NodeId, string Host, int Port, string? Message = null)
{
    public static CoordinatorLocation NotAvailable(string message) => new(Fjord.Common.ErrorCode.CoordinatorNotAvailable, -1, "", -1, message);
}

/// <summary>Finds the coordinator of a key (FindCoordinator); implemented by every <see cref="CoordinatorRuntime{TShard}"/>.</summary>
public interface ICoordinatorLocator
{
    /// <summary>
    /// The leader of the key's partition, with its endpoint on <paramref name="listenerName"/>;
    /// COORDINATOR_NOT_AVAILABLE while the topic does not exist (its creation is started), has no
    /// leader, or the leader is fenced or lacks the listener. Never blocks.
    /// </summary>
    CoordinatorLocation Locate(string key, string listenerName);
}

/// <summary>Producer fields of an appended batch (TxnOffsetCommit writes transactional batches).</summary>
public readonly record struct CoordinatorBatchProducer(long ProducerId, short ProducerEpoch, bool IsTransactional)
{
    public static readonly CoordinatorBatchProducer None = new(-1, -1, false);
}
