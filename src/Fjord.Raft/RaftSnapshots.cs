using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Raft;

/// <summary>
/// A snapshot the state machine writes at a committed offset (<see cref="RaftNode.CreateSnapshot"/>),
/// in Kafka's layout: a control batch holding SNAPSHOT_HEADER (written here at creation), data
/// batches (<see cref="Append"/>), and a control batch holding SNAPSHOT_FOOTER (written by
/// <see cref="Freeze"/>). Offsets inside the snapshot start at 0; every batch carries the
/// snapshot's epoch as its partition leader epoch and the <c>now</c> of its creation as timestamp.
/// </summary>
/// <remarks>
/// Single-threaded like the node that made it, and used on the node's thread. <see cref="Freeze"/>
/// makes the snapshot durable and visible at once, then the node moves its log start to the
/// snapshot's end offset (deleting the log prefix and older snapshots). <see cref="Dispose"/>
/// without <see cref="Freeze"/> leaves nothing behind.
/// </remarks>
public sealed class RaftSnapshotWriter : IDisposable
{
    private readonly IRaftSnapshotWriter _output;
    private readonly Action<OffsetAndEpoch> _onFrozen;
    private readonly long _timestamp;
    private long _nextOffset;
    private bool _done;

    internal RaftSnapshotWriter(IRaftSnapshotWriter output, long lastContainedTimestamp, long now, Action<OffsetAndEpoch> onFrozen,
        IReadOnlyList<(ControlRecordType Type, byte[] Value)>? headerRecords = null)
    {
        _output = output;
        _onFrozen = onFrozen;
        _timestamp = Math.Max(0, now);
        try
        {
            Write(RaftSnapshotFormat.Header(Id.Epoch, Math.Max(0, lastContainedTimestamp), _timestamp, headerRecords ?? []));
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    /// <summary>(end offset, epoch of the last batch contained).</summary>
    public OffsetAndEpoch Id => _output.Id;

    /// <summary>Bytes written so far.</summary>
    public long SizeInBytes => _output.Size;

    public bool IsFrozen { get; private set; }

    /// <summary>Appends one data batch holding <paramref name="values"/> as records with null keys.</summary>
    public void Append(IReadOnlyList<byte[]> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0) throw new ArgumentException("a snapshot batch needs at least one record", nameof(values));
        EnsureOpen();
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = _nextOffset, PartitionLeaderEpoch = Id.Epoch });
        foreach (var value in values) builder.Append(_timestamp, (byte[]?)null, value);
        Write(builder.ToArray());
    }

    /// <summary>Writes the footer and completes the snapshot; the node then advances its log start to it.</summary>
    public OffsetAndEpoch Freeze()
    {
        EnsureOpen();
        Write(RaftSnapshotFormat.Footer(_nextOffset, Id.Epoch, _timestamp));
        _output.Freeze();
        _done = IsFrozen = true;
        _output.Dispose();
        _onFrozen(Id);
        return Id;
    }

    public void Dispose()
    {
        if (_done) return;
        _done = true;
        _output.Dispose();
    }

    private void Write(byte[] batch)
    {
        var reader = new RecordBatchReader(batch);
        while (reader.MoveNext()) _nextOffset = reader.Current.LastOffset + 1;
        _output.Append(batch);
    }

    private void EnsureOpen()
    {
        if (_done) throw new InvalidOperationException($"snapshot {Id} is {(IsFrozen ? "frozen" : "disposed")}");
    }
}

/// <summary>Kafka's snapshot layout: building the header and footer control batches, reading data values back.</summary>
internal static class RaftSnapshotFormat
{
    /// <summary>The SNAPSHOT_HEADER control batch; a dynamic quorum's snapshot also holds its
    /// KRAFT_VERSION and KRAFT_VOTERS records, in the same batch (Kafka's layout).</summary>
    public static byte[] Header(int epoch, long lastContainedTimestamp, long timestamp, IReadOnlyList<(ControlRecordType Type, byte[] Value)>? more = null)
    {
        var header = new SnapshotHeaderRecord { Version = 0, LastContainedLogTimestamp = lastContainedTimestamp };
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = 0, PartitionLeaderEpoch = epoch, IsControl = true });
        builder.Append(timestamp, new ControlRecordKey(ControlRecordType.SnapshotHeader).ToArray(), header.Serialize(0));
        foreach (var (type, value) in more ?? []) builder.Append(timestamp, new ControlRecordKey(type).ToArray(), value);
        return builder.ToArray();
    }

    public static byte[] Footer(long baseOffset, int epoch, long timestamp) =>
        Control(baseOffset, epoch, timestamp, ControlRecordType.SnapshotFooter, new SnapshotFooterRecord { Version = 0 }.Serialize(0));

    private static byte[] Control(long baseOffset, int epoch, long timestamp, ControlRecordType type, byte[] value)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = baseOffset, PartitionLeaderEpoch = epoch, IsControl = true });
        builder.Append(timestamp, new ControlRecordKey(type).ToArray(), value);
        return builder.ToArray();
    }

    public static IReadOnlyList<byte[]> ReadValues(ReadOnlyMemory<byte> snapshot, int maxBatchBytes)
    {
        var values = new List<byte[]>();
        var reader = new RecordBatchReader(snapshot);
        while (reader.MoveNext())
        {
            var batch = reader.Current;
            if (batch.IsControl) continue;
            using var records = batch.OpenRecords(maxBatchBytes);
            foreach (var record in records) values.Add(record.Value.ToArray());
        }
        return values;
    }
}
