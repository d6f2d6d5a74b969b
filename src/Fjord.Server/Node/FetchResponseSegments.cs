using System.Buffers;
using System.Buffers.Binary;
using Fjord.Network;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Storage;

namespace Fjord.Server.Node;

/// <summary>
/// Encodes a Fetch response body as segments: the encoded message in memory, and each partition's
/// records straight from the log's file regions (sent with sendfile by the network layer), so the
/// record bytes are never copied into managed memory.
/// </summary>
/// <remarks>
/// <para>How the positions are found, exactly: the message is encoded twice by the generated code,
/// with every zero-copy partition's <c>Records</c> set to empty (E0) and to one byte 0xAA (E1). The two
/// encodings are identical except at those fields, which appear in order; walking E0 and E1 side by side,
/// the first byte that differs is inside the records length prefix: the compact prefix (v12+, one
/// byte 0x01 in E0 vs 0x02 in E1) starts there, the int32 prefix (v0-11, 00 00 00 00 vs 00 00 00 01)
/// three bytes earlier. Each found field is checked byte for byte (prefix of 0 in E0, prefix of 1 and
/// 0xAA in E1) and the tails after the last field must be equal, else <see cref="Build"/> throws (the
/// caller copies instead). The body is then E0 with each empty-records prefix replaced by the prefix of
/// the real length followed by the file regions. No enclosing size field covers a records field (record
/// fields are not inside tagged fields; arrays carry counts, not sizes), so nothing else changes.</para>
/// <para>The partitions must be referenced by the response (the same <see cref="FetchResponse.PartitionData"/>
/// objects); their <c>Records</c> are overwritten (left empty). The file regions stay valid for
/// file.delete.delay.ms after a segment is deleted; a region truncated before it is sent closes the connection.</para>
/// </remarks>
public static class FetchResponseSegments
{
    private static readonly byte[] Marker = [0xAA];

    /// <summary>
    /// The segments of the body of <paramref name="response"/> at <paramref name="version"/>, with the records
    /// of every partition in <paramref name="reads"/> (non-empty reads only) sent from their file regions.
    /// Partitions not in <paramref name="reads"/> are encoded as they are.
    /// </summary>
    public static IReadOnlyList<ResponseSegment> Build(FetchResponse response, short version,
        IReadOnlyDictionary<FetchResponse.PartitionData, LogReadResult> reads)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(reads);
        bool flexible = FetchResponse.IsFlexible(version);
        var zeroCopy = new List<(FetchResponse.PartitionData Data, LogReadResult Read)>();
        foreach (var topic in response.Responses)
            foreach (var p in topic.Partitions)
                if (reads.TryGetValue(p, out var read) && !read.IsEmpty)
                    zeroCopy.Add((p, read));

        foreach (var (data, _) in zeroCopy) data.Records = ReadOnlyMemory<byte>.Empty;
        var e0 = Encode(response, version);
        if (zeroCopy.Count == 0) return [ResponseSegment.FromMemory(e0)];
        foreach (var (data, _) in zeroCopy) data.Records = Marker;
        var e1 = Encode(response, version);
        foreach (var (data, _) in zeroCopy) data.Records = ReadOnlyMemory<byte>.Empty;

        int emptyPrefix = flexible ? 1 : 4;
        var positions = new int[zeroCopy.Count]; // where each empty-records field starts in E0
        int i0 = 0, i1 = 0;
        for (int k = 0; k < zeroCopy.Count; k++)
        {
            int common = e0.AsSpan(i0).CommonPrefixLength(e1.AsSpan(i1));
            int at0 = i0 + common - (flexible ? 0 : 3), at1 = i1 + common - (flexible ? 0 : 3);
            if (at0 < i0 || at0 + emptyPrefix > e0.Length || at1 + emptyPrefix + 1 > e1.Length
                || !IsPrefix(e0.AsSpan(at0, emptyPrefix), 0, flexible) || !IsPrefix(e1.AsSpan(at1, emptyPrefix), 1, flexible)
                || e1[at1 + emptyPrefix] != Marker[0])
                throw new InvalidOperationException($"cannot locate the records field of partition {zeroCopy[k].Data.PartitionIndex} in the fetch response v{version}");
            positions[k] = at0;
            i0 = at0 + emptyPrefix;
            i1 = at1 + emptyPrefix + 1;
        }
        if (!e0.AsSpan(i0).SequenceEqual(e1.AsSpan(i1)))
            throw new InvalidOperationException($"fetch response v{version}: encodings differ outside the records fields");

        // One array for every memory piece: E0 between the fields, each followed by the real length prefix.
        int memoryBytes = e0.Length - zeroCopy.Count * emptyPrefix;
        foreach (var (_, read) in zeroCopy) memoryBytes += PrefixSize(read.TotalBytes, flexible);
        var memory = new byte[memoryBytes];
        var segments = new List<ResponseSegment>(zeroCopy.Count * 3 + 1);
        int from = 0, written = 0;
        for (int k = 0; k < zeroCopy.Count; k++)
        {
            var read = zeroCopy[k].Read;
            int start = written;
            e0.AsSpan(from, positions[k] - from).CopyTo(memory.AsSpan(written));
            written += positions[k] - from;
            written += WritePrefix(memory.AsSpan(written), read.TotalBytes, flexible);
            segments.Add(ResponseSegment.FromMemory(memory.AsMemory(start, written - start)));
            foreach (var region in read.Regions)
                if (region.Length > 0) segments.Add(ResponseSegment.FromFile(region.Handle, region.Position, region.Length));
            from = positions[k] + emptyPrefix;
        }
        e0.AsSpan(from).CopyTo(memory.AsSpan(written));
        segments.Add(ResponseSegment.FromMemory(memory.AsMemory(written, e0.Length - from)));
        return segments;
    }

    private static byte[] Encode(FetchResponse response, short version)
    {
        var bytes = new byte[response.ComputeSize(version)];
        var writer = new KafkaWriter(bytes);
        response.Write(ref writer, version);
        if (writer.Position != bytes.Length)
            throw new InvalidOperationException($"fetch response v{version}: wrote {writer.Position} bytes, computed {bytes.Length}");
        return bytes;
    }

    private static bool IsPrefix(ReadOnlySpan<byte> bytes, int length, bool flexible) =>
        flexible ? bytes[0] == length + 1 : BinaryPrimitives.ReadInt32BigEndian(bytes) == length;

    private static int PrefixSize(int length, bool flexible) => flexible ? WireSize.UnsignedVarint((uint)length + 1) : 4;

    private static int WritePrefix(Span<byte> destination, int length, bool flexible)
    {
        if (!flexible)
        {
            BinaryPrimitives.WriteInt32BigEndian(destination, length);
            return 4;
        }
        var writer = new KafkaWriter(destination);
        writer.WriteUnsignedVarint((uint)length + 1);
        return writer.Position;
    }
}

/// <summary>
/// Memory of a given length with no bytes behind it: stands for a partition's records while the
/// fetch-session layer looks only at <c>Records.Length</c> (a partition with data is always part of an
/// incremental answer). Reading its span throws, so a placeholder that reached an encoder by mistake
/// fails loudly instead of sending zeros. <see cref="FetchResponseSegments.Build"/> replaces them.
/// </summary>
public sealed class RecordsPlaceholder : MemoryManager<byte>
{
    private readonly int _length;

    private RecordsPlaceholder(int length) => _length = length;

    /// <summary>A placeholder of <paramref name="length"/> bytes.</summary>
    public static ReadOnlyMemory<byte> Of(int length) => new RecordsPlaceholder(length).CreateMemory(length);

    public override Span<byte> GetSpan() => throw new InvalidOperationException("a records placeholder has no bytes");
    public override MemoryHandle Pin(int elementIndex = 0) => throw new InvalidOperationException("a records placeholder has no bytes");
    public override void Unpin() { }
    protected override void Dispose(bool disposing) { }
}
