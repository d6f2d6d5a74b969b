using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;

namespace Fjord.Protocol.Compression;

/// <summary>
/// Codec 1: gzip (RFC 1952) through <see cref="GZipStream"/>. Reads multi-member input (as
/// concatenated gzip streams decode to the concatenation); output is bounded by the caller's limit.
/// </summary>
public sealed class GzipCodec(CompressionLevel level = CompressionLevel.Optimal) : ICompressionCodec
{
    private const int ChunkBytes = 64 * 1024;

    public CompressionType Type => CompressionType.Gzip;
    public string Name => "gzip";

    public int Compress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination)
    {
        var sink = new BufferWriterStream(destination);
        using (var gzip = new GZipStream(sink, level, leaveOpen: true))
            gzip.Write(source);
        return checked((int)sink.BytesWritten);
    }

    /// <summary>
    /// The inflater verifies a member's CRC-32 and size when it reaches the trailer, but treats
    /// input that ends early as a clean end. A complete stream ends with the last member's trailer,
    /// whose ISIZE can never exceed what was inflated; truncated or padded input almost surely
    /// breaks that (only a 1 in 2^32/total chance slips through, and the record layer checks sizes again).
    /// </summary>
    private int CheckComplete(ReadOnlySpan<byte> source, int total)
    {
        const int MinMember = 18; // 10-byte header, empty deflate block, 8-byte trailer
        if (source.Length < MinMember) throw new ProtocolDecodeException(Name, $"{source.Length} bytes cannot hold a gzip member");
        uint lastMemberSize = BinaryPrimitives.ReadUInt32LittleEndian(source[^4..]);
        if (lastMemberSize > (uint)total)
            throw new ProtocolDecodeException(Name, "truncated or padded input: the final trailer does not match the inflated size");
        return total;
    }

    public unsafe int Decompress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int maxOutputBytes)
    {
        if (source.IsEmpty) return 0;
        int total = 0;
        try
        {
            fixed (byte* input = source)
            {
                using var stream = new UnmanagedMemoryStream(input, source.Length);
                using var gzip = new GZipStream(stream, CompressionMode.Decompress);
                Span<byte> probe = stackalloc byte[1];
                while (true)
                {
                    int room = maxOutputBytes - total;
                    if (room == 0)
                    {
                        if (gzip.Read(probe) > 0)
                            throw new ProtocolDecodeException(Name, $"inflates past the {maxOutputBytes}-byte limit");
                        return CheckComplete(source, total);
                    }
                    var span = destination.GetSpan(Math.Min(room, ChunkBytes));
                    int read = gzip.Read(span[..Math.Min(span.Length, room)]);
                    if (read == 0) return CheckComplete(source, total);
                    destination.Advance(read);
                    total += read;
                }
            }
        }
        catch (InvalidDataException e)
        {
            throw new ProtocolDecodeException(Name, $"corrupt input: {e.Message}");
        }
        catch (IOException e)
        {
            throw new ProtocolDecodeException(Name, $"unreadable input: {e.Message}");
        }
    }
}
