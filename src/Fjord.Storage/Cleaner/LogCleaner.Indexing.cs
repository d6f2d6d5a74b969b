using Fjord.Protocol;

namespace Fjord.Storage;

public sealed partial class LogCleaner
{
    /// <summary>
    /// Fills <paramref name="map"/> with the keyed records of the dirty section, oldest first, and
    /// moves its latest offset to the end of each batch and each whole segment read. Stops early
    /// when a new key does not fit; returns whether that happened (the map then covers offsets up
    /// to the last record it took).
    /// </summary>
    private bool IndexDirtySection(IReadOnlyList<LogSegment> segments, CleanableSection section, OffsetMap map, int maxBatchBytes)
    {
        map.Clear();
        long firstDirty = section.FirstDirtyOffset;
        for (int i = section.FirstDirtyIndex; i < segments.Count - 1 && segments[i].BaseOffset < section.FirstUncleanableOffset; i++)
        {
            var segment = segments[i];
            var whole = segment.WholeFile;
            int start = segment.OffsetIndex.Lookup(Math.Max(firstDirty, segment.BaseOffset), whole.Length).Position;
            var stream = new SegmentBatchStream(whole with { Position = start, Length = whole.Length - start }, segment.LogPath,
                _options.IoBufferBytes, maxBatchBytes);
            long position = -1;
            try
            {
                while (true)
                {
                    position = stream.Position;
                    if (!stream.TryRead(out var batch)) break;
                    if (batch.LastOffset < firstDirty) continue;
                    batch.Validate();
                    if (!batch.IsControl && !batch.IsTransactional)
                    {
                        using var records = batch.OpenRecords(_options.MaxDecompressedBatchBytes);
                        foreach (var record in records)
                        {
                            if (record.Offset < firstDirty || !record.HasKey) continue;
                            if (!map.TryPut(record.KeySpan, record.Offset)) return true;
                        }
                    }
                    map.UpdateLatestOffset(batch.LastOffset);
                }
            }
            catch (Exception e) when (e is ProtocolDecodeException or InvalidDataException)
            {
                throw new StorageException($"cannot clean {segment.LogPath}: the batch at position {position} is unreadable ({e.Message})", e);
            }
            // Offsets up to the next segment's base are covered even where batches left gaps.
            map.UpdateLatestOffset(segments[i + 1].BaseOffset - 1);
        }
        return false;
    }
}
