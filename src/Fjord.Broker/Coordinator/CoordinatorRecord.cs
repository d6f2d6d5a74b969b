namespace Fjord.Broker.Coordinator;

/// <summary>One record of a coordinator topic: key bytes and value bytes (null: a tombstone).</summary>
public readonly record struct CoordinatorRecord(byte[] Key, byte[]? Value);

/// <summary>
/// The state machine of one partition of a coordinator topic (<c>__consumer_offsets</c>,
/// <c>__transaction_state</c>). The runtime creates one per partition each time this broker becomes
/// its leader (with the leader epoch), replays the partition's log into it, then calls
/// <see cref="OnLoaded"/>; on losing leadership it calls <see cref="OnUnloaded"/> and drops it.
/// </summary>
/// <remarks>
/// Every call is made under <see cref="CoordinatorShardContext.Lock"/> of the shard's context
/// (replay and load happen before the shard is visible to requests).
/// </remarks>
public interface ICoordinatorShard
{
    /// <summary>
    /// One record read back from the log at load, in offset order. <paramref name="producerId"/> is
    /// -1 for plain batches; for a transactional batch it is the producer, and the record only
    /// takes effect once <see cref="ReplayEndTransaction"/> commits it. Bad bytes: throw
    /// <see cref="FormatException"/> (the record is skipped and logged), never anything else.
    /// </summary>
    void Replay(long offset, long producerId, short producerEpoch, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte>? value);

    /// <summary>A COMMIT (<paramref name="commit"/>) or ABORT marker of <paramref name="producerId"/> read at load.</summary>
    void ReplayEndTransaction(long producerId, bool commit);

    /// <summary>The load finished: the shard now serves requests (start timers here).</summary>
    void OnLoaded();

    /// <summary>Leadership lost (or the broker stops): cancel timers, fail waiting requests with NOT_COORDINATOR.</summary>
    void OnUnloaded();
}
