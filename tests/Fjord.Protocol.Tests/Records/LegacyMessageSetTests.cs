using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;
using Fjord.Protocol.Tests.Compression;

namespace Fjord.Protocol.Tests.Records;

public class LegacyMessageSetTests
{
    private static List<LegacyRecord> ReadAll(byte[] data, bool allowTruncatedTail = false)
    {
        using var reader = new LegacyMessageSetReader(data, 1 << 20, allowTruncatedTail);
        var list = new List<LegacyRecord>();
        foreach (var record in reader)
        {
            // Copy out: records from a wrapper live in the reader's pooled buffer.
            var copy = new LegacyRecord(ParseCopy(record.Message), record.Offset, record.Timestamp, record.TimestampType, record.WrapperCompression);
            list.Add(copy);
        }
        return list;
    }

    private static LegacyMessage ParseCopy(LegacyMessage message)
    {
        Assert.True(LegacyMessage.TryRead(message.Bytes.ToArray(), 0, verifyCrc: true, out var copy));
        return copy;
    }

    [Theory]
    [InlineData(0, "none")]
    [InlineData(0, "gzip")]
    [InlineData(0, "snappy")]
    [InlineData(0, "lz4")]
    [InlineData(1, "none")]
    [InlineData(1, "gzip")]
    [InlineData(1, "snappy")]
    [InlineData(1, "lz4")]
    public void Reads_kafka_python_message_sets(int magic, string codec)
    {
        var records = ReadAll(TestData.Read($"Records/Data/legacy-v{magic}-{codec}.bin"));
        Assert.Equal(20, records.Count);
        for (int i = 0; i < 20; i++)
        {
            var expected = SampleRecords.Record(i);
            var r = records[i];
            Assert.Equal(magic, r.Magic);
            Assert.Equal(i, r.Offset); // kafka-python wrappers carry offset 0: inner offsets are kept
            Assert.Equal(magic == 0 ? -1 : expected.Timestamp, r.Timestamp);
            Assert.Equal(magic == 0 ? TimestampType.NoTimestampType : TimestampType.CreateTime, r.TimestampType);
            Assert.Equal(expected.Key is not null, r.HasKey);
            Assert.Equal(expected.Key ?? [], r.Key.ToArray());
            Assert.Equal(expected.Value is not null, r.HasValue);
            Assert.Equal(expected.Value ?? [], r.Value.ToArray());
            Assert.Equal(Enum.Parse<CompressionType>(codec, ignoreCase: true), r.WrapperCompression);
        }
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("snappy")]
    [InlineData("lz4")]
    public void Magic_1_inner_offsets_are_relative_to_the_wrapper(string codec)
    {
        var records = ReadAll(TestData.Read($"Records/Data/legacy-v1-{codec}-wrapper-offset.bin"));
        Assert.Equal(Enumerable.Range(1000, 20).Select(i => (long)i), records.Select(r => r.Offset));
    }

    [Fact]
    public void Log_append_time_wrappers_stamp_their_inner_messages()
    {
        var inner = Enumerable.Range(0, 3).Select(i => LegacyEncoder.Message(i, 1, 0, 100 + i, null, [(byte)i])).ToArray();
        var wrapper = LegacyEncoder.Wrapper(52, 1, CompressionType.Gzip, 9_999, logAppendTime: true, inner);
        var records = ReadAll(wrapper);
        Assert.Equal([50L, 51, 52], records.Select(r => r.Offset));
        Assert.All(records, r => Assert.Equal(9_999, r.Timestamp));
        Assert.All(records, r => Assert.Equal(TimestampType.LogAppendTime, r.TimestampType));
    }

    [Fact]
    public void Converts_to_a_v2_batch()
    {
        var bytes = LegacyMessageSets.ConvertToV2Batch(TestData.Read("Records/Data/legacy-v1-snappy.bin"),
            new RecordBatchOptions { BaseOffset = 300, Compression = CompressionType.Lz4 }, 1 << 20);
        var batch = new RecordBatch(bytes);
        batch.Validate();
        Assert.Equal(20, batch.RecordCount);
        using var records = batch.OpenRecords(1 << 20);
        int i = 0;
        foreach (var r in records)
        {
            var expected = SampleRecords.Record(i);
            Assert.Equal(300 + i, r.Offset);
            Assert.Equal(expected.Timestamp, r.Timestamp);
            Assert.Equal(expected.Key ?? [], r.KeySpan.ToArray());
            Assert.Equal(expected.Key is not null, r.HasKey);
            Assert.Equal(expected.Value ?? [], r.ValueSpan.ToArray());
            Assert.Equal(expected.Value is not null, r.HasValue);
            Assert.Equal(0, r.HeaderCount);
            i++;
        }
        Assert.Equal(20, i);

        var fromV0 = new RecordBatch(LegacyMessageSets.ConvertToV2Batch(TestData.Read("Records/Data/legacy-v0-lz4.bin"), new RecordBatchOptions(), 1 << 20));
        fromV0.Validate();
        Assert.Equal(-1, fromV0.MaxTimestamp);
    }

    [Fact]
    public void Preserving_offsets_requires_them_to_increase()
    {
        var set = LegacyEncoder.Message(5, 1, 0, 1, null, [1]).Concat(LegacyEncoder.Message(5, 1, 0, 1, null, [2])).ToArray();
        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        Assert.Equal("LegacyMessage.Offset", Assert.Throws<ProtocolDecodeException>(() => LegacyMessageSets.ConvertToV2(set, builder, 1000, preserveOffsets: true)).Field);
    }

    [Fact]
    public void Malformed_messages_are_refused_with_their_field()
    {
        string Fails(byte[] data) => Assert.Throws<ProtocolDecodeException>(() => ReadAll(data)).Field;
        var valid = LegacyEncoder.Message(0, 1, 0, 1, [1, 2], [3]);

        var badCrc = (byte[])valid.Clone();
        badCrc[^1] ^= 1;
        Assert.Equal("LegacyMessage.Crc", Fails(badCrc));

        var badMagic = (byte[])valid.Clone();
        badMagic[16] = 7;
        Assert.Equal("LegacyMessage.Magic", Fails(badMagic));

        var badKey = (byte[])valid.Clone();
        badKey[29] = 0x7F; // key length 2 -> 0x7F..
        LegacyEncoder.FixCrc(badKey);
        Assert.Equal("LegacyMessage.KeyLength", Fails(badKey));

        var tooSmall = (byte[])valid.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(tooSmall.AsSpan(8), 13);
        Assert.Equal("LegacyMessage.MessageSize", Fails(tooSmall));

        var nested = LegacyEncoder.Wrapper(0, 1, CompressionType.Gzip, 0, false, LegacyEncoder.Wrapper(0, 1, CompressionType.Gzip, 0, false, valid));
        Assert.Equal("LegacyMessage.Attributes", Fails(nested));

        var mixedMagic = LegacyEncoder.Wrapper(0, 1, CompressionType.Snappy, 0, false, LegacyEncoder.Message(0, 0, 0, 0, null, [1]));
        Assert.Equal("LegacyMessage.Magic", Fails(mixedMagic));

        var zstd = LegacyEncoder.Message(0, 1, (byte)CompressionType.Zstd, 0, null, [1, 2, 3]);
        Assert.Equal("LegacyMessage.Attributes", Fails(zstd));

        var emptyWrapper = LegacyEncoder.Message(0, 1, (byte)CompressionType.Gzip, 0, null, null);
        Assert.Equal("LegacyMessage.Value", Fails(emptyWrapper));

        var corrupt = LegacyEncoder.Message(0, 1, (byte)CompressionType.Lz4, 0, null, [1, 2, 3, 4, 5, 6, 7, 8]);
        Assert.Equal("lz4", Fails(corrupt));
    }

    [Fact]
    public void Truncated_tail_is_tolerated_only_when_asked()
    {
        var data = LegacyEncoder.Message(0, 0, 0, 0, [1], [2]).Concat(LegacyEncoder.Message(1, 0, 0, 0, [3], [4])).ToArray();
        var partial = data.AsSpan(0, data.Length - 3).ToArray();
        using (var reader = new LegacyMessageSetReader(partial, 1000, allowTruncatedTail: true))
        {
            int count = 0;
            foreach (var _ in reader) count++;
            Assert.Equal(1, count);
            Assert.Equal(data.Length / 2 - 3, reader.TruncatedTailBytes);
        }
        Assert.Equal("LegacyMessage.MessageSize", Assert.Throws<ProtocolDecodeException>(() => ReadAll(partial)).Field);
    }
}
