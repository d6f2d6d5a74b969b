using System.Buffers.Binary;
using System.Diagnostics;

namespace Fjord.Storage.Tests.Log;

/// <summary>
/// The background fsync a roll schedules (PartitionLog.ScheduleRollFlush) runs outside the write lock
/// while the writer goes on: here it truncates back into the segment just rolled, at once, again and
/// again. The index files on disk must stay a prefix of the in-memory indexes: the background flush
/// once wrote the rolled segment's pending index entries itself, racing the truncation, and could
/// leave entries of truncated batches in the file — which a later clean reopen trusted, pointing reads
/// and truncations into the middle of a batch ("batch length … is below the minimum").
/// </summary>
public sealed class PartitionLogRollFlushRaceTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Truncating_into_a_segment_whose_roll_flush_is_running_leaves_its_index_files_consistent()
    {
        var random = new Random(7);
        var clock = new FakeClock();
        var log = Logs.Open(_dir, Logs.SmallConfig(segmentBytes: 700, indexIntervalBytes: 0), clock);
        var deadline = Stopwatch.StartNew();
        try
        {
            for (int cycle = 0; cycle < 400 && deadline.Elapsed < TimeSpan.FromSeconds(8); cycle++)
            {
                // Fill segment 0 until a roll leaves it behind with index entries not yet in its file.
                while (log.SegmentCount < 2)
                    log.AppendAsLeader(Batches.Make(random.Next(1, 4), valueBytes: random.Next(0, 60), fill: (byte)cycle), 0);
                // Cut back into segment 0 at once, while its background flush may be writing.
                var first = log.SegmentsSnapshot[0];
                log.Truncate(first.BaseOffset + random.Next(1, (int)Math.Max(2, first.NextOffset - first.BaseOffset)));
                CheckIndexFiles(log);
            }
            CheckIndexFiles(log);
            long logEnd = log.LogEndOffset;
            log.Close();

            // A clean reopen trusts the index files; every offset must still be readable and truncatable.
            log = Logs.Open(_dir, Logs.SmallConfig(segmentBytes: 700, indexIntervalBytes: 0), clock,
                new LogOpenOptions(RecoveryPoint: logEnd, HadCleanShutdown: true));
            Assert.Equal(logEnd, log.LogEndOffset);
            for (long offset = logEnd - 1; offset > 0; offset--)
            {
                if (offset >= log.LogEndOffset) continue;
                var headers = Batches.Headers(log.Read(offset, int.MaxValue, long.MaxValue).ToArray());
                Assert.True(headers[0].BaseOffset <= offset && headers[^1].LastOffset + 1 == log.LogEndOffset, $"read at {offset}");
                log.Truncate(offset);
            }
        }
        finally
        {
            log.Close();
        }
    }

    /// <summary>Once the roll flushes are done, each index file holds a prefix of its in-memory entries.</summary>
    private static void CheckIndexFiles(PartitionLog log)
    {
        Assert.True(log.RollFlushes.Wait(TimeSpan.FromSeconds(30)), "the background roll flushes finish");
        foreach (var segment in log.SegmentsSnapshot)
        {
            var inMemory = segment.OffsetIndex.Entries;
            var onDisk = ReadOffsetIndexFile(segment.OffsetIndex.Path, segment.BaseOffset);
            Assert.True(onDisk.Count <= inMemory.Count,
                $"{segment.OffsetIndex.Path} holds {onDisk.Count} entries on disk but {inMemory.Count} in memory: " +
                $"disk [{string.Join(", ", onDisk)}] memory [{string.Join(", ", inMemory)}]");
            Assert.Equal(inMemory.Take(onDisk.Count), onDisk);

            var timesInMemory = segment.TimeIndex.Entries;
            long timeFileLength = new FileInfo(segment.TimeIndex.Path).Length;
            Assert.True(timeFileLength <= timesInMemory.Count * 12L,
                $"{segment.TimeIndex.Path} is {timeFileLength} bytes for {timesInMemory.Count} entries in memory");
        }
    }

    private static List<(long Offset, int Position)> ReadOffsetIndexFile(string path, long baseOffset)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        var entries = new List<(long, int)>();
        for (int at = 0; at + 8 <= bytes.Length; at += 8)
            entries.Add((baseOffset + BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(at)), BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(at + 4))));
        return entries;
    }
}
