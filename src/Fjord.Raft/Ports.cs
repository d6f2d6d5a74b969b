using Fjord.Common;

namespace Fjord.Raft;

/// <summary>An offset paired with the epoch of the batch that ends there (or starts the next).</summary>
public readonly record struct OffsetAndEpoch(long Offset, int Epoch)
{
    /// <summary>Raft's "at least as up to date": a later epoch wins, then a larger offset.</summary>
    public int CompareTo(OffsetAndEpoch other) => Epoch != other.Epoch ? Epoch.CompareTo(other.Epoch) : Offset.CompareTo(other.Offset);
}

/// <summary>
/// The replicated log as the Raft core sees it: record batches (v2) with offsets and leader epochs,
/// and the KIP-630 snapshots that replace its prefix. Implementations do the I/O; the core calls
/// them synchronously and never holds their bytes past the call. Offsets are contiguous from
/// <see cref="StartOffset"/> to <see cref="EndOffset"/>.
/// </summary>
/// <remarks>
/// The log start: 0, or the end offset of a snapshot (<see cref="AdvanceStartToSnapshot"/>,
/// <see cref="ResetToSnapshot"/>); everything below it lives only in that snapshot. The core keeps
/// <see cref="StartOffset"/> equal to <see cref="LatestSnapshotId"/>'s end offset whenever it is not
/// 0 (it fixes a log reopened otherwise when it starts), so the epoch of the batch that ended just
/// before the log start is that snapshot's epoch: the "start point" below.
/// </remarks>
public interface IRaftLog
{
    /// <summary>The first offset held (after a snapshot: the snapshot's end offset).</summary>
    long StartOffset { get; }

    /// <summary>The offset the next batch will get.</summary>
    long EndOffset { get; }

    /// <summary>Everything below this is durable (survives a crash).</summary>
    long FlushedOffset { get; }

    /// <summary>The epoch of the last batch; when no batch is held, the epoch of the snapshot the
    /// log starts after (0 when the log starts at 0).</summary>
    int LastEpoch { get; }

    /// <summary>Kafka's OffsetsForLeaderEpoch rule: for the largest epoch ≤ <paramref name="epoch"/>
    /// held in the log, that epoch and the offset where it ends (the start of the next epoch, or
    /// <see cref="EndOffset"/>). When no batch held has such an epoch but the log starts after a
    /// snapshot (start offset &gt; 0) whose epoch is ≤ <paramref name="epoch"/>: (start offset, that
    /// epoch). (-1, -1) otherwise.</summary>
    OffsetAndEpoch EndOffsetForEpoch(int epoch);

    /// <summary>Appends <paramref name="batches"/> (whole v2 batches), giving them offsets from
    /// <see cref="EndOffset"/> and <paramref name="epoch"/> as partition leader epoch.</summary>
    void AppendAsLeader(ReadOnlyMemory<byte> batches, int epoch);

    /// <summary>Appends batches replicated from the leader, offsets and epochs as given; the first
    /// must start at <see cref="EndOffset"/>.</summary>
    void AppendAsFollower(ReadOnlyMemory<byte> batches);

    /// <summary>Whole batches from the one containing <paramref name="startOffset"/>, at most
    /// <paramref name="maxBytes"/> (but at least one batch), none ending at or past <paramref name="endOffsetExclusive"/>.
    /// The bytes are the caller's to keep (a copy, never a view of a buffer the log reuses): the
    /// leader sends them in a fetch answer without copying them again.</summary>
    ReadOnlyMemory<byte> Read(long startOffset, int maxBytes, long endOffsetExclusive);

    /// <summary>Removes every batch at or after <paramref name="offset"/> (a diverging follower).</summary>
    void TruncateTo(long offset);

    /// <summary>Makes everything appended durable. The core flushes a follower's appends itself
    /// before it fetches again; a leader's appends are flushed when the driver calls
    /// <see cref="RaftNode.Flush"/> — or by the driver directly, possibly on a thread of its own
    /// while the node goes on (the TCP driver does), so a log used that way must allow Flush
    /// concurrently with its other members.</summary>
    void Flush();

    // ---- snapshots (KIP-630). An id is (end offset, epoch of the last batch it contains). ----

    /// <summary>The newest complete snapshot (largest end offset), or null when there is none.
    /// A snapshot being written is never visible here.</summary>
    OffsetAndEpoch? LatestSnapshotId { get; }

    /// <summary>Starts writing snapshot <paramref name="id"/> (record batches, appended in order);
    /// it becomes visible and durable only through <see cref="IRaftSnapshotWriter.Freeze"/>, and a
    /// writer disposed (or a process crashing) before that leaves nothing behind. Throws when a
    /// complete snapshot with that id exists.</summary>
    IRaftSnapshotWriter CreateSnapshot(OffsetAndEpoch id);

    /// <summary>At most <paramref name="maxBytes"/> bytes of complete snapshot <paramref name="id"/>
    /// from byte <paramref name="position"/> (fewer at its end, none at or past it), with the
    /// snapshot's total size; null when no complete snapshot has that id.</summary>
    RaftSnapshotChunk? ReadSnapshot(OffsetAndEpoch id, long position, int maxBytes);

    /// <summary>Moves the log start forward to the end offset of complete snapshot
    /// <paramref name="id"/>, deleting the batches below it and every older snapshot. The end offset
    /// must be a batch boundary within [<see cref="StartOffset"/>, <see cref="EndOffset"/>] and the
    /// batch ending there must have the snapshot's epoch (the caller checks); nothing happens when
    /// it is not above <see cref="StartOffset"/>.</summary>
    void AdvanceStartToSnapshot(OffsetAndEpoch id);

    /// <summary>Empties the log and restarts it after complete snapshot <paramref name="id"/>:
    /// start, end and flushed offsets become its end offset and <see cref="LastEpoch"/> its epoch;
    /// older snapshots are deleted. For a follower whose log is behind, or diverges before, the
    /// leader's log start. Durable when it returns.</summary>
    void ResetToSnapshot(OffsetAndEpoch id);
}

/// <summary>Bytes of a complete snapshot read from some position, and the snapshot's total size.</summary>
public readonly record struct RaftSnapshotChunk(ReadOnlyMemory<byte> Bytes, long Size);

/// <summary>
/// A snapshot being written through <see cref="IRaftLog.CreateSnapshot"/>: bytes appended in order
/// (whole record batches when the core writes its own snapshot, arbitrary chunks when it copies the
/// leader's), then <see cref="Freeze"/> makes it complete, durable and visible at once. Disposing
/// an unfrozen writer discards it.
/// </summary>
public interface IRaftSnapshotWriter : IDisposable
{
    OffsetAndEpoch Id { get; }

    /// <summary>Bytes appended so far.</summary>
    long Size { get; }

    void Append(ReadOnlySpan<byte> bytes);

    /// <summary>Durably completes the snapshot; afterwards <see cref="IRaftLog.LatestSnapshotId"/>
    /// and <see cref="IRaftLog.ReadSnapshot"/> see it. Throws when the bytes are not a whole
    /// snapshot (an adapter may check) or the snapshot already exists.</summary>
    void Freeze();
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
