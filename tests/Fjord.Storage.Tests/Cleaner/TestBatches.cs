using System.Text;
using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;

namespace Fjord.Storage.Tests.Cleaner;

/// <summary>One record to put in a test batch: null key or value means absent (a null value is a tombstone).</summary>
public readonly record struct TestRecord(long Offset, string? Key, string? Value, long TimestampMs = 1_000);

/// <summary>One record as read back from a batch.</summary>
public readonly record struct ReadRecord(long Offset, string? Key, string? Value, long TimestampMs, int HeaderCount);

/// <summary>Builds and reads small batches for cleaner tests.</summary>
public static class TestBatches
{
    public static byte[] Build(IEnumerable<TestRecord> records, CompressionType compression = CompressionType.None,
        long? baseOffset = null, RecordBatchOptions? options = null, ReadOnlySpan<RecordHeader> headers = default)
    {
        var list = records.ToList();
        var o = (options ?? new RecordBatchOptions()) with { BaseOffset = baseOffset ?? list[0].Offset, Compression = compression };
        using var builder = new RecordBatchBuilder(o);
        foreach (var r in list)
            builder.AppendWithOffset(r.Offset, r.TimestampMs,
                r.Key is null ? null : (ReadOnlyMemory<byte>?)Encoding.UTF8.GetBytes(r.Key),
                r.Value is null ? null : (ReadOnlyMemory<byte>?)Encoding.UTF8.GetBytes(r.Value), headers);
        return builder.ToArray();
    }

    public static List<RecordBatch> Batches(ReadOnlyMemory<byte> bytes)
    {
        var batches = new List<RecordBatch>();
        foreach (var batch in new RecordBatchReader(bytes))
        {
            batch.Validate();
            batches.Add(batch);
        }
        return batches;
    }

    public static List<ReadRecord> Records(ReadOnlyMemory<byte> bytes)
    {
        var result = new List<ReadRecord>();
        foreach (var batch in Batches(bytes))
        {
            using var records = batch.OpenRecords(64 << 20);
            foreach (var r in records)
                result.Add(new ReadRecord(r.Offset, r.HasKey ? Encoding.UTF8.GetString(r.KeySpan) : null,
                    r.HasValue ? Encoding.UTF8.GetString(r.ValueSpan) : null, r.Timestamp, r.HeaderCount));
        }
        return result;
    }

    public static byte[] Key(string key) => Encoding.UTF8.GetBytes(key);
}
