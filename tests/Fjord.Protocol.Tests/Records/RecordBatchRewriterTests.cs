using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;

namespace Fjord.Protocol.Tests.Records;

public class RecordBatchRewriterTests
{
    [Fact]
    public void Base_offset_and_leader_epoch_change_without_touching_the_crc()
    {
        var bytes = SampleRecords.Build(new RecordBatchOptions { Compression = CompressionType.Gzip }, 10);
        uint crc = new RecordBatch(bytes).Crc;
        RecordBatchRewriter.SetBaseOffset(bytes, 5_000);
        RecordBatchRewriter.SetPartitionLeaderEpoch(bytes, 12);
        var batch = new RecordBatch(bytes);
        batch.Validate();
        Assert.Equal(crc, batch.Crc);
        Assert.Equal(5_000, batch.BaseOffset);
        Assert.Equal(12, batch.PartitionLeaderEpoch);
        Assert.Equal(10, SampleRecords.AssertBatch(batch, baseOffset: 5_000));

        RecordBatchRewriter.SetLastOffset(bytes, 100);
        Assert.Equal(91, new RecordBatch(bytes).BaseOffset);
    }

    [Fact]
    public void Log_append_time_stamping_recomputes_the_crc_only_when_needed()
    {
        var bytes = SampleRecords.Build(new RecordBatchOptions { IsTransactional = true, Compression = CompressionType.Snappy }, 10);
        Assert.True(RecordBatchRewriter.SetMaxTimestamp(bytes, TimestampType.LogAppendTime, 1_900_000_000_000));
        var batch = new RecordBatch(bytes);
        batch.Validate();
        Assert.Equal(TimestampType.LogAppendTime, batch.TimestampType);
        Assert.True(batch.IsTransactional);
        Assert.Equal(CompressionType.Snappy, batch.Compression);
        Assert.Equal(1_900_000_000_000, batch.MaxTimestamp);
        using (var records = batch.OpenRecords(1 << 20))
            foreach (var r in records) Assert.Equal(1_900_000_000_000, r.Timestamp);

        var before = (byte[])bytes.Clone();
        Assert.False(RecordBatchRewriter.SetMaxTimestamp(bytes, TimestampType.LogAppendTime, 1_900_000_000_000));
        Assert.Equal(before, bytes);

        Assert.True(RecordBatchRewriter.SetMaxTimestamp(bytes, TimestampType.CreateTime, SampleRecords.Record(9).Timestamp));
        new RecordBatch(bytes).Validate();
        Assert.Equal(10, SampleRecords.AssertBatch(new RecordBatch(bytes)));
    }

    [Fact]
    public void Assigns_consecutive_offsets_across_batches()
    {
        var data = SampleRecords.Build(new RecordBatchOptions(), 3)
            .Concat(SampleRecords.Build(new RecordBatchOptions { Compression = CompressionType.Zstd }, 4))
            .Concat(SampleRecords.Build(new RecordBatchOptions(), 1))
            .ToArray();
        long next = RecordBatchRewriter.AssignOffsets(data, 1_000, partitionLeaderEpoch: 4);
        Assert.Equal(1_008, next);
        var seen = new List<(long, long, int)>();
        foreach (var batch in new RecordBatchReader(data))
        {
            batch.Validate();
            seen.Add((batch.BaseOffset, batch.LastOffset, batch.PartitionLeaderEpoch));
        }
        Assert.Equal([(1_000L, 1_002L, 4), (1_003L, 1_006L, 4), (1_007L, 1_007L, 4)], seen);

        Assert.Throws<ProtocolDecodeException>(() => RecordBatchRewriter.AssignOffsets(data.AsSpan(0, data.Length - 1), 0));
    }
}
