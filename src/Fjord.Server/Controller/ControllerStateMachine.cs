using Fjord.Controller;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using Fjord.Raft;

namespace Fjord.Server.Controller;

/// <summary>
/// The committed metadata state as the Raft node applies it, fed in offset order from the Raft
/// node's thread: every committed record is replayed into a <see cref="ControllerState"/> (the same
/// replay the <see cref="QuorumController"/> does on its own thread), so a snapshot taken in a round
/// of the driver holds exactly the state as of its end offset. It also keeps the snapshot policy's
/// byte count and how far it has applied.
/// </summary>
/// <remarks>
/// One writer at a time (whichever thread runs the driver's round; rounds are serialized and in
/// offset order); the properties may be read from any thread. A gap or a step back
/// in the offsets, or a record that does not decode, throws <see cref="InvalidOperationException"/>
/// / <see cref="Fjord.Protocol.ProtocolDecodeException"/>: the state would no longer be the log's.
/// </remarks>
public sealed class ControllerStateMachine
{
    private const int MaxBatchBytes = 64 * 1024 * 1024;
    private const int RecordsPerSnapshotBatch = 1024;

    private long _lastAppliedOffset = -1;
    private long _lastAppliedEpoch = -1;
    private long _recordsApplied;
    private long _noOpRecords;
    private long _bytesSinceSnapshot;
    private volatile ControllerState _state = ControllerState.Empty;

    /// <summary>The committed state as of <see cref="LastAppliedOffset"/>.</summary>
    public ControllerState State => _state;

    /// <summary>The offset of the last committed record applied; -1 before any.</summary>
    public long LastAppliedOffset => Interlocked.Read(ref _lastAppliedOffset);

    /// <summary>The leader epoch of the batch holding <see cref="LastAppliedOffset"/>; -1 before any.</summary>
    public int LastAppliedEpoch => (int)Interlocked.Read(ref _lastAppliedEpoch);

    /// <summary>Metadata records applied (control records and snapshot contents not counted).</summary>
    public long RecordsApplied => Interlocked.Read(ref _recordsApplied);

    /// <summary>How many of <see cref="RecordsApplied"/> were NoOpRecords.</summary>
    public long NoOpRecords => Interlocked.Read(ref _noOpRecords);

    /// <summary>Bytes of committed batches applied since the last snapshot (written or loaded): what
    /// <c>metadata.log.max.record.bytes.between.snapshots</c> is compared with.</summary>
    public long BytesSinceSnapshot => Interlocked.Read(ref _bytesSinceSnapshot);

    /// <summary>
    /// Writes the state as of <see cref="LastAppliedOffset"/> into a snapshot (called inside a round
    /// of the Raft driver, and rounds are what apply, so the state cannot move meanwhile): the records
    /// of <see cref="ControllerState.ToRecords"/>, framed, which rebuild it from the empty state. The
    /// Raft layer writes the header, the voter set and the footer.
    /// </summary>
    public void WriteSnapshot(RaftSnapshotWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (writer.Id.Offset != LastAppliedOffset + 1)
            throw new InvalidOperationException($"snapshot {writer.Id} is not at the applied state (last applied offset {LastAppliedOffset})");
        foreach (var chunk in _state.ToRecords().Chunk(RecordsPerSnapshotBatch))
            writer.Append([.. chunk.Select(MetadataRecordFrame.Encode)]);
        Interlocked.Exchange(ref _bytesSinceSnapshot, 0);
    }

    /// <summary>Applies what the quorum committed: a batch (control batches only move the offset),
    /// or a snapshot that replaces everything before its end offset.</summary>
    public void Apply(CommittedItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        switch (item)
        {
            case CommittedBatch batch:
                ApplyBatch(batch);
                break;
            case SnapshotLoad snapshot:
                var state = ControllerState.Empty;
                foreach (var value in snapshot.ReadValues(MaxBatchBytes)) state = state.Replay(MetadataRecordFrame.Decode(value).Message);
                _state = state;
                Advance(snapshot.Id.Offset - 1, snapshot.Id.Epoch);
                Interlocked.Exchange(ref _bytesSinceSnapshot, 0);
                break;
            default:
                throw new ArgumentException($"unknown committed item {item.GetType().Name}", nameof(item));
        }
    }

    private void ApplyBatch(CommittedBatch batch)
    {
        long last = LastAppliedOffset;
        if (last >= 0 && batch.BaseOffset != last + 1)
            throw new InvalidOperationException($"committed batch {batch.BaseOffset}-{batch.LastOffset} does not follow the last applied offset {last}");
        if (!batch.IsControl)
        {
            var state = _state;
            var reader = new RecordBatchReader(batch.Bytes);
            while (reader.MoveNext())
            {
                using var records = reader.Current.OpenRecords(MaxBatchBytes);
                foreach (var record in records)
                {
                    var decoded = MetadataRecordFrame.Decode(record.Value);
                    state = state.Replay(decoded.Message);
                    Interlocked.Increment(ref _recordsApplied);
                    if (decoded.Message is NoOpRecord) Interlocked.Increment(ref _noOpRecords);
                }
            }
            _state = state;
        }
        Interlocked.Add(ref _bytesSinceSnapshot, batch.Bytes.Length);
        Advance(batch.LastOffset, batch.Epoch);
    }

    private void Advance(long offset, int epoch)
    {
        Interlocked.Exchange(ref _lastAppliedEpoch, epoch);
        Interlocked.Exchange(ref _lastAppliedOffset, offset);
    }

    /// <summary>The value of one NoOpRecord as the controller appends it (frame version 1, type 20, version 0).</summary>
    public static byte[] NoOpRecordValue() => MetadataRecordFrame.Encode(new NoOpRecord(), 0);
}
