using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;

namespace Fjord.Protocol.Tests.Records;

/// <summary>The read path allocates nothing per record (ARCHITECTURE principle 4).</summary>
public class ZeroAllocationTests
{
    private const int RecordCount = 20_000;

    private static byte[] ManyRecords(CompressionType compression) =>
        SampleRecords.Build(new RecordBatchOptions { Compression = compression }, RecordCount);

    private static long ReadEverything(ReadOnlyMemory<byte> data)
    {
        long checksum = 0;
        var reader = new RecordBatchReader(data);
        foreach (var batch in reader)
        {
            batch.Validate();
            using var records = batch.OpenRecords(8 << 20);
            foreach (var record in records)
            {
                checksum += record.Offset + record.Timestamp + record.KeySpan.Length + record.ValueSpan.Length;
                foreach (var header in record.Headers)
                    checksum += header.Key.Length + header.Value.Length;
            }
        }
        return checksum;
    }

    [Fact]
    public void Uncompressed_batches_are_read_without_allocating()
    {
        var data = ManyRecords(CompressionType.None);
        long expected = ReadEverything(data); // warm up: JIT, statics
        long before = GC.GetAllocatedBytesForCurrentThread();
        long checksum = ReadEverything(data);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(expected, checksum);
        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public void Compressed_batches_allocate_per_batch_not_per_record(CompressionType compression)
    {
        var data = ManyRecords(compression);
        long expected = ReadEverything(data);
        ReadEverything(data);
        long before = GC.GetAllocatedBytesForCurrentThread();
        long checksum = ReadEverything(data);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(expected, checksum);
        Assert.True(allocated < 1024, $"{compression}: {allocated} bytes allocated reading {RecordCount} records");
    }
}
