using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using Fjord.Raft;

namespace Fjord.Metadata;

/// <summary>
/// Metadata images in and out of KRaft snapshots: <see cref="Write(MetadataImage, RaftSnapshotWriter, MetadataVersion?, int)"/>
/// appends the image's records (<see cref="MetadataImageWriter"/>), each value framed by
/// <see cref="MetadataRecordFrame"/>, in data batches of at most <see cref="DefaultMaxBatchBytes"/>
/// of values (a single larger record gets a batch of its own); <see cref="Read(SnapshotLoad)"/>
/// replays a snapshot's data records onto an empty image.
/// </summary>
public static class MetadataSnapshots
{
    public const int DefaultMaxBatchBytes = 1024 * 1024;

    /// <summary>Per-record overhead assumed inside a batch (length, attributes, deltas, key, headers).</summary>
    private const int RecordOverhead = 24;

    /// <summary>Writes the image's records into <paramref name="writer"/> (header and footer are the writer's). Returns the record count.</summary>
    public static int Write(MetadataImage image, RaftSnapshotWriter writer, MetadataVersion? version = null, int maxBatchBytes = DefaultMaxBatchBytes)
    {
        ArgumentNullException.ThrowIfNull(writer);
        return Write(image, writer.Append, version, maxBatchBytes);
    }

    /// <summary>Writes the image's records as batches of framed values handed to <paramref name="appendBatch"/>. Returns the record count.</summary>
    public static int Write(MetadataImage image, Action<IReadOnlyList<byte[]>> appendBatch, MetadataVersion? version = null, int maxBatchBytes = DefaultMaxBatchBytes)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(appendBatch);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatchBytes, 1024);
        var sink = new BatchingSink(appendBatch, maxBatchBytes);
        image.Write(sink, version);
        sink.Flush();
        return sink.Count;
    }

    /// <summary>The image a snapshot holds, at the snapshot's provenance (end offset − 1, its epoch,
    /// the header's last contained timestamp).</summary>
    public static MetadataImage Read(SnapshotLoad snapshot) => ReadDelta(snapshot, out var provenance).Apply(provenance);

    /// <summary>The snapshot's records replayed onto <see cref="MetadataImage.Empty"/> (what the loader publishes for a snapshot).</summary>
    public static MetadataDelta ReadDelta(SnapshotLoad snapshot, out MetadataProvenance provenance, int maxBatchBytes = 64 * 1024 * 1024)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var delta = new MetadataDelta(MetadataImage.Empty);
        long lastContainedTimestamp = -1;
        var reader = new RecordBatchReader(snapshot.Bytes);
        while (reader.MoveNext())
        {
            var batch = reader.Current;
            using var records = batch.OpenRecords(maxBatchBytes);
            foreach (var record in records)
            {
                if (batch.IsControl)
                {
                    if (record.Key.Length >= ControlRecordKey.Size && ControlRecordKey.Read(record.KeySpan).Type == ControlRecordType.SnapshotHeader)
                        lastContainedTimestamp = KafkaMessages.Deserialize<SnapshotHeaderRecord>(record.Value, 0).LastContainedLogTimestamp;
                    continue;
                }
                delta.Replay(Decode(record.Value, record.Offset, $"snapshot {snapshot.Id}"), record.Offset);
            }
        }
        provenance = new MetadataProvenance(snapshot.Id.Offset - 1, snapshot.Id.Epoch, lastContainedTimestamp);
        return delta;
    }

    /// <summary>Decodes one framed record value; a bad frame becomes a <see cref="MetadataReplayException"/> naming <paramref name="offset"/>.</summary>
    internal static MetadataRecord Decode(ReadOnlyMemory<byte> value, long offset, string where)
    {
        try
        {
            return MetadataRecordFrame.Decode(value);
        }
        catch (ProtocolDecodeException e)
        {
            throw new MetadataReplayException(offset, "undecodable record", $"{where}: {e.Message}", e);
        }
    }

    private sealed class BatchingSink(Action<IReadOnlyList<byte[]>> appendBatch, int maxBatchBytes) : IMetadataRecordSink
    {
        private List<byte[]> _values = [];
        private int _bytes;

        public int Count { get; private set; }

        public void Accept(MetadataRecord record)
        {
            var value = MetadataRecordFrame.Encode(record);
            int size = value.Length + RecordOverhead;
            if (_values.Count > 0 && _bytes + size > maxBatchBytes) Flush();
            _values.Add(value);
            _bytes += size;
            Count++;
        }

        public void Flush()
        {
            if (_values.Count == 0) return;
            appendBatch(_values);
            _values = [];
            _bytes = 0;
        }
    }
}
