using Fjord.Broker.Coordinator;
using Fjord.Common;

namespace Fjord.Broker.Transactions;

/// <summary>
/// Connects the <see cref="TransactionCoordinator"/> to the shared <see cref="CoordinatorRuntime{TShard}"/>
/// of <c>__transaction_state</c>: one shard per partition led here. Created (runtime's
/// <c>createShard</c>) → the coordinator starts loading the partition (COORDINATOR_LOAD_IN_PROGRESS);
/// replay collects the partition's records; <see cref="OnLoaded"/> hands them to the coordinator
/// (on a pool thread, after the runtime marked the partition active, so the coordinator's first
/// appends find it active); <see cref="OnUnloaded"/> drops the partition's state.
/// </summary>
public sealed class TransactionStateShard : ICoordinatorShard
{
    private readonly TransactionCoordinator _coordinator;
    private List<TransactionLogRecord>? _records = [];

    public TransactionStateShard(TransactionCoordinator coordinator, int partition, int epoch)
    {
        _coordinator = coordinator ?? throw new ArgumentNullException(nameof(coordinator));
        Partition = partition;
        Epoch = epoch;
        coordinator.BeginLoading(partition, epoch);
    }

    public int Partition { get; }
    public int Epoch { get; }

    public void Replay(long offset, long producerId, short producerEpoch, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte>? value)
    {
        // Decoded later by TransactionLog.Replay (which skips bad records); kept in log order.
        ReadOnlyMemory<byte>? copy = null;
        if (value is { } v) copy = v.ToArray();
        _records?.Add(new TransactionLogRecord(key.ToArray(), copy));
    }

    public void ReplayEndTransaction(long producerId, bool commit)
    {
        // __transaction_state is never written transactionally.
    }

    public void OnLoaded()
    {
        var records = _records ?? [];
        _records = null;
        _ = Task.Run(() => _coordinator.CompleteLoading(Partition, Epoch, records));
    }

    public void OnUnloaded()
    {
        _records = null;
        _coordinator.UnloadPartition(Partition, Epoch);
    }

    /// <summary>The runtime options for <c>__transaction_state</c> (Kafka's <c>transaction.state.log.*</c> settings).</summary>
    public static CoordinatorRuntimeOptions RuntimeOptions(int partitions = 50, short replicationFactor = 3, int minInsyncReplicas = 2,
        int segmentBytes = 104_857_600) => new()
    {
        TopicName = TransactionLog.TopicName,
        Partitions = partitions,
        ReplicationFactor = replicationFactor,
        TopicConfigs = new Dictionary<string, string>
        {
            ["cleanup.policy"] = "compact",
            ["compression.type"] = "uncompressed",
            ["min.insync.replicas"] = minInsyncReplicas.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["unclean.leader.election.enable"] = "false",
            ["segment.bytes"] = segmentBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        },
    };
}

/// <summary><see cref="ITransactionLogAppender"/> over the shared coordinator runtime (one record per batch, acks=all).</summary>
public sealed class RuntimeTransactionLogAppender(Func<CoordinatorRuntime<TransactionStateShard>?> runtime) : ITransactionLogAppender
{
    public Task<ErrorCode> AppendAsync(int partition, int coordinatorEpoch, TransactionLogRecord record, CancellationToken cancellationToken)
    {
        var r = runtime();
        if (r is null) return Task.FromResult(ErrorCode.NotLeaderOrFollower);
        var value = record.Value is { } v ? v.ToArray() : null;
        return r.AppendAsync(partition, coordinatorEpoch, [new CoordinatorRecord(record.Key.ToArray(), value)]);
    }
}
