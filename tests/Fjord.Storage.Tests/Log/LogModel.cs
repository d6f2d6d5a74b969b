using Fjord.Protocol.Records;

namespace Fjord.Storage.Tests.Log;

/// <summary>A batch as the model knows it: its offsets, partition leader epoch and exact bytes.</summary>
public sealed record ModelBatch(long BaseOffset, long LastOffset, int Epoch, byte[] Bytes);

/// <summary>
/// The simplest possible partition log — a list of batches plus start and end offsets — that
/// <see cref="PartitionLogPropertyTests"/> checks the real one against.
/// </summary>
public sealed class LogModel
{
    public List<ModelBatch> Batches { get; } = [];
    public long LogStartOffset { get; set; }
    public long LogEndOffset { get; set; }

    public void Add(byte[] bytes)
    {
        var reader = new RecordBatchReader(bytes);
        while (reader.MoveNext())
        {
            var b = reader.Current;
            Batches.Add(new ModelBatch(b.BaseOffset, b.LastOffset, b.PartitionLeaderEpoch, b.Bytes.ToArray()));
            LogEndOffset = b.LastOffset + 1;
        }
    }

    /// <summary>What a read must return: the batch holding <paramref name="offset"/> and those after it,
    /// greedily while they fit <paramref name="maxBytes"/> (the first one regardless with
    /// <paramref name="minOneBatch"/>) and end below the bound. Null means OffsetOutOfRange.</summary>
    public byte[]? ExpectedRead(long offset, int maxBytes, long bound, bool minOneBatch)
    {
        if (offset < LogStartOffset || offset > LogEndOffset) return null;
        bound = Math.Min(bound, LogEndOffset);
        var result = new List<byte>();
        if (offset >= bound) return [];
        foreach (var batch in Batches)
        {
            if (batch.LastOffset < offset) continue;
            if (batch.LastOffset >= bound) break;
            bool first = result.Count == 0;
            if (result.Count + batch.Bytes.Length > maxBytes && !(first && minOneBatch)) break;
            result.AddRange(batch.Bytes);
            if (result.Count >= maxBytes) break;
        }
        return [.. result];
    }

    /// <summary>Drops batches holding offsets ≥ <paramref name="offset"/>; the end becomes the last kept
    /// batch's end, or <paramref name="activeBase"/> (the base of the segment holding the offset) if later.</summary>
    public void Truncate(long offset, long activeBase)
    {
        Batches.RemoveAll(b => b.LastOffset >= offset);
        LogEndOffset = Math.Max(activeBase, Batches.Count > 0 ? Batches[^1].LastOffset + 1 : activeBase);
        LogStartOffset = Math.Min(LogStartOffset, LogEndOffset);
    }

    public void StartAt(long offset)
    {
        Batches.Clear();
        LogStartOffset = LogEndOffset = offset;
    }
}
