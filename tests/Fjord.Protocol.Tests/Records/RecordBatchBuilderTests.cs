using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;

namespace Fjord.Protocol.Tests.Records;

public class RecordBatchBuilderTests
{
    public static TheoryData<CompressionType> Codecs() => new(Enum.GetValues<CompressionType>());

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Builds_and_reads_back_every_field(CompressionType compression)
    {
        var options = new RecordBatchOptions
        {
            BaseOffset = 1_000_000,
            PartitionLeaderEpoch = 7,
            ProducerId = 99,
            ProducerEpoch = 3,
            BaseSequence = 10,
            IsTransactional = true,
            Compression = compression,
        };
        var bytes = SampleRecords.Build(options, 200);
        var batch = new RecordBatch(bytes);
        batch.Validate();
        Assert.Equal(bytes.Length - 12, batch.BatchLength);
        Assert.Equal(1_000_000, batch.BaseOffset);
        Assert.Equal(1_000_199, batch.LastOffset);
        Assert.Equal(7, batch.PartitionLeaderEpoch);
        Assert.Equal(99, batch.ProducerId);
        Assert.Equal(3, batch.ProducerEpoch);
        Assert.Equal(10, batch.BaseSequence);
        Assert.True(batch.IsTransactional);
        Assert.False(batch.IsControl);
        Assert.Null(batch.DeleteHorizonMs);
        Assert.Equal(compression, batch.Compression);
        Assert.Equal(SampleRecords.Record(0).Timestamp, batch.BaseTimestamp);
        Assert.Equal(SampleRecords.Record(199).Timestamp, batch.MaxTimestamp);
        Assert.Equal(200, SampleRecords.AssertBatch(batch, baseOffset: 1_000_000));

        using var records = batch.OpenRecords(1 << 20);
        Assert.Equal(compression != CompressionType.None, records.IsDecompressed);
    }

    [Fact]
    public void Empty_batch_has_no_timestamps()
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = 5 });
        var batch = new RecordBatch(builder.ToArray());
        batch.Validate();
        Assert.Equal(61, batch.SizeInBytes);
        Assert.Equal(0, batch.RecordCount);
        Assert.Equal(-1, batch.BaseTimestamp);
        Assert.Equal(-1, batch.MaxTimestamp);
        using var records = batch.OpenRecords(100);
        Assert.False(records.GetEnumerator().MoveNext());
    }

    [Fact]
    public void Null_and_empty_keys_and_values_are_distinct()
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        builder.Append(1, null, null);
        builder.Append(2, [], []);
        builder.Append(3, (ReadOnlyMemory<byte>?)null, new byte[] { 1 });
        builder.Append(4, new ReadOnlyMemory<byte>(new byte[] { 9, 9 }), (ReadOnlyMemory<byte>?)null);
        var batch = new RecordBatch(builder.ToArray());
        using var records = batch.OpenRecords(1000);
        var list = new List<(bool, int, bool, int)>();
        foreach (var r in records) list.Add((r.HasKey, r.Key.Length, r.HasValue, r.Value.Length));
        Assert.Equal([(false, 0, false, 0), (true, 0, true, 0), (false, 0, true, 1), (true, 2, false, 0)], list);
    }

    [Fact]
    public void Timestamps_may_go_backwards_and_max_is_the_largest()
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        builder.Append(5000, null, new byte[] { 1 });
        builder.Append(1000, null, new byte[] { 2 });
        builder.Append(9000, null, new byte[] { 3 });
        builder.Append(-1, null, new byte[] { 4 });
        var batch = new RecordBatch(builder.ToArray());
        Assert.Equal(5000, batch.BaseTimestamp);
        Assert.Equal(9000, batch.MaxTimestamp);
        using var records = batch.OpenRecords(1000);
        var timestamps = new List<long>();
        foreach (var r in records) timestamps.Add(r.Timestamp);
        Assert.Equal([5000L, 1000, 9000, -1], timestamps);
    }

    [Fact]
    public void Log_append_time_gives_every_record_the_append_time()
    {
        var bytes = SampleRecords.Build(new RecordBatchOptions { TimestampType = TimestampType.LogAppendTime, LogAppendTimeMs = 1_800_000_000_000 }, 10);
        var batch = new RecordBatch(bytes);
        batch.Validate();
        Assert.Equal(TimestampType.LogAppendTime, batch.TimestampType);
        Assert.Equal(1_800_000_000_000, batch.MaxTimestamp);
        using var records = batch.OpenRecords(1 << 20);
        foreach (var r in records) Assert.Equal(1_800_000_000_000, r.Timestamp);
    }

    [Fact]
    public void Delete_horizon_is_the_base_timestamp()
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { DeleteHorizonMs = 1_000 });
        builder.Append(5_000, null, new byte[] { 1 });
        var batch = new RecordBatch(builder.ToArray());
        batch.Validate();
        Assert.True(batch.HasDeleteHorizonMs);
        Assert.Equal(1_000, batch.DeleteHorizonMs);
        using var records = batch.OpenRecords(1000);
        foreach (var r in records) { Assert.Equal(5_000, r.Timestamp); Assert.Equal(4_000, r.TimestampDelta); }
    }

    [Fact]
    public void Explicit_offsets_must_increase_and_leave_gaps()
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = 100 });
        builder.AppendWithOffset(100, 1, null, new byte[] { 1 });
        builder.AppendWithOffset(105, 1, null, new byte[] { 2 });
        Assert.Throws<ArgumentException>(() => builder.AppendWithOffset(105, 1, null, new byte[] { 3 }));
        Assert.Throws<ArgumentException>(() => builder.AppendWithOffset(99, 1, null, new byte[] { 3 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Append(-5, null, new byte[] { 3 }));
        Assert.Equal(106, builder.NextOffset);
        var batch = new RecordBatch(builder.ToArray());
        Assert.Equal(5, batch.LastOffsetDelta);
        Assert.Equal(2, batch.RecordCount);
        using var records = batch.OpenRecords(1000);
        var offsets = new List<long>();
        foreach (var r in records) offsets.Add(r.Offset);
        Assert.Equal([100L, 105], offsets);
    }

    [Fact]
    public void Writes_into_buffer_writers_and_can_be_reset()
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { Compression = CompressionType.Lz4 });
        SampleRecords.AppendSample(builder, 0);
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        int first = builder.WriteTo(output);
        builder.Reset(new RecordBatchOptions { BaseOffset = 1 });
        SampleRecords.AppendSample(builder, 0);
        builder.WriteTo(output);
        var reader = new RecordBatchReader(output.WrittenMemory);
        Assert.True(reader.MoveNext());
        Assert.Equal(first, reader.Current.SizeInBytes);
        Assert.Equal(CompressionType.Lz4, reader.Current.Compression);
        Assert.True(reader.MoveNext());
        Assert.Equal(1, reader.Current.BaseOffset);
        Assert.Equal(CompressionType.None, reader.Current.Compression);
        Assert.False(reader.MoveNext());
    }

    [Theory]
    [InlineData(CompressionType.Gzip, CompressionType.Lz4)]
    [InlineData(CompressionType.None, CompressionType.Zstd)]
    [InlineData(CompressionType.Snappy, CompressionType.None)]
    public void Copies_records_between_batches_as_a_broker_recompressing(CompressionType from, CompressionType to)
    {
        var source = new RecordBatch(SampleRecords.Build(new RecordBatchOptions { Compression = from }, 40));
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = 0, Compression = to });
        using (var records = source.OpenRecords(1 << 20))
            foreach (var record in records) builder.AppendRecord(record.Offset, record);
        var copy = new RecordBatch(builder.ToArray());
        Assert.Equal(to, copy.Compression);
        Assert.Equal(40, SampleRecords.AssertBatch(copy));
    }

    [Fact]
    public void Copying_an_uncompressed_batch_reproduces_its_bytes()
    {
        var bytes = SampleRecords.Build(new RecordBatchOptions { ProducerId = 8, ProducerEpoch = 1, BaseSequence = 0 }, 25);
        var source = new RecordBatch(bytes);
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { ProducerId = 8, ProducerEpoch = 1, BaseSequence = 0 });
        using (var records = source.OpenRecords(1 << 20))
            foreach (var record in records) builder.AppendRecord(record.Offset, record);
        Assert.Equal(bytes, builder.ToArray());
    }

    [Fact]
    public void Options_are_checked()
    {
        Assert.Throws<ArgumentException>(() => new RecordBatchBuilder(new RecordBatchOptions { TimestampType = TimestampType.LogAppendTime }));
        Assert.Throws<ArgumentException>(() => new RecordBatchBuilder(new RecordBatchOptions { TimestampType = TimestampType.NoTimestampType }));
        Assert.Throws<ArgumentException>(() => new RecordBatchBuilder(new RecordBatchOptions { Compression = CompressionType.Gzip, Codec = CompressionCodecs.Zstd }));
    }

    [Fact]
    public void Large_records_and_many_headers_round_trip()
    {
        var big = Compression.TestData.Random(300_000, 4);
        var headers = Enumerable.Range(0, 100).Select(i => new RecordHeader($"hé-{i}", i % 2 == 0 ? null : new byte[i])).ToArray();
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { Compression = CompressionType.Zstd });
        builder.Append(1, big, big, headers);
        var batch = new RecordBatch(builder.ToArray());
        batch.Validate();
        using var records = batch.OpenRecords(1 << 20);
        foreach (var r in records)
        {
            Assert.True(big.AsSpan().SequenceEqual(r.KeySpan));
            Assert.True(big.AsSpan().SequenceEqual(r.ValueSpan));
            int i = 0;
            foreach (var h in r.Headers)
            {
                Assert.Equal($"hé-{i}", h.KeyString);
                Assert.Equal(i % 2 != 0, h.HasValue);
                Assert.Equal(i % 2 == 0 ? 0 : i, h.Value.Length);
                i++;
            }
            Assert.Equal(100, i);
        }
    }
}
