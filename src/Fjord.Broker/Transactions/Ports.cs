using Fjord.Common;
using Fjord.Storage;

namespace Fjord.Broker.Transactions;

/// <summary>
/// Appends records to a <c>__transaction_state</c> partition this broker leads (acks=all). The
/// composition root implements it over the replica manager (or the shared coordinator runtime).
/// </summary>
public interface ITransactionLogAppender
{
    /// <summary>
    /// Appends one record to <paramref name="partition"/> and completes once it is committed (or
    /// failed): NONE, or the produce error (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS,
    /// REQUEST_TIMED_OUT, …). <paramref name="coordinatorEpoch"/> is the leader epoch the state
    /// was loaded at; an implementation may refuse (NOT_LEADER_OR_FOLLOWER) if the partition has
    /// moved on. May throw; the coordinator treats an exception as COORDINATOR_NOT_AVAILABLE.
    /// </summary>
    Task<ErrorCode> AppendAsync(int partition, int coordinatorEpoch, TransactionLogRecord record, CancellationToken cancellationToken);
}

/// <summary>One transaction's markers: write a COMMIT or ABORT control batch for the producer to each partition.</summary>
/// <param name="ProducerId">The producer.</param>
/// <param name="ProducerEpoch">The epoch the markers carry (the bumped one after a fence).</param>
/// <param name="Commit">True: COMMIT markers; false: ABORT.</param>
/// <param name="CoordinatorEpoch">The coordinator's <c>__transaction_state</c> partition leader epoch.</param>
/// <param name="Partitions">Where to write them.</param>
public sealed record TxnMarkerRequest(long ProducerId, short ProducerEpoch, bool Commit, int CoordinatorEpoch, IReadOnlyList<TopicPartition> Partitions);

/// <summary>
/// Writes transaction markers through WriteTxnMarkers to the leaders of the partitions (the
/// composition root: over the network to other brokers, in-process for partitions led here).
/// </summary>
public interface ITxnMarkerSender
{
    /// <summary>
    /// Sends the markers and returns each partition's error code (NONE when written). A partition
    /// missing from the answer counts as a retriable failure; so does an exception. Partitions
    /// without a known leader should be answered NOT_LEADER_OR_FOLLOWER, partitions of topics that
    /// no longer exist UNKNOWN_TOPIC_OR_PARTITION.
    /// </summary>
    Task<IReadOnlyDictionary<TopicPartition, ErrorCode>> SendAsync(TxnMarkerRequest request, CancellationToken cancellationToken);
}

/// <summary>Settings of the transaction coordinator (Kafka's config names).</summary>
public sealed class TransactionCoordinatorOptions
{
    /// <summary><c>transaction.state.log.num.partitions</c>.</summary>
    public int TransactionStateLogPartitions { get; init; } = 50;

    /// <summary><c>offsets.topic.num.partitions</c> (AddOffsetsToTxn adds the group's partition of <c>__consumer_offsets</c>).</summary>
    public int OffsetsTopicPartitions { get; init; } = 50;

    /// <summary><c>transaction.max.timeout.ms</c>: the largest transaction timeout InitProducerId accepts.</summary>
    public int TransactionMaxTimeoutMs { get; init; } = 900_000;

    /// <summary><c>transactional.id.expiration.ms</c>: an idle transactional id is removed after this long.</summary>
    public long TransactionalIdExpirationMs { get; init; } = 604_800_000;

    /// <summary><c>transaction.abort.timed.out.transaction.cleanup.interval.ms</c>.</summary>
    public int AbortTimedOutTransactionsIntervalMs { get; init; } = 10_000;

    /// <summary><c>transaction.remove.expired.transaction.cleanup.interval.ms</c>.</summary>
    public int RemoveExpiredTransactionalIdsIntervalMs { get; init; } = 3_600_000;

    /// <summary>Wait before resending markers that failed (doubles up to 10×).</summary>
    public int MarkerRetryBackoffMs { get; init; } = 100;

    /// <summary>The server properties <see cref="FromProperties"/> reads.</summary>
    public static IReadOnlyList<string> PropertyKeys { get; } =
    [
        "transaction.state.log.num.partitions", "offsets.topic.num.partitions", "transaction.max.timeout.ms",
        "transactional.id.expiration.ms", "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        "transaction.remove.expired.transaction.cleanup.interval.ms",
    ];

    /// <summary>Reads <see cref="PropertyKeys"/> from server properties (absent: the default; invalid:
    /// <see cref="InvalidBrokerPropertyException"/>, see <see cref="BrokerProperties"/>).</summary>
    public static TransactionCoordinatorOptions FromProperties(IReadOnlyDictionary<string, string> p)
    {
        ArgumentNullException.ThrowIfNull(p);
        var d = new TransactionCoordinatorOptions();
        int I(string key, int def) => BrokerProperties.Int(p, key, def, 1);
        return new TransactionCoordinatorOptions
        {
            TransactionStateLogPartitions = I("transaction.state.log.num.partitions", d.TransactionStateLogPartitions),
            OffsetsTopicPartitions = I("offsets.topic.num.partitions", d.OffsetsTopicPartitions),
            TransactionMaxTimeoutMs = I("transaction.max.timeout.ms", d.TransactionMaxTimeoutMs),
            TransactionalIdExpirationMs = BrokerProperties.Long(p, "transactional.id.expiration.ms", d.TransactionalIdExpirationMs, 1),
            AbortTimedOutTransactionsIntervalMs = I("transaction.abort.timed.out.transaction.cleanup.interval.ms", d.AbortTimedOutTransactionsIntervalMs),
            RemoveExpiredTransactionalIdsIntervalMs = I("transaction.remove.expired.transaction.cleanup.interval.ms", d.RemoveExpiredTransactionalIdsIntervalMs),
        };
    }
}
