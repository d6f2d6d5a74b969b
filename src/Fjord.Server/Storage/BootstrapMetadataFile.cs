using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Metadata;
using Fjord.Storage;

namespace Fjord.Server;

/// <summary>
/// <c>bootstrap.checkpoint</c> in the metadata log directory: the records a brand-new cluster's
/// metadata log starts with (the <c>metadata.version</c> FeatureLevelRecord, SCRAM credentials…),
/// written by <c>storage format</c> and read by the first active controller. The file has the
/// layout of a KRaft snapshot, as Kafka's <c>BatchFileWriter</c> writes it: a control batch with
/// SNAPSHOT_HEADER (last contained timestamp 0), the records in data batches (offsets from 1,
/// epoch 0), a control batch with SNAPSHOT_FOOTER. Each record value is a framed metadata record
/// (<see cref="MetadataRecordFrame"/>).
/// </summary>
public static class BootstrapMetadataFile
{
    public const string FileName = "bootstrap.checkpoint";

    /// <summary>Records per data batch (a bootstrap holds a handful).</summary>
    private const int RecordsPerBatch = 1024;

    public static string PathIn(string directory) => Path.Combine(directory, FileName);

    /// <summary>Writes (or replaces) <c>bootstrap.checkpoint</c> in <paramref name="directory"/> atomically.</summary>
    public static void Write(string directory, IReadOnlyList<MetadataRecord> records, IClock clock)
    {
        var bytes = Encode(records, clock);
        AtomicFile.Write(PathIn(directory), bytes);
    }

    /// <summary>The file's bytes for <paramref name="records"/> (written through <see cref="SnapshotWriter"/>, so the
    /// layout is exactly a snapshot's).</summary>
    public static byte[] Encode(IReadOnlyList<MetadataRecord> records, IClock clock)
    {
        var staging = Directory.CreateTempSubdirectory("fjord-bootstrap-").FullName;
        try
        {
            var id = new SnapshotId(0, 0);
            using (var writer = SnapshotWriter.Create(staging, id, lastContainedLogTimestampMs: 0, clock))
            {
                foreach (var chunk in records.Chunk(RecordsPerBatch))
                    writer.Append(chunk.Select(r => (ReadOnlyMemory<byte>)MetadataRecordFrame.Encode(r)).ToList());
                writer.Freeze();
            }
            return File.ReadAllBytes(SnapshotFiles.PathOf(staging, id));
        }
        finally
        {
            TryDeleteDirectory(staging);
        }
    }

    /// <summary>Reads and validates a bootstrap file (the checks of <see cref="SnapshotReader"/>) and decodes its records.</summary>
    public static IReadOnlyList<MetadataRecord> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} does not exist", path);
        var staging = Directory.CreateTempSubdirectory("fjord-bootstrap-").FullName;
        try
        {
            var id = new SnapshotId(0, 0);
            File.Copy(path, SnapshotFiles.PathOf(staging, id));
            SnapshotReader reader;
            try
            {
                reader = SnapshotReader.Open(staging, id);
            }
            catch (StorageException e)
            {
                throw new StorageException($"{path} is not a valid bootstrap file: {e.Message}", e);
            }
            var records = new List<MetadataRecord>();
            foreach (var batch in reader.Batches)
            {
                if (batch.IsControl) continue;
                using var batchRecords = batch.OpenRecords(64 * 1024 * 1024);
                foreach (var record in batchRecords)
                {
                    try
                    {
                        records.Add(MetadataRecordFrame.Decode(record.Value.ToArray()));
                    }
                    catch (ProtocolDecodeException e)
                    {
                        throw new StorageException($"{path}: record at offset {record.Offset}: {e.Message}", e);
                    }
                }
            }
            return records;
        }
        finally
        {
            TryDeleteDirectory(staging);
        }
    }

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover in the temp directory is harmless.
        }
    }
}
