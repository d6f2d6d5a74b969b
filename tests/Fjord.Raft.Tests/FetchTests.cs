using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using static Fjord.Raft.Tests.ElectionTests;
using static Fjord.Raft.Tests.Harness;

namespace Fjord.Raft.Tests;

public sealed class FetchTests
{
    // Leader of epoch 5 over a log [e1: 0-2][e2: 3-4], then its LEADER_CHANGE at 5.
    private static Harness LeaderOverOldLog() => Harness.Leader(epoch: 5, log: LogWith((1, 3), (2, 2)));

    [Fact]
    public void The_leader_answers_a_matching_fetch_with_records_and_a_diverging_one_with_where_to_truncate()
    {
        var h = LeaderOverOldLog();
        Assert.Equal(6, h.Node.LogEndOffset);

        var valid = Part(h.Request<FetchResponse>(2, Fetch(2, 5, fetchOffset: 3, lastFetchedEpoch: 1)));
        Assert.Equal(ErrorCode.None, (ErrorCode)valid.ErrorCode);
        Assert.Equal(-1, valid.DivergingEpoch.Epoch);
        Assert.Equal([3L, 5L], Batches(valid.Records).Select(b => b.BaseOffset));
        Assert.Equal((1, 5), (valid.CurrentLeader.LeaderId, valid.CurrentLeader.LeaderEpoch));

        var cases = new (long Offset, int Epoch, int DivergingEpoch, long DivergingEnd)[]
        {
            (7, 3, 2, 5),  // we never had epoch 3: epoch 2 ends at 5 here
            (4, 1, 1, 3),  // epoch 1 ends at 3 here, not at 4
            (2, 0, 0, 0),  // nothing that old: truncate everything
        };
        foreach (var (offset, epoch, divergingEpoch, divergingEnd) in cases)
        {
            var diverging = Part(h.Request<FetchResponse>(2, Fetch(2, 5, offset, epoch)));
            Assert.Equal(ErrorCode.None, (ErrorCode)diverging.ErrorCode);
            Assert.Equal((divergingEpoch, divergingEnd), (diverging.DivergingEpoch.Epoch, diverging.DivergingEpoch.EndOffset));
            Assert.True(diverging.Records is null || diverging.Records.Value.IsEmpty);
        }
    }

    [Fact]
    public void A_follower_truncates_where_the_leader_says_its_log_diverges()
    {
        // Ours: [e1: 0-2][e3: 3-6]. The leader (epoch 4) says: your epoch 3 is my epoch 2, ending at 5.
        var h = new Harness(stored: Election(4, leader: 2), log: LogWith((1, 3), (3, 4)));
        var fetch = h.Drain().Single();
        Assert.Equal((7L, 3), (RaftRpc.Single((FetchRequest)fetch.Body)!.FetchOffset, RaftRpc.Single((FetchRequest)fetch.Body)!.LastFetchedEpoch));
        h.Answer(fetch, RaftRpc.FetchResponse(ErrorCode.None, 4, 2, -1, 0, ReadOnlyMemory<byte>.Empty, new OffsetAndEpoch(5, 2)));

        // We hold no epoch 2: cut where our epoch 1 ends, then fetch again from there.
        Assert.Equal(3, h.Node.LogEndOffset);
        var next = RaftRpc.Single((FetchRequest)h.Drain().Single().Body)!;
        Assert.Equal((3L, 1), (next.FetchOffset, next.LastFetchedEpoch));
    }

    [Fact]
    public void A_follower_holding_the_diverging_epoch_keeps_no_more_of_it_than_the_leader_has()
    {
        var h = new Harness(stored: Election(4, leader: 2), log: LogWith((1, 3), (2, 2), (2, 2)));
        Assert.Equal(7, h.Node.LogEndOffset);
        h.Answer(h.Drain().Single(), RaftRpc.FetchResponse(ErrorCode.None, 4, 2, -1, 0, ReadOnlyMemory<byte>.Empty, new OffsetAndEpoch(5, 2)));
        Assert.Equal(5, h.Node.LogEndOffset);
    }

    [Fact]
    public void A_replica_with_a_divergent_tail_converges_on_the_leaders_log()
    {
        // Node 3 led epoch 2 and wrote a tail nobody has; nodes 1 and 2 moved on in epoch 3.
        var c = new TestCluster(3);
        foreach (var (id, log) in new[] { (1, LogWith((1, 2), (3, 3))), (2, LogWith((1, 2), (3, 3))), (3, LogWith((1, 2), (2, 5))) })
        {
            var node = c.Nodes[id];
            foreach (var b in log.Batches) node.Log.AppendAsFollower(b.Bytes);
            node.Log.Flush();
            node.Store.Write(Election(3));
            c.Restart(id);
        }
        var leader = c.ElectLeader();
        Assert.NotEqual(3, leader.Id);
        Assert.True(c.RunUntil(() => c.Nodes[3].Log.EndOffset == leader.Log.EndOffset && c.Nodes[3].Raft.HighWatermark == leader.Log.EndOffset));
        Assert.Equal(leader.Log.Batches.Select(b => b.Bytes), c.Nodes[3].Log.Batches.Select(b => b.Bytes));
        Assert.Contains(c.Trace, line => line.StartsWith("node 3:", StringComparison.Ordinal) && line.Contains("truncating 7 → 2", StringComparison.Ordinal));
    }

    [Fact]
    public void Fetches_in_the_wrong_epoch_or_to_a_non_leader_are_refused_with_the_epoch_we_know()
    {
        var leader = Harness.Leader(epoch: 5);
        var fenced = Part(leader.Request<FetchResponse>(2, Fetch(2, 4, 0, 0)));
        Assert.Equal(ErrorCode.FencedLeaderEpoch, (ErrorCode)fenced.ErrorCode);
        Assert.Equal((1, 5), (fenced.CurrentLeader.LeaderId, fenced.CurrentLeader.LeaderEpoch));
        var unknown = Part(leader.Request<FetchResponse>(2, Fetch(2, 6, 0, 0)));
        Assert.Equal(ErrorCode.UnknownLeaderEpoch, (ErrorCode)unknown.ErrorCode);
        Assert.Equal(RaftRole.Leader, leader.Node.Role);

        var follower = new Harness(stored: Election(5, leader: 2));
        var notLeader = Part(follower.Request<FetchResponse>(3, Fetch(3, 5, 0, 0)));
        Assert.Equal(ErrorCode.NotLeaderOrFollower, (ErrorCode)notLeader.ErrorCode);
        Assert.Equal((2, 5), (notLeader.CurrentLeader.LeaderId, notLeader.CurrentLeader.LeaderEpoch));

        var invalid = Part(leader.Request<FetchResponse>(2, Fetch(2, 5, 3, lastFetchedEpoch: 6)));
        Assert.Equal(ErrorCode.InvalidRequest, (ErrorCode)invalid.ErrorCode);
    }

    [Fact]
    public void Requests_from_another_cluster_are_refused()
    {
        var leader = Harness.Leader(epoch: 5);
        Assert.Equal(ErrorCode.InconsistentClusterId, (ErrorCode)leader.Request<FetchResponse>(2, Fetch(2, 5, 0, 0, clusterId: "other")).ErrorCode);

        var voter = new Harness();
        Assert.Equal(ErrorCode.InconsistentClusterId, (ErrorCode)voter.Request<VoteResponse>(2, Vote(2, 1, clusterId: "other")).ErrorCode);
        Assert.Equal(ErrorCode.InconsistentClusterId,
            (ErrorCode)voter.Request<BeginQuorumEpochResponse>(2, RaftRpc.BeginQuorumEpochRequest("other", 1, 2, 1)).ErrorCode);
        Assert.Equal(ErrorCode.InconsistentClusterId,
            (ErrorCode)voter.Request<EndQuorumEpochResponse>(2, RaftRpc.EndQuorumEpochRequest("other", 2, 1, [1])).ErrorCode);
        Assert.Equal((RaftRole.Unattached, 0), (voter.Node.Role, voter.Node.Epoch));

        // No cluster id at all (an old client) is accepted, as Kafka does.
        Assert.True(Part(voter.Request<VoteResponse>(2, Vote(2, 1, clusterId: null))).VoteGranted);
    }

    [Fact]
    public void An_empty_fetch_waits_for_data_or_its_max_wait()
    {
        var h = Harness.Leader(epoch: 5);
        h.Now = 10;
        // This fetch moves the high watermark (voter 2 now has the LEADER_CHANGE); it may not wait: answered at once.
        var moved = Part(h.Request<FetchResponse>(2, Fetch(2, 5, fetchOffset: 1, lastFetchedEpoch: 5, maxWaitMs: 0)));
        Assert.Equal(1, moved.HighWatermark);

        int first = h.Send(2, Fetch(2, 5, fetchOffset: 1, lastFetchedEpoch: 5, maxWaitMs: 50));
        Assert.Empty(h.Drain());
        Assert.True(h.Node.NextDeadline <= 60);
        h.PollAt(60);
        var expired = Assert.Single(h.Drain());
        Assert.Equal(first, expired.CorrelationId);
        Assert.True(Part((FetchResponse)expired.Body).Records?.IsEmpty ?? true);

        int second = h.Send(3, Fetch(3, 5, fetchOffset: 1, lastFetchedEpoch: 5, maxWaitMs: 50));
        Assert.Empty(h.Drain());
        h.Node.Propose([[1, 2, 3]], 70);
        var answered = h.Drain().Single(m => m.CorrelationId == second);
        Assert.Equal([1L], Batches(Part((FetchResponse)answered.Body).Records).Select(b => b.BaseOffset));
    }

    [Fact]
    public void A_new_high_watermark_waits_up_to_the_linger_for_records_to_go_with_it()
    {
        var h = Harness.Leader(epoch: 5);
        int linger = h.Config.HighWatermarkLingerMs;
        Assert.True(linger > 0);
        h.Now = 10;
        // Voter 2's fetch moves the high watermark to 1: held back, and records proposed meanwhile go with the news.
        int moved = h.Send(2, Fetch(2, 5, fetchOffset: 1, lastFetchedEpoch: 5, maxWaitMs: 50));
        Assert.Empty(h.Drain());
        Assert.Equal(1, h.Node.HighWatermark);
        Assert.True(h.Node.NextDeadline <= 10 + linger);
        h.Node.Propose([[1, 2, 3]], 11);
        var withRecords = Part((FetchResponse)h.Drain().Single(m => m.CorrelationId == moved).Body);
        Assert.Equal(1, withRecords.HighWatermark);
        Assert.Equal([1L], Batches(withRecords.Records).Select(b => b.BaseOffset));

        // Nothing proposed: a fetch parked for its max wait (voter 2's) and the one that moves the
        // high watermark (voter 3's; the leader has not flushed offset 1) are answered at the linger's end.
        h.Now = 15;
        int parked = h.Send(2, Fetch(2, 5, fetchOffset: 2, lastFetchedEpoch: 5, maxWaitMs: 50));
        h.Now = 20;
        int advancing = h.Send(3, Fetch(3, 5, fetchOffset: 2, lastFetchedEpoch: 5, maxWaitMs: 50));
        Assert.Equal(2, h.Node.HighWatermark);
        Assert.Empty(h.Drain());
        h.PollAt(20 + linger - 1);
        Assert.Empty(h.Drain());
        h.PollAt(20 + linger);
        var answers = h.Drain();
        foreach (int correlation in new[] { parked, advancing })
        {
            var answer = Part((FetchResponse)answers.Single(m => m.CorrelationId == correlation).Body);
            Assert.Equal(2, answer.HighWatermark);
            Assert.True(answer.Records?.IsEmpty ?? true);
        }
    }

    [Fact]
    public void Without_a_linger_a_new_high_watermark_is_answered_at_once()
    {
        var h = Harness.Leader(epoch: 5, config: TestCluster.DefaultConfig with { HighWatermarkLingerMs = 0 });
        int parked = h.Send(3, Fetch(3, 5, fetchOffset: 0, lastFetchedEpoch: 0, maxWaitMs: 50)); // voter 3 lags: no news for the HW
        var lagging = Part((FetchResponse)h.Drain().Single(m => m.CorrelationId == parked).Body);   // (it gets the LEADER_CHANGE batch)
        Assert.Single(Batches(lagging.Records));
        parked = h.Send(3, Fetch(3, 5, fetchOffset: 1, lastFetchedEpoch: 5, maxWaitMs: 50));      // moves the HW to 1: answered
        Assert.Equal(1, Part((FetchResponse)h.Drain().Single(m => m.CorrelationId == parked).Body).HighWatermark);
    }

    [Fact]
    public void A_fetch_answer_is_bounded_by_max_bytes_but_holds_at_least_one_batch()
    {
        var h = Harness.Leader(epoch: 5);
        for (int i = 0; i < 3; i++) h.Node.Propose([new byte[100]], 0);
        var one = Part(h.Request<FetchResponse>(2, Fetch(2, 5, 1, 5, maxBytes: 10)));
        Assert.Single(Batches(one.Records));
        var all = Part(h.Request<FetchResponse>(2, Fetch(2, 5, 1, 5)));
        Assert.Equal(3, Batches(all.Records).Count);
    }

    [Fact]
    public void A_follower_appends_flushes_and_takes_the_smaller_of_the_leaders_high_watermark_and_its_end()
    {
        var leaderLog = LogWith((4, 2), (4, 3), (4, 1));
        var h = new Harness(stored: Election(4, leader: 2));
        var fetch = h.Drain().Single();
        h.Answer(fetch, RaftRpc.FetchResponse(ErrorCode.None, 4, 2, 9, 0, leaderLog.Read(0, 1 << 20, 2)));
        Assert.Equal((2L, 2L, 2L), (h.Log.EndOffset, h.Log.FlushedOffset, h.Node.HighWatermark));

        var next = h.Drain().Single();
        Assert.Equal(2, RaftRpc.Single((FetchRequest)next.Body)!.FetchOffset);
        h.Answer(next, RaftRpc.FetchResponse(ErrorCode.None, 4, 2, 5, 0, leaderLog.Read(2, 1 << 20, 6)));
        Assert.Equal((6L, 5L), (h.Log.EndOffset, h.Node.HighWatermark));
        Assert.Equal([0L, 2L], h.Node.DrainBatches().Select(b => b.BaseOffset));
    }

    [Fact]
    public void Fetched_records_that_do_not_continue_the_log_are_ignored()
    {
        var leaderLog = LogWith((4, 2), (4, 3));
        var h = new Harness(stored: Election(4, leader: 2));
        h.Answer(h.Drain().Single(), RaftRpc.FetchResponse(ErrorCode.None, 4, 2, 5, 0, leaderLog.Read(2, 1 << 20, 5)));
        Assert.Equal(0, h.Log.EndOffset);
        Assert.Equal(0, h.Node.HighWatermark);
    }

    [Fact]
    public void A_fetch_answer_naming_a_newer_leader_moves_the_follower_to_it()
    {
        var h = new Harness(stored: Election(3, leader: 2));
        h.Answer(h.Drain().Single(), RaftRpc.FetchResponse(ErrorCode.FencedLeaderEpoch, 4, 3, -1, 0, ReadOnlyMemory<byte>.Empty));
        Assert.Equal((RaftRole.Follower, 4, (int?)3), (h.Node.Role, h.Node.Epoch, h.Node.LeaderId));
        Assert.Equal(Election(4, leader: 3), h.Store.Read());
        Assert.Equal(3, h.Drain().Single(m => m.Body is FetchRequest).Destination);
    }

    [Fact]
    public void Answers_that_do_not_match_an_outstanding_request_are_ignored()
    {
        var h = new Harness(stored: Election(3, leader: 2));
        var fetch = h.Drain().Single();
        var records = LogWith((3, 2)).Read(0, 1 << 20, 2);
        h.Node.Handle(new RaftMessage(2, 1, fetch.CorrelationId + 1, false, RaftRpc.FetchResponse(ErrorCode.None, 3, 2, 2, 0, records)), 0);
        h.Node.Handle(new RaftMessage(3, 1, fetch.CorrelationId, false, RaftRpc.FetchResponse(ErrorCode.None, 3, 2, 2, 0, records)), 0);
        Assert.Equal(0, h.Log.EndOffset);
        h.Answer(fetch, RaftRpc.FetchResponse(ErrorCode.None, 3, 2, 2, 0, records));
        h.Answer(fetch, RaftRpc.FetchResponse(ErrorCode.None, 3, 2, 2, 0, records)); // a duplicate
        Assert.Equal(2, h.Log.EndOffset);
    }

    [Fact]
    public void Begin_quorum_epoch_names_the_leader_stale_ones_are_fenced()
    {
        var h = new Harness(stored: Election(3));
        var fenced = RaftRpc.Single(h.Request<BeginQuorumEpochResponse>(2, RaftRpc.BeginQuorumEpochRequest(ClusterId, 1, 2, 2)))!;
        Assert.Equal((ErrorCode.FencedLeaderEpoch, 3), ((ErrorCode)fenced.ErrorCode, fenced.LeaderEpoch));
        Assert.Equal(RaftRole.Unattached, h.Node.Role);

        var same = RaftRpc.Single(h.Request<BeginQuorumEpochResponse>(2, RaftRpc.BeginQuorumEpochRequest(ClusterId, 1, 2, 3)))!;
        Assert.Equal((ErrorCode.None, 3, 2), ((ErrorCode)same.ErrorCode, same.LeaderEpoch, same.LeaderId));
        Assert.Equal((RaftRole.Follower, (int?)2), (h.Node.Role, h.Node.LeaderId));

        h.Request<BeginQuorumEpochResponse>(3, RaftRpc.BeginQuorumEpochRequest(ClusterId, 1, 3, 7));
        Assert.Equal((RaftRole.Follower, 7, (int?)3), (h.Node.Role, h.Node.Epoch, h.Node.LeaderId));
        Assert.Equal(Election(7, leader: 3), h.Store.Read());
    }

    [Fact]
    public void Two_leaders_named_for_one_epoch_is_a_safety_violation()
    {
        var h = new Harness(stored: Election(3, leader: 2));
        Assert.Throws<InvalidOperationException>(() => h.Send(3, RaftRpc.BeginQuorumEpochRequest(ClusterId, 1, 3, 3)));
    }

    internal static List<RecordBatch> Batches(ReadOnlyMemory<byte>? records)
    {
        var list = new List<RecordBatch>();
        if (records is null) return list;
        var reader = new RecordBatchReader(records.Value);
        while (reader.MoveNext()) list.Add(reader.Current);
        return list;
    }
}
