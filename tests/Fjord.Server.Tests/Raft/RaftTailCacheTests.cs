using Fjord.Protocol.Records;
using Fjord.Raft;
using Fjord.Server.Raft;
using Fjord.Storage;

namespace Fjord.Server.Tests.Raft;

/// <summary>
/// <see cref="PartitionLogRaftLog"/>'s tail cache: every read it answers from memory must be byte for
/// byte what the segment files hold (compared with <see cref="PartitionLog.Read"/> on the same log),
/// and bytes it handed out must never change afterwards.
/// </summary>
public sealed class RaftTailCacheTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly List<PartitionLogRaftLog> _opened = [];

    private PartitionLogRaftLog Open(string name, LogConfig? config = null)
    {
        var log = PartitionLogRaftLog.Open(_dir.Sub(name), config);
        _opened.Add(log);
        return log;
    }

    public void Dispose()
    {
        foreach (var log in _opened) log.Close();
        _dir.Dispose();
    }

    private static void AssertSameAsFile(PartitionLogRaftLog log, long start, int maxBytes, long endExclusive)
    {
        var fromRaft = log.Read(start, maxBytes, endExclusive).ToArray();
        var fromFile = start >= log.EndOffset ? [] : log.Log.Read(start, maxBytes, endExclusive).ToArray();
        Assert.Equal(fromFile, fromRaft);
    }

    [Fact]
    public void Reads_after_random_appends_and_truncations_match_the_segment_files()
    {
        // Small segments and index interval: reads cross segment boundaries, as they do on disk.
        var config = new LogConfig { SegmentBytes = 4096, IndexIntervalBytes = 256 };
        var leader = Open("leader", config);
        var follower = Open("follower", config);
        var random = new Random(42);
        int epoch = 1;
        for (int step = 0; step < 600; step++)
        {
            int action = random.Next(10);
            if (action < 6)
            {
                if (random.Next(20) == 0) epoch++;
                leader.AppendAsLeader(RaftLogContractTests.Batch(random.Next(1, 6), prefix: $"s{step}-"), epoch);
            }
            else if (action == 6 && leader.EndOffset > 0 && random.Next(4) == 0)
            {
                // A diverging follower truncates; the leader here stands in for any log.
                long to = Math.Max(0, leader.EndOffset - random.Next(1, 8));
                var bytes = leader.Read(to, int.MaxValue, long.MaxValue);
                long cut = bytes.IsEmpty ? to : new RecordBatch(bytes[..(RecordBatchLayout.LogOverhead +
                    System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.Span[RecordBatchLayout.BatchLength..]))]).BaseOffset;
                leader.TruncateTo(cut);
                if (follower.EndOffset > cut) follower.TruncateTo(cut);
            }
            else if (follower.EndOffset < leader.EndOffset)
            {
                follower.AppendAsFollower(leader.Read(follower.EndOffset, random.Next(1, 2000), leader.EndOffset));
            }
            if (leader.EndOffset == 0) continue;
            for (int r = 0; r < 3; r++)
            {
                long start = random.Next((int)leader.EndOffset + 1);
                int maxBytes = random.Next(4) == 0 ? 0 : random.Next(1, 3000);
                long end = random.Next(3) == 0 ? long.MaxValue : start + random.Next(0, 20);
                AssertSameAsFile(leader, start, maxBytes, end);
                if (follower.EndOffset > 0) AssertSameAsFile(follower, Math.Min(start, follower.EndOffset), maxBytes, end);
            }
        }
        Assert.True(leader.EndOffset > 100);
        Assert.True(leader.CachedReads > 100 && follower.CachedReads > 100, $"cached reads: leader {leader.CachedReads}, follower {follower.CachedReads}");
    }

    [Fact]
    public void Bytes_handed_out_do_not_change_after_a_truncation_and_new_appends()
    {
        var log = Open("log");
        log.AppendAsLeader(RaftLogContractTests.Batch(2, prefix: "a"), 1);
        log.AppendAsLeader(RaftLogContractTests.Batch(2, prefix: "b"), 1);
        var held = log.Read(2, int.MaxValue, long.MaxValue);
        var copy = held.ToArray();
        log.TruncateTo(2);
        log.AppendAsLeader(RaftLogContractTests.Batch(2, prefix: "c"), 2);
        log.AppendAsLeader(RaftLogContractTests.Batch(5, prefix: "d"), 2);
        Assert.Equal(copy, held.ToArray());
        AssertSameAsFile(log, 0, int.MaxValue, long.MaxValue);
        AssertSameAsFile(log, 2, int.MaxValue, long.MaxValue);
    }

    [Fact]
    public void A_log_appended_to_behind_the_adapter_is_read_from_the_file()
    {
        var log = Open("log");
        log.AppendAsLeader(RaftLogContractTests.Batch(2), 1);
        log.Log.AppendAsLeader(RaftLogContractTests.Batch(3), 1); // not through the adapter: the cache no longer ends at the log end
        Assert.Equal(5, log.EndOffset);
        long cached = log.CachedReads;
        Assert.Equal(2, RaftLogContractTests.Batches(log.Read(0, int.MaxValue, long.MaxValue)).Count);
        Assert.Equal(cached, log.CachedReads);
        AssertSameAsFile(log, 0, int.MaxValue, long.MaxValue);
        AssertSameAsFile(log, 2, int.MaxValue, long.MaxValue);
    }

    [Fact]
    public void Under_LogAppendTime_the_leader_reads_the_file()
    {
        var log = Open("log", new LogConfig { MessageTimestampType = TimestampType.LogAppendTime });
        log.AppendAsLeader(RaftLogContractTests.Batch(2), 1);
        log.AppendAsLeader(RaftLogContractTests.Batch(1), 1);
        AssertSameAsFile(log, 0, int.MaxValue, long.MaxValue);
        AssertSameAsFile(log, 2, int.MaxValue, long.MaxValue);
    }

    [Fact]
    public void The_cache_keeps_whole_batches_within_its_bound()
    {
        var cache = new RaftTailCache(maxBytes: 1000);
        long end = 0;
        for (int i = 0; i < 50; i++)
        {
            var batch = RaftLogContractTests.Batch(3, epoch: 1, baseOffset: end);
            end += 3;
            cache.Append(batch, end, assignFrom: null);
        }
        Assert.Equal(end, cache.End);
        Assert.True(cache.BatchCount is > 1 and < 50);
        Assert.Null(cache.Read(0, int.MaxValue, long.MaxValue, end)); // evicted: the file answers
        Assert.Null(cache.Read(end - 3, int.MaxValue, long.MaxValue, end + 1)); // the log moved on
        var last = cache.Read(end - 3, 0, long.MaxValue, end);
        Assert.NotNull(last);
        Assert.Equal([(end - 3, end - 1, 1)], RaftLogContractTests.Batches(last.Value));
        Assert.True(cache.Read(end - 3, 0, end - 1, end)!.Value.IsEmpty); // the batch ends past the bound
    }
}
