using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;
using Fjord.Protocol.Tests.Compression;

namespace Fjord.Protocol.Tests.Records;

/// <summary>Batches written by kafka-python's DefaultRecordBatchBuilder (see make-vectors.py).</summary>
public class KafkaPythonVectorTests
{
    [Theory]
    [InlineData("none", CompressionType.None)]
    [InlineData("gzip", CompressionType.Gzip)]
    [InlineData("snappy", CompressionType.Snappy)]
    [InlineData("lz4", CompressionType.Lz4)]
    [InlineData("zstd", CompressionType.Zstd)]
    public void Reads_kafka_python_batches(string name, CompressionType compression)
    {
        var bytes = TestData.Read($"Records/Data/batch-v2-{name}.bin");
        var reader = new RecordBatchReader(bytes);
        Assert.True(reader.MoveNext());
        var batch = reader.Current;
        Assert.False(reader.MoveNext());

        Assert.Equal(compression, batch.Compression);
        Assert.Equal(2, batch.Magic);
        Assert.Equal(0, batch.BaseOffset);
        Assert.Equal(49, batch.LastOffsetDelta);
        Assert.Equal(50, batch.RecordCount);
        Assert.Equal(1234, batch.ProducerId);
        Assert.Equal(5, batch.ProducerEpoch);
        Assert.Equal(42, batch.BaseSequence);
        Assert.Equal(42 + 49, batch.LastSequence);
        Assert.Equal(name == "none", batch.IsTransactional);
        Assert.False(batch.IsControl);
        Assert.Equal(TimestampType.CreateTime, batch.TimestampType);
        Assert.Equal(1700000000000, batch.BaseTimestamp);
        Assert.Equal(1700000000000 + 490, batch.MaxTimestamp);
        Assert.True(batch.IsCrcValid);
        Assert.Equal(50, SampleRecords.AssertBatch(batch));
    }

    [Fact]
    public void Our_uncompressed_batch_is_byte_identical_to_kafka_python()
    {
        var theirs = TestData.Read("Records/Data/batch-v2-none.bin");
        var ours = SampleRecords.Build(new RecordBatchOptions
        {
            PartitionLeaderEpoch = 0, // kafka-python leaves the broker-owned fields at zero
            ProducerId = 1234,
            ProducerEpoch = 5,
            BaseSequence = 42,
            IsTransactional = true,
        }, 50);
        Assert.Equal(Convert.ToHexString(theirs), Convert.ToHexString(ours));
    }

    [Theory]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Snappy)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zstd)]
    public void Our_compressed_batches_carry_the_same_records(CompressionType compression)
    {
        var ours = SampleRecords.Build(new RecordBatchOptions { Compression = compression, ProducerId = 1234, ProducerEpoch = 5, BaseSequence = 42 }, 50);
        var batch = new RecordBatch(ours);
        Assert.Equal(compression, batch.Compression);
        Assert.Equal(50, SampleRecords.AssertBatch(batch));
    }
}
