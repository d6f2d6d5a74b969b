using System.Text;
using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;

namespace Fjord.Storage.Tests.Cleaner;

/// <summary>A partition log in a temporary directory with a fake clock, plus helpers to append
/// keyed records and read the whole log back.</summary>
public sealed class CleanerTestLog : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("fjord-cleaner-log-").FullName;
    private readonly TopicPartition _tp = new("compacted", 0);

    public CleanerTestLog(LogConfig config, FakeClock? clock = null)
    {
        Clock = clock ?? new FakeClock();
        Config = config;
        Log = PartitionLog.Open(Dir, _tp, config, Clock, new LogOpenOptions());
    }

    public FakeClock Clock { get; }
    public LogConfig Config { get; }
    public PartitionLog Log { get; private set; }
    public string Dir => Path.Combine(_root, _tp.DirectoryName);
    public IReadOnlyList<LogSegment> Segments => Log.SegmentsSnapshot;

    /// <summary>Appends one batch of (key, value) records (null = absent) at the clock's time
    /// (or <paramref name="timestampMs"/>); returns the first offset.</summary>
    public long Append(IEnumerable<(string? Key, string? Value)> records, long? timestampMs = null,
        CompressionType compression = CompressionType.None, RecordBatchOptions? options = null)
    {
        long ts = timestampMs ?? Clock.UnixTimeMs;
        using var builder = new RecordBatchBuilder((options ?? new RecordBatchOptions()) with { Compression = compression });
        foreach (var (key, value) in records)
            builder.Append(ts, key is null ? null : Encoding.UTF8.GetBytes(key), value is null ? null : Encoding.UTF8.GetBytes(value));
        return AppendRaw(builder.ToArray());
    }

    public long Append(params (string? Key, string? Value)[] records) => Append((IEnumerable<(string?, string?)>)records);

    public long AppendRaw(byte[] batch) => Log.AppendAsLeader(batch, leaderEpoch: 0).FirstOffset;

    /// <summary>Every batch of the log, from the log start offset to the log end offset.</summary>
    public List<RecordBatch> ReadBatches()
    {
        var batches = new List<RecordBatch>();
        long offset = Log.LogStartOffset, end = Log.LogEndOffset;
        while (offset < end)
        {
            var read = Log.Read(offset, 4 << 20, end);
            if (read.IsEmpty) break;
            var found = TestBatches.Batches(read.ToArray());
            batches.AddRange(found);
            offset = found[^1].LastOffset + 1;
        }
        return batches;
    }

    /// <summary>Every record of the log, in offset order.</summary>
    public List<ReadRecord> ReadAll()
    {
        var records = new List<ReadRecord>();
        foreach (var batch in ReadBatches())
        {
            using var inside = batch.OpenRecords(64 << 20);
            foreach (var r in inside)
                records.Add(new ReadRecord(r.Offset, r.HasKey ? Encoding.UTF8.GetString(r.KeySpan) : null,
                    r.HasValue ? Encoding.UTF8.GetString(r.ValueSpan) : null, r.Timestamp, r.HeaderCount));
        }
        return records;
    }

    /// <summary>Closes the log and opens it again, recovering (scanning) every segment.</summary>
    public void Reopen(LogOpenOptions? options = null)
    {
        Log.Close();
        Log = PartitionLog.Open(Dir, _tp, Log.Config, Clock, options ?? new LogOpenOptions());
    }

    public void Dispose()
    {
        Log.Close();
        Directory.Delete(_root, recursive: true);
    }
}
