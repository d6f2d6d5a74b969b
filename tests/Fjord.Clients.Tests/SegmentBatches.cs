using System.Buffers.Binary;

namespace Fjord.Clients.Tests;

/// <summary>The header of one record batch (magic 2) as stored in a partition's segment files.</summary>
public sealed record StoredBatch(long BaseOffset, int LastOffsetDelta, int Attributes, long ProducerId, short ProducerEpoch, int BaseSequence, int RecordCount)
{
    /// <summary>0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd (the low three attribute bits).</summary>
    public int Codec => Attributes & 7;
}

/// <summary>
/// Reads the batch headers out of a partition directory's <c>*.log</c> files, so a test can see what
/// the broker really stored (codec, producer id, sequences) rather than what a client reports.
/// </summary>
public static class SegmentBatches
{
    private const int HeaderSize = 61;

    public static IReadOnlyList<StoredBatch> Read(string partitionDir)
    {
        var batches = new List<StoredBatch>();
        foreach (var file in Directory.GetFiles(partitionDir, "*.log").Order(StringComparer.Ordinal))
        {
            byte[] bytes;
            using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
            }
            int pos = 0;
            while (pos + HeaderSize <= bytes.Length)
            {
                var h = bytes.AsSpan(pos);
                int length = BinaryPrimitives.ReadInt32BigEndian(h[8..]);
                if (length <= 0 || pos + 12 + length > bytes.Length) break; // preallocated tail or a batch being written
                if (h[16] != 2) throw new InvalidDataException($"{file} @ {pos}: magic {h[16]}");
                batches.Add(new StoredBatch(
                    BinaryPrimitives.ReadInt64BigEndian(h),
                    BinaryPrimitives.ReadInt32BigEndian(h[23..]),
                    BinaryPrimitives.ReadInt16BigEndian(h[21..]),
                    BinaryPrimitives.ReadInt64BigEndian(h[43..]),
                    BinaryPrimitives.ReadInt16BigEndian(h[51..]),
                    BinaryPrimitives.ReadInt32BigEndian(h[53..]),
                    BinaryPrimitives.ReadInt32BigEndian(h[57..])));
                pos += 12 + length;
            }
        }
        return batches;
    }
}
