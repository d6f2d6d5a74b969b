using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using static Fjord.Raft.Tests.TestCluster;

namespace Fjord.Raft.Tests;

/// <summary>KIP-853: the voter set as data of the log, and the leader's voter-change RPCs.</summary>
public sealed class DynamicVoterTests
{
    private static AddRaftVoterRequest Add(int id, Uuid? directory = null, bool ackWhenCommitted = true) => new()
    {
        ClusterId = "test-cluster",
        TimeoutMs = 1000,
        VoterId = id,
        VoterDirectoryId = directory ?? DirectoryOf(id),
        Listeners = [new AddRaftVoterRequest.Listener { Name = "CONTROLLER", Host = $"host{id}", Port = (ushort)(9000 + id) }],
        AckWhenCommitted = ackWhenCommitted,
    };

    private static RemoveRaftVoterRequest Remove(int id, Uuid? directory = null) =>
        new() { ClusterId = "test-cluster", VoterId = id, VoterDirectoryId = directory ?? DirectoryOf(id) };

    private static ErrorCode Error(AddRaftVoterResponse? r) => (ErrorCode)Assert.IsType<AddRaftVoterResponse>(r).ErrorCode;
    private static ErrorCode Error(RemoveRaftVoterResponse? r) => (ErrorCode)Assert.IsType<RemoveRaftVoterResponse>(r).ErrorCode;

    private static void WaitCaughtUp(TestCluster c, int id)
    {
        var leader = c.Leader!;
        Assert.True(c.RunUntil(() => c[id].Role == RaftRole.Follower && c[id].LogEndOffset == leader.Raft.LogEndOffset
                                     && c[id].HighWatermark == leader.Raft.HighWatermark), "node " + id + " never caught up");
    }

    [Fact]
    public void The_voter_set_comes_from_the_bootstrap_snapshot_and_a_node_without_one_is_an_observer()
    {
        var c = Dynamic(3, joiners: 1);
        Assert.All(c.Nodes.Values.Where(n => n.Id <= 3), n => Assert.True(n.Raft.IsVoter));
        Assert.Equal([1, 2, 3], c[1].Voters.Ids);
        Assert.Equal(1, c[1].KRaftVersion);
        Assert.False(c[4].IsVoter);
        Assert.True(c[4].Voters.IsEmpty);

        var leader = c.ElectLeader();
        Assert.InRange(leader.Id, 1, 3);
        WaitCaughtUp(c, 4);
        Assert.Equal(leader.Id, c[4].LeaderId);
        Assert.DoesNotContain(c.Sent, m => m.Source == 4 && m.Body is VoteRequest);
        Assert.Equal([1, 2, 3], c[4].Voters.Ids); // the leader wrote the bootstrap set into the log
        Assert.False(c[4].IsVoter);
    }

    [Fact]
    public void Adding_an_observer_commits_the_new_set_and_the_new_voter_counts_in_the_majority()
    {
        var c = Dynamic(1, joiners: 1);
        var leader = c.ElectLeader();
        Assert.Equal(1, leader.Id);
        WaitCaughtUp(c, 2);

        var answer = c.ClientRequest<AddRaftVoterResponse>(1, Add(2));
        Assert.Equal(ErrorCode.None, Error(answer));
        Assert.Equal([1, 2], c[1].Voters.Ids);
        Assert.True(c.RunUntil(() => c[2].IsVoter));
        Assert.Equal(DirectoryOf(2), c[1].Voters.Find(2)!.Key.DirectoryId);
        Assert.Equal([EndpointOf(2)], c[1].Voters.Find(2)!.Endpoints);
        // Committed: the record is below the leader's high watermark.
        var record = c[1].Voters; // the set in force
        Assert.True(c[1].HighWatermark > 0);
        Assert.Same(record, c[1].Voters);

        // Two voters: nothing commits without node 2.
        c.Cut(1, 2);
        long hw = c[1].HighWatermark;
        long offset = c.Propose("needs both");
        c.RunFor(50);
        Assert.Equal(hw, c[1].HighWatermark);
        c.Heal();
        Assert.True(c.RunUntil(() => c[1].HighWatermark > offset));
    }

    [Fact]
    public void Add_voter_without_waiting_for_the_commit_answers_at_once()
    {
        var c = Dynamic(1, joiners: 1);
        c.ElectLeader();
        WaitCaughtUp(c, 2);
        c.Cut(1, 2); // cannot commit with {1, 2} until healed
        var answer = c.ClientRequest<AddRaftVoterResponse>(1, Add(2, ackWhenCommitted: false), maxMs: 50);
        Assert.Equal(ErrorCode.None, Error(answer));
        Assert.Equal([1, 2], c[1].Voters.Ids); // in force at once, committed later
    }

    [Fact]
    public void Add_voter_errors_come_in_kafkas_order()
    {
        var c = Dynamic(3, joiners: 2);
        var leader = c.ElectLeader();
        int follower = c.Nodes.Keys.First(id => id <= 3 && id != leader.Id);
        WaitCaughtUp(c, 4);
        WaitCaughtUp(c, 5);

        Assert.Equal(ErrorCode.NotLeaderOrFollower, Error(c.ClientRequest<AddRaftVoterResponse>(follower, Add(4))));
        Assert.Equal(ErrorCode.DuplicateVoter, Error(c.ClientRequest<AddRaftVoterResponse>(leader.Id, Add(follower))));
        Assert.Equal(ErrorCode.RequestTimedOut, Error(c.ClientRequest<AddRaftVoterResponse>(leader.Id, Add(9))));            // never fetched
        Assert.Equal(ErrorCode.RequestTimedOut, Error(c.ClientRequest<AddRaftVoterResponse>(leader.Id, Add(4, new Uuid(7, 7))))); // other directory
        Assert.Equal(ErrorCode.InvalidRequest, Error(c.ClientRequest<AddRaftVoterResponse>(leader.Id, Add(4, Uuid.Zero))));

        // A change that cannot commit blocks the next one.
        foreach (var other in c.Nodes.Keys.Where(id => id != leader.Id && id != 4)) c.Cut(leader.Id, other);
        Assert.Null(c.ClientRequest<AddRaftVoterResponse>(leader.Id, Add(4), maxMs: 100)); // waits for its commit
        Assert.Equal([1, 2, 3, 4], leader.Raft.Voters.Ids);
        Assert.Equal(ErrorCode.RequestTimedOut, Error(c.ClientRequest<AddRaftVoterResponse>(leader.Id, Add(5))));
        Assert.Equal(ErrorCode.RequestTimedOut, Error(c.ClientRequest<RemoveRaftVoterResponse>(leader.Id, Remove(follower))));
    }

    [Fact]
    public void A_static_quorum_refuses_voter_changes()
    {
        var c = new TestCluster(3, observers: 1);
        var leader = c.ElectLeader();
        Assert.Equal(0, leader.Raft.KRaftVersion);
        Assert.Equal(ErrorCode.UnsupportedVersion, Error(c.ClientRequest<AddRaftVoterResponse>(leader.Id, Add(100, new Uuid(1, 1)))));
        Assert.Equal(ErrorCode.UnsupportedVersion, Error(c.ClientRequest<RemoveRaftVoterResponse>(leader.Id, Remove(2, Uuid.Zero))));
    }

    [Fact]
    public void A_pending_change_fails_when_leadership_is_lost()
    {
        var c = Dynamic(3, joiners: 1);
        var leader = c.ElectLeader();
        WaitCaughtUp(c, 4);
        foreach (var other in c.Nodes.Keys.Where(id => id != leader.Id)) c.Cut(leader.Id, other);
        int sent = c.Sent.Count;
        leader.Raft.Handle(Testing.RaftCodec.ThroughCodec(new RaftMessage(-7, leader.Id, 1, true, Add(4))), c.Now);
        Assert.True(c.RunUntil(() => c.Sent.Skip(sent).Any(m => m.Destination == -7 && m.Body is AddRaftVoterResponse), 5_000));
        var answer = c.Sent.Skip(sent).Select(m => m.Body).OfType<AddRaftVoterResponse>().Single();
        Assert.Equal(ErrorCode.NotLeaderOrFollower, (ErrorCode)answer.ErrorCode); // check-quorum made it resign
        Assert.NotEqual(RaftRole.Leader, leader.Raft.Role);
    }

    [Fact]
    public void Removing_a_follower_shrinks_the_set_and_it_goes_on_as_an_observer()
    {
        var c = Dynamic(3);
        var leader = c.ElectLeader();
        int removed = c.Nodes.Keys.First(id => id != leader.Id);
        Assert.Equal(ErrorCode.VoterNotFound, Error(c.ClientRequest<RemoveRaftVoterResponse>(leader.Id, Remove(9))));
        Assert.Equal(ErrorCode.VoterNotFound, Error(c.ClientRequest<RemoveRaftVoterResponse>(leader.Id, Remove(removed, new Uuid(5, 5)))));

        Assert.Equal(ErrorCode.None, Error(c.ClientRequest<RemoveRaftVoterResponse>(leader.Id, Remove(removed))));
        Assert.DoesNotContain(removed, leader.Raft.Voters.Ids);
        Assert.True(c.RunUntil(() => !c[removed].IsVoter));
        long offset = c.Propose("after the removal");
        Assert.True(c.RunUntil(() => c[removed].HighWatermark > offset)); // still replicating, as an observer
        var describe = leader.Raft.DescribeQuorum(c.Now).Topics[0].Partitions[0];
        Assert.DoesNotContain(describe.CurrentVoters, v => v.ReplicaId == removed);
        Assert.Contains(describe.Observers, o => o.ReplicaId == removed && o.ReplicaDirectoryId == DirectoryOf(removed));
    }

    [Fact]
    public void A_leader_that_removes_itself_leads_until_the_commit_then_resigns_and_the_new_voter_takes_over()
    {
        var c = Dynamic(1, joiners: 1);
        c.ElectLeader();
        WaitCaughtUp(c, 2);
        Assert.Equal(ErrorCode.None, Error(c.ClientRequest<AddRaftVoterResponse>(1, Add(2))));
        Assert.True(c.RunUntil(() => c[2].IsVoter && c[2].HighWatermark == c[1].HighWatermark));

        var answer = c.ClientRequest<RemoveRaftVoterResponse>(1, Remove(1));
        Assert.Equal(ErrorCode.None, Error(answer));
        Assert.Equal([2], c[1].Voters.Ids);
        Assert.True(c.RunUntil(() => c[2].Role == RaftRole.Leader && c[1].LeaderId == 2, 5_000), $"{c[1].Role} {c[1].LeaderId} {c[2].Role} {c[2].Epoch} {c.Trace.Count}\n" + string.Join("\n", c.Trace.Where(l => !l.Contains("parked")).TakeLast(30)));
        Assert.False(c[1].IsVoter);
        Assert.Contains(c.Sent, m => m.Source == 1 && m.Body is EndQuorumEpochRequest);
        long offset = c.Propose("led by the former observer");
        Assert.True(c.RunUntil(() => c[1].HighWatermark > offset));
    }

    [Fact]
    public void A_voter_with_new_endpoints_updates_its_entry()
    {
        var c = Dynamic(3);
        var leader = c.ElectLeader();
        int voter = c.Nodes.Keys.First(id => id != leader.Id);
        var moved = new RaftEndpoint("CONTROLLER", "elsewhere", 19_000 + voter);
        c.Nodes[voter].Membership = MembershipOf(voter) with { LocalEndpoints = [moved] };
        c.Restart(voter);
        Assert.True(c.RunUntil(() => c.Up.All(n => n.Raft.Voters.Find(voter)!.Endpoints.SequenceEqual([moved]))),
            string.Join("\n", c.Trace.TakeLast(30)));
        Assert.Contains(c.Sent, m => m.Source == voter && m.Body is UpdateRaftVoterRequest);
        Assert.Equal([1, 2, 3], leader.Raft.Voters.Ids);
        int updates = c.Sent.Count(m => m.Body is UpdateRaftVoterRequest);
        c.RunFor(2_000);
        Assert.Equal(updates, c.Sent.Count(m => m.Body is UpdateRaftVoterRequest)); // nothing left to update
    }

    [Fact]
    public void A_set_takes_effect_when_appended_and_a_truncation_reverts_it()
    {
        var c = Dynamic(3, joiners: 1);
        var leader = c.ElectLeader();
        int old = leader.Id;
        WaitCaughtUp(c, 4);
        var others = c.Nodes.Keys.Where(id => id != old && id != 4).ToList();
        foreach (var id in others) c.Cut(old, id);

        Assert.Null(c.ClientRequest<AddRaftVoterResponse>(old, Add(4), maxMs: 60)); // appended, not committed
        Assert.True(c[4].IsVoter);                                                  // in force on append
        Assert.Equal([1, 2, 3, 4], c[4].Voters.Ids);
        long hw = c[old].HighWatermark;
        Assert.True(c[old].LogEndOffset > hw);

        c.Crash(old);
        c.Isolate(4);
        Assert.True(c.RunUntil(() => others.Any(id => c[id].Role == RaftRole.Leader)));
        c.Heal();
        c.Restart(old);
        var next = c.ElectLeader();
        Assert.NotEqual(old, next.Id);
        Assert.True(c.RunUntil(() => c.Up.All(n => n.Raft.LogEndOffset == next.Raft.LogEndOffset)));
        Assert.False(c[4].IsVoter);                 // truncated below its VotersRecord: back to {1, 2, 3}
        Assert.Equal([1, 2, 3], c[4].Voters.Ids);
        Assert.Equal([1, 2, 3], c[old].Voters.Ids);
    }

    [Fact]
    public void A_replica_with_another_directory_id_is_an_observer()
    {
        var c = Dynamic(3);
        var leader = c.ElectLeader();
        int reformatted = c.Nodes.Keys.First(id => id != leader.Id);
        var node = c.Nodes[reformatted];
        node.Membership = MembershipOf(reformatted) with { DirectoryId = new Uuid(42, 42) };
        c.Restart(reformatted);
        Assert.False(node.Raft.IsVoter);
        Assert.Equal([1, 2, 3], node.Raft.Voters.Ids);
        c.RunFor(1_000);
        var describe = leader.Raft.DescribeQuorum(c.Now).Topics[0].Partitions[0];
        Assert.Contains(describe.Observers, o => o.ReplicaId == reformatted && o.ReplicaDirectoryId == new Uuid(42, 42));
        Assert.DoesNotContain(c.Sent, m => m.Source == reformatted && m.Body is VoteRequest);

        // Its vote requests are not granted either: it is not the voter with that id.
        int voter = c.Nodes.Keys.First(id => id != leader.Id && id != reformatted);
        var vote = RaftRpc.VoteRequest("test-cluster", voter, c[voter].Epoch + 1, reformatted, new OffsetAndEpoch(1_000, c[voter].Epoch), false,
            new Uuid(42, 42), DirectoryOf(voter));
        int sent = c.Sent.Count;
        c[voter].Handle(Testing.RaftCodec.ThroughCodec(new RaftMessage(reformatted, voter, 77, true, vote)), c.Now);
        c.DeliverAll();
        var answer = c.Sent.Skip(sent).Select(m => m.Body).OfType<VoteResponse>().First();
        Assert.False(answer.Topics[0].Partitions[0].VoteGranted);
    }

    [Fact]
    public void Snapshots_carry_the_committed_voter_set_and_a_new_node_learns_it_from_one()
    {
        var c = Dynamic(1, joiners: 2);
        c.Crash(3); // down, with an empty log, until the leader's log starts after a snapshot
        c.ElectLeader();
        WaitCaughtUp(c, 2);
        Assert.Equal(ErrorCode.None, Error(c.ClientRequest<AddRaftVoterResponse>(1, Add(2))));
        c.Propose("a");
        long end = c[1].HighWatermark;
        using (var writer = c[1].CreateSnapshot(end, c.Now)) writer.Freeze();
        var snapshot = c.Nodes[1].Log.ReadSnapshot(c[1].LatestSnapshotId!.Value, 0, int.MaxValue)!.Value.Bytes;
        var control = ControlRecords(snapshot);
        Assert.Equal([ControlRecordType.SnapshotHeader, ControlRecordType.KRaftVersion, ControlRecordType.KRaftVoters, ControlRecordType.SnapshotFooter],
            control.Select(r => r.Type));
        var voters = VoterSet.FromRecord(KafkaMessages.Deserialize<VotersRecord>(control[2].Value, 0));
        Assert.Equal([1, 2], voters.Ids);

        // Node 3 starts from nothing and gets the snapshot (the leader's log starts after it).
        c.Restart(3);
        Assert.True(c.RunUntil(() => c[3].LogStartOffset == end && c[3].HighWatermark >= end), string.Join("\n", c.Trace.TakeLast(20)));
        Assert.Equal([1, 2], c[3].Voters.Ids);
        Assert.False(c[3].IsVoter);

        // A restart reads the set back from the snapshot.
        c.Restart(1);
        Assert.Equal([1, 2], c[1].Voters.Ids);
        c.ElectLeader();
    }

    [Fact]
    public void DescribeQuorum_lists_voters_with_directory_ids_and_endpoints_and_observers()
    {
        var c = Dynamic(2, joiners: 1);
        var leader = c.ElectLeader();
        WaitCaughtUp(c, 3);
        var answer = leader.Raft.DescribeQuorum(c.Now);
        var p = answer.Topics[0].Partitions[0];
        Assert.Equal([(1, DirectoryOf(1)), (2, DirectoryOf(2))], p.CurrentVoters.Select(v => (v.ReplicaId, v.ReplicaDirectoryId)));
        Assert.Equal([(3, DirectoryOf(3))], p.Observers.Select(v => (v.ReplicaId, v.ReplicaDirectoryId)));
        Assert.Equal([1, 2], answer.Nodes.Select(n => n.NodeId));
        Assert.Equal(("CONTROLLER", "host2", (ushort)9002), (answer.Nodes[1].Listeners[0].Name, answer.Nodes[1].Listeners[0].Host, answer.Nodes[1].Listeners[0].Port));
    }

    private static List<(ControlRecordType Type, byte[] Value)> ControlRecords(ReadOnlyMemory<byte> bytes)
    {
        var list = new List<(ControlRecordType, byte[])>();
        var reader = new RecordBatchReader(bytes);
        while (reader.MoveNext())
        {
            if (!reader.Current.IsControl) continue;
            using var records = reader.Current.OpenRecords(1 << 20);
            foreach (var r in records) list.Add((ControlRecordKey.Read(r.KeySpan).Type, r.Value.ToArray()));
        }
        return list;
    }
}
