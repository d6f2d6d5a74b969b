using Fjord.Common;
using Fjord.Protocol.Messages;
using static Fjord.Raft.Tests.Harness;

namespace Fjord.Raft.Tests;

public sealed class ObserverTests
{
    [Fact]
    public void An_observer_finds_the_leader_replicates_and_never_votes()
    {
        var c = new TestCluster(3, observers: 1);
        var observer = c.Nodes[100];
        Assert.False(observer.Raft.IsVoter);
        var leader = c.ElectLeader();
        Assert.Equal(RaftRole.Follower, observer.Raft.Role);
        c.Propose("seen by the observer");
        Assert.True(c.RunUntil(() => observer.Raft.HighWatermark == leader.Raft.LogEndOffset));
        Assert.Equal(leader.Log.Batches.Select(b => b.Bytes), observer.Log.Batches.Select(b => b.Bytes));
        Assert.DoesNotContain(c.Sent, m => m.Source == 100 && m.Body is VoteRequest);
        Assert.DoesNotContain(c.Sent, m => m.Destination == 100 && m.Body is VoteRequest or BeginQuorumEpochRequest);

        c.Crash(leader.Id);
        var next = c.ElectLeader();
        Assert.Equal((next.Id, next.Raft.Epoch), (observer.Raft.LeaderId!.Value, observer.Raft.Epoch));
    }

    [Fact]
    public void An_observer_rejects_votes_and_never_campaigns()
    {
        var h = new Harness(100);
        var answer = Part(h.Request<VoteResponse>(2, Vote(2, epoch: 1)));
        Assert.False(answer.VoteGranted);
        Assert.False(Part(h.Request<VoteResponse>(2, Vote(2, epoch: 1, preVote: true))).VoteGranted);
        Assert.Equal(0, h.Node.Epoch);
        Assert.Equal(0, ((InMemoryQuorumStateStore)h.Store).Writes);
        var roles = new HashSet<RaftRole>();
        h.PollUntil(() => { roles.Add(h.Node.Role); return false; }, 5_000);
        Assert.Equal([RaftRole.Unattached], roles);
        Assert.All(h.Drain(), m => Assert.IsType<FetchRequest>(m.Body));
    }

    [Fact]
    public void An_observer_asks_the_voters_in_turn_until_one_names_the_leader()
    {
        var h = new Harness(100);
        var first = h.Drain().Single();
        Assert.Equal(1, first.Destination);
        h.Answer(first, RaftRpc.FetchResponse(ErrorCode.NotLeaderOrFollower, 0, null, -1, 0, ReadOnlyMemory<byte>.Empty));
        Assert.Empty(h.Drain());                                  // a short backoff first
        h.PollAt(h.Node.NextDeadline);
        var second = h.Drain().Single();
        Assert.Equal(2, second.Destination);
        h.Answer(second, RaftRpc.FetchResponse(ErrorCode.FencedLeaderEpoch, 4, 3, -1, 0, ReadOnlyMemory<byte>.Empty));
        Assert.Equal((RaftRole.Follower, 4, (int?)3), (h.Node.Role, h.Node.Epoch, h.Node.LeaderId));
        Assert.Equal(3, h.Drain().Single().Destination);
    }
}
