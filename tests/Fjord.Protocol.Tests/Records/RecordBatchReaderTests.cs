using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;

namespace Fjord.Protocol.Tests.Records;

public class RecordBatchReaderTests
{
    private static byte[] ThreeBatches() =>
        SampleRecords.Build(new RecordBatchOptions { BaseOffset = 0 }, 5)
            .Concat(SampleRecords.Build(new RecordBatchOptions { BaseOffset = 5, Compression = CompressionType.Gzip }, 7))
            .Concat(SampleRecords.Build(new RecordBatchOptions { BaseOffset = 12, Compression = CompressionType.Snappy }, 3))
            .ToArray();

    [Fact]
    public void Walks_back_to_back_batches()
    {
        var data = ThreeBatches();
        var offsets = new List<(long, int)>();
        var reader = new RecordBatchReader(data);
        foreach (var batch in reader)
        {
            batch.Validate();
            offsets.Add((batch.BaseOffset, batch.RecordCount));
        }
        Assert.Equal([(0L, 5), (5L, 7), (12L, 3)], offsets);
    }

    [Fact]
    public void Truncated_tail_is_reported_in_fetch_data_and_refused_in_produce_data()
    {
        var data = ThreeBatches();
        int lastStart = data.Length - new RecordBatch(SampleRecords.Build(new RecordBatchOptions { BaseOffset = 12, Compression = CompressionType.Snappy }, 3)).SizeInBytes;
        foreach (int cut in new[] { data.Length - 1, lastStart + 61, lastStart + 13, lastStart + 11, lastStart + 1 })
        {
            var partial = data.AsMemory(0, cut);
            var reader = new RecordBatchReader(partial, allowTruncatedTail: true);
            int batches = 0;
            while (reader.MoveNext()) batches++;
            Assert.Equal(2, batches);
            Assert.True(reader.HasTruncatedTail);
            Assert.Equal(cut - lastStart, reader.TruncatedTailBytes);
            Assert.Equal(lastStart, reader.Position);

            var strict = new RecordBatchReader(partial);
            strict.MoveNext();
            strict.MoveNext();
            Assert.Equal("RecordBatch.BatchLength", Assert.Throws<ProtocolDecodeException>(() => strict.MoveNext()).Field);
        }
    }

    [Fact]
    public void Legacy_magic_is_named()
    {
        var legacy = Compression.TestData.Read("Records/Data/legacy-v1-none.bin");
        Assert.Equal(1, RecordBatchReader.PeekMagic(legacy));
        var reader = new RecordBatchReader(legacy);
        var error = Assert.Throws<ProtocolDecodeException>(() => reader.MoveNext());
        Assert.Equal("RecordBatch.Magic", error.Field);
        Assert.Contains("legacy", error.Message);
        Assert.Equal(2, RecordBatchReader.PeekMagic(ThreeBatches()));
        Assert.Equal(-1, RecordBatchReader.PeekMagic(new byte[10]));
    }

    [Fact]
    public void Empty_buffer_has_no_batches()
    {
        var reader = new RecordBatchReader(ReadOnlyMemory<byte>.Empty);
        Assert.False(reader.MoveNext());
        Assert.False(reader.HasTruncatedTail);
    }
}
