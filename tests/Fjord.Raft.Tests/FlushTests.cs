using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using static Fjord.Raft.Tests.Harness;

namespace Fjord.Raft.Tests;

/// <summary>
/// Propose appends without flushing; the driver sends what it queued, then calls Flush. Only
/// flushed offsets count towards the high watermark, the leader's own included.
/// </summary>
public sealed class FlushTests
{
    [Fact]
    public void The_high_watermark_does_not_count_the_leaders_unflushed_tail()
    {
        var h = Harness.Leader(epoch: 5);                                        // LEADER_CHANGE at 0, flushed
        Assert.Equal(1, Part(h.Request<FetchResponse>(2, Fetch(2, 5, fetchOffset: 1, lastFetchedEpoch: 5))).HighWatermark);

        Assert.Equal(1, h.Node.Propose([[1]], 0));
        Assert.True(h.Node.HasUnflushedTail);
        Assert.Equal((2L, 1L), (h.Log.EndOffset, h.Log.FlushedOffset));

        // Voter 2 has offset 1 durably, the leader only in memory: 2, 1, -1 → still 1.
        Assert.Equal(1, Part(h.Request<FetchResponse>(2, Fetch(2, 5, fetchOffset: 2, lastFetchedEpoch: 5))).HighWatermark);
        Assert.Equal(1, h.Node.HighWatermark);

        h.Node.Flush(0);
        Assert.False(h.Node.HasUnflushedTail);
        Assert.Equal(2, h.Node.HighWatermark);                                   // 2, 2, -1
        Assert.Equal([1L], h.Node.DrainBatches().Where(b => !b.IsControl).Select(b => b.BaseOffset));
    }

    [Fact]
    public void A_majority_of_followers_commits_without_the_leaders_flush()
    {
        var h = Harness.Leader(epoch: 5);
        h.Request<FetchResponse>(2, Fetch(2, 5, fetchOffset: 1, lastFetchedEpoch: 5));
        h.Node.Propose([[1]], 0);
        h.Request<FetchResponse>(2, Fetch(2, 5, fetchOffset: 2, lastFetchedEpoch: 5));
        Assert.Equal(1, h.Node.HighWatermark);
        h.Request<FetchResponse>(3, Fetch(3, 5, fetchOffset: 2, lastFetchedEpoch: 5));
        Assert.Equal(2, h.Node.HighWatermark);                                   // 2, 2 (followers), 1 (leader)
        Assert.True(h.Node.HasUnflushedTail);
    }

    [Fact]
    public void Parked_fetches_are_answered_before_the_leaders_flush()
    {
        var h = Harness.Leader(epoch: 5);
        h.Request<FetchResponse>(2, Fetch(2, 5, fetchOffset: 1, lastFetchedEpoch: 5));                  // moves the HW: answered
        int parked2 = h.Send(2, Fetch(2, 5, fetchOffset: 1, lastFetchedEpoch: 5, maxWaitMs: 500));
        int parked3 = h.Send(3, Fetch(3, 5, fetchOffset: 1, lastFetchedEpoch: 5, maxWaitMs: 500));
        Assert.Empty(h.Drain());

        long offset = h.Node.Propose([[1, 2, 3]], 0)!.Value;
        var answers = h.Drain();
        Assert.Equal(1L, h.Log.FlushedOffset);                                   // not flushed yet …
        foreach (int correlation in new[] { parked2, parked3 })
        {
            var answer = (FetchResponse)answers.Single(m => m.CorrelationId == correlation).Body;
            var reader = new RecordBatchReader(Part(answer).Records ?? ReadOnlyMemory<byte>.Empty);
            Assert.True(reader.MoveNext());
            Assert.Equal((offset, offset), (reader.Current.BaseOffset, reader.Current.LastOffset));   // … but already sent
        }

        h.Node.Flush(0);
        Assert.Equal(2L, h.Log.FlushedOffset);
    }

    [Fact]
    public void A_single_voter_commits_only_after_flush()
    {
        var h = new Harness(nodeId: 1, voters: [1]);
        Assert.Equal(RaftRole.Leader, h.Node.Role);
        Assert.True(h.Node.HasUnflushedTail);                                   // the LEADER_CHANGE batch
        Assert.Equal(0, h.Node.HighWatermark);
        h.Node.Flush(0);
        Assert.Equal(1, h.Node.HighWatermark);
        Assert.True(Assert.Single(h.Node.DrainBatches()).IsControl);

        Assert.Equal(1, h.Node.Propose([[7]], 0));
        Assert.Equal(1, h.Node.HighWatermark);
        Assert.Empty(h.Node.DrainBatches());
        h.Node.Flush(0);
        Assert.Equal(2, h.Node.HighWatermark);
        Assert.Equal(1, Assert.Single(h.Node.DrainBatches()).BaseOffset);
        Assert.False(h.Node.HasUnflushedTail);
    }

    [Fact]
    public void A_follower_flushes_what_it_fetched_before_fetching_again()
    {
        var leaderLog = ElectionTests.LogWith((4, 2));
        var h = new Harness(stored: Election(4, leader: 2));
        h.Answer(h.Drain().Single(), RaftRpc.FetchResponse(Fjord.Common.ErrorCode.None, 4, 2, -1, 0, leaderLog.Read(0, 1 << 20, 2)));
        var next = Assert.Single(h.Drain());                                      // the next fetch goes out at once …
        Assert.Equal(2, RaftRpc.Single((FetchRequest)next.Body)!.FetchOffset);
        Assert.Equal(2L, h.Log.FlushedOffset);                                   // … reporting only what is durable
        Assert.False(h.Node.HasUnflushedTail);
    }
}
