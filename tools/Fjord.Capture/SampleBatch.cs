using System.Buffers.Binary;
using System.Text;

namespace Fjord.Capture;

/// <summary>A record to serve from Fetch: UTF-8 key, value and headers.</summary>
public sealed record SampleRecord(string? Key, string? Value, IReadOnlyList<(string Name, string Value)> Headers);

/// <summary>
/// Builds one uncompressed v2 record batch (magic 2, CRC32C over attributes..end), enough for a
/// fake broker's Fetch answers. Self-contained on purpose: the capture tool must not depend on the
/// record-batch code it helps to test.
/// </summary>
public static class SampleBatch
{
    private const long BaseTimestamp = 1_700_000_000_000;

    public static byte[] Build(long baseOffset, IReadOnlyList<SampleRecord> records)
    {
        var body = new List<byte>();
        for (int i = 0; i < records.Count; i++)
        {
            var record = new List<byte>();
            record.Add(0); // attributes
            Varlong(record, 0); // timestamp delta
            Varlong(record, i); // offset delta
            NullableBytes(record, records[i].Key);
            NullableBytes(record, records[i].Value);
            Varlong(record, records[i].Headers.Count);
            foreach (var (name, value) in records[i].Headers)
            {
                NullableBytes(record, name);
                NullableBytes(record, value);
            }
            Varlong(body, record.Count);
            body.AddRange(record);
        }

        var batch = new byte[61 + body.Count];
        var span = batch.AsSpan();
        BinaryPrimitives.WriteInt64BigEndian(span, baseOffset);
        BinaryPrimitives.WriteInt32BigEndian(span[8..], batch.Length - 12); // batch length
        BinaryPrimitives.WriteInt32BigEndian(span[12..], 0); // partition leader epoch
        span[16] = 2; // magic
        BinaryPrimitives.WriteInt16BigEndian(span[21..], 0); // attributes: no codec, create time
        BinaryPrimitives.WriteInt32BigEndian(span[23..], records.Count - 1); // last offset delta
        BinaryPrimitives.WriteInt64BigEndian(span[27..], BaseTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(span[35..], BaseTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(span[43..], -1); // producer id
        BinaryPrimitives.WriteInt16BigEndian(span[51..], -1); // producer epoch
        BinaryPrimitives.WriteInt32BigEndian(span[53..], -1); // base sequence
        BinaryPrimitives.WriteInt32BigEndian(span[57..], records.Count);
        body.CopyTo(batch, 61);
        BinaryPrimitives.WriteUInt32BigEndian(span[17..], Crc32C(span[21..]));
        return batch;
    }

    private static void NullableBytes(List<byte> output, string? value)
    {
        if (value is null)
        {
            Varlong(output, -1);
            return;
        }
        var bytes = Encoding.UTF8.GetBytes(value);
        Varlong(output, bytes.Length);
        output.AddRange(bytes);
    }

    private static void Varlong(List<byte> output, long value)
    {
        ulong zigzag = (ulong)((value << 1) ^ (value >> 63));
        while (zigzag >= 0x80)
        {
            output.Add((byte)(zigzag | 0x80));
            zigzag >>= 7;
        }
        output.Add((byte)zigzag);
    }

    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        return table;
    }

    /// <summary>CRC-32C (Castagnoli), as record batches v2 use it.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }
}
