using System.Buffers.Binary;
using Fjord.Protocol.Records;
using Fjord.Storage.CrashWriter;

namespace Fjord.Storage.Tests.Crash;

/// <summary>Reads a whole log back and checks it against <see cref="CrashBatches"/>.</summary>
internal static class LogContents
{
    /// <summary>Every batch from the log start to the end, each validated (length, magic, CRC);
    /// the bytes must end exactly on a batch boundary. Offsets are contiguous unless
    /// <paramref name="allowGaps"/> (a compacted log).</summary>
    public static List<byte[]> ReadAllBatches(PartitionLog log, bool allowGaps = false)
    {
        var batches = new List<byte[]>();
        long offset = log.LogStartOffset;
        while (offset < log.LogEndOffset)
        {
            var bytes = log.Read(offset, 1 << 20, log.LogEndOffset).ToArray();
            Assert.True(bytes.Length > 0, $"empty read at {offset} below the log end {log.LogEndOffset}");
            var reader = new RecordBatchReader(bytes);
            while (reader.MoveNext())
            {
                var batch = reader.Current;
                batch.Validate();
                if (allowGaps) Assert.True(batch.BaseOffset >= offset, $"batch at {batch.BaseOffset} overlaps {offset}");
                else Assert.Equal(offset, batch.BaseOffset);
                batches.Add(batch.Bytes.ToArray());
                offset = batch.LastOffset + 1;
            }
            Assert.False(reader.HasTruncatedTail, "a read returned a partial batch");
        }
        Assert.Equal(log.LogEndOffset, offset);
        return batches;
    }

    /// <summary>Asserts the log holds exactly CrashBatches 0..n-1 (for some n ≥ <paramref name="atLeast"/>),
    /// record for record, and returns n.</summary>
    public static int AssertCrashBatches(PartitionLog log, int atLeast)
    {
        var batches = ReadAllBatches(log);
        Assert.True(batches.Count >= atLeast, $"{batches.Count} batches survived but {atLeast} were flushed");
        for (int sequence = 0; sequence < batches.Count; sequence++)
        {
            var batch = new RecordBatch(batches[sequence]);
            Assert.Equal(CrashBatches.RecordCount(sequence), batch.RecordCount);
            using var records = batch.OpenRecords(1 << 20);
            int index = 0;
            foreach (var record in records)
            {
                Assert.Equal(sequence, BinaryPrimitives.ReadInt32BigEndian(record.KeySpan));
                Assert.Equal(index, BinaryPrimitives.ReadInt32BigEndian(record.KeySpan[4..]));
                Assert.True(record.ValueSpan.SequenceEqual(CrashBatches.Value(sequence, index)), $"batch {sequence} record {index} differs");
                index++;
            }
            Assert.Equal(batch.RecordCount, index);
        }
        return batches.Count;
    }
}

/// <summary>A temporary directory removed when the test ends.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix) =>
        Path = Directory.CreateDirectory(System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"fjord-{prefix}-{Guid.NewGuid():N}")).FullName;

    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
