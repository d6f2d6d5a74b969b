using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using static Fjord.Raft.Tests.ElectionTests;
using static Fjord.Raft.Tests.Harness;

namespace Fjord.Raft.Tests;

public sealed class HighWatermarkTests
{
    private static readonly SortedSet<int> ThreeVoters = [1, 2, 3];

    [Fact]
    public void The_high_watermark_needs_a_majority_past_the_start_of_the_epoch()
    {
        var leader = new LeaderState(epoch: 4, localId: 1, ThreeVoters, [1, 2], epochStartOffset: 10, fetchTimeoutMs: 2000, now: 0);
        Assert.False(leader.UpdateLocalEndOffset(11, 0));            // only the leader has the LEADER_CHANGE
        Assert.False(leader.UpdateReplica(2, 10, 11, 0));             // a majority at 10: older epochs only
        Assert.Null(leader.HighWatermark);
        Assert.True(leader.UpdateReplica(2, 11, 11, 0));              // a majority has offset 10, the LEADER_CHANGE
        Assert.Equal(11, leader.HighWatermark);
        Assert.False(leader.UpdateReplica(100, 50, 11, 0));           // observers never count
        Assert.Equal(11, leader.HighWatermark);
        Assert.False(leader.UpdateReplica(3, 11, 11, 0));
        Assert.False(leader.UpdateLocalEndOffset(15, 0));             // 15, 11, 11: still 11
        Assert.True(leader.UpdateReplica(3, 15, 15, 0));              // 15, 15, 11
        Assert.Equal(15, leader.HighWatermark);
        Assert.False(leader.UpdateReplica(3, 12, 15, 0));             // a replica going back never lowers it
        Assert.Equal(15, leader.HighWatermark);
    }

    [Fact]
    public void A_new_leader_does_not_commit_older_epochs_by_counting_replicas()
    {
        var h = Harness.Leader(epoch: 5, log: LogWith((1, 3), (2, 2)));   // [e1: 0-2][e2: 3-4][LEADER_CHANGE e5: 5]
        var before = Part(h.Request<FetchResponse>(2, Fetch(2, 5, fetchOffset: 5, lastFetchedEpoch: 2)));
        Assert.Equal(-1, before.HighWatermark);
        Assert.Equal(0, h.Node.HighWatermark);
        Assert.Empty(h.Node.DrainBatches());

        var after = Part(h.Request<FetchResponse>(2, Fetch(2, 5, fetchOffset: 6, lastFetchedEpoch: 5)));
        Assert.Equal(6, after.HighWatermark);
        Assert.Equal(6, h.Node.HighWatermark);
        Assert.Equal([0L, 3L, 5L], h.Node.DrainBatches().Select(b => b.BaseOffset));
    }

    [Fact]
    public void Proposals_commit_with_a_majority_and_not_without()
    {
        var c = new TestCluster(3);
        var leader = c.ElectLeader();
        var (f1, f2) = (c.Up.First(n => n != leader), c.Up.Last(n => n != leader));
        c.Cut(leader.Id, f1.Id);
        long offset = c.Propose("with a majority");
        Assert.True(c.RunUntil(() => leader.Raft.HighWatermark > offset, 200));

        c.Cut(leader.Id, f2.Id);
        long hw = leader.Raft.HighWatermark;
        long lonely = c.Propose("alone");
        c.RunFor(250);                                                        // less than check-quorum's 300 ms
        Assert.Equal(RaftRole.Leader, leader.Raft.Role);
        Assert.Equal(hw, leader.Raft.HighWatermark);
        Assert.True(leader.Raft.LogEndOffset > lonely);
    }

    [Fact]
    public void Five_voters_need_three()
    {
        var c = new TestCluster(5);
        var leader = c.ElectLeader();
        var others = c.Up.Where(n => n != leader).ToList();
        c.Cut(leader.Id, others[0].Id);
        c.Cut(leader.Id, others[1].Id);
        c.Cut(leader.Id, others[2].Id);
        long hw = leader.Raft.HighWatermark;
        c.Propose("one of five");
        c.RunFor(100);
        Assert.Equal(RaftRole.Leader, leader.Raft.Role);
        Assert.Equal(hw, leader.Raft.HighWatermark);
        c.Heal();
        c.Cut(leader.Id, others[0].Id);
        c.Cut(leader.Id, others[1].Id);
        Assert.True(c.RunUntil(() => leader.Raft.HighWatermark == leader.Raft.LogEndOffset, 200),
            $"{leader.Raft.Role} hw {leader.Raft.HighWatermark} end {leader.Raft.LogEndOffset}\n" + string.Join("\n", c.Trace.TakeLast(30)));
    }

    [Fact]
    public void Committed_batches_arrive_once_in_order_on_every_node()
    {
        var c = new TestCluster(3, observers: 1);
        c.ElectLeader();
        var proposed = new List<string>();
        for (int i = 0; i < 30; i++)
        {
            var value = $"v{i}";
            proposed.Add(value);
            c.Propose(value);
            c.RunFor(i % 3 == 0 ? 40 : 3);
        }
        Assert.True(c.RunUntil(() => c.Up.All(n => n.Raft.HighWatermark == c.Leader!.Raft.LogEndOffset)));
        var reference = c.Leader!.Committed;
        foreach (var node in c.Up)
        {
            long next = 0;
            foreach (var batch in node.Committed)
            {
                Assert.Equal(next, batch.BaseOffset);
                next = batch.LastOffset + 1;
            }
            Assert.Equal(node.Raft.HighWatermark, next);
            Assert.Equal(reference.Select(b => b.Bytes.ToArray()), node.Committed.Select(b => b.Bytes.ToArray()));
            Assert.True(node.Committed[0].IsControl);
            Assert.Equal(proposed, node.Committed.Where(b => !b.IsControl).Select(Value));
        }
    }

    [Fact]
    public void After_a_restart_delivery_starts_again_from_the_log_start()
    {
        var c = new TestCluster(3);
        c.ElectLeader();
        c.Propose("a");
        c.Propose("b");
        Assert.True(c.RunUntil(() => c.Up.All(n => n.Raft.HighWatermark == c.Leader!.Raft.LogEndOffset)));
        var follower = c.Up.First(n => n.Raft.Role == RaftRole.Follower);
        int before = follower.Committed.Count;
        c.Crash(follower.Id);
        c.Restart(follower.Id);
        Assert.Equal(0, follower.Raft.HighWatermark);
        Assert.True(c.RunUntil(() => follower.Raft.HighWatermark == c.Leader!.Raft.LogEndOffset));
        Assert.Equal(2 * before, follower.Committed.Count);
        Assert.Equal(follower.Committed.Take(before).Select(b => b.BaseOffset), follower.Committed.Skip(before).Select(b => b.BaseOffset));
    }

    [Fact]
    public void A_follower_never_truncates_below_its_high_watermark()
    {
        var h = new Harness(stored: Election(4, leader: 2));
        var leaderLog = LogWith((4, 2), (4, 2));
        h.Answer(h.Drain().Single(), RaftRpc.FetchResponse(ErrorCode.None, 4, 2, 4, 0, leaderLog.Read(0, 1 << 20, 4)));
        Assert.Equal(4, h.Node.HighWatermark);
        var next = h.Drain().Single();
        Assert.Throws<InvalidOperationException>(() =>
            h.Answer(next, RaftRpc.FetchResponse(ErrorCode.None, 4, 2, 4, 0, ReadOnlyMemory<byte>.Empty, new OffsetAndEpoch(2, 4))));
    }

    private static string Value(CommittedBatch batch)
    {
        using var records = new RecordBatch(batch.Bytes).OpenRecords(1 << 20);
        foreach (var record in records) return System.Text.Encoding.UTF8.GetString(record.ValueSpan);
        return "";
    }
}
