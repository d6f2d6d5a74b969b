using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using static Fjord.Raft.Tests.Harness;

namespace Fjord.Raft.Tests;

public sealed class ElectionTests
{
    [Fact]
    public void A_single_voter_elects_itself_at_once_and_commits_its_leader_change()
    {
        var h = new Harness(1, [1]);
        Assert.Equal(RaftRole.Leader, h.Node.Role);
        Assert.Equal(1, h.Node.Epoch);
        Assert.Equal(1, h.Node.LeaderId);
        Assert.Equal(Election(1, voted: 1, leader: 1), h.Store.Read());
        Assert.Empty(h.Node.DrainBatches());                   // the LEADER_CHANGE is not flushed yet
        h.Node.Flush(0);                                         // as the driver does after sending

        var committed = Assert.Single(h.Node.DrainBatches());
        Assert.True(committed.IsControl);
        Assert.Equal((0L, 0L, 1), (committed.BaseOffset, committed.LastOffset, committed.Epoch));
        Assert.Equal(1, h.Node.HighWatermark);
        var change = ReadLeaderChange(committed.Bytes);
        Assert.Equal(1, change.LeaderId);
        Assert.Equal([1], change.Voters.Select(v => v.VoterId));
        Assert.Equal([1], change.GrantingVoters.Select(v => v.VoterId));
        Assert.Equal(long.MaxValue, h.Node.NextDeadline);
    }

    [Fact]
    public void Three_voters_elect_one_leader_through_pre_vote_then_vote()
    {
        var c = new TestCluster(3);
        var leader = c.ElectLeader();
        Assert.Single(c.Up, n => n.Raft.Role == RaftRole.Leader);
        Assert.All(c.Up.Where(n => n != leader), n => Assert.Equal(RaftRole.Follower, n.Raft.Role));

        var votes = c.Sent.Where(m => m.Source == leader.Id && m.Body is VoteRequest).Select(m => RaftRpc.Single((VoteRequest)m.Body)!).ToList();
        int firstReal = votes.FindIndex(v => !v.PreVote);
        Assert.True(firstReal > 0, "real votes come after pre-votes");
        Assert.All(votes.Take(firstReal), v => Assert.Equal(leader.Raft.Epoch, v.ReplicaEpoch));
        Assert.All(votes.Skip(firstReal), v => Assert.Equal(leader.Raft.Epoch, v.ReplicaEpoch));

        Assert.True(c.RunUntil(() => c.Up.All(n => n.Raft.HighWatermark == 1)));
        Assert.All(c.Up, n => Assert.True(Assert.Single(n.Committed).IsControl));
    }

    [Fact]
    public void The_election_timeout_starts_a_pre_vote_that_persists_nothing()
    {
        var h = new Harness();
        Assert.Equal(RaftRole.Unattached, h.Node.Role);
        long deadline = h.Node.NextDeadline;
        Assert.InRange(deadline, 100, 199);
        h.PollAt(deadline);

        Assert.Equal(RaftRole.Prospective, h.Node.Role);
        Assert.Equal(0, h.Node.Epoch);
        Assert.Equal(0, ((InMemoryQuorumStateStore)h.Store).Writes);
        var preVotes = h.Drain().Select(m => (m.Destination, RaftRpc.Single((VoteRequest)m.Body)!)).ToList();
        Assert.Equal([2, 3], preVotes.Select(p => p.Destination));
        Assert.All(preVotes, p => Assert.True(p.Item2.PreVote && p.Item2.ReplicaEpoch == 1 && p.Item2.ReplicaId == 1));
    }

    [Fact]
    public void A_majority_of_pre_votes_makes_a_candidate_and_a_majority_of_votes_a_leader()
    {
        var h = new Harness();
        h.PollAt(h.Node.NextDeadline);
        var preVote = h.Drain().First(m => m.Destination == 2);
        h.Answer(preVote, RaftRpc.VoteResponse(ErrorCode.None, 0, null, true));

        Assert.Equal(RaftRole.Candidate, h.Node.Role);
        Assert.Equal(Election(1, voted: 1), h.Store.Read());
        var votes = h.Drain();
        Assert.Equal([2, 3], votes.Select(m => m.Destination));
        Assert.All(votes, m => Assert.False(RaftRpc.Single((VoteRequest)m.Body)!.PreVote));

        h.Answer(votes[1], RaftRpc.VoteResponse(ErrorCode.None, 1, null, true));
        Assert.Equal(RaftRole.Leader, h.Node.Role);
        Assert.Equal(Election(1, voted: 1, leader: 1), h.Store.Read());
        var begin = h.Drain().Where(m => m.Body is BeginQuorumEpochRequest).Select(m => m.Destination);
        Assert.Equal([2, 3], begin);
        var first = Assert.Single(h.Log.Batches);
        Assert.Equal(1, first.Epoch);
        var change = ReadLeaderChange(first.Bytes);
        Assert.Equal([1, 3], change.GrantingVoters.Select(v => v.VoterId));
        Assert.Equal([1, 2, 3], change.Voters.Select(v => v.VoterId));
    }

    [Fact]
    public void A_prospective_that_granted_a_lower_ids_pre_vote_lets_it_stand_first()
    {
        var h = new Harness(2, [1, 2, 3]);
        h.PollAt(h.Node.NextDeadline);
        Assert.Equal(RaftRole.Prospective, h.Node.Role);
        long deadline = h.Node.NextDeadline;
        var ourPreVotes = h.Drain().Where(m => m.Body is VoteRequest).ToList();

        // Node 1 lost the leader at the same moment: its pre-vote crosses ours and is granted.
        Assert.True(Part(h.Request<VoteResponse>(1, Vote(1, epoch: 1, preVote: true))).VoteGranted);
        h.Answer(ourPreVotes.First(m => m.Destination == 1), RaftRpc.VoteResponse(ErrorCode.None, 0, null, true));
        Assert.Equal(RaftRole.Prospective, h.Node.Role);           // won the pre-vote, but defers to node 1
        Assert.Equal(0, h.Node.Epoch);
        Assert.DoesNotContain(h.Drain(), m => m.Body is VoteRequest v && !RaftRpc.Single(v)!.PreVote);

        // Node 1 stands and gets our real vote: no split.
        Assert.True(Part(h.Request<VoteResponse>(1, Vote(1, epoch: 1))).VoteGranted);
        Assert.Equal(Election(1, voted: 1), h.Store.Read());
        Assert.True(deadline > h.Now);
    }

    [Fact]
    public void A_deferring_prospective_stands_itself_when_the_lower_id_never_does()
    {
        var h = new Harness(2, [1, 2, 3]);
        h.PollAt(h.Node.NextDeadline);
        var ourPreVotes = h.Drain().Where(m => m.Body is VoteRequest).ToList();
        Assert.True(Part(h.Request<VoteResponse>(1, Vote(1, epoch: 1, preVote: true))).VoteGranted);
        h.Answer(ourPreVotes.First(m => m.Destination == 3), RaftRpc.VoteResponse(ErrorCode.None, 0, null, true));
        Assert.Equal(RaftRole.Prospective, h.Node.Role);

        h.PollAt(h.Node.NextDeadline);                             // node 1 went silent: our deadline passes
        Assert.Equal(RaftRole.Candidate, h.Node.Role);
        Assert.Equal(Election(1, voted: 2), h.Store.Read());
    }

    [Fact]
    public void A_prospective_does_not_defer_to_a_higher_id()
    {
        var h = new Harness(1, [1, 2, 3]);
        h.PollAt(h.Node.NextDeadline);
        var ourPreVotes = h.Drain().Where(m => m.Body is VoteRequest).ToList();
        Assert.True(Part(h.Request<VoteResponse>(2, Vote(2, epoch: 1, preVote: true))).VoteGranted);
        h.Answer(ourPreVotes.First(m => m.Destination == 2), RaftRpc.VoteResponse(ErrorCode.None, 0, null, true));
        Assert.Equal(RaftRole.Candidate, h.Node.Role);
    }

    [Fact]
    public void Rejected_pre_votes_leave_the_epoch_alone()
    {
        var h = new Harness();
        h.PollAt(h.Node.NextDeadline);
        foreach (var m in h.Drain()) h.Answer(m, RaftRpc.VoteResponse(ErrorCode.None, 0, null, false));
        Assert.Equal(RaftRole.Unattached, h.Node.Role);
        Assert.Equal(0, h.Node.Epoch);
        Assert.Equal(0, ((InMemoryQuorumStateStore)h.Store).Writes);
    }

    [Fact]
    public void A_lost_pre_vote_returns_to_the_leader_it_knew()
    {
        var h = new Harness(stored: Election(3, leader: 2));
        Assert.True(h.PollUntil(() => h.Node.Role == RaftRole.Prospective, 1_000));
        foreach (var m in h.Drain().Where(m => m.Body is VoteRequest)) h.Answer(m, RaftRpc.VoteResponse(ErrorCode.None, 3, 2, false));
        Assert.Equal(RaftRole.Follower, h.Node.Role);
        Assert.Equal((3, 2), (h.Node.Epoch, h.Node.LeaderId));
    }

    [Fact]
    public void A_follower_with_a_live_leader_rejects_pre_votes()
    {
        var h = FollowerThatFetched(at: 0);
        h.Now = 50;
        var answer = Part(h.Request<VoteResponse>(3, Vote(3, epoch: 4, lastOffset: 0, lastEpoch: 0, preVote: true)));
        Assert.False(answer.VoteGranted);
        Assert.Equal((3, 2), (answer.LeaderEpoch, answer.LeaderId));
        Assert.Equal((RaftRole.Follower, 3), (h.Node.Role, h.Node.Epoch));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_follower_grants_pre_votes_once_its_leader_is_gone(bool everFetched)
    {
        var h = everFetched ? FollowerThatFetched(at: 0) : new Harness(stored: Election(3, leader: 2));
        int writes = ((InMemoryQuorumStateStore)h.Store).Writes;
        h.Now = everFetched ? 200 : 10;
        var answer = Part(h.Request<VoteResponse>(3, Vote(3, epoch: 4, preVote: true)));
        Assert.True(answer.VoteGranted);
        Assert.Equal(3, h.Node.Epoch);
        Assert.Equal(writes, ((InMemoryQuorumStateStore)h.Store).Writes);
    }

    [Fact]
    public void Pre_votes_need_an_up_to_date_log_and_a_newer_epoch()
    {
        var log = LogWith((2, 5));
        var h = new Harness(stored: Election(2), log: log);
        Assert.False(Part(h.Request<VoteResponse>(2, Vote(2, epoch: 3, lastOffset: 4, lastEpoch: 2, preVote: true))).VoteGranted);
        Assert.False(Part(h.Request<VoteResponse>(2, Vote(2, epoch: 2, lastOffset: 5, lastEpoch: 1, preVote: true))).VoteGranted);
        Assert.True(Part(h.Request<VoteResponse>(2, Vote(2, epoch: 3, lastOffset: 5, lastEpoch: 2, preVote: true))).VoteGranted);
        Assert.Equal(Election(2), h.Store.Read());
    }

    [Fact]
    public void A_vote_for_a_stale_epoch_is_fenced()
    {
        var h = new Harness(stored: Election(5));
        var answer = Part(h.Request<VoteResponse>(2, Vote(2, epoch: 4)));
        Assert.Equal(ErrorCode.FencedLeaderEpoch, (ErrorCode)answer.ErrorCode);
        Assert.False(answer.VoteGranted);
        Assert.Equal(5, answer.LeaderEpoch);
        Assert.Equal(5, h.Node.Epoch);
    }

    [Fact]
    public void A_higher_epoch_is_adopted_before_the_vote_is_decided()
    {
        var h = new Harness(stored: Election(3, leader: 2), log: LogWith((3, 4)));
        var rejected = Part(h.Request<VoteResponse>(3, Vote(3, epoch: 5, lastOffset: 2, lastEpoch: 3)));
        Assert.False(rejected.VoteGranted);
        Assert.Equal((RaftRole.Unattached, 5), (h.Node.Role, h.Node.Epoch));
        Assert.Equal(Election(5), h.Store.Read());

        var granted = Part(h.Request<VoteResponse>(3, Vote(3, epoch: 6, lastOffset: 4, lastEpoch: 3)));
        Assert.True(granted.VoteGranted);
        Assert.Equal(6, granted.LeaderEpoch);
        Assert.Equal(Election(6, voted: 3), h.Store.Read());
    }

    [Fact]
    public void A_vote_is_written_before_the_answer_granting_it_is_queued()
    {
        var store = new RecordingStore();
        var h = new Harness(store: store);
        store.Probe = () => h.Node.PendingOutbound;
        int id = h.Send(2, Vote(2, epoch: 1));

        Assert.Equal([Election(1), Election(1, voted: 2)], store.Writes.Select(w => w.State));
        Assert.All(store.Writes, w => Assert.Empty(w.QueuedAtWrite));
        var answer = Assert.Single(h.Drain());
        Assert.Equal(id, answer.CorrelationId);
        Assert.True(Part((VoteResponse)answer.Body).VoteGranted);
    }

    [Fact]
    public void A_candidate_writes_its_epoch_and_self_vote_before_asking_for_votes()
    {
        var store = new RecordingStore();
        var h = new Harness(store: store);
        store.Probe = () => h.Node.PendingOutbound;
        h.PollAt(h.Node.NextDeadline);
        var preVote = h.Drain().First();
        h.Answer(preVote, RaftRpc.VoteResponse(ErrorCode.None, 0, null, true));

        var (state, queued) = Assert.Single(store.Writes);
        Assert.Equal(Election(1, voted: 1), state);
        Assert.DoesNotContain(queued, m => m.Body is VoteRequest v && !RaftRpc.Single(v)!.PreVote);
        Assert.Contains(h.Drain(), m => m.Body is VoteRequest v && !RaftRpc.Single(v)!.PreVote);
    }

    [Fact]
    public void At_most_one_vote_is_granted_per_epoch()
    {
        var h = new Harness();
        Assert.True(Part(h.Request<VoteResponse>(2, Vote(2, epoch: 1))).VoteGranted);
        int writes = ((InMemoryQuorumStateStore)h.Store).Writes;
        Assert.False(Part(h.Request<VoteResponse>(3, Vote(3, epoch: 1))).VoteGranted);
        Assert.True(Part(h.Request<VoteResponse>(2, Vote(2, epoch: 1))).VoteGranted);
        Assert.Equal(writes, ((InMemoryQuorumStateStore)h.Store).Writes);
        Assert.Equal(Election(1, voted: 2), h.Store.Read());

        // The vote survives a restart.
        var again = new RaftNode(h.Config, 1, h.Voters, h.Log, h.Store, new Random(9), ClusterId, 0);
        again.Handle(new RaftMessage(3, 1, 7, true, Vote(3, epoch: 1)), 0);
        Assert.False(Part((VoteResponse)again.DrainOutbound().Single().Body).VoteGranted);
    }

    [Fact]
    public void A_vote_request_with_an_impossible_log_is_invalid()
    {
        var h = new Harness();
        Assert.Equal(ErrorCode.InvalidRequest, (ErrorCode)Part(h.Request<VoteResponse>(2, Vote(2, epoch: 1, lastEpoch: 1))).ErrorCode);
        Assert.Equal(0, h.Node.Epoch);
    }

    [Fact]
    public void Leaders_and_candidates_reject_votes_in_their_own_epoch()
    {
        var leader = Harness.Leader(epoch: 5);
        Assert.False(Part(leader.Request<VoteResponse>(2, Vote(2, epoch: 5, lastOffset: 9, lastEpoch: 4))).VoteGranted);
        Assert.False(Part(leader.Request<VoteResponse>(2, Vote(2, epoch: 6, lastOffset: 9, lastEpoch: 5, preVote: true))).VoteGranted);
        Assert.Equal(RaftRole.Leader, leader.Node.Role);

        var candidate = new Harness(stored: Election(4, voted: 1));
        Assert.Equal(RaftRole.Candidate, candidate.Node.Role);
        Assert.False(Part(candidate.Request<VoteResponse>(2, Vote(2, epoch: 4))).VoteGranted);
    }

    [Fact]
    public void A_leader_restarts_resigned_and_a_follower_restarts_following()
    {
        var leader = Harness.Leader(epoch: 5);
        var restarted = new RaftNode(leader.Config, 1, leader.Voters, leader.Log, leader.Store, new Random(3), ClusterId, 0);
        Assert.Equal((RaftRole.Resigned, 5, (int?)1), (restarted.Role, restarted.Epoch, restarted.LeaderId));
        Assert.Equal([2, 3], restarted.DrainOutbound().Where(m => m.Body is EndQuorumEpochRequest).Select(m => m.Destination));

        var follower = new Harness(stored: Election(7, leader: 3));
        Assert.Equal((RaftRole.Follower, 7, (int?)3), (follower.Node.Role, follower.Node.Epoch, follower.Node.LeaderId));
        var fetch = Assert.Single(follower.Drain());
        Assert.Equal(3, fetch.Destination);
        Assert.IsType<FetchRequest>(fetch.Body);
    }

    [Fact]
    public void A_resigned_leader_moves_to_the_next_epoch_when_its_election_timeout_expires()
    {
        var leader = Harness.Leader(epoch: 5);
        var restarted = new Harness(1, [1, 2, 3], store: leader.Store, log: leader.Log);
        Assert.True(restarted.PollUntil(() => restarted.Node.Role != RaftRole.Resigned, 1_000));
        Assert.Equal((RaftRole.Prospective, 6), (restarted.Node.Role, restarted.Node.Epoch));
        Assert.Equal(Election(6), restarted.Store.Read());
    }

    [Fact]
    public void A_crashed_leader_is_replaced_in_a_later_epoch()
    {
        var c = new TestCluster(3);
        var first = c.ElectLeader();
        int epoch = first.Raft.Epoch;
        c.Propose("x");
        c.RunFor(100);
        c.Crash(first.Id);
        var second = c.ElectLeader();
        Assert.NotEqual(first.Id, second.Id);
        Assert.True(second.Raft.Epoch > epoch);
        c.Restart(first.Id);
        c.ElectLeader();
        Assert.True(c.RunUntil(() => c.Up.All(n => n.Raft.HighWatermark == second.Raft.LogEndOffset)));
    }

    [Fact]
    public void A_partitioned_follower_cannot_disturb_a_live_leader()
    {
        var c = new TestCluster(3);
        var leader = c.ElectLeader();
        int epoch = leader.Raft.Epoch;
        var loner = c.Up.First(n => n != leader);
        c.Cut(loner.Id, leader.Id);
        int sentBefore = c.Sent.Count;
        c.RunFor(3_000);

        Assert.Contains(c.Sent.Skip(sentBefore), m => m.Source == loner.Id && m.Body is VoteRequest v && RaftRpc.Single(v)!.PreVote);
        Assert.DoesNotContain(c.Sent.Skip(sentBefore), m => m.Body is VoteRequest v && !RaftRpc.Single(v)!.PreVote);
        Assert.Equal(RaftRole.Leader, leader.Raft.Role);
        Assert.All(c.Up, n => Assert.Equal(epoch, n.Raft.Epoch));
        c.Heal();
        Assert.True(c.RunUntil(() => loner.Raft.Role == RaftRole.Follower));
        Assert.Equal(epoch, leader.Raft.Epoch);
    }

    internal static InMemoryRaftLog LogWith(params (int Epoch, int Records)[] batches)
    {
        var log = new InMemoryRaftLog();
        foreach (var (epoch, records) in batches)
        {
            using var builder = new RecordBatchBuilder(new RecordBatchOptions { PartitionLeaderEpoch = epoch });
            for (int i = 0; i < records; i++) builder.Append(0, (byte[]?)null, [(byte)i]);
            log.AppendAsLeader(builder.ToArray(), epoch);
        }
        log.Flush();
        return log;
    }

    internal static LeaderChangeMessage ReadLeaderChange(ReadOnlyMemory<byte> batchBytes)
    {
        var batch = new RecordBatch(batchBytes);
        Assert.True(batch.IsControl);
        using var records = batch.OpenRecords(1 << 20);
        foreach (var record in records)
        {
            Assert.Equal(ControlRecordType.LeaderChange, ControlRecordKey.Read(record.KeySpan).Type);
            return KafkaMessages.Deserialize<LeaderChangeMessage>(record.Value, RaftBatches.LeaderChangeVersion);
        }
        throw new InvalidOperationException("empty control batch");
    }

    private static Harness FollowerThatFetched(long at)
    {
        var h = new Harness(stored: Election(3, leader: 2), now: at);
        var fetch = h.Drain().Single(m => m.Body is FetchRequest);
        h.Answer(fetch, RaftRpc.FetchResponse(ErrorCode.None, 3, 2, 0, 0, ReadOnlyMemory<byte>.Empty));
        return h;
    }
}
