using Fjord.Common;
using static Fjord.Raft.Tests.Harness;

namespace Fjord.Raft.Tests;

public sealed class QuorumStateTests
{
    private static QuorumState Make(int localId = 1, ElectionState? stored = null, int logLastEpoch = 0, InMemoryQuorumStateStore? store = null)
    {
        store ??= new InMemoryQuorumStateStore();
        if (stored is not null) store.Write(stored);
        var quorum = new QuorumState(TestCluster.DefaultConfig, localId, new SortedSet<int> { 1, 2, 3 }, store, new Random(1), null);
        quorum.Initialize(logLastEpoch, 0);
        return quorum;
    }

    [Fact]
    public void Transitions_the_list_does_not_allow_throw()
    {
        var q = Make();
        Assert.Throws<InvalidOperationException>(() => q.ToCandidate(0));             // not Prospective
        Assert.Throws<InvalidOperationException>(() => q.ToLeader(0, 0));            // not Candidate
        Assert.Throws<InvalidOperationException>(() => q.ToResigned([], 0));         // not Leader
        Assert.Throws<InvalidOperationException>(() => q.ToFollower(1, 1, 0));       // ourselves
        Assert.Throws<InvalidOperationException>(() => q.GrantVote(0, 1, 0));        // ourselves
        Assert.Throws<InvalidOperationException>(() => q.GrantVote(1, 2, 0));        // not our epoch
        q.ToUnattached(3, 0);
        Assert.Throws<InvalidOperationException>(() => q.ToUnattached(3, 0));        // not higher
        Assert.Throws<InvalidOperationException>(() => q.ToFollower(2, 2, 0));       // lower epoch
        q.ToFollower(3, 2, 0);
        Assert.Throws<InvalidOperationException>(() => q.ToFollower(3, 3, 0));       // another leader, same epoch
        q.ToProspective(0);
        Assert.Throws<InvalidOperationException>(() => q.ToCandidate(0));             // no majority yet
        Assert.Equal(3, q.Epoch);
    }

    [Fact]
    public void Observers_only_move_between_unattached_and_follower()
    {
        var q = Make(localId: 100);
        Assert.Throws<InvalidOperationException>(() => q.ToProspective(0));
        Assert.Throws<InvalidOperationException>(() => q.GrantVote(0, 2, 0));
        q.ToFollower(2, 3, 0);
        q.ToUnattached(4, 0);
        Assert.Equal(long.MaxValue, ((UnattachedState)q.State).ElectionDeadline);
    }

    [Fact]
    public void Each_durable_transition_is_written_before_it_takes_effect()
    {
        var store = new InMemoryQuorumStateStore();
        var q = Make(store: store);
        q.ToProspective(0);
        Assert.Equal(0, store.Writes);                                               // Prospective writes nothing
        ((ProspectiveState)q.State).Tally.RecordGranted(2);
        q.ToCandidate(0);
        Assert.Equal(Election(1, voted: 1), store.Read());
        ((CandidateState)q.State).Tally.RecordGranted(3);
        q.ToLeader(0, 0);
        Assert.Equal(Election(1, voted: 1, leader: 1), store.Read());
        int writes = store.Writes;
        q.ToResigned([2, 3], 0);
        Assert.Equal(writes, store.Writes);                                          // Resigned writes nothing
        q.ToUnattached(2, 0);
        Assert.Equal(Election(2), store.Read());
    }

    [Fact]
    public void Startup_resumes_from_the_stored_election()
    {
        Assert.IsType<ResignedState>(Make(stored: Election(4, voted: 1, leader: 1)).State);
        Assert.IsType<CandidateState>(Make(stored: Election(4, voted: 1)).State);
        Assert.IsType<FollowerState>(Make(stored: Election(4, voted: 2, leader: 2)).State);
        var voted = Make(stored: Election(4, voted: 3)).State;
        Assert.Equal((RaftRole.Unattached, (int?)3), (voted.Role, voted.VotedId));
        var behind = Make(stored: Election(2, leader: 2), logLastEpoch: 5);
        Assert.Equal((RaftRole.Unattached, 5), (behind.State.Role, behind.Epoch));
        Assert.IsType<UnattachedState>(Make().State);
        Assert.Equal(0, Make().Epoch);
    }
}
