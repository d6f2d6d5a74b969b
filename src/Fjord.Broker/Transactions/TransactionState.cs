using System.Collections.Immutable;
using Fjord.Storage;

namespace Fjord.Broker.Transactions;

/// <summary>
/// The states of a transactional id, with the byte values Kafka stores in
/// <c>TransactionLogValue.TransactionStatus</c>.
/// </summary>
public enum TransactionState : sbyte
{
    /// <summary>No transaction open (after InitProducerId).</summary>
    Empty = 0,
    /// <summary>Partitions (or a group's offsets) were added; the transaction is open.</summary>
    Ongoing = 1,
    /// <summary>EndTxn(commit) persisted; markers are being written.</summary>
    PrepareCommit = 2,
    /// <summary>EndTxn(abort), a timeout or a fence persisted; markers are being written.</summary>
    PrepareAbort = 3,
    /// <summary>Every commit marker written.</summary>
    CompleteCommit = 4,
    /// <summary>Every abort marker written.</summary>
    CompleteAbort = 5,
    /// <summary>The transactional id expired and is being removed (never loaded back: a tombstone).</summary>
    Dead = 6,
    /// <summary>Transient, never persisted: an ongoing transaction is being aborted with a bumped epoch.</summary>
    PrepareEpochFence = 7,
}

/// <summary>Names (as DescribeTransactions / ListTransactions show them) and the legal transitions.</summary>
public static class TransactionStates
{
    private static readonly string[] Names =
        ["Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"];

    /// <summary>Kafka's name of the state.</summary>
    public static string Name(this TransactionState state) =>
        (int)state >= 0 && (int)state < Names.Length ? Names[(int)state] : state.ToString();

    /// <summary>The state with that exact (case-sensitive) name.</summary>
    public static bool TryParse(string name, out TransactionState state)
    {
        int i = Array.IndexOf(Names, name);
        state = (TransactionState)(sbyte)Math.Max(i, 0);
        return i >= 0;
    }

    /// <summary>Whether <paramref name="from"/> → <paramref name="to"/> is one of Kafka's legal transitions.</summary>
    public static bool IsValidTransition(TransactionState from, TransactionState to) => to switch
    {
        TransactionState.Empty => from is TransactionState.Empty or TransactionState.CompleteCommit or TransactionState.CompleteAbort,
        TransactionState.Ongoing => from is TransactionState.Ongoing or TransactionState.Empty or TransactionState.CompleteCommit or TransactionState.CompleteAbort,
        TransactionState.PrepareCommit => from is TransactionState.Ongoing,
        TransactionState.PrepareAbort => from is TransactionState.Ongoing or TransactionState.PrepareEpochFence,
        TransactionState.CompleteCommit => from is TransactionState.PrepareCommit,
        TransactionState.CompleteAbort => from is TransactionState.PrepareAbort,
        TransactionState.Dead => from is TransactionState.Empty or TransactionState.CompleteCommit or TransactionState.CompleteAbort,
        TransactionState.PrepareEpochFence => from is TransactionState.Ongoing,
        _ => false,
    };

    /// <summary>Kafka's "epoch exhausted": no room for the bumps a fence and a retry need.</summary>
    public static bool IsEpochExhausted(short epoch) => epoch >= short.MaxValue - 1;
}

/// <summary>Orders partitions by topic (ordinal), then partition.</summary>
public sealed class TopicPartitionComparer : IComparer<TopicPartition>
{
    public static readonly TopicPartitionComparer Instance = new();

    public int Compare(TopicPartition x, TopicPartition y)
    {
        int c = string.CompareOrdinal(x.Topic, y.Topic);
        return c != 0 ? c : x.Partition.CompareTo(y.Partition);
    }
}

/// <summary>
/// The state of one transactional id (immutable: each transition makes a new value). What is
/// persisted in <c>__transaction_state</c> (value v0) is everything but <see cref="LastProducerEpoch"/>
/// and <see cref="PreviousProducerId"/>, which replay restores as -1 (as Kafka's v0 records do).
/// </summary>
/// <param name="TransactionalId">The key.</param>
/// <param name="ProducerId">The producer id in use.</param>
/// <param name="PreviousProducerId">The id before the last rotation (epoch exhaustion), or -1.</param>
/// <param name="ProducerEpoch">The current epoch; -1 for an id created and not yet initialized.</param>
/// <param name="LastProducerEpoch">The epoch before the last bump that a producer asked for (KIP-360 retries), or -1.</param>
/// <param name="TimeoutMs">The transaction timeout from the last InitProducerId.</param>
/// <param name="State">The state.</param>
/// <param name="Partitions">The partitions in the open (or completing) transaction.</param>
/// <param name="StartTimestampMs">When the open transaction started (first partition added), or -1.</param>
/// <param name="LastUpdateTimestampMs">When the state last changed.</param>
public sealed record TransactionMetadata(
    string TransactionalId,
    long ProducerId,
    long PreviousProducerId,
    short ProducerEpoch,
    short LastProducerEpoch,
    int TimeoutMs,
    TransactionState State,
    ImmutableSortedSet<TopicPartition> Partitions,
    long StartTimestampMs,
    long LastUpdateTimestampMs)
{
    /// <summary>An empty partition set in the canonical order.</summary>
    public static readonly ImmutableSortedSet<TopicPartition> NoPartitions = ImmutableSortedSet<TopicPartition>.Empty.WithComparer(TopicPartitionComparer.Instance);

    /// <summary>The fields a v0 record keeps (for comparing live state with replayed state).</summary>
    public TransactionMetadata Persisted => this with { PreviousProducerId = -1, LastProducerEpoch = -1 };

    public bool Equals(TransactionMetadata? other) =>
        other is not null && TransactionalId == other.TransactionalId && ProducerId == other.ProducerId
        && PreviousProducerId == other.PreviousProducerId && ProducerEpoch == other.ProducerEpoch
        && LastProducerEpoch == other.LastProducerEpoch && TimeoutMs == other.TimeoutMs && State == other.State
        && Partitions.SetEquals(other.Partitions) && StartTimestampMs == other.StartTimestampMs
        && LastUpdateTimestampMs == other.LastUpdateTimestampMs;

    public override int GetHashCode() => HashCode.Combine(TransactionalId, ProducerId, ProducerEpoch, State, Partitions.Count, LastUpdateTimestampMs);
}
