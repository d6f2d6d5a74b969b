using System.Buffers.Binary;
using Fjord.Protocol.Records;

namespace Fjord.Raft.Simulation;

/// <summary>What a state machine holds after applying everything below some offset.</summary>
internal readonly record struct StateDigest(ulong Chain, long DataRecords, ulong LastValues)
{
    public override string ToString() => $"(chain {Chain:x16}, {DataRecords} records, last values {LastValues:x16})";
}

/// <summary>
/// The replicated state machine of the simulation, one per incarnation of a node: a running hash
/// chained over every committed batch (offsets, epoch, CRC — control batches included), the number
/// of data records, and the last few values. Everything it holds is in its snapshots, so a node
/// that loads one and applies the batches after it must reach exactly the state of a node that
/// applied everything. It snapshots itself every few batches (<see cref="SimNode.SnapshotEvery"/>).
/// </summary>
internal sealed class SimulatedStateMachine
{
    private const int LastValuesKept = 12;
    private const int ValuesPerSnapshotBatch = 3;
    private const ulong FnvOffset = 14695981039346656037UL;
    private const ulong FnvPrime = 1099511628211UL;

    private readonly Queue<byte[]> _lastValues = new();

    public static StateDigest Empty => new SimulatedStateMachine().Digest;

    /// <summary>Where the next batch must start (0 for a fresh incarnation that loaded nothing).</summary>
    public long NextOffset { get; private set; }
    public ulong Chain { get; private set; } = FnvOffset;
    public long DataRecords { get; private set; }
    public int BatchesSinceSnapshot { get; set; }

    /// <summary>Items delivered to this incarnation so far.</summary>
    public int Delivered { get; set; }

    public StateDigest Digest => new(Chain, DataRecords, LastValuesDigest());

    public void Apply(CommittedBatch committed)
    {
        var batch = new RecordBatch(committed.Bytes);
        Chain = Mix(Mix(Mix(Mix(Chain, (ulong)committed.BaseOffset), (ulong)committed.LastOffset), (ulong)committed.Epoch), batch.Crc);
        if (!committed.IsControl)
        {
            using var records = batch.OpenRecords(1 << 20);
            foreach (var record in records)
            {
                DataRecords++;
                _lastValues.Enqueue(record.Value.ToArray());
                if (_lastValues.Count > LastValuesKept) _lastValues.Dequeue();
            }
        }
        NextOffset = committed.LastOffset + 1;
        BatchesSinceSnapshot++;
    }

    /// <summary>Replaces the whole state with the snapshot's. The first value is (chain, records, end offset); the rest are the last values.</summary>
    public void Load(SnapshotLoad load)
    {
        var values = load.ReadValues();
        if (values.Count == 0 && load.Id.Offset == 0) return; // a dynamic quorum's bootstrap snapshot (voters only): the empty state
        if (values.Count == 0 || values[0].Length != 24) throw new InvalidOperationException($"snapshot {load.Id} has no state header");
        var header = values[0];
        long end = BinaryPrimitives.ReadInt64BigEndian(header.AsSpan(16));
        if (end != load.Id.Offset) throw new InvalidOperationException($"snapshot {load.Id} holds the state at {end}");
        Chain = BinaryPrimitives.ReadUInt64BigEndian(header);
        DataRecords = BinaryPrimitives.ReadInt64BigEndian(header.AsSpan(8));
        _lastValues.Clear();
        foreach (var value in values.Skip(1)) _lastValues.Enqueue(value);
        NextOffset = load.Id.Offset;
        BatchesSinceSnapshot = 0;
    }

    /// <summary>Writes the state (as of <see cref="NextOffset"/>) into a snapshot, a few values per batch.</summary>
    public void Write(RaftSnapshotWriter writer)
    {
        var header = new byte[24];
        BinaryPrimitives.WriteUInt64BigEndian(header, Chain);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(8), DataRecords);
        BinaryPrimitives.WriteInt64BigEndian(header.AsSpan(16), NextOffset);
        writer.Append([header]);
        foreach (var chunk in _lastValues.Chunk(ValuesPerSnapshotBatch)) writer.Append(chunk);
        BatchesSinceSnapshot = 0;
    }

    private ulong LastValuesDigest()
    {
        ulong h = FnvOffset;
        foreach (var value in _lastValues)
        {
            foreach (byte b in value) h = (h ^ b) * FnvPrime;
            h = (h ^ 0xff) * FnvPrime;
        }
        return h;
    }

    private static ulong Mix(ulong h, ulong value)
    {
        for (int i = 0; i < 8; i++)
        {
            h = (h ^ (value & 0xff)) * FnvPrime;
            value >>= 8;
        }
        return h;
    }
}
