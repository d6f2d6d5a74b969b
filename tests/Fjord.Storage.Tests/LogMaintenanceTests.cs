using System.Text;
using Fjord.Common;
using Fjord.Protocol.Records;
using Fjord.Storage.Tests.Crash;

namespace Fjord.Storage.Tests;

/// <summary>The background upkeep: retention for delete-policy logs, compaction for compact ones,
/// nothing at or above the high watermark, and the loop running on its own.</summary>
public sealed class LogMaintenanceTests
{
    private static readonly LogConfig DeleteConfig = LogConfig.Default with { SegmentBytes = 2048, RetentionMs = 60_000, FileDeleteDelayMs = 0 };
    private static readonly LogConfig CompactConfig = LogConfig.Default with { SegmentBytes = 2048, CleanupPolicy = CleanupPolicy.Compact, FileDeleteDelayMs = 0 };

    private static void AppendKeyed(PartitionLog log, long timestamp, int key, string value)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        builder.Append(timestamp, Encoding.UTF8.GetBytes($"key-{key}"), Encoding.UTF8.GetBytes(value));
        log.AppendAsLeader(builder.ToArray(), leaderEpoch: 0);
    }

    private static LogManager StartManager(string dir, IClock clock)
    {
        var manager = new LogManager([dir], LogConfig.Default, topic => topic == "compacted" ? CompactConfig : DeleteConfig, clock);
        manager.Start();
        return manager;
    }

    [Fact]
    public void A_pass_applies_retention_and_compaction_by_policy_below_the_high_watermark()
    {
        using var dir = new TempDirectory("maint");
        var clock = new FakeClock();
        var manager = StartManager(dir.Path, clock);
        try
        {
            var expiring = manager.GetOrCreateLog(new TopicPartition("expiring", 0));
            var compacted = manager.GetOrCreateLog(new TopicPartition("compacted", 0));
            for (int i = 0; i < 200; i++)
            {
                AppendKeyed(expiring, clock.UnixTimeMs, i, new string('x', 60));
                AppendKeyed(compacted, clock.UnixTimeMs, i % 5, $"value-{i}-{new string('y', 40)}");
            }
            int expiringSegments = expiring.SegmentCount;
            Assert.True(expiringSegments > 3);
            long highWatermark = 300; // below both log ends: the segments holding 300+ must stay
            using var cleaner = new LogCleaner(clock);
            var maintenance = new LogMaintenance(manager, cleaner, _ => highWatermark, clock);

            clock.Advance(DeleteConfig.RetentionMs + 1);
            maintenance.RunOnce();

            Assert.True(maintenance.RetentionSegmentsDeleted > 0);
            Assert.True(expiring.LogStartOffset > 0 && expiring.LogStartOffset <= highWatermark, $"log start {expiring.LogStartOffset}");
            Assert.Equal(200, expiring.LogEndOffset);
            Assert.Equal(1, maintenance.CleaningPasses);
            Assert.Equal(0, compacted.LogStartOffset); // compact-only: retention does not apply
            Assert.True(CountRecords(compacted) < 200, "compaction removed nothing");
        }
        finally { manager.Close(); }
    }

    [Fact]
    public async Task The_background_loop_deletes_expired_segments_by_itself()
    {
        using var dir = new TempDirectory("maint-loop");
        var manager = StartManager(dir.Path, SystemClock.Instance);
        try
        {
            var log = manager.GetOrCreateLog(new TopicPartition("expiring", 0));
            long longAgo = SystemClock.Instance.UnixTimeMs - 10 * DeleteConfig.RetentionMs;
            for (int i = 0; i < 200; i++) AppendKeyed(log, longAgo, i, new string('x', 60));
            using var cleaner = new LogCleaner(SystemClock.Instance);
            await using var maintenance = new LogMaintenance(manager, cleaner, _ => log.LogEndOffset, SystemClock.Instance,
                new LogMaintenanceOptions { TickMs = 20, RetentionCheckIntervalMs = 50 });
            maintenance.Start();
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (log.SegmentCount > 1 && DateTime.UtcNow < deadline) await Task.Delay(20);
            Assert.Equal(1, log.SegmentCount); // only the active segment is left
            Assert.Equal(200, log.LogEndOffset);
        }
        finally { manager.Close(); }
    }

    private static int CountRecords(PartitionLog log)
    {
        int count = 0;
        foreach (var batch in LogContents.ReadAllBatches(log, allowGaps: true))
            count += new RecordBatch(batch).RecordCount;
        return count;
    }
}
