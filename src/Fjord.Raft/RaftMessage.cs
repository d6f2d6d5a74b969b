using Fjord.Protocol;

namespace Fjord.Raft;

/// <summary>
/// A request or response between two nodes, carrying one of Kafka's KRaft messages (VoteRequest,
/// FetchResponse, …) as the generated class. The transport encodes it on the wire; the simulation
/// delivers the object (optionally round-tripped through the codec).
/// </summary>
public sealed record RaftMessage(int Source, int Destination, int CorrelationId, bool IsRequest, IKafkaMessage Body)
{
    public short ApiKey => Body.MessageApiKey;
    public override string ToString() => $"{(IsRequest ? "→" : "←")} {Body.GetType().Name} {Source}→{Destination} #{CorrelationId}";
}

/// <summary>
/// What <see cref="RaftNode.DrainCommitted"/> hands to the state machine, in order: committed
/// batches, and — when the state before some offset is only available as a snapshot (after a
/// restart, or a snapshot fetched from the leader) — a <see cref="SnapshotLoad"/>, after which
/// batches continue from the snapshot's end offset.
/// </summary>
public abstract record CommittedItem
{
    /// <summary>The offset the next item continues from: a batch's last offset + 1, a snapshot's end offset.</summary>
    public abstract long NextOffset { get; }
}

/// <summary>A batch the quorum has committed, handed to the state machine in offset order.</summary>
public sealed record CommittedBatch(long BaseOffset, long LastOffset, int Epoch, long AppendTimestampMs, bool IsControl, ReadOnlyMemory<byte> Bytes)
    : CommittedItem
{
    public override long NextOffset => LastOffset + 1;
}

/// <summary>
/// Replace the whole state with snapshot <paramref name="Id"/>: the state after every committed
/// record below <c>Id.Offset</c>. <paramref name="Bytes"/> is the snapshot as Kafka lays it out:
/// record batches opening with a SNAPSHOT_HEADER control batch and closing with a SNAPSHOT_FOOTER
/// one; <see cref="ReadValues"/> gives the values of its data records.
/// </summary>
public sealed record SnapshotLoad(OffsetAndEpoch Id, ReadOnlyMemory<byte> Bytes) : CommittedItem
{
    public override long NextOffset => Id.Offset;

    /// <summary>The values of the snapshot's data records, in order (control batches skipped).</summary>
    public IReadOnlyList<byte[]> ReadValues(int maxBatchBytes = 64 * 1024 * 1024) => RaftSnapshotFormat.ReadValues(Bytes, maxBatchBytes);
}

public enum RaftRole { Unattached, Prospective, Candidate, Leader, Follower, Resigned }

/// <summary>Kafka's quorum settings (names and defaults of controller.quorum.*).</summary>
public sealed record RaftConfig
{
    public int ElectionTimeoutMs { get; init; } = 1000;
    public int FetchTimeoutMs { get; init; } = 2000;
    public int ElectionBackoffMaxMs { get; init; } = 1000;
    public int RequestTimeoutMs { get; init; } = 2000;
    public int AppendLingerMs { get; init; } = 25;
    public int FetchMaxWaitMs { get; init; } = 500;
    public int FetchMaxBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>
    /// No Kafka key (Fjord's own): how long the leader holds back a fetch answer that would carry
    /// nothing but a new high watermark, so that records proposed meanwhile go out with it. A commit
    /// otherwise costs each follower a second round trip (the high-watermark answer, then a new
    /// fetch), and a proposal made during it waits for that fetch to come back. 0: answer at once.
    /// The clock is in whole milliseconds, so 2 holds an answer back 1–2 ms.
    /// </summary>
    public int HighWatermarkLingerMs { get; init; } = 2;

    /// <summary>Largest snapshot chunk asked for (follower) and sent (leader) per FetchSnapshot.</summary>
    public int FetchSnapshotMaxBytes { get; init; } = 8 * 1024 * 1024;
}
