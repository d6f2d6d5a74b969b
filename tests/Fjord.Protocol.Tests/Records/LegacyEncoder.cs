using System.Buffers.Binary;
using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;

namespace Fjord.Protocol.Tests.Records;

/// <summary>Writes legacy (magic 0/1) messages for tests; Fjord itself only reads them.</summary>
internal static class LegacyEncoder
{
    public static byte[] Message(long offset, byte magic, byte attributes, long timestamp, byte[]? key, byte[]? value)
    {
        int size = (magic == 0 ? 14 : 22) + (key?.Length ?? 0) + (value?.Length ?? 0);
        var bytes = new byte[12 + size];
        BinaryPrimitives.WriteInt64BigEndian(bytes, offset);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), size);
        bytes[16] = magic;
        bytes[17] = attributes;
        int at = 18;
        if (magic == 1) { BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(at), timestamp); at += 8; }
        foreach (var field in new[] { key, value })
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(at), field?.Length ?? -1);
            at += 4;
            field?.CopyTo(bytes, at);
            at += field?.Length ?? 0;
        }
        FixCrc(bytes);
        return bytes;
    }

    public static void FixCrc(Span<byte> entry) =>
        BinaryPrimitives.WriteUInt32BigEndian(entry[12..], Crc32Ieee.Compute(entry[16..]));

    public static byte[] Wrapper(long offset, byte magic, CompressionType compression, long timestamp, bool logAppendTime, params byte[][] inner)
    {
        var set = inner.SelectMany(m => m).ToArray();
        var compressed = new System.Buffers.ArrayBufferWriter<byte>();
        CompressionCodecs.Get(compression).Compress(set, compressed);
        byte attributes = (byte)((byte)compression | (logAppendTime ? 0x08 : 0));
        return Message(offset, magic, attributes, timestamp, null, compressed.WrittenSpan.ToArray());
    }
}
