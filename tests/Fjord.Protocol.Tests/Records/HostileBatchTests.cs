using System.Buffers.Binary;
using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;

namespace Fjord.Protocol.Tests.Records;

/// <summary>Each malformed field is refused with a ProtocolDecodeException naming it.</summary>
public class HostileBatchTests
{
    /// <summary>A batch holding <paramref name="records"/> verbatim, with the given count and a correct CRC.</summary>
    private static byte[] Craft(byte[] records, int count)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        var batch = builder.ToArray().Concat(records).ToArray();
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatchLayout.BatchLength), batch.Length - 12);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatchLayout.RecordsCount), count);
        RecordBatchRewriter.UpdateCrc(batch);
        return batch;
    }

    private static string ReadAllFails(byte[] batchBytes)
    {
        var error = Assert.Throws<ProtocolDecodeException>(() =>
        {
            var batch = new RecordBatch(batchBytes);
            batch.Validate();
            using var records = batch.OpenRecords(1 << 20);
            foreach (var record in records)
                foreach (var _ in record.Headers) { }
        });
        return error.Field;
    }

    private static byte[] Valid(CompressionType compression = CompressionType.None) =>
        SampleRecords.Build(new RecordBatchOptions { Compression = compression }, 10);

    private static byte[] With(byte[] batch, Action<byte[]> change, bool fixCrc = true)
    {
        var copy = (byte[])batch.Clone();
        change(copy);
        if (fixCrc) RecordBatchRewriter.UpdateCrc(copy);
        return copy;
    }

    [Fact]
    public void Header_fields()
    {
        var valid = Valid();
        Assert.Equal("RecordBatch.BatchLength", ReadAllFails(With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(8), 48))));
        Assert.Equal("RecordBatch.BatchLength", ReadAllFails(With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(8), b.Length))));
        Assert.Equal("RecordBatch.Magic", ReadAllFails(With(valid, b => b[16] = 3)));
        Assert.Equal("RecordBatch.Crc", ReadAllFails(With(valid, b => b[70] ^= 1, fixCrc: false)));
        Assert.Equal("RecordBatch.Attributes", ReadAllFails(With(valid, b => b[22] |= 5)));
        Assert.Equal("RecordBatch.RecordsCount", ReadAllFails(With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(57), -1))));
        Assert.Equal("RecordBatch.RecordsCount", ReadAllFails(With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(57), int.MaxValue))));
        Assert.Equal("RecordBatch", Assert.Throws<ProtocolDecodeException>(() => new RecordBatch(new byte[60])).Field);
    }

    [Fact]
    public void Declared_count_must_match_the_records()
    {
        var valid = Valid();
        Assert.Equal("RecordBatch.Records", ReadAllFails(With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(57), 9))));
        Assert.Equal("Record.Length", ReadAllFails(With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(57), 11))));
    }

    [Theory]
    [InlineData(CompressionType.Gzip, "gzip")]
    [InlineData(CompressionType.Snappy, "snappy")]
    [InlineData(CompressionType.Lz4, "lz4")]
    [InlineData(CompressionType.Zstd, "zstd")]
    public void Corrupt_compressed_payload_names_the_codec(CompressionType compression, string codec)
    {
        var valid = Valid(compression);
        var field = ReadAllFails(With(valid, b => { for (int i = 61; i < b.Length; i += 3) b[i] ^= 0x5A; }));
        Assert.True(field == codec || field.StartsWith("Record", StringComparison.Ordinal), field);
        Assert.Equal(codec, ReadAllFails(With(valid, b => b.AsSpan(61, 8).Fill(0xEE))));
    }

    [Fact]
    public void Compressed_count_must_fit_the_decompressed_bytes()
    {
        var valid = Valid(CompressionType.Lz4);
        Assert.Equal("RecordBatch.RecordsCount", ReadAllFails(With(valid, b => BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(57), 1_000_000))));
    }

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0 }, "Record.Length")]         // varint > 5 bytes
    [InlineData(new byte[] { 0x01, 0, 0, 0, 0, 0, 0 }, "Record.Length")]                         // length -1
    [InlineData(new byte[] { 0x0A, 0, 0, 0, 0, 0, 0 }, "Record.Length")]                         // length 5 < minimum
    [InlineData(new byte[] { 0x7E, 0, 0, 0, 0, 0, 0 }, "Record.Length")]                         // length 63 > remaining
    [InlineData(new byte[] { 0x0C, 0, 0, 0, 0x7E, 0, 0 }, "Record.KeyLength")]                   // key length 63
    [InlineData(new byte[] { 0x0C, 0, 0, 0, 0x03, 0, 0 }, "Record.KeyLength")]                   // key length -2
    [InlineData(new byte[] { 0x0C, 0, 0, 0, 0x01, 0x05, 0 }, "Record.ValueLength")]              // value length -3
    [InlineData(new byte[] { 0x0C, 0, 0, 0, 0x01, 0x01, 0x01 }, "Record.HeaderCount")]           // header count -1
    [InlineData(new byte[] { 0x0C, 0, 0, 0, 0x01, 0x01, 0x02 }, "Record.HeaderCount")]           // 1 header in 0 bytes
    [InlineData(new byte[] { 0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x01, 0x00 }, "RecordHeader.KeyLength")] // key -1
    [InlineData(new byte[] { 0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x00, 0x05 }, "RecordHeader.ValueLength")]
    [InlineData(new byte[] { 0x0E, 0, 0, 0, 0x01, 0x01, 0x00, 0x00 }, "Record.Length")]          // one unused byte
    [InlineData(new byte[] { 0x0C, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, "Record.TimestampDelta")] // varlong may not leave the record
    [InlineData(new byte[] { 0x1A, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0, 0 }, "Record.TimestampDelta")]
    [InlineData(new byte[] { 0x14, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0 }, "Record.OffsetDelta")]
    public void Record_fields(byte[] record, string field) => Assert.Equal(field, ReadAllFails(Craft(record, 1)));

    [Fact]
    public void A_well_formed_crafted_record_reads()
    {
        // length 6: attributes 0, timestampDelta 0, offsetDelta 0, key null, value null, 0 headers
        var batch = new RecordBatch(Craft([0x0C, 0, 0, 0, 0x01, 0x01, 0x00], 1));
        batch.Validate();
        using var records = batch.OpenRecords(100);
        int count = 0;
        foreach (var r in records) { Assert.False(r.HasKey); Assert.False(r.HasValue); count++; }
        Assert.Equal(1, count);
    }
}
