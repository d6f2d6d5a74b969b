using System.Buffers;
using System.Buffers.Binary;

namespace Fjord.Protocol.Compression;

/// <summary>
/// Decodes one LZ4 frame (descriptor, blocks, end mark, optional content checksum) starting at a
/// frame magic. Linked blocks are decoded behind a sliding 64 KiB history kept in a pooled window;
/// independent blocks decode straight into the destination. Every size is checked against the
/// input that exists and against the caller's output limit before anything is written.
/// </summary>
internal readonly ref struct Lz4FrameReader
{
    private const int HistoryBytes = 64 * 1024;
    private readonly ReadOnlySpan<byte> _source;
    private readonly int _start;
    private readonly bool _acceptLegacyHeaderChecksum;

    public Lz4FrameReader(ReadOnlySpan<byte> source, int start, bool acceptLegacyHeaderChecksum)
    {
        _source = source;
        _start = start;
        _acceptLegacyHeaderChecksum = acceptLegacyHeaderChecksum;
    }

    /// <summary>Decodes the frame, adding its output size to <paramref name="total"/>; returns the
    /// position just after the frame.</summary>
    public int DecodeInto(IBufferWriter<byte> destination, int maxOutputBytes, ref int total)
    {
        var src = _source;
        int p = _start + 4;
        if (src.Length - p < 3) throw Corrupt("truncated frame descriptor");
        byte flags = src[p], blockDescriptor = src[p + 1];
        if (flags >> 6 != 1) throw Corrupt($"unsupported frame version {flags >> 6}");
        if ((flags & 0x02) != 0 || (blockDescriptor & 0x8F) != 0) throw Corrupt("reserved descriptor bits are set");
        int blockSizeId = (blockDescriptor >> 4) & 7;
        if (blockSizeId < 4) throw Corrupt($"invalid block size id {blockSizeId}");
        int blockMax = 1 << (2 * blockSizeId + 8);
        bool linked = (flags & 0x20) == 0, blockChecksum = (flags & 0x10) != 0;
        bool hasContentSize = (flags & 0x08) != 0, contentChecksum = (flags & 0x04) != 0;
        if ((flags & 0x01) != 0) throw Corrupt("preset dictionaries are not supported");
        int descriptorLength = 2 + (hasContentSize ? 8 : 0);
        if (src.Length - p < descriptorLength + 1) throw Corrupt("truncated frame descriptor");
        CheckHeaderChecksum(src, p, descriptorLength);
        long contentSize = -1;
        if (hasContentSize)
        {
            ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(src[(p + 2)..]);
            if (declared > (ulong)(maxOutputBytes - total)) throw Corrupt($"frame declares {declared} bytes, past the {maxOutputBytes}-byte limit");
            contentSize = (long)declared;
        }
        p += descriptorLength + 1;

        var hash = XxHash32.Create();
        int frameOutput = 0;
        byte[]? window = linked ? ArrayPool<byte>.Shared.Rent(HistoryBytes + blockMax) : null;
        int history = 0;
        try
        {
            while (true)
            {
                if (src.Length - p < 4) throw Corrupt("truncated block header");
                uint raw = BinaryPrimitives.ReadUInt32LittleEndian(src[p..]);
                p += 4;
                if (raw == 0) break;
                bool stored = (raw & 0x80000000u) != 0;
                int size = (int)(raw & 0x7FFFFFFFu);
                if (size > blockMax) throw Corrupt($"block of {size} bytes exceeds the frame's {blockMax}-byte maximum");
                if (size > src.Length - p - (blockChecksum ? 4 : 0)) throw Corrupt($"block of {size} bytes overruns the input");
                var block = src.Slice(p, size);
                p += size;
                if (blockChecksum)
                {
                    if (XxHash32.Hash(block) != BinaryPrimitives.ReadUInt32LittleEndian(src[p..])) throw Corrupt("block checksum mismatch");
                    p += 4;
                }
                int room = maxOutputBytes - total;
                if (stored && size > room) throw Corrupt($"inflates past the {maxOutputBytes}-byte limit");
                // A compressed byte yields at most ~255 output bytes; never reserve more than that.
                int limit = (int)Math.Min(Math.Min(blockMax, room), stored ? size : size * 255L + 64);
                ReadOnlySpan<byte> produced;
                if (window is not null)
                {
                    int end = stored ? Store(block, window, history) : Lz4Block.Decompress(block, window.AsSpan(0, history + limit), history);
                    produced = window.AsSpan(history, end - history);
                    destination.Write(produced);
                    if (contentChecksum) hash.Append(produced);
                    history = Slide(window, end);
                }
                else
                {
                    var span = destination.GetSpan(Math.Max(1, limit))[..limit];
                    int end = stored ? Store(block, span, 0) : Lz4Block.Decompress(block, span, 0);
                    if (contentChecksum) hash.Append(span[..end]);
                    destination.Advance(end);
                    produced = span[..end];
                }
                total += produced.Length;
                frameOutput += produced.Length;
            }
        }
        finally
        {
            if (window is not null) ArrayPool<byte>.Shared.Return(window);
        }
        if (contentChecksum)
        {
            if (src.Length - p < 4) throw Corrupt("truncated content checksum");
            if (hash.Digest() != BinaryPrimitives.ReadUInt32LittleEndian(src[p..])) throw Corrupt("content checksum mismatch");
            p += 4;
        }
        if (contentSize >= 0 && contentSize != frameOutput)
            throw Corrupt($"frame declared {contentSize} bytes but decoded {frameOutput}");
        return p;
    }

    private void CheckHeaderChecksum(ReadOnlySpan<byte> src, int descriptorStart, int descriptorLength)
    {
        byte stored = src[descriptorStart + descriptorLength];
        if ((byte)(XxHash32.Hash(src.Slice(descriptorStart, descriptorLength)) >> 8) == stored) return;
        // Kafka 0.8/0.9 hashed from the magic number on.
        if (_acceptLegacyHeaderChecksum &&
            (byte)(XxHash32.Hash(src.Slice(_start, descriptorStart - _start + descriptorLength)) >> 8) == stored) return;
        throw Corrupt("frame header checksum mismatch");
    }

    private static int Store(ReadOnlySpan<byte> block, Span<byte> target, int at)
    {
        block.CopyTo(target[at..]);
        return at + block.Length;
    }

    /// <summary>Keeps at most the last 64 KiB of decoded bytes at the window's start.</summary>
    private static int Slide(byte[] window, int end)
    {
        if (end <= HistoryBytes) return end;
        Buffer.BlockCopy(window, end - HistoryBytes, window, 0, HistoryBytes);
        return HistoryBytes;
    }

    private static ProtocolDecodeException Corrupt(string problem) => new("lz4", problem);
}
