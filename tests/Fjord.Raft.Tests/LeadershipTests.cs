using Fjord.Common;
using Fjord.Protocol.Messages;
using static Fjord.Raft.Tests.Harness;

namespace Fjord.Raft.Tests;

public sealed class LeadershipTests
{
    [Fact]
    public void A_leader_without_fetches_from_a_majority_resigns_after_one_and_a_half_fetch_timeouts()
    {
        var h = Harness.Leader(epoch: 5);                       // fetch timeout 200 ms: check-quorum at 300
        h.PollAt(299);
        Assert.Equal(RaftRole.Leader, h.Node.Role);
        h.Now = 250;
        h.Request<FetchResponse>(2, Fetch(2, 5, 1, 5));         // voter 2 + the leader: a majority, until 550
        h.PollAt(549);
        Assert.Equal(RaftRole.Leader, h.Node.Role);
        h.Drain();
        h.PollAt(550);

        Assert.Equal((RaftRole.Resigned, 5, (int?)1), (h.Node.Role, h.Node.Epoch, h.Node.LeaderId));
        var ends = h.Drain().Where(m => m.Body is EndQuorumEpochRequest).ToList();
        Assert.Equal([2, 3], ends.Select(m => m.Destination));
        var p = RaftRpc.Single((EndQuorumEpochRequest)ends[0].Body)!;
        Assert.Equal((1, 5), (p.LeaderId, p.LeaderEpoch));
        Assert.Equal([2, 3], RaftRpc.PreferredSuccessors(p));
        Assert.Equal(Election(5, voted: 1, leader: 1), h.Store.Read());
    }

    [Fact]
    public void An_isolated_leader_steps_down_and_the_others_elect_a_new_one()
    {
        var c = new TestCluster(3);
        var old = c.ElectLeader();
        int epoch = old.Raft.Epoch;
        c.Isolate(old.Id);
        Assert.True(c.RunUntil(() => old.Raft.Role != RaftRole.Leader, 400));
        Assert.True(c.RunUntil(() => c.Up.Any(n => n != old && n.Raft.Role == RaftRole.Leader), 2_000));
        c.Heal();
        var next = c.ElectLeader();
        Assert.NotEqual(old.Id, next.Id);
        Assert.True(next.Raft.Epoch > epoch);
    }

    [Fact]
    public void A_graceful_resignation_hands_over_to_the_most_caught_up_voter_at_once()
    {
        var c = new TestCluster(3);
        var leader = c.ElectLeader();
        int epoch = leader.Raft.Epoch;
        var (behind, ahead) = (c.Up.First(n => n != leader), c.Up.Last(n => n != leader));
        c.Cut(leader.Id, behind.Id);
        c.Propose("only the ahead one has this");
        c.RunFor(60);
        Assert.True(ahead.Log.EndOffset > behind.Log.EndOffset);
        c.Heal();

        long resignedAt = c.Now;
        int sent = c.Sent.Count;
        leader.Raft.Resign(c.Now);
        Assert.Equal(RaftRole.Resigned, leader.Raft.Role);
        var end = leader.Raft.PendingOutbound.Where(m => m.Body is EndQuorumEpochRequest).ToList();
        Assert.Equal([ahead.Id, behind.Id], RaftRpc.PreferredSuccessors(RaftRpc.Single((EndQuorumEpochRequest)end[0].Body)!));

        Assert.True(c.RunUntil(() => ahead.Raft.Role == RaftRole.Leader, 100));
        Assert.Equal(epoch + 1, ahead.Raft.Epoch);
        Assert.True(c.Now - resignedAt < c.Config.ElectionTimeoutMs);
        Assert.Contains(c.Sent.Skip(sent), m => m.Body is EndQuorumEpochResponse);
        c.ElectLeader();
    }

    [Fact]
    public void Successors_start_their_election_sooner_the_earlier_they_are_listed()
    {
        var h = new Harness(stored: Election(3, leader: 2));      // fetch deadline at 200
        Assert.Equal(0, h.Node.StrictExponentialBackoffMs(0, 3));
        Assert.Equal(25, h.Node.StrictExponentialBackoffMs(1, 3));
        Assert.Equal(50, h.Node.StrictExponentialBackoffMs(2, 3));
        Assert.Equal(100, h.Node.StrictExponentialBackoffMs(3, 3));

        h.Now = 10;
        h.Request<EndQuorumEpochResponse>(2, RaftRpc.EndQuorumEpochRequest(ClusterId, 2, 3, [3, 1]));
        Assert.Equal(RaftRole.Follower, h.Node.Role);
        Assert.Equal(10 + 50, h.Node.NextDeadline);
        h.PollAt(60);
        Assert.Equal(RaftRole.Prospective, h.Node.Role);

        var notListed = new Harness(stored: Election(3, leader: 2));
        notListed.Now = 10;
        notListed.Request<EndQuorumEpochResponse>(2, RaftRpc.EndQuorumEpochRequest(ClusterId, 2, 3, [3]));
        notListed.PollAt(199);
        Assert.Equal(RaftRole.Follower, notListed.Node.Role);
        // …but it no longer defends the leader that resigned.
        Assert.True(Part(notListed.Request<VoteResponse>(3, Vote(3, 4, preVote: true))).VoteGranted);
    }

    [Fact]
    public void Begin_quorum_epoch_is_retried_until_each_voter_acknowledges()
    {
        var h = Harness.Leader(epoch: 5, config: TestCluster.DefaultConfig with { FetchTimeoutMs = 10_000 });
        h.PollAt(h.Node.NextDeadline);                            // the request timeout (150 ms)
        var retries = h.Drain().Where(m => m.Body is BeginQuorumEpochRequest).ToList();
        Assert.Equal([2, 3], retries.Select(m => m.Destination));
        h.Answer(retries[0], RaftRpc.BeginQuorumEpochResponse(ErrorCode.None, 5, 1));
        h.PollAt(h.Node.NextDeadline);
        Assert.Equal([3], h.Drain().Where(m => m.Body is BeginQuorumEpochRequest).Select(m => m.Destination));
    }

    [Fact]
    public void Propose_is_refused_by_anyone_but_the_leader()
    {
        var h = new Harness();
        Assert.Null(h.Node.Propose([[1]], 0));
        Assert.Equal(0, h.Log.EndOffset);
        var leader = Harness.Leader();
        Assert.Equal(3, leader.Node.Propose([[1], [2], [3]], 0));   // offsets 1-3, after the LEADER_CHANGE
        Assert.Equal(4, leader.Node.Propose([[4]], 0));
        Assert.Equal(5, leader.Node.LogEndOffset);
        Assert.Throws<ArgumentException>(() => leader.Node.Propose([], 0));
    }
}
