using Fjord.Common;
using Fjord.Protocol.Records;

namespace Fjord.Storage.Tests.Log;

public sealed class PartitionLogAppendTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeClock _clock = new();
    public void Dispose() => _dir.Dispose();

    private PartitionLog Open(LogConfig? config = null) => Logs.Open(_dir, config, _clock);

    [Fact]
    public void A_new_log_is_empty_with_one_segment()
    {
        var log = Open();
        Assert.Equal((0L, 0L, 0L, 1), (log.LogStartOffset, log.LogEndOffset, log.RecoveryPoint, log.SegmentCount));
        Assert.Equal(Logs.Tp, log.TopicPartition);
        Assert.Equal(_dir.Path, log.Directory);
        log.Close();
    }

    [Fact]
    public void Leader_appends_get_consecutive_offsets_and_the_leader_epoch()
    {
        var log = Open();
        var input = Batches.Concat(Batches.Make(3, baseOffset: 77, timestamp: 500), Batches.Make(2, baseOffset: 0, timestamp: 900));
        var copy = input.ToArray();
        var result = log.AppendAsLeader(input, leaderEpoch: 4);
        Assert.Equal(copy, input);
        Assert.Equal(new AppendResult(0, 4, -1, 901, 3, 2, 5, input.Length, 0), result);
        var second = log.AppendAsLeader(Batches.Make(1), 4);
        Assert.Equal(5, second.FirstOffset);
        Assert.Equal(6, log.LogEndOffset);

        var stored = log.Read(0, int.MaxValue, long.MaxValue).ToArray();
        var reader = new RecordBatchReader(stored);
        var seen = new List<(long, long, int)>();
        while (reader.MoveNext())
        {
            reader.Current.Validate();
            seen.Add((reader.Current.BaseOffset, reader.Current.LastOffset, reader.Current.PartitionLeaderEpoch));
        }
        Assert.Equal([(0L, 2L, 4), (3L, 4L, 4), (5L, 5L, 4)], seen);
        Assert.Equal([new EpochEntry(4, 0)], log.LeaderEpochs.Entries);
        log.Close();
    }

    [Fact]
    public void A_new_leader_epoch_starts_at_the_log_end_and_a_stale_one_is_refused()
    {
        var log = Open();
        log.AppendAsLeader(Batches.Make(2), 1);
        log.AppendAsLeader(Batches.Make(2), 3);
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(3, 2)], log.LeaderEpochs.Entries);
        Assert.Throws<StorageException>(() => log.AppendAsLeader(Batches.Make(1), 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => log.AppendAsLeader(Batches.Make(1), -1));
        Assert.Equal((1, 2L), log.LeaderEpochs.EndOffsetFor(1));
        Assert.Equal((3, 4L), log.LeaderEpochs.EndOffsetFor(3));
        log.Close();
    }

    [Fact]
    public void LogAppendTime_stamps_the_clock_and_keeps_crcs_valid()
    {
        var log = Open(Logs.SmallConfig() with { MessageTimestampType = TimestampType.LogAppendTime });
        var result = log.AppendAsLeader(Batches.Concat(Batches.Make(2, timestamp: 5), Batches.Make(2, timestamp: 6)), 0);
        Assert.Equal(_clock.UnixTimeMs, result.LogAppendTime);
        Assert.Equal(_clock.UnixTimeMs, result.MaxTimestamp);
        Assert.Equal(0, result.OffsetOfMaxTimestamp);
        var reader = new RecordBatchReader(log.Read(0, int.MaxValue, long.MaxValue).ToArray());
        while (reader.MoveNext())
        {
            reader.Current.Validate();
            Assert.Equal(TimestampType.LogAppendTime, reader.Current.TimestampType);
            Assert.Equal(_clock.UnixTimeMs, reader.Current.MaxTimestamp);
        }
        log.Close();
    }

    [Fact]
    public void Invalid_or_oversized_batches_are_refused_with_kafka_errors()
    {
        var log = Open(Logs.SmallConfig() with { MaxMessageBytes = 200 });
        var big = Batches.Make(1, valueBytes: 300);
        Assert.Equal(ErrorCode.MessageTooLarge, Assert.Throws<LogAppendException>(() => log.AppendAsLeader(big, 0)).Error);
        var corrupt = Batches.Make(2);
        corrupt[^1] ^= 1;
        Assert.Equal(ErrorCode.CorruptMessage, Assert.Throws<LogAppendException>(() => log.AppendAsLeader(corrupt, 0)).Error);
        Assert.Equal(ErrorCode.CorruptMessage, Assert.Throws<LogAppendException>(() => log.AppendAsLeader(Batches.Make(2)[..70], 0)).Error);
        Assert.Equal(0, log.LogEndOffset);
        log.AppendAsFollower(big);
        Assert.Equal(1, log.LogEndOffset);
        log.Close();
    }

    [Fact]
    public void Empty_input_appends_nothing()
    {
        var log = Open();
        log.AppendAsLeader(Batches.Make(1), 0);
        var result = log.AppendAsLeader(ReadOnlyMemory<byte>.Empty, 0);
        Assert.Equal((0, 1L), (result.RecordCount, log.LogEndOffset));
        log.Close();
    }

    [Fact]
    public void Follower_appends_keep_offsets_and_record_epochs()
    {
        var log = Open();
        log.AppendAsFollower(Batches.Concat(Batches.Make(2, 0, epoch: 1), Batches.Make(2, 2, epoch: 1), Batches.Make(1, 4, epoch: 5)));
        Assert.Equal(5, log.LogEndOffset);
        Assert.Equal([new EpochEntry(1, 0), new EpochEntry(5, 4)], log.LeaderEpochs.Entries);
        Assert.Throws<StorageException>(() => log.AppendAsFollower(Batches.Make(1, 4)));
        Assert.Throws<StorageException>(() => log.AppendAsFollower(Batches.Concat(Batches.Make(1, 5), Batches.Make(1, 5))));
        log.AppendAsFollower(Batches.Make(2, 9, epoch: 5));
        Assert.Equal(11, log.LogEndOffset);
        Assert.Equal(9, log.Read(5, int.MaxValue, long.MaxValue).FirstBatchOffset);
        log.Close();
    }

    [Fact]
    public async Task The_log_rolls_when_a_segment_would_pass_segment_bytes()
    {
        int batchSize = Batches.Make(1, valueBytes: 100).Length;
        var log = Open(Logs.SmallConfig(segmentBytes: batchSize * 3));
        for (int i = 0; i < 10; i++) log.AppendAsLeader(Batches.Make(1, valueBytes: 100), 0);
        var segments = log.SegmentsSnapshot;
        Assert.Equal([0L, 3, 6, 9], segments.Select(s => s.BaseOffset));
        Assert.All(segments, s => Assert.True(s.Size <= batchSize * 3));
        await log.RollFlushes.WaitAsync(TimeSpan.FromSeconds(10)); // rolled segments are fsynced in the background
        Assert.Equal(9, log.RecoveryPoint);
        Assert.Equal(10L * batchSize, log.SizeInBytes);
        log.Close();
    }

    [Fact]
    public void An_append_larger_than_a_segment_goes_into_its_own_segment()
    {
        var log = Open(Logs.SmallConfig(segmentBytes: 100));
        log.AppendAsLeader(Batches.Make(1, valueBytes: 10), 0);
        log.AppendAsLeader(Batches.Make(1, valueBytes: 500), 0);
        log.AppendAsLeader(Batches.Make(1, valueBytes: 10), 0);
        Assert.Equal([0L, 1, 2], log.SegmentsSnapshot.Select(s => s.BaseOffset));
        log.Close();
    }

    [Fact]
    public void The_log_rolls_after_segment_ms()
    {
        var log = Open(Logs.SmallConfig() with { SegmentMs = 1000 });
        log.AppendAsLeader(Batches.Make(1), 0);
        _clock.Advance(999);
        log.AppendAsLeader(Batches.Make(1), 0);
        Assert.Equal(1, log.SegmentCount);
        _clock.Advance(1);
        log.AppendAsLeader(Batches.Make(1), 0);
        Assert.Equal([0L, 2], log.SegmentsSnapshot.Select(s => s.BaseOffset));
        log.Close();
    }

    [Fact]
    public void The_log_rolls_before_relative_offsets_overflow()
    {
        var log = Open();
        log.AppendAsFollower(Batches.Make(1, 0));
        long far = 1L + int.MaxValue;
        log.AppendAsFollower(Batches.Make(1, far));
        Assert.Equal([0L, far], log.SegmentsSnapshot.Select(s => s.BaseOffset));
        log.Close();

        using var other = new TempDirectory();
        var empty = Logs.Open(other, clock: _clock);
        empty.AppendAsFollower(Batches.Make(1, far * 2));
        Assert.Equal([far * 2], empty.SegmentsSnapshot.Select(s => s.BaseOffset));
        Assert.Equal(far * 2 + 1, empty.LogEndOffset);
        empty.Close();
    }

    [Fact]
    public void Flush_messages_flushes_and_raises_the_recovery_point()
    {
        var log = Open(Logs.SmallConfig() with { FlushMessages = 5 });
        log.AppendAsLeader(Batches.Make(4), 0);
        Assert.Equal(0, log.RecoveryPoint);
        log.AppendAsLeader(Batches.Make(1), 0);
        Assert.Equal(5, log.RecoveryPoint);
        log.Close();
    }

    [Fact]
    public void Flush_ms_flushes_on_the_next_append()
    {
        var log = Open(Logs.SmallConfig() with { FlushMs = 100 });
        log.AppendAsLeader(Batches.Make(1), 0);
        Assert.Equal(0, log.RecoveryPoint);
        _clock.Advance(100);
        log.AppendAsLeader(Batches.Make(1), 0);
        Assert.Equal(2, log.RecoveryPoint);
        log.Close();
    }

    [Fact]
    public void Explicit_flushes_raise_the_recovery_point_up_to_the_log_end()
    {
        var log = Open();
        log.AppendAsLeader(Batches.Make(10), 0);
        log.Flush(4);
        Assert.Equal(4, log.RecoveryPoint);
        log.Flush(2);
        Assert.Equal(4, log.RecoveryPoint);
        log.Flush(100);
        Assert.Equal(10, log.RecoveryPoint);
        log.AppendAsLeader(Batches.Make(1), 0);
        log.Flush();
        Assert.Equal(11, log.RecoveryPoint);
        log.Close();
    }

    [Fact]
    public void A_config_change_applies_to_the_next_append()
    {
        var log = Open();
        log.AppendAsLeader(Batches.Make(1, valueBytes: 200), 0);
        log.Config = log.Config with { SegmentBytes = 100 };
        log.AppendAsLeader(Batches.Make(1, valueBytes: 200), 0);
        Assert.Equal(2, log.SegmentCount);
        Assert.Throws<ArgumentException>(() => log.Config = log.Config with { SegmentMs = 0 });
        log.Close();
    }

    [Fact]
    public void A_closed_log_refuses_work()
    {
        var log = Open();
        log.Close();
        log.Close();
        Assert.True(log.IsClosed);
        Assert.Throws<ObjectDisposedException>(() => log.AppendAsLeader(Batches.Make(1), 0));
        Assert.Throws<ObjectDisposedException>(() => log.Flush());
    }
}
