using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Storage;

/// <summary>
/// A complete, checked Raft snapshot held in memory. <see cref="Open"/> reads the whole file and
/// validates it before anyone sees a record: every batch whole with a good CRC, offsets contiguous,
/// the first batch a control batch opening with SNAPSHOT_HEADER, the last a control batch with
/// SNAPSHOT_FOOTER, and neither anywhere else. Anything else is a <see cref="StorageException"/>
/// naming the file (and the byte position where it can).
/// </summary>
/// <remarks>
/// Immutable and thread-safe once opened. <see cref="Bytes"/> serves FetchSnapshot as is;
/// <see cref="Batches"/> walks every batch (control ones included: skip <c>IsControl</c> batches
/// to get the data). The whole file is loaded, so a snapshot must fit in one array.
/// </remarks>
public sealed class SnapshotReader
{
    /// <summary>Limit for decompressing a control batch (a header, voters, a footer: all tiny).</summary>
    private const int ControlBatchMaxBytes = 1 << 20;

    private SnapshotReader(string path, SnapshotId id, byte[] bytes, SnapshotHeaderRecord header, int batchCount, long recordCount)
    {
        Path = path;
        Id = id;
        Bytes = bytes;
        Header = header;
        BatchCount = batchCount;
        RecordCount = recordCount;
    }

    public string Path { get; }
    public SnapshotId Id { get; }

    /// <summary>The file's bytes: back-to-back record batches.</summary>
    public ReadOnlyMemory<byte> Bytes { get; }

    public long SizeInBytes => Bytes.Length;
    public SnapshotHeaderRecord Header { get; }
    public long LastContainedLogTimestamp => Header.LastContainedLogTimestamp;
    public int BatchCount { get; }

    /// <summary>Records in all batches, control records included.</summary>
    public long RecordCount { get; }

    /// <summary>Every batch in order, already validated.</summary>
    public RecordBatchReader Batches => new(Bytes);

    /// <summary>Opens and validates snapshot <paramref name="id"/> of <paramref name="directory"/>.</summary>
    public static SnapshotReader Open(string directory, SnapshotId id) => OpenFile(SnapshotFiles.PathOf(directory, id), id);

    internal static SnapshotReader OpenFile(string path, SnapshotId id)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new StorageException($"snapshot {path} does not exist");
            if (info.Length > Array.MaxLength) throw new StorageException($"snapshot {path} of {info.Length} bytes is too large to load");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException($"cannot read snapshot {path}: {e.Message}", e);
        }
        return Validate(path, id, bytes);
    }

    private static SnapshotReader Validate(string path, SnapshotId id, byte[] bytes)
    {
        if (bytes.Length == 0) throw Corrupt(path, 0, "the file is empty (no SNAPSHOT_HEADER)");
        var reader = new RecordBatchReader(bytes);
        SnapshotHeaderRecord? header = null;
        bool footerSeen = false;
        int batches = 0;
        long records = 0, nextOffset = 0;
        while (true)
        {
            int position = reader.Position;
            RecordBatch batch;
            try
            {
                if (!reader.MoveNext()) break;
                batch = reader.Current;
                batch.Validate();
            }
            catch (ProtocolDecodeException e)
            {
                throw Corrupt(path, position, e.Message, e);
            }
            if (footerSeen) throw Corrupt(path, position, "a batch follows the SNAPSHOT_FOOTER");
            if (batches > 0 && batch.BaseOffset != nextOffset)
                throw Corrupt(path, position, $"batch base offset {batch.BaseOffset} does not follow the previous batch (expected {nextOffset})");
            if (batch.IsControl)
                CheckControlBatch(path, position, batch, first: batches == 0, ref header, ref footerSeen);
            else if (batches == 0)
                throw Corrupt(path, position, "the first batch is not a control batch with SNAPSHOT_HEADER");
            batches++;
            records += batch.RecordCount;
            nextOffset = batch.LastOffset + 1;
        }
        if (!footerSeen) throw Corrupt(path, bytes.Length, "the snapshot ends without a SNAPSHOT_FOOTER");
        return new SnapshotReader(path, id, bytes, header!, batches, records);
    }

    private static void CheckControlBatch(string path, int position, RecordBatch batch, bool first,
        ref SnapshotHeaderRecord? header, ref bool footerSeen)
    {
        try
        {
            using var records = batch.OpenRecords(ControlBatchMaxBytes);
            int index = 0;
            foreach (var record in records)
            {
                var type = ControlRecordKey.Read(record.KeySpan).Type;
                if (type == ControlRecordType.SnapshotHeader)
                {
                    if (!first || index != 0) throw Corrupt(path, position, "SNAPSHOT_HEADER is not the first record of the snapshot");
                    header = KafkaMessages.Deserialize<SnapshotHeaderRecord>(record.Value, 0);
                }
                else if (type == ControlRecordType.SnapshotFooter)
                {
                    footerSeen = true;
                }
                else if (first && index == 0)
                {
                    throw Corrupt(path, position, $"the first record is control type {(short)type}, not SNAPSHOT_HEADER");
                }
                index++;
            }
            if (first && header is null) throw Corrupt(path, position, "the first batch holds no SNAPSHOT_HEADER");
        }
        catch (ProtocolDecodeException e)
        {
            throw Corrupt(path, position, e.Message, e);
        }
    }

    private static StorageException Corrupt(string path, int position, string problem, Exception? inner = null) =>
        new($"corrupt snapshot {path} at byte {position}: {problem}", inner);
}
