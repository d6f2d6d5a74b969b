using Fjord.Protocol;

namespace Fjord.Storage;

public sealed partial class LogCleaner
{
    /// <summary>Totals of the rewrite phase of one round.</summary>
    private sealed class RewriteStats
    {
        public long BytesBefore, BytesAfter, RecordsRead, RecordsKept, TombstonesDropped;
    }

    /// <summary>
    /// Filters every batch of <paramref name="group"/> into one new <c>.cleaned</c> segment named after
    /// the group's first base offset, makes it durable, and swaps it in for the group. On any failure
    /// before the swap the new files are deleted and the log is unchanged; when the log refuses the
    /// swap because its segments changed meanwhile (retention, truncation, DeleteRecords), the round
    /// ends with <see cref="LogCleaningAbortedException"/>.
    /// </summary>
    private void RewriteGroup(PartitionLog log, List<LogSegment> group, CleaningRules rules, int maxBatchBytes, RewriteStats stats)
    {
        var cleaned = LogSegment.CreateCleaned(log.Directory, group[0].BaseOffset, log.Config);
        bool swapped = false;
        _output.Clear();
        try
        {
            foreach (var segment in group)
            {
                stats.BytesBefore += segment.Size;
                FilterSegment(segment, cleaned, rules, maxBatchBytes, stats);
            }
            if (_output.WrittenCount > 0) cleaned.Append(_output.WrittenSpan);
            _output.Clear();
            cleaned.OnBecomeInactive();
            cleaned.Flush();
            stats.BytesAfter += cleaned.Size;
            try
            {
                log.ReplaceSegments(group, [cleaned]);
            }
            catch (ArgumentException e)
            {
                throw new LogCleaningAbortedException($"{log.TopicPartition}: the log changed during cleaning ({e.Message}); the round was abandoned", e);
            }
            swapped = true;
        }
        finally
        {
            _output.Clear();
            // Once renamed .swap the segment belongs to the log (published, or finished by the next open).
            if (!swapped && cleaned.Marker == SegmentFileNames.CleanedSuffix) cleaned.DeleteFiles();
        }
    }

    /// <summary>Filters one old segment's batches into <paramref name="cleaned"/>, writing whenever
    /// the output buffer reaches the I/O buffer size.</summary>
    private void FilterSegment(LogSegment segment, LogSegment cleaned, CleaningRules rules, int maxBatchBytes, RewriteStats stats)
    {
        var stream = new SegmentBatchStream(segment.WholeFile, segment.LogPath, _options.IoBufferBytes, maxBatchBytes);
        long position = -1;
        try
        {
            while (true)
            {
                position = stream.Position;
                if (!stream.TryRead(out var batch)) break;
                var result = _filter.Filter(batch, rules, _output);
                stats.RecordsRead += result.RecordsRead;
                stats.RecordsKept += result.RecordsKept;
                stats.TombstonesDropped += result.TombstonesDropped;
                if (_output.WrittenCount >= _options.IoBufferBytes)
                {
                    cleaned.Append(_output.WrittenSpan);
                    _output.Clear();
                }
            }
        }
        catch (Exception e) when (e is ProtocolDecodeException or InvalidDataException)
        {
            throw new StorageException($"cannot clean {segment.LogPath}: the batch at position {position} is unreadable ({e.Message})", e);
        }
    }
}

/// <summary>A cleaning round was abandoned because the log changed under it (segments deleted,
/// truncated or rolled into by another writer). Nothing was lost: groups already swapped stay
/// cleaned, the checkpoint did not move, and the next round starts over.</summary>
public sealed class LogCleaningAbortedException(string message, Exception? inner = null) : Exception(message, inner);
