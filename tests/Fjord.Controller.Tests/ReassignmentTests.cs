using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using static Fjord.Controller.Tests.ReplicationControlTests;

namespace Fjord.Controller.Tests;

/// <summary>Partition reassignment (KIP-455): AlterPartitionReassignments, completion through
/// AlterPartition, cancellation, ListPartitionReassignments, and standbys/images agreeing.</summary>
public sealed class ReassignmentTests
{
    private static AlterPartitionReassignmentsRequest Reassign(string topic, int partition, int[]? replicas, bool allowFactorChange = true) => new()
    {
        AllowReplicationFactorChange = allowFactorChange,
        Topics =
        [
            new AlterPartitionReassignmentsRequest.ReassignableTopic
            {
                Name = topic,
                Partitions = [new AlterPartitionReassignmentsRequest.ReassignablePartition { PartitionIndex = partition, Replicas = replicas is null ? null : [.. replicas] }],
            },
        ],
    };

    private static AlterPartitionReassignmentsResponse.ReassignablePartitionResponse AlterOne(ControllerCluster cluster, QuorumController active,
        string topic, int partition, int[]? replicas, short version = 1, bool allowFactorChange = true)
    {
        var response = cluster.Done(active.AlterPartitionReassignments(Reassign(topic, partition, replicas, allowFactorChange), version));
        Assert.Equal(0, response.ErrorCode);
        Assert.Null(response.ErrorMessage);
        var topicResult = Assert.Single(response.Responses);
        Assert.Equal(topic, topicResult.Name);
        var result = Assert.Single(topicResult.Partitions);
        Assert.Equal(partition, result.PartitionIndex);
        return result;
    }

    private static PartitionState P(ControllerCluster cluster, QuorumController active, string topic, int partition = 0) =>
        cluster.Committed(active, s => s.TopicByName(topic)!.Partitions[partition]);

    private static string Full(PartitionState p) =>
        $"replicas=[{string.Join(",", p.Replicas)}] isr=[{string.Join(",", p.Isr)}] adding=[{string.Join(",", p.AddingReplicas)}] removing=[{string.Join(",", p.RemovingReplicas)}] "
        + $"leader={p.Leader} le={p.LeaderEpoch} pe={p.PartitionEpoch} lrs={p.LeaderRecoveryState} dirs=[{string.Join(",", p.Directories)}]";

    private static string Full(PartitionRegistration p) =>
        $"replicas=[{string.Join(",", p.Replicas.ToArray())}] isr=[{string.Join(",", p.Isr.ToArray())}] adding=[{string.Join(",", p.AddingReplicas.ToArray())}] "
        + $"removing=[{string.Join(",", p.RemovingReplicas.ToArray())}] leader={p.Leader} le={p.LeaderEpoch} pe={p.PartitionEpoch} lrs={p.LeaderRecoveryState} "
        + $"dirs=[{string.Join(",", p.Directories.ToArray())}]";

    private static string DescribeAll(ControllerState state) =>
        string.Join("\n", state.AllPartitions().Select(x => $"{x.Topic.Name}-{x.PartitionId}: {Full(x.Partition)}"));

    private static AlterPartitionResponse.PartitionData Isr(ControllerCluster cluster, QuorumController active, Dictionary<int, long> epochs,
        string topic, params int[] isr)
    {
        var (id, p) = cluster.Committed(active, s => (s.TopicByName(topic)!.Id, s.TopicByName(topic)!.Partitions[0]));
        var response = cluster.Done(active.AlterPartition(AlterIsr(p.Leader, epochs[p.Leader], id, 0, p.LeaderEpoch, p.PartitionEpoch, isr), 3));
        Assert.Equal(0, response.ErrorCode);
        var result = response.Topics[0].Partitions[0];
        Assert.Equal(0, result.ErrorCode);
        return result;
    }

    private static ListPartitionReassignmentsResponse List(ControllerCluster cluster, QuorumController active, params (string Topic, int[] Partitions)[] topics) =>
        cluster.Done(active.ListPartitionReassignments(new ListPartitionReassignmentsRequest
        {
            Topics = topics.Length == 0 ? null : [.. topics.Select(t => new ListPartitionReassignmentsRequest.ListPartitionReassignmentsTopics { Name = t.Topic, PartitionIndexes = [.. t.Partitions] })],
        }, 0));

    [Fact]
    public void A_reassignment_grows_the_replicas_then_completes_when_the_leader_reports_the_new_replica_in_sync()
    {
        var (cluster, active, epochs) = WithBrokers(4);
        Assert.Equal(0, Create(cluster, active, Manual("t", [1, 2, 3])).Topics[0].ErrorCode);
        var before = P(cluster, active, "t");

        Assert.Equal(0, AlterOne(cluster, active, "t", 0, [1, 2, 4]).ErrorCode);
        var started = P(cluster, active, "t");
        Assert.Equal([1, 2, 4, 3], started.Replicas.ToArray()); // target first, then the removing ones
        Assert.Equal([4], started.AddingReplicas.ToArray());
        Assert.Equal([3], started.RemovingReplicas.ToArray());
        Assert.Equal([1, 2, 3], started.Isr.ToArray());
        Assert.Equal((1, 0, 1), (started.Leader, started.LeaderEpoch, started.PartitionEpoch));
        Assert.Equal(4, started.Directories.Length);
        Uuid[] kept = [started.Directories[0], started.Directories[1], started.Directories[3]];
        Assert.Equal(before.Directories.ToArray(), kept); // surviving replicas keep their directories

        var listed = List(cluster, active);
        Assert.Equal(0, listed.ErrorCode);
        var ongoing = Assert.Single(Assert.Single(listed.Topics).Partitions);
        Assert.Equal(0, ongoing.PartitionIndex);
        Assert.Equal([1, 2, 4, 3], ongoing.Replicas);
        Assert.Equal([4], ongoing.AddingReplicas);
        Assert.Equal([3], ongoing.RemovingReplicas);

        // The leader reports 4 in sync: the reassignment completes in the same change.
        var answer = Isr(cluster, active, epochs, "t", 1, 2, 3, 4);
        var done = P(cluster, active, "t");
        Assert.Equal([1, 2, 4], done.Replicas.ToArray());
        Assert.Equal([1, 2, 4], done.Isr.ToArray());
        Assert.Empty(done.AddingReplicas);
        Assert.Empty(done.RemovingReplicas);
        Assert.Equal((1, 1, 2), (done.Leader, done.LeaderEpoch, done.PartitionEpoch)); // leader epoch bumped: replica 3 left
        Assert.Equal((1, 1, 2), (answer.LeaderId, answer.LeaderEpoch, answer.PartitionEpoch));
        Assert.Equal([1, 2, 4], answer.Isr.ToArray());
        Assert.Empty(List(cluster, active).Topics);
    }

    [Fact]
    public void Several_adding_replicas_complete_only_once_all_are_in_sync_and_a_removed_leader_is_replaced()
    {
        var (cluster, active, epochs) = WithBrokers(5);
        Create(cluster, active, Manual("t", [1, 2, 3]));
        AlterOne(cluster, active, "t", 0, [4, 5, 2]);
        var started = P(cluster, active, "t");
        Assert.Equal([4, 5, 2, 1, 3], started.Replicas.ToArray());
        Assert.Equal([4, 5], started.AddingReplicas.ToArray());
        Assert.Equal([1, 3], started.RemovingReplicas.ToArray());

        Isr(cluster, active, epochs, "t", 1, 2, 3, 4);
        var half = P(cluster, active, "t");
        Assert.Equal([4, 5, 2, 1, 3], half.Replicas.ToArray());
        Assert.Equal([1, 2, 3, 4], half.Isr.ToArray());
        Assert.Equal([4, 5], half.AddingReplicas.ToArray());
        Assert.Equal((1, 0), (half.Leader, half.LeaderEpoch));

        var answer = Isr(cluster, active, epochs, "t", 1, 2, 3, 4, 5);
        var done = P(cluster, active, "t");
        Assert.Equal([4, 5, 2], done.Replicas.ToArray());
        Assert.Equal([2, 4, 5], done.Isr.ToArray());
        Assert.Equal(4, done.Leader); // leader 1 was removed: the first in-sync replica of the target
        Assert.Equal(1, done.LeaderEpoch);
        Assert.Equal(4, answer.LeaderId);
        Assert.Empty(done.AddingReplicas);
        Assert.Empty(done.RemovingReplicas);
    }

    [Fact]
    public void A_shrink_or_a_reorder_completes_at_once_and_the_same_replicas_change_nothing()
    {
        var (cluster, active, _) = WithBrokers(3);
        Create(cluster, active, Manual("t", [1, 2, 3]), Manual("u", [1, 2, 3]));
        AlterOne(cluster, active, "t", 0, [2, 3]);
        var t = P(cluster, active, "t");
        Assert.Equal([2, 3], t.Replicas.ToArray());
        Assert.Equal([2, 3], t.Isr.ToArray());
        Assert.Equal((2, 1, 1), (t.Leader, t.LeaderEpoch, t.PartitionEpoch));
        Assert.True(t.AddingReplicas.IsEmpty && t.RemovingReplicas.IsEmpty);

        AlterOne(cluster, active, "u", 0, [3, 1, 2]);
        var u = P(cluster, active, "u");
        Assert.Equal([3, 1, 2], u.Replicas.ToArray());
        Assert.Equal((1, 0, 1), (u.Leader, u.LeaderEpoch, u.PartitionEpoch)); // no replica left: leader and its epoch stay
        var dirs = cluster.Committed(active, s => s.Brokers.ToDictionary(b => b.Key, b => b.Value.LogDirs));
        for (int i = 0; i < 3; i++)
            Assert.Equal(dirs[u.Replicas[i]].IsEmpty ? ReplicationControlManager.MigratingDirectory : dirs[u.Replicas[i]][0], u.Directories[i]);

        int batches = Batches(cluster.Raft[1]).Count;
        Assert.Equal(0, AlterOne(cluster, active, "u", 0, [3, 1, 2]).ErrorCode);
        Assert.Equal(u, P(cluster, active, "u"));
        Assert.Equal(batches, Batches(cluster.Raft[1]).Count); // nothing to change, nothing written
        Assert.Empty(List(cluster, active).Topics);
    }

    [Fact]
    public void Cancelling_reverts_to_the_original_replicas_and_cancelling_nothing_is_an_error()
    {
        var (cluster, active, epochs) = WithBrokers(5);
        Create(cluster, active, Manual("t", [1, 2, 3]), Manual("u", [1, 2, 3]));
        var original = P(cluster, active, "t");
        AlterOne(cluster, active, "t", 0, [4, 5, 3]);
        Isr(cluster, active, epochs, "t", 1, 2, 3, 4); // 4 caught up, 5 not yet
        var cancelled = AlterOne(cluster, active, "t", 0, null);
        Assert.Equal(0, cancelled.ErrorCode);
        var t = P(cluster, active, "t");
        Assert.Equal([3, 1, 2], t.Replicas.ToArray()); // the replicas minus the adding ones, in their current order (as Kafka)
        Assert.Equal([1, 2, 3], t.Isr.ToArray());
        Assert.True(t.AddingReplicas.IsEmpty && t.RemovingReplicas.IsEmpty);
        Assert.Equal((1, 1), (t.Leader, t.LeaderEpoch)); // replicas 4 and 5 left: leader epoch bumped
        Assert.Equal(original.Replicas.Order(), t.Replicas.Order());
        Assert.Equal(original.Directories[2], t.Directories[0]);
        Assert.Empty(List(cluster, active).Topics);

        var again = AlterOne(cluster, active, "t", 0, null);
        Assert.Equal((short)ErrorCode.NoReassignmentInProgress, again.ErrorCode);
        Assert.NotNull(again.ErrorMessage);
        Assert.Equal((short)ErrorCode.NoReassignmentInProgress, AlterOne(cluster, active, "u", 0, null).ErrorCode);
    }

    [Fact]
    public void A_new_target_replaces_an_ongoing_reassignment_from_the_same_original_replicas()
    {
        var (cluster, active, epochs) = WithBrokers(5);
        Create(cluster, active, Manual("t", [1, 2, 3]));
        AlterOne(cluster, active, "t", 0, [1, 2, 4, 5]);
        Isr(cluster, active, epochs, "t", 1, 2, 3, 4); // 4 in sync, 5 not
        AlterOne(cluster, active, "t", 0, [1, 2, 5]);
        var p = P(cluster, active, "t");
        Assert.Equal([1, 2, 5, 3], p.Replicas.ToArray()); // 4 (added by the first target only) is gone
        Assert.Equal([1, 2, 3], p.Isr.ToArray());
        Assert.Equal([5], p.AddingReplicas.ToArray());
        Assert.Equal([3], p.RemovingReplicas.ToArray());
        Assert.Equal(1, p.LeaderEpoch); // a replica left
        var ongoing = Assert.Single(Assert.Single(List(cluster, active, ("t", [0])).Topics).Partitions);
        Assert.Equal([1, 2, 5, 3], ongoing.Replicas.ToArray());
    }

    [Fact]
    public void Errors_are_per_partition_and_write_nothing()
    {
        var (cluster, active, _) = WithBrokers(3);
        Create(cluster, active, Manual("t", [1, 2], [2, 3]));
        int batches = Batches(cluster.Raft[1]).Count;

        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, AlterOne(cluster, active, "nope", 0, [1, 2]).ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, AlterOne(cluster, active, "t", 7, [1, 2]).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, AlterOne(cluster, active, "t", 0, []).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, AlterOne(cluster, active, "t", 0, [1, 1]).ErrorCode);
        var unregistered = AlterOne(cluster, active, "t", 0, [1, 9]);
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, unregistered.ErrorCode);
        Assert.Contains("9", unregistered.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal((short)ErrorCode.InvalidReplicationFactor, AlterOne(cluster, active, "t", 0, [1, 2, 3], allowFactorChange: false).ErrorCode);
        Assert.Equal((short)ErrorCode.NoReassignmentInProgress, AlterOne(cluster, active, "t", 0, null).ErrorCode);
        // v0 has no AllowReplicationFactorChange: a factor change is allowed.
        Assert.Equal(0, AlterOne(cluster, active, "t", 1, [2, 3, 1], version: 0, allowFactorChange: false).ErrorCode);
        Assert.Equal(batches + 1, Batches(cluster.Raft[1]).Count);

        // One bad partition does not stop the others of the request.
        var mixed = Reassign("t", 0, [3, 1]);
        mixed.Topics[0].Partitions.Add(new AlterPartitionReassignmentsRequest.ReassignablePartition { PartitionIndex = 5, Replicas = [1] });
        mixed.Topics.Add(new AlterPartitionReassignmentsRequest.ReassignableTopic { Name = "gone", Partitions = [new() { PartitionIndex = 0, Replicas = [1] }] });
        var response = cluster.Done(active.AlterPartitionReassignments(mixed, 1));
        Assert.Equal([(short)0, (short)ErrorCode.UnknownTopicOrPartition], response.Responses[0].Partitions.Select(p => p.ErrorCode));
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, response.Responses[1].Partitions[0].ErrorCode);
        Assert.Equal([3, 1, 2], P(cluster, active, "t").Replicas.ToArray());
    }

    [Fact]
    public void List_filters_by_topic_and_partition_and_skips_unknown_ones()
    {
        var (cluster, active, _) = WithBrokers(4);
        Create(cluster, active, Manual("a", [1, 2], [1, 2], [1, 2]), Manual("b", [1, 2]), Manual("c", [1, 2]));
        AlterOne(cluster, active, "a", 0, [3, 4]);
        AlterOne(cluster, active, "a", 2, [1, 3]);
        AlterOne(cluster, active, "b", 0, [2, 4]);
        var all = List(cluster, active);
        Assert.Equal(["a", "b"], all.Topics.Select(t => t.Name));
        Assert.Equal([0, 2], all.Topics[0].Partitions.Select(p => p.PartitionIndex));
        var some = List(cluster, active, ("a", [2, 1, 9]), ("c", [0]), ("missing", [0]));
        var only = Assert.Single(some.Topics);
        Assert.Equal("a", only.Name);
        Assert.Equal([2], only.Partitions.Select(p => p.PartitionIndex));
        Assert.Equal([1, 3, 2], only.Partitions[0].Replicas.ToArray());
        Assert.Equal([3], only.Partitions[0].AddingReplicas.ToArray());
        Assert.Equal([2], only.Partitions[0].RemovingReplicas.ToArray());
    }

    [Fact]
    public void A_standby_and_the_metadata_image_replaying_the_same_records_agree()
    {
        var (cluster, active, epochs) = WithBrokers(5, voters: 3);
        Create(cluster, active, Manual("t", [1, 2, 3], [2, 3, 1], [3, 1, 2]));
        AlterOne(cluster, active, "t", 0, [4, 5, 1]);
        AlterOne(cluster, active, "t", 1, [2, 3]);
        var leaderOf2 = P(cluster, active, "t", 2).Leader;
        Assert.Equal(3, leaderOf2);
        var reassign2 = Reassign("t", 2, [1, 4]);
        Assert.Equal(0, cluster.Done(active.AlterPartitionReassignments(reassign2, 1)).Responses[0].Partitions[0].ErrorCode);
        Isr(cluster, active, epochs, "t", 1, 2, 3, 4, 5); // completes t-0 (leader 1 stays, in the target)
        var id = cluster.Committed(active, s => s.TopicByName("t")!.Id);
        var p2 = P(cluster, active, "t", 2);
        var complete2 = cluster.Done(active.AlterPartition(AlterIsr(3, epochs[3], id, 2, p2.LeaderEpoch, p2.PartitionEpoch, 3, 1, 2, 4), 3));
        Assert.Equal(1, complete2.Topics[0].Partitions[0].LeaderId); // 3 was removed: 1 leads now
        AlterOne(cluster, active, "t", 1, [1, 2, 3, 4]);
        AlterOne(cluster, active, "t", 1, null);

        Assert.True(cluster.Raft.RunUntil(() => cluster.Controllers.Values.All(c => c.LastCommittedOffset >= active.LastCommittedOffset)));
        var expected = DescribeAll(cluster.Committed(active, s => s));
        Assert.Contains("t-0: replicas=[4,5,1] isr=[1,4,5]", expected, StringComparison.Ordinal);
        Assert.Contains("t-2: replicas=[1,4] isr=[1,4]", expected, StringComparison.Ordinal);
        foreach (var c in cluster.Controllers.Values) Assert.Equal(expected, DescribeAll(cluster.Committed(c, s => s)));
        var state = cluster.Committed(active, s => s);
        Assert.Equal(expected, DescribeAll(state.ToRecords().Aggregate(ControllerState.Empty, (s, r) => s.Replay(r.Message))));

        // The broker-side image (Fjord.Metadata's rule for the same records) agrees field by field.
        var delta = new MetadataDelta(MetadataImage.Empty);
        foreach (var record in Batches(cluster.Raft[active.NodeId]).SelectMany(b => b)) delta.Replay((IKafkaMessage)record);
        var image = delta.Apply();
        var topic = image.Topics.TopicsByName["t"];
        Assert.Equal(expected, string.Join("\n", topic.Partitions.Select(x => $"t-{x.PartitionId}: {Full(x.Registration)}")));
    }

    [Fact]
    public void Reassignment_records_of_many_partitions_are_split_into_bounded_batches()
    {
        var (cluster, active, _) = WithBrokers(3, c => c with { MaxRecordsPerBatch = 40 });
        Create(cluster, active, Topic("big", 100, 2));
        int before = Batches(cluster.Raft[1]).Count;
        var request = new AlterPartitionReassignmentsRequest
        {
            Topics = [new() { Name = "big", Partitions = [.. Enumerable.Range(0, 100).Select(p => new AlterPartitionReassignmentsRequest.ReassignablePartition { PartitionIndex = p, Replicas = [1, 2, 3] })] }],
        };
        var response = cluster.Done(active.AlterPartitionReassignments(request, 1));
        Assert.All(response.Responses[0].Partitions, p => Assert.Equal(0, p.ErrorCode));
        var written = Batches(cluster.Raft[1]).Skip(before).ToList();
        Assert.Equal([40, 40, 20], written.Select(b => b.Count));
        Assert.Equal(100, List(cluster, active).Topics[0].Partitions.Count);
    }

    private static BrokerHeartbeatResponse Beat(ControllerCluster cluster, QuorumController active, int broker, long epoch, bool fence = false) =>
        cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(broker, epoch, active.LastCommittedOffset, wantFence: fence)));

    [Fact]
    public void A_cancel_that_would_empty_the_ISR_needs_unclean_election_and_fenced_adding_replicas_keep_it_pending()
    {
        var (cluster, active, epochs) = WithBrokers(4);
        var dirty = Manual("dirty", [1, 2]);
        dirty.Configs.Add(new CreateTopicsRequest.CreatableTopicConfig { Name = ReplicationControlManager.UncleanLeaderElectionConfig, Value = "true" });
        Create(cluster, active, Manual("clean", [1, 2]), dirty);
        foreach (var name in new[] { "clean", "dirty" })
        {
            AlterOne(cluster, active, name, 0, [3, 4]);
            Isr(cluster, active, epochs, name, 1, 2, 3); // 3 caught up, 4 not: still pending
        }
        // Broker 4 fenced: an adding replica outside the ISR; the leader cannot report it in sync.
        Assert.True(Beat(cluster, active, 4, epochs[4], fence: true).IsFenced);
        var (id, p) = cluster.Committed(active, s => (s.TopicByName("clean")!.Id, s.TopicByName("clean")!.Partitions[0]));
        var refused = cluster.Done(active.AlterPartition(AlterIsr(1, epochs[1], id, 0, p.LeaderEpoch, p.PartitionEpoch, 1, 2, 3, 4), 3));
        Assert.Equal((short)ErrorCode.IneligibleReplica, refused.Topics[0].Partitions[0].ErrorCode);
        Assert.Equal([3, 4], P(cluster, active, "clean").AddingReplicas.ToArray()); // the adding set holds until completion

        // The original replicas leave: 3 (an adding replica, in sync) leads, alone in the ISR.
        Beat(cluster, active, 1, epochs[1], fence: true);
        Beat(cluster, active, 2, epochs[2], fence: true);
        foreach (var name in new[] { "clean", "dirty" })
        {
            var q = P(cluster, active, name);
            Assert.Equal((3, 3), (q.Leader, Assert.Single(q.Isr)));
        }
        Assert.False(Beat(cluster, active, 1, epochs[1]).IsFenced); // back, but out of sync

        var clean = AlterOne(cluster, active, "clean", 0, null);
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, clean.ErrorCode);
        Assert.Equal([3, 4], P(cluster, active, "clean").AddingReplicas.ToArray());

        Assert.Equal(0, AlterOne(cluster, active, "dirty", 0, null).ErrorCode);
        var reverted = P(cluster, active, "dirty");
        Assert.Equal([1, 2], reverted.Replicas.ToArray());
        Assert.Equal((1, 1), (reverted.Leader, reverted.LeaderRecoveryState)); // unclean: recovering
        Assert.Equal([1], reverted.Isr.ToArray());
        Assert.True(reverted.AddingReplicas.IsEmpty && reverted.RemovingReplicas.IsEmpty);
    }
}
