using System.Buffers.Binary;
using System.Globalization;
using Fjord.Protocol.Records;

namespace Fjord.Broker.Replication;

/// <summary>
/// The producer-state snapshot file format: <c>&lt;20-digit offset&gt;.snapshot</c> in the partition
/// directory, holding the <see cref="ProducerStateTable"/> as it was when the log ended at that offset
/// (every batch below the offset applied, none at or above it).
/// </summary>
/// <remarks>
/// <para>Layout (version 1, every integer big-endian):</para>
/// <code>
/// int16  version                 = 1
/// uint32 crc                     CRC-32C (Castagnoli) of every byte after this field
/// int64  snapshot offset         = the offset in the file name (checked on load)
/// int32  producer count          then per producer, in producer-id order:
///   int64 producer id, int16 epoch, int32 coordinator epoch (-1 none),
///   int64 first offset of the open transaction (-1 none), int64 last timestamp (-1 none),
///   int8  batch count (0..5)     then per kept batch, oldest first:
///     int32 first sequence, int32 last sequence, int64 first offset, int64 last offset, int64 timestamp
/// int32  aborted count           then per aborted transaction, in marker order:
///   int64 producer id, int64 first offset, int64 marker offset
/// int32  unreplicated count      then per completed transaction whose marker was not yet known
///                                to be below the high watermark, in marker order:
///   int64 first offset, int64 marker offset
/// </code>
/// <para>A file is accepted only whole: version 1, CRC right, offset equal to its name's, every count
/// within what the remaining bytes can hold, at most <see cref="ProducerStateTable.BatchesKept"/>
/// batches per producer, no duplicate producer id, the aborted and unreplicated lists in marker order,
/// nothing left over. Anything else throws <see cref="FormatException"/> (the loader then ignores the
/// file).</para>
/// </remarks>
public static class ProducerStateSnapshot
{
    public const short Version = 1;
    public const string Suffix = ".snapshot";

    private const int HeaderBytes = 2 + 4;
    private const int ProducerFixedBytes = 8 + 2 + 4 + 8 + 8 + 1;
    private const int BatchBytes = 4 + 4 + 8 + 8 + 8;
    private const int AbortedBytes = 8 + 8 + 8;
    private const int UnreplicatedBytes = 8 + 8;

    internal sealed record Producer(long ProducerId, short Epoch, int CoordinatorEpoch, long CurrentTxnFirstOffset, long LastTimestamp,
        IReadOnlyList<ProducerStateTable.BatchMetadata> Batches);

    internal sealed record Contents(long SnapshotOffset, IReadOnlyList<Producer> Producers, IReadOnlyList<ProducerStateTable.AbortedTxn> Aborted,
        IReadOnlyList<(long FirstOffset, long MarkerOffset)> Unreplicated);

    /// <summary>The file name of the snapshot at <paramref name="offset"/>: 20 zero-padded digits + <c>.snapshot</c>.</summary>
    public static string FileName(long offset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        return offset.ToString("D20", CultureInfo.InvariantCulture) + Suffix;
    }

    /// <summary>The offset a snapshot file name stands for, or null for any other name.</summary>
    public static long? ParseFileName(string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        if (fileName.Length != 20 + Suffix.Length || !fileName.EndsWith(Suffix, StringComparison.Ordinal)) return null;
        return long.TryParse(fileName.AsSpan(0, 20), NumberStyles.None, CultureInfo.InvariantCulture, out long offset) ? offset : null;
    }

    internal static byte[] Encode(long snapshotOffset, IReadOnlyList<Producer> producers, IReadOnlyList<ProducerStateTable.AbortedTxn> aborted,
        IReadOnlyList<(long FirstOffset, long MarkerOffset)> unreplicated)
    {
        long size = HeaderBytes + 8 + 4 + 4 + 4 + (long)aborted.Count * AbortedBytes + (long)unreplicated.Count * UnreplicatedBytes;
        foreach (var p in producers) size += ProducerFixedBytes + (long)p.Batches.Count * BatchBytes;
        var bytes = new byte[checked((int)size)];
        var w = new Writer(bytes, HeaderBytes);
        w.Long(snapshotOffset);
        w.Int(producers.Count);
        foreach (var p in producers)
        {
            if (p.Batches.Count > ProducerStateTable.BatchesKept) throw new ArgumentException($"producer {p.ProducerId} has {p.Batches.Count} batches");
            w.Long(p.ProducerId);
            w.Short(p.Epoch);
            w.Int(p.CoordinatorEpoch);
            w.Long(p.CurrentTxnFirstOffset);
            w.Long(p.LastTimestamp);
            bytes[w.Position++] = (byte)p.Batches.Count;
            foreach (var b in p.Batches)
            {
                w.Int(b.FirstSequence);
                w.Int(b.LastSequence);
                w.Long(b.FirstOffset);
                w.Long(b.LastOffset);
                w.Long(b.Timestamp);
            }
        }
        w.Int(aborted.Count);
        foreach (var a in aborted)
        {
            w.Long(a.ProducerId);
            w.Long(a.FirstOffset);
            w.Long(a.LastOffset);
        }
        w.Int(unreplicated.Count);
        foreach (var (first, marker) in unreplicated)
        {
            w.Long(first);
            w.Long(marker);
        }
        if (w.Position != bytes.Length) throw new InvalidOperationException("snapshot size miscomputed");
        BinaryPrimitives.WriteInt16BigEndian(bytes, Version);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(2), Crc32C.Compute(bytes.AsSpan(HeaderBytes)));
        return bytes;
    }

    /// <summary>Decodes and checks a snapshot (see the class remarks); <paramref name="expectedOffset"/> is the offset of its file name.</summary>
    internal static Contents Decode(ReadOnlySpan<byte> bytes, long expectedOffset)
    {
        if (bytes.Length < HeaderBytes + 8 + 4 + 4 + 4) throw new FormatException($"snapshot too short ({bytes.Length} bytes)");
        short version = BinaryPrimitives.ReadInt16BigEndian(bytes);
        if (version != Version) throw new FormatException($"unknown snapshot version {version}");
        uint stored = BinaryPrimitives.ReadUInt32BigEndian(bytes[2..]);
        uint actual = Crc32C.Compute(bytes[HeaderBytes..]);
        if (stored != actual) throw new FormatException($"CRC mismatch: stored {stored:x8}, computed {actual:x8}");
        var r = new Reader(bytes, HeaderBytes);
        long offset = r.Long();
        if (offset != expectedOffset) throw new FormatException($"snapshot holds offset {offset}, its name says {expectedOffset}");
        int producerCount = r.Count(ProducerFixedBytes);
        var producers = new List<Producer>(producerCount);
        var seen = new HashSet<long>();
        for (int i = 0; i < producerCount; i++)
        {
            long id = r.Long();
            short epoch = r.Short();
            int coordinatorEpoch = r.Int();
            long txnFirst = r.Long();
            long timestamp = r.Long();
            int batchCount = r.Byte();
            if (batchCount > ProducerStateTable.BatchesKept) throw new FormatException($"producer {id} has {batchCount} batches");
            if (!seen.Add(id)) throw new FormatException($"producer {id} appears twice");
            var batches = new List<ProducerStateTable.BatchMetadata>(batchCount);
            for (int b = 0; b < batchCount; b++)
                batches.Add(new ProducerStateTable.BatchMetadata(r.Int(), r.Int(), r.Long(), r.Long(), r.Long()));
            producers.Add(new Producer(id, epoch, coordinatorEpoch, txnFirst, timestamp, batches));
        }
        int abortedCount = r.Count(AbortedBytes);
        var aborted = new List<ProducerStateTable.AbortedTxn>(abortedCount);
        for (int i = 0; i < abortedCount; i++)
        {
            var a = new ProducerStateTable.AbortedTxn(r.Long(), r.Long(), r.Long());
            if (i > 0 && a.LastOffset < aborted[^1].LastOffset) throw new FormatException("aborted transactions out of marker order");
            aborted.Add(a);
        }
        int unreplicatedCount = r.Count(UnreplicatedBytes);
        var unreplicated = new List<(long, long)>(unreplicatedCount);
        for (int i = 0; i < unreplicatedCount; i++)
        {
            var u = (r.Long(), r.Long());
            if (i > 0 && u.Item2 < unreplicated[^1].Item2) throw new FormatException("completed transactions out of marker order");
            unreplicated.Add(u);
        }
        if (r.Position != bytes.Length) throw new FormatException($"{bytes.Length - r.Position} bytes left over");
        return new Contents(offset, producers, aborted, unreplicated);
    }

    private ref struct Writer(Span<byte> bytes, int position)
    {
        private readonly Span<byte> _bytes = bytes;
        public int Position = position;

        public void Short(short v)
        {
            BinaryPrimitives.WriteInt16BigEndian(_bytes[Position..], v);
            Position += 2;
        }

        public void Int(int v)
        {
            BinaryPrimitives.WriteInt32BigEndian(_bytes[Position..], v);
            Position += 4;
        }

        public void Long(long v)
        {
            BinaryPrimitives.WriteInt64BigEndian(_bytes[Position..], v);
            Position += 8;
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> bytes, int position)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        public int Position = position;

        private ReadOnlySpan<byte> Take(int n)
        {
            if (_bytes.Length - Position < n) throw new FormatException("snapshot truncated");
            var span = _bytes.Slice(Position, n);
            Position += n;
            return span;
        }

        public byte Byte() => Take(1)[0];
        public short Short() => BinaryPrimitives.ReadInt16BigEndian(Take(2));
        public int Int() => BinaryPrimitives.ReadInt32BigEndian(Take(4));
        public long Long() => BinaryPrimitives.ReadInt64BigEndian(Take(8));

        /// <summary>A count of entries of at least <paramref name="entryBytes"/> each, checked against the bytes left.</summary>
        public int Count(int entryBytes)
        {
            int count = Int();
            if (count < 0 || (long)count * entryBytes > _bytes.Length - Position) throw new FormatException($"impossible count {count}");
            return count;
        }
    }
}
