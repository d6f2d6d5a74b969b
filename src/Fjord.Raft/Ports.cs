using Fjord.Common;

namespace Fjord.Raft;

/// <summary>An offset paired with the epoch of the batch that ends there (or starts the next).</summary>
public readonly record struct OffsetAndEpoch(long Offset, int Epoch)
{
    /// <summary>Raft's "at least as up to date": a later epoch wins, then a larger offset.</summary>
    public int CompareTo(OffsetAndEpoch other) => Epoch != other.Epoch ? Epoch.CompareTo(other.Epoch) : Offset.CompareTo(other.Offset);
}

/// <summary>
/// The replicated log as the Raft core sees it: record batches (v2) with offsets and leader epochs.
/// Implementations do the I/O; the core calls them synchronously and never holds their bytes past
/// the call. Offsets are contiguous from <see cref="StartOffset"/> to <see cref="EndOffset"/>.
/// </summary>
public interface IRaftLog
{
    /// <summary>The first offset held (after a snapshot: the snapshot's end offset).</summary>
    long StartOffset { get; }

    /// <summary>The offset the next batch will get.</summary>
    long EndOffset { get; }

    /// <summary>Everything below this is durable (survives a crash).</summary>
    long FlushedOffset { get; }

    /// <summary>The epoch of the last batch (or of the snapshot the log starts after; 0 when empty).</summary>
    int LastEpoch { get; }

    /// <summary>Kafka's OffsetsForLeaderEpoch rule: for the largest epoch ≤ <paramref name="epoch"/>
    /// held in the log, that epoch and the offset where it ends (the start of the next epoch, or
    /// <see cref="EndOffset"/>). (-1, -1) when every batch has a larger epoch.</summary>
    OffsetAndEpoch EndOffsetForEpoch(int epoch);

    /// <summary>Appends <paramref name="batches"/> (whole v2 batches), giving them offsets from
    /// <see cref="EndOffset"/> and <paramref name="epoch"/> as partition leader epoch.</summary>
    void AppendAsLeader(ReadOnlyMemory<byte> batches, int epoch);

    /// <summary>Appends batches replicated from the leader, offsets and epochs as given; the first
    /// must start at <see cref="EndOffset"/>.</summary>
    void AppendAsFollower(ReadOnlyMemory<byte> batches);

    /// <summary>Whole batches from the one containing <paramref name="startOffset"/>, at most
    /// <paramref name="maxBytes"/> (but at least one batch), none ending at or past <paramref name="endOffsetExclusive"/>.</summary>
    ReadOnlyMemory<byte> Read(long startOffset, int maxBytes, long endOffsetExclusive);

    /// <summary>Removes every batch at or after <paramref name="offset"/> (a diverging follower).</summary>
    void TruncateTo(long offset);

    /// <summary>Makes everything appended durable.</summary>
    void Flush();
}

/// <summary>What must survive a restart for Raft to stay safe: the epoch, the vote cast in it,
/// and the leader known for it.</summary>
public sealed record ElectionState(int Epoch, int? VotedId, Uuid VotedDirectoryId, int? LeaderId);

/// <summary>Durable storage of <see cref="ElectionState"/>. <see cref="Write"/> returns only once
/// the state is on disk; the core calls it before sending anything that depends on it.</summary>
public interface IQuorumStateStore
{
    ElectionState? Read();
    void Write(ElectionState state);
}
