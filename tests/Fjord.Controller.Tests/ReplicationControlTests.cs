using System.Collections.Immutable;
using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;

namespace Fjord.Controller.Tests;

public sealed class ReplicationControlTests
{
    internal static ControllerCluster NewCluster(int voters = 1, int seed = 42, Func<ControllerConfig, ControllerConfig>? configure = null) =>
        new(voters, configure: c =>
        {
            c = c with { RandomSeed = seed, BrokerSessionTimeoutMs = 10_000_000 };
            return configure is null ? c : configure(c);
        });

    /// <summary>A cluster with an active controller and brokers 1…<paramref name="brokers"/> unfenced; returns their epochs.</summary>
    internal static (ControllerCluster Cluster, QuorumController Active, Dictionary<int, long> Epochs) WithBrokers(int brokers,
        Func<ControllerConfig, ControllerConfig>? configure = null, int voters = 1)
    {
        var cluster = NewCluster(voters, configure: configure);
        var active = cluster.ElectActive();
        var epochs = new Dictionary<int, long>();
        for (int id = 1; id <= brokers; id++) epochs[id] = cluster.RegisterUnfenced(active, id);
        return (cluster, active, epochs);
    }

    internal static CreateTopicsRequest.CreatableTopic Topic(string name, int partitions = 1, short factor = 1, params (string Key, string? Value)[] configs) => new()
    {
        Name = name,
        NumPartitions = partitions,
        ReplicationFactor = factor,
        Configs = [.. configs.Select(c => new CreateTopicsRequest.CreatableTopicConfig { Name = c.Key, Value = c.Value })],
    };

    internal static CreateTopicsRequest.CreatableTopic Manual(string name, params int[][] assignment) => new()
    {
        Name = name,
        NumPartitions = -1,
        ReplicationFactor = -1,
        Assignments = [.. assignment.Select((b, i) => new CreateTopicsRequest.CreatableReplicaAssignment { PartitionIndex = i, BrokerIds = [.. b] })],
    };

    internal static CreateTopicsResponse Create(ControllerCluster cluster, QuorumController active, params CreateTopicsRequest.CreatableTopic[] topics) =>
        cluster.Done(active.CreateTopics(new CreateTopicsRequest { Topics = [.. topics] }, 7));

    private static CreateTopicsResponse.CreatableTopicResult CreateOne(ControllerCluster cluster, QuorumController active, CreateTopicsRequest.CreatableTopic topic) =>
        Assert.Single(Create(cluster, active, topic).Topics);

    private static PartitionState Partition(ControllerCluster cluster, QuorumController active, string topic, int partition) =>
        cluster.Committed(active, s => s.TopicByName(topic)!.Partitions[partition]);

    /// <summary>The non-control records of each batch in the node's log.</summary>
    internal static List<List<object>> Batches(HarnessNode node)
    {
        var batches = new List<List<object>>();
        foreach (var (_, _, _, bytes) in node.Log.Batches)
        {
            var reader = new RecordBatchReader(bytes);
            var values = new List<object>();
            while (reader.MoveNext())
            {
                if (reader.Current.IsControl) continue;
                using var records = reader.Current.OpenRecords(1 << 20);
                foreach (var record in records) values.Add(MetadataRecordFrame.Decode(record.Value).Message);
            }
            if (values.Count > 0) batches.Add(values);
        }
        return batches;
    }

    /// <summary>A comparable description of every topic and partition.</summary>
    internal static string Describe(ControllerState state) =>
        string.Join("\n", state.AllPartitions().Select(x => $"{x.Topic.Name}/{x.Topic.Id}-{x.PartitionId}: {x.Partition}"));

    // ------------------------------------------------------------------ CreateTopics

    [Fact]
    public void CreateTopics_writes_the_topic_and_all_its_partitions_in_one_batch()
    {
        var (cluster, active, _) = WithBrokers(3);
        var result = CreateOne(cluster, active, Topic("orders", 6, 3, ("cleanup.policy", "compact")));
        Assert.Equal(0, result.ErrorCode);
        Assert.Null(result.ErrorMessage);
        Assert.False(result.TopicId.IsZero);
        Assert.Equal(6, result.NumPartitions);
        Assert.Equal(3, result.ReplicationFactor);
        var config = Assert.Single(result.Configs!);
        Assert.Equal(("cleanup.policy", "compact"), (config.Name, config.Value));

        var topic = cluster.Committed(active, s => s.TopicByName("orders"))!;
        Assert.Equal(result.TopicId, topic.Id);
        Assert.Equal([0, 1, 2, 3, 4, 5], topic.Partitions.Keys);
        foreach (var p in topic.Partitions.Values)
        {
            Assert.Equal(3, p.Replicas.Length);
            Assert.Equal(p.Replicas.ToArray(), p.Isr.ToArray());
            Assert.Equal(p.Replicas[0], p.Leader);
            Assert.Equal(0, p.LeaderEpoch);
            Assert.Equal(0, p.PartitionEpoch);
            Assert.Equal(3, p.Directories.Length); // PartitionRecord v1+ at the latest metadata.version
        }
        Assert.Equal("compact", cluster.Committed(active, s => s.ConfigValue(ConfigResource.Topic("orders"), "cleanup.policy")));

        var batch = Assert.Single(Batches(cluster.Raft[1]), b => b.OfType<TopicRecord>().Any());
        Assert.IsType<TopicRecord>(batch[0]);
        Assert.Equal(6, batch.OfType<PartitionRecord>().Count());
        Assert.Equal([0, 1, 2, 3, 4, 5], batch.OfType<PartitionRecord>().Select(p => p.PartitionId));
        Assert.Single(batch.OfType<ConfigRecord>());
    }

    [Fact]
    public void Topic_ids_come_from_the_seeded_source()
    {
        Uuid IdWith(int seed)
        {
            var cluster = NewCluster(seed: seed);
            var active = cluster.ElectActive();
            cluster.RegisterUnfenced(active, 1);
            return CreateOne(cluster, active, Topic("t")).TopicId;
        }
        Assert.Equal(IdWith(5), IdWith(5));
        Assert.NotEqual(IdWith(5), IdWith(6));
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("with space")]
    [InlineData("slash/")]
    [InlineData("ü")]
    public void Illegal_topic_names_are_refused(string name)
    {
        var (cluster, active, _) = WithBrokers(1);
        var result = CreateOne(cluster, active, Topic(name));
        Assert.Equal((short)ErrorCode.InvalidTopicException, result.ErrorCode);
        Assert.NotNull(result.ErrorMessage);
        Assert.Equal(-1, result.NumPartitions);
        Assert.Empty(cluster.Committed(active, s => s.Topics));
    }

    [Fact]
    public void Name_length_existence_collisions_and_duplicates()
    {
        var (cluster, active, _) = WithBrokers(1);
        Assert.Equal(0, CreateOne(cluster, active, Topic(new string('a', 249))).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidTopicException, CreateOne(cluster, active, Topic(new string('b', 250))).ErrorCode);
        Assert.Equal(0, CreateOne(cluster, active, Topic("a.b-c_d")).ErrorCode);
        Assert.Equal((short)ErrorCode.TopicAlreadyExists, CreateOne(cluster, active, Topic("a.b-c_d")).ErrorCode);
        var collision = CreateOne(cluster, active, Topic("a_b-c.d"));
        Assert.Equal((short)ErrorCode.InvalidTopicException, collision.ErrorCode);
        Assert.Contains("a.b-c_d", collision.ErrorMessage, StringComparison.Ordinal);
        // Once the colliding topic is deleted, the name is free again.
        Assert.Equal(0, cluster.Done(active.DeleteTopics(new DeleteTopicsRequest { TopicNames = ["a.b-c_d"] }, 5)).Responses.Single().ErrorCode);
        Assert.Equal(0, CreateOne(cluster, active, Topic("a_b-c.d")).ErrorCode);

        var response = Create(cluster, active, Topic("dup"), Topic("dup"), Topic("fine"));
        Assert.Equal([(short)ErrorCode.InvalidRequest, (short)ErrorCode.InvalidRequest, (short)0], response.Topics.Select(t => t.ErrorCode));
        Assert.Null(cluster.Committed(active, s => s.TopicByName("dup")));
        Assert.NotNull(cluster.Committed(active, s => s.TopicByName("fine")));
    }

    [Fact]
    public void Partition_count_and_replication_factor_checks_and_defaults()
    {
        var (cluster, active, epochs) = WithBrokers(3, c => c with { DefaultNumPartitions = 3, DefaultReplicationFactor = 2 });
        Assert.Equal((short)ErrorCode.InvalidPartitions, CreateOne(cluster, active, Topic("p0", 0, 1)).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidPartitions, CreateOne(cluster, active, Topic("pm2", -2, 1)).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidReplicationFactor, CreateOne(cluster, active, Topic("r0", 1, 0)).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidReplicationFactor, CreateOne(cluster, active, Topic("r4", 1, 4)).ErrorCode);

        var defaults = CreateOne(cluster, active, Topic("defaults", -1, -1));
        Assert.Equal(0, defaults.ErrorCode);
        Assert.Equal((3, (short)2), (defaults.NumPartitions, defaults.ReplicationFactor));

        // A fenced broker does not count: 2 usable brokers cannot hold 3 replicas.
        cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(3, epochs[3], active.LastCommittedOffset, wantFence: true)));
        Assert.Equal((short)ErrorCode.InvalidReplicationFactor, CreateOne(cluster, active, Topic("r3", 1, 3)).ErrorCode);
        var two = CreateOne(cluster, active, Topic("r2", 4, 2));
        Assert.Equal(0, two.ErrorCode);
        Assert.All(cluster.Committed(active, s => s.TopicByName("r2")!.Partitions.Values), p => Assert.DoesNotContain(3, p.Replicas));
    }

    [Fact]
    public void Manual_assignments()
    {
        var (cluster, active, epochs) = WithBrokers(3);
        var ok = CreateOne(cluster, active, Manual("m", [2, 1], [3, 2]));
        Assert.Equal(0, ok.ErrorCode);
        Assert.Equal((2, (short)2), (ok.NumPartitions, ok.ReplicationFactor));
        Assert.Equal([2, 1], Partition(cluster, active, "m", 0).Replicas.ToArray());
        Assert.Equal(3, Partition(cluster, active, "m", 1).Leader);

        var withCount = Manual("x", [1]);
        withCount.NumPartitions = 1;
        Assert.Equal((short)ErrorCode.InvalidRequest, CreateOne(cluster, active, withCount).ErrorCode);
        var gap = Manual("x", [1], [2]);
        gap.Assignments[1].PartitionIndex = 2;
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, CreateOne(cluster, active, gap).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, CreateOne(cluster, active, Manual("x", [1, 1])).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, CreateOne(cluster, active, Manual("x", [1, 9])).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, CreateOne(cluster, active, Manual("x", [1, 2], [3])).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, CreateOne(cluster, active, Manual("x", [[]])).ErrorCode);

        // Fenced replicas are left out of the ISR; a partition with only fenced replicas is refused.
        cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(1, epochs[1], active.LastCommittedOffset, wantFence: true)));
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, CreateOne(cluster, active, Manual("x", [1])).ErrorCode);
        Assert.Equal(0, CreateOne(cluster, active, Manual("y", [1, 2])).ErrorCode);
        var y = Partition(cluster, active, "y", 0);
        Assert.Equal([2], y.Isr.ToArray());
        Assert.Equal(2, y.Leader);
    }

    [Fact]
    public void Validate_only_answers_without_writing()
    {
        var (cluster, active, _) = WithBrokers(2);
        long before = cluster.Raft[1].Log.Batches.Count;
        var response = cluster.Done(active.CreateTopics(new CreateTopicsRequest { Topics = [Topic("v", 2, 2), Topic("..")], ValidateOnly = true }, 7));
        Assert.Equal(0, response.Topics[0].ErrorCode);
        Assert.Equal(2, response.Topics[0].NumPartitions);
        Assert.Equal((short)ErrorCode.InvalidTopicException, response.Topics[1].ErrorCode);
        Assert.Empty(cluster.Committed(active, s => s.Topics));
        Assert.DoesNotContain(Batches(cluster.Raft[1]).SelectMany(b => b), v => v is TopicRecord);
    }

    [Fact]
    public void A_standby_replays_topics_and_a_snapshot_of_the_state_rebuilds_them()
    {
        var (cluster, active, _) = WithBrokers(3, voters: 3);
        Assert.Equal(0, CreateOne(cluster, active, Topic("a", 4, 3, ("retention.ms", "1000"))).ErrorCode);
        Assert.Equal(0, CreateOne(cluster, active, Topic("b", 2, 2)).ErrorCode);
        Assert.True(cluster.Raft.RunUntil(() => cluster.Controllers.Values.All(c => c.LastCommittedOffset >= active.LastCommittedOffset)));
        var expected = Describe(cluster.Committed(active, s => s));
        foreach (var c in cluster.Controllers.Values) Assert.Equal(expected, Describe(cluster.Committed(c, s => s)));

        var state = cluster.Committed(active, s => s);
        var rebuilt = state.ToRecords().Aggregate(ControllerState.Empty, (s, r) => s.Replay(r.Message));
        Assert.Equal(expected, Describe(rebuilt));
        Assert.Equal("1000", rebuilt.ConfigValue(ConfigResource.Topic("a"), "retention.ms"));
    }

    // ------------------------------------------------------------------ placement

    private static BrokerRegistration Broker(int id, string? rack = null) =>
        new(id, 0, Uuid.Zero, [], ImmutableSortedDictionary<string, SupportedRange>.Empty, rack, false, false, []);

    [Theory]
    [InlineData(3, 1, 0, 0)]
    [InlineData(5, 3, 2, 4)]
    [InlineData(6, 3, 5, 1)]
    [InlineData(7, 2, 3, 3)]
    public void Placement_spreads_leaders_evenly_and_never_repeats_a_broker(int brokers, int factor, int start, int shift)
    {
        var all = Enumerable.Range(1, brokers).Select(id => Broker(id)).ToList();
        foreach (int rounds in new[] { 1, 3, 4 })
        {
            var placed = ReplicaPlacer.Place(all, 0, rounds * brokers, factor, start, shift);
            Assert.All(placed, r => Assert.Equal(factor, r.Distinct().Count()));
            var leaders = placed.GroupBy(r => r[0]).ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(brokers, leaders.Count);
            Assert.True(leaders.Values.Max() - leaders.Values.Min() <= 1);
            var replicas = placed.SelectMany(r => r).GroupBy(b => b).Select(g => g.Count()).ToList();
            Assert.Equal(brokers, replicas.Count);
            Assert.True(replicas.Max() - replicas.Min() <= factor, $"replicas per broker {string.Join(",", replicas)}");
        }
        // A partial round: leaders still differ by at most one.
        var partial = ReplicaPlacer.Place(all, 0, brokers + brokers / 2, factor, start, shift);
        var counts = partial.GroupBy(r => r[0]).Select(g => g.Count()).ToList();
        Assert.True(counts.Max() - counts.Min() <= 1);
    }

    [Fact]
    public void Placement_alternates_racks()
    {
        // Racks a, b, c with two brokers each.
        var all = Enumerable.Range(1, 6).Select(id => Broker(id, ((char)('a' + (id - 1) % 3)).ToString())).ToList();
        var rack = all.ToDictionary(b => b.Id, b => b.Rack!);
        Assert.Equal(["a", "b", "c", "a", "b", "c"], ReplicaPlacer.PlacementOrder(all).Select(b => b.Rack));
        for (int start = 0; start < 6; start++)
        {
            var three = ReplicaPlacer.Place(all, 0, 12, 3, start, start * 7 % 6);
            Assert.All(three, r => Assert.Equal(3, r.Select(b => rack[b]).Distinct().Count()));
            for (int p = 1; p < three.Count; p++) Assert.NotEqual(rack[three[p - 1][0]], rack[three[p][0]]);
            var two = ReplicaPlacer.Place(all, 0, 12, 2, start, start);
            Assert.All(two, r => Assert.NotEqual(rack[r[0]], rack[r[1]]));
            var four = ReplicaPlacer.Place(all, 0, 12, 4, start, start);
            Assert.All(four, r =>
            {
                Assert.Equal(4, r.Distinct().Count());
                Assert.Equal(3, r.Select(b => rack[b]).Distinct().Count());
            });
        }
    }

    [Fact]
    public void CreateTopics_places_replicas_on_racks_through_the_controller()
    {
        var cluster = NewCluster();
        var active = cluster.ElectActive();
        for (int id = 1; id <= 4; id++)
        {
            var registration = ControllerCluster.Registration(id);
            registration.Rack = id % 2 == 0 ? "even" : "odd";
            long epoch = cluster.Done(active.RegisterBroker(registration, 4)).BrokerEpoch;
            Assert.False(cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(id, epoch, active.LastCommittedOffset))).IsFenced);
        }
        Assert.Equal(0, CreateOne(cluster, active, Topic("racked", 8, 2)).ErrorCode);
        var partitions = cluster.Committed(active, s => s.TopicByName("racked")!.Partitions.Values.ToList());
        Assert.All(partitions, p => Assert.NotEqual(p.Replicas[0] % 2, p.Replicas[1] % 2));
        Assert.All(partitions.GroupBy(p => p.Leader), g => Assert.Equal(2, g.Count()));
    }

    // ------------------------------------------------------------------ DeleteTopics

    [Fact]
    public void DeleteTopics_by_name_and_by_id()
    {
        var (cluster, active, _) = WithBrokers(1);
        var a = CreateOne(cluster, active, Topic("a", 2, 1, ("retention.ms", "5")));
        var b = CreateOne(cluster, active, Topic("b", 1));

        var byName = cluster.Done(active.DeleteTopics(new DeleteTopicsRequest { TopicNames = ["a", "nope"] }, 5));
        Assert.Equal([(short)0, (short)ErrorCode.UnknownTopicOrPartition], byName.Responses.Select(r => r.ErrorCode));
        Assert.Null(cluster.Committed(active, s => s.TopicByName("a")));
        Assert.False(cluster.Committed(active, s => s.Topics.ContainsKey(a.TopicId)));
        Assert.Null(cluster.Committed(active, s => s.ConfigValue(ConfigResource.Topic("a"), "retention.ms")));
        Assert.Contains(Batches(cluster.Raft[1]).SelectMany(x => x), v => v is RemoveTopicRecord r && r.TopicId == a.TopicId);

        var unknownId = Uuid.NewRandom();
        var byId = cluster.Done(active.DeleteTopics(new DeleteTopicsRequest
        {
            Topics =
            [
                new DeleteTopicsRequest.DeleteTopicState { TopicId = b.TopicId },
                new DeleteTopicsRequest.DeleteTopicState { TopicId = unknownId },
                new DeleteTopicsRequest.DeleteTopicState { Name = "b", TopicId = b.TopicId },
                new DeleteTopicsRequest.DeleteTopicState(),
            ],
        }, 6));
        Assert.Equal([(short)0, (short)ErrorCode.UnknownTopicId, (short)ErrorCode.InvalidRequest, (short)ErrorCode.InvalidRequest],
            byId.Responses.Select(r => r.ErrorCode));
        Assert.Equal("b", byId.Responses[0].Name);
        Assert.Empty(cluster.Committed(active, s => s.Topics));

        // The name is free again, under a new id.
        var again = CreateOne(cluster, active, Topic("a"));
        Assert.Equal(0, again.ErrorCode);
        Assert.NotEqual(a.TopicId, again.TopicId);
    }

    [Fact]
    public void DeleteTopics_refused_when_deletion_is_disabled()
    {
        var (cluster, active, _) = WithBrokers(1, c => c with { DeleteTopicEnable = false });
        Assert.Equal(0, CreateOne(cluster, active, Topic("kept")).ErrorCode);
        var response = cluster.Done(active.DeleteTopics(new DeleteTopicsRequest { TopicNames = ["kept"] }, 5));
        Assert.Equal((short)ErrorCode.TopicDeletionDisabled, Assert.Single(response.Responses).ErrorCode);
        Assert.NotNull(cluster.Committed(active, s => s.TopicByName("kept")));
    }

    // ------------------------------------------------------------------ CreatePartitions

    private static CreatePartitionsRequest.CreatePartitionsTopic More(string name, int count, params int[][]? assignments) => new()
    {
        Name = name,
        Count = count,
        Assignments = assignments is null || assignments.Length == 0 ? null : [.. assignments.Select(a => new CreatePartitionsRequest.CreatePartitionsAssignment { BrokerIds = [.. a] })],
    };

    private static short AddPartitions(ControllerCluster cluster, QuorumController active, CreatePartitionsRequest.CreatePartitionsTopic topic, bool validateOnly = false) =>
        Assert.Single(cluster.Done(active.CreatePartitions(new CreatePartitionsRequest { Topics = [topic], ValidateOnly = validateOnly })).Results).ErrorCode;

    [Fact]
    public void CreatePartitions_only_increases()
    {
        var (cluster, active, _) = WithBrokers(3);
        Assert.Equal(0, CreateOne(cluster, active, Topic("t", 3, 2)).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidPartitions, AddPartitions(cluster, active, More("t", 2)));
        Assert.Equal((short)ErrorCode.InvalidPartitions, AddPartitions(cluster, active, More("t", 3)));
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, AddPartitions(cluster, active, More("nope", 5)));
        Assert.Equal(0, AddPartitions(cluster, active, More("t", 5), validateOnly: true));
        Assert.Equal(3, cluster.Committed(active, s => s.TopicByName("t")!.Partitions.Count));

        Assert.Equal(0, AddPartitions(cluster, active, More("t", 5)));
        var partitions = cluster.Committed(active, s => s.TopicByName("t")!.Partitions);
        Assert.Equal([0, 1, 2, 3, 4], partitions.Keys);
        Assert.All(partitions.Values, p => Assert.Equal(2, p.Replicas.Distinct().Count()));

        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, AddPartitions(cluster, active, More("t", 7, [1, 2])));
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, AddPartitions(cluster, active, More("t", 6, [1])));
        Assert.Equal((short)ErrorCode.InvalidReplicaAssignment, AddPartitions(cluster, active, More("t", 6, [1, 8])));
        Assert.Equal(0, AddPartitions(cluster, active, More("t", 7, [3, 1], [2, 3])));
        Assert.Equal([3, 1], Partition(cluster, active, "t", 5).Replicas.ToArray());
        Assert.Equal([2, 3], Partition(cluster, active, "t", 6).Isr.ToArray());
    }

    // ------------------------------------------------------------------ elections on broker changes

    private static BrokerHeartbeatResponse Fence(ControllerCluster cluster, QuorumController active, int broker, long epoch) =>
        cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(broker, epoch, active.LastCommittedOffset, wantFence: true)));

    private static BrokerHeartbeatResponse Beat(ControllerCluster cluster, QuorumController active, int broker, long epoch, bool shutDown = false) =>
        cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(broker, epoch, active.LastCommittedOffset, wantShutDown: shutDown)));

    [Fact]
    public void Fencing_a_leader_moves_leadership_to_another_ISR_member_in_the_same_batch()
    {
        var (cluster, active, epochs) = WithBrokers(3);
        Assert.Equal(0, CreateOne(cluster, active, Manual("t", [1, 2, 3], [2, 3, 1], [3, 1, 2])).ErrorCode);
        Assert.True(Fence(cluster, active, 1, epochs[1]).IsFenced);

        var p0 = Partition(cluster, active, "t", 0);
        Assert.Equal(2, p0.Leader);
        Assert.Equal([2, 3], p0.Isr.ToArray());
        Assert.Equal((1, 1), (p0.LeaderEpoch, p0.PartitionEpoch));
        // Partitions it followed lose it from the ISR; their leader (and leader epoch) stays.
        var p1 = Partition(cluster, active, "t", 1);
        Assert.Equal((2, 0, 1), (p1.Leader, p1.LeaderEpoch, p1.PartitionEpoch));
        Assert.Equal([2, 3], p1.Isr.ToArray());
        Assert.False(cluster.Committed(active, s => ReplicationControlManager.LeadsPartitions(s, 1)));

        var batch = Assert.Single(Batches(cluster.Raft[1]), b => b.OfType<FenceBrokerRecord>().Any());
        Assert.Equal(3, batch.OfType<PartitionChangeRecord>().Count());
    }

    [Fact]
    public void Fencing_the_last_ISR_member_leaves_no_leader_and_unfencing_it_elects_it_again()
    {
        var (cluster, active, epochs) = WithBrokers(2);
        Assert.Equal(0, CreateOne(cluster, active, Manual("solo", [1])).ErrorCode);
        Assert.Equal(0, CreateOne(cluster, active, Manual("pair", [1, 2])).ErrorCode);
        Fence(cluster, active, 1, epochs[1]);
        var solo = Partition(cluster, active, "solo", 0);
        Assert.Equal(PartitionState.NoLeader, solo.Leader);
        Assert.Equal([1], solo.Isr.ToArray());
        Assert.Equal(1, solo.LeaderEpoch);
        Fence(cluster, active, 2, epochs[2]);
        var pair = Partition(cluster, active, "pair", 0);
        Assert.Equal(PartitionState.NoLeader, pair.Leader);
        Assert.Equal([2], pair.Isr.ToArray());

        // Broker 1 comes back: it is not in pair's ISR, so no clean election there.
        Assert.False(Beat(cluster, active, 1, epochs[1]).IsFenced);
        solo = Partition(cluster, active, "solo", 0);
        Assert.Equal((1, 2, 2), (solo.Leader, solo.LeaderEpoch, solo.PartitionEpoch));
        Assert.Equal(PartitionState.NoLeader, Partition(cluster, active, "pair", 0).Leader);
        Assert.False(Beat(cluster, active, 2, epochs[2]).IsFenced);
        Assert.Equal(2, Partition(cluster, active, "pair", 0).Leader);
    }

    [Fact]
    public void Unclean_election_only_when_the_topic_allows_it()
    {
        var (cluster, active, epochs) = WithBrokers(2);
        Assert.Equal(0, CreateOne(cluster, active, Manual("clean", [1, 2])).ErrorCode);
        var unclean = Manual("unclean", [1, 2]);
        unclean.Configs.Add(new CreateTopicsRequest.CreatableTopicConfig { Name = ReplicationControlManager.UncleanLeaderElectionConfig, Value = "true" });
        Assert.Equal(0, CreateOne(cluster, active, unclean).ErrorCode);
        // Broker 2 falls out of both ISRs (the leader says so).
        foreach (var name in new[] { "clean", "unclean" })
        {
            var id = cluster.Committed(active, s => s.TopicByName(name)!.Id);
            var response = cluster.Done(active.AlterPartition(AlterIsr(1, epochs[1], id, 0, 0, 0, 1), 3));
            Assert.Equal(0, response.Topics[0].Partitions[0].ErrorCode);
        }
        Fence(cluster, active, 1, epochs[1]);
        var clean = Partition(cluster, active, "clean", 0);
        Assert.Equal((PartitionState.NoLeader, 1), (clean.Leader, Assert.Single(clean.Isr)));
        var dirty = Partition(cluster, active, "unclean", 0);
        Assert.Equal(2, dirty.Leader);
        Assert.Equal([2], dirty.Isr.ToArray());
        Assert.Equal(1, dirty.LeaderRecoveryState);
    }

    [Fact]
    public void Controlled_shutdown_moves_leadership_before_the_broker_is_let_go()
    {
        var (cluster, active, epochs) = WithBrokers(3);
        Assert.Equal(0, CreateOne(cluster, active, Manual("t", [1, 2], [1, 3], [2, 1])).ErrorCode);
        Assert.Equal(0, CreateOne(cluster, active, Manual("solo", [1])).ErrorCode);
        var first = Beat(cluster, active, 1, epochs[1], shutDown: true);
        Assert.False(first.ShouldShutDown);
        Assert.False(first.IsFenced);
        var partitions = cluster.Committed(active, s => s.TopicByName("t")!.Partitions);
        Assert.Equal([2, 3, 2], partitions.Values.Select(p => p.Leader));
        Assert.Equal([[2], [3], [2]], partitions.Values.Select(p => p.Isr.ToArray()));
        var solo = Partition(cluster, active, "solo", 0);
        Assert.Equal(PartitionState.NoLeader, solo.Leader);
        Assert.Equal([1], solo.Isr.ToArray());
        Assert.False(cluster.Committed(active, s => ReplicationControlManager.LeadsPartitions(s, 1)));

        var second = Beat(cluster, active, 1, epochs[1], shutDown: true);
        Assert.True(second.ShouldShutDown);
        Assert.True(second.IsFenced);
        // No new topic lands on a broker in controlled shutdown or fenced.
        Assert.Equal(0, CreateOne(cluster, active, Topic("later", 6, 2)).ErrorCode);
        Assert.All(cluster.Committed(active, s => s.TopicByName("later")!.Partitions.Values), p => Assert.DoesNotContain(1, p.Replicas));
    }

    [Fact]
    public void Session_timeout_and_unregistration_move_leadership()
    {
        var cluster = NewCluster(configure: c => c with { BrokerSessionTimeoutMs = 9000 });
        var active = cluster.ElectActive();
        var epochs = Enumerable.Range(1, 3).ToDictionary(id => id, id => cluster.RegisterUnfenced(active, id));
        Assert.Equal(0, CreateOne(cluster, active, Manual("t", [1, 2, 3], [3, 1, 2])).ErrorCode);
        for (int i = 0; i < 6; i++)
        {
            cluster.Raft.Advance(2000);
            Beat(cluster, active, 2, epochs[2]);
            Beat(cluster, active, 3, epochs[3]);
        }
        Assert.True(cluster.Committed(active, s => s.Brokers[1].Fenced));
        Assert.Equal(2, Partition(cluster, active, "t", 0).Leader);
        Assert.Equal([3, 2], Partition(cluster, active, "t", 1).Isr.ToArray());

        Assert.Equal(0, cluster.Done(active.UnregisterBroker(new UnregisterBrokerRequest { BrokerId = 3 })).ErrorCode);
        var p1 = Partition(cluster, active, "t", 1);
        Assert.Equal(2, p1.Leader);
        Assert.Equal([2], p1.Isr.ToArray());
        Assert.Equal([2], Partition(cluster, active, "t", 0).Isr.ToArray());
    }

    // ------------------------------------------------------------------ AlterPartition

    internal static AlterPartitionRequest AlterIsr(int broker, long brokerEpoch, Uuid topicId, int partition, int leaderEpoch, int partitionEpoch, params int[] isr) => new()
    {
        BrokerId = broker,
        BrokerEpoch = brokerEpoch,
        Topics =
        [
            new AlterPartitionRequest.TopicData
            {
                TopicId = topicId,
                Partitions =
                [
                    new AlterPartitionRequest.PartitionData
                    {
                        PartitionIndex = partition,
                        LeaderEpoch = leaderEpoch,
                        PartitionEpoch = partitionEpoch,
                        NewIsrWithEpochs = [.. isr.Select(b => new AlterPartitionRequest.BrokerState { BrokerId = b, BrokerEpoch = -1 })],
                    },
                ],
            },
        ],
    };

    [Fact]
    public void AlterPartition_shrinks_and_expands_the_ISR_and_answers_with_the_new_state()
    {
        var (cluster, active, epochs) = WithBrokers(3);
        var id = CreateOne(cluster, active, Manual("t", [1, 2, 3])).TopicId;

        var shrink = cluster.Done(active.AlterPartition(AlterIsr(1, epochs[1], id, 0, 0, 0, 1, 2), 3));
        Assert.Equal(0, shrink.ErrorCode);
        var answer = Assert.Single(Assert.Single(shrink.Topics).Partitions);
        Assert.Equal(0, answer.ErrorCode);
        Assert.Equal((1, 0, 1), (answer.LeaderId, answer.LeaderEpoch, answer.PartitionEpoch));
        Assert.Equal([1, 2], answer.Isr.ToArray());
        Assert.Equal([1, 2], Partition(cluster, active, "t", 0).Isr.ToArray());

        var expand = cluster.Done(active.AlterPartition(AlterIsr(1, epochs[1], id, 0, 0, 1, 1, 2, 3), 3));
        Assert.Equal([1, 2, 3], expand.Topics[0].Partitions[0].Isr.ToArray());
        Assert.Equal(2, expand.Topics[0].Partitions[0].PartitionEpoch);

        // By name before v2.
        var byName = AlterIsr(1, epochs[1], Uuid.Zero, 0, 0, 2);
        byName.Topics[0].TopicName = "t";
        byName.Topics[0].Partitions[0].NewIsr = [1];
        var v1 = cluster.Done(active.AlterPartition(byName, 1));
        Assert.Equal([1], v1.Topics[0].Partitions[0].Isr.ToArray());
        Assert.Equal(3, Partition(cluster, active, "t", 0).PartitionEpoch);
    }

    [Fact]
    public void AlterPartition_errors()
    {
        var (cluster, active, epochs) = WithBrokers(3);
        var id = CreateOne(cluster, active, Manual("t", [1, 2, 3])).TopicId;
        short Code(AlterPartitionRequest request, short version = 3)
        {
            var response = cluster.Done(active.AlterPartition(request, version));
            return response.ErrorCode != 0 ? response.ErrorCode : response.Topics[0].Partitions[0].ErrorCode;
        }

        Assert.Equal((short)ErrorCode.StaleBrokerEpoch, Code(AlterIsr(1, epochs[1] + 1, id, 0, 0, 0, 1, 2)));
        Assert.Equal((short)ErrorCode.StaleBrokerEpoch, Code(AlterIsr(9, 0, id, 0, 0, 0, 1, 2)));
        Assert.Equal((short)ErrorCode.UnknownTopicId, Code(AlterIsr(1, epochs[1], Uuid.NewRandom(), 0, 0, 0, 1, 2)));
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, Code(AlterIsr(1, epochs[1], id, 7, 0, 0, 1, 2)));
        Assert.Equal((short)ErrorCode.InvalidRequest, Code(AlterIsr(2, epochs[2], id, 0, 0, 0, 1, 2))); // not the leader
        Assert.Equal((short)ErrorCode.InvalidRequest, Code(AlterIsr(1, epochs[1], id, 0, 0, 0, 2, 3))); // leaves the leader out
        Assert.Equal((short)ErrorCode.InvalidRequest, Code(AlterIsr(1, epochs[1], id, 0, 0, 0, 1, 5))); // not a replica
        Assert.Equal((short)ErrorCode.NotController, Code(AlterIsr(1, epochs[1], id, 0, 1, 0, 1, 2))); // from the future

        // Move the partition on: leader 2 (epoch 1), partition epoch 1.
        Fence(cluster, active, 1, epochs[1]);
        Assert.False(Beat(cluster, active, 1, epochs[1]).IsFenced);
        var p = Partition(cluster, active, "t", 0);
        Assert.Equal((2, 1, 1), (p.Leader, p.LeaderEpoch, p.PartitionEpoch));
        Assert.Equal((short)ErrorCode.FencedLeaderEpoch, Code(AlterIsr(2, epochs[2], id, 0, 0, 1, 2, 3)));
        Assert.Equal((short)ErrorCode.InvalidUpdateVersion, Code(AlterIsr(2, epochs[2], id, 0, 1, 0, 2, 3)));

        // Broker 3 fenced: it may not join; a stale epoch for a member is refused too.
        Fence(cluster, active, 3, epochs[3]);
        p = Partition(cluster, active, "t", 0);
        Assert.Equal([2], p.Isr.ToArray());
        Assert.Equal((short)ErrorCode.IneligibleReplica, Code(AlterIsr(2, epochs[2], id, 0, p.LeaderEpoch, p.PartitionEpoch, 2, 3)));
        Assert.Equal((short)ErrorCode.OperationNotAttempted, Code(WithNewIsr(AlterIsr(2, epochs[2], id, 0, p.LeaderEpoch, p.PartitionEpoch), 2, 3), 0));
        var staleMember = AlterIsr(2, epochs[2], id, 0, p.LeaderEpoch, p.PartitionEpoch, 2, 1);
        staleMember.Topics[0].Partitions[0].NewIsrWithEpochs[1].BrokerEpoch = epochs[1] - 1;
        Assert.Equal((short)ErrorCode.IneligibleReplica, Code(staleMember));
        Assert.Equal(0, Code(AlterIsr(2, epochs[2], id, 0, p.LeaderEpoch, p.PartitionEpoch, 2, 1)));
        Assert.Equal([2, 1], Partition(cluster, active, "t", 0).Isr.ToArray());

        static AlterPartitionRequest WithNewIsr(AlterPartitionRequest request, params int[] isr)
        {
            request.Topics[0].TopicName = "t";
            request.Topics[0].Partitions[0].NewIsr = [.. isr];
            return request;
        }
    }

    // ------------------------------------------------------------------ ElectLeaders

    [Fact]
    public void ElectLeaders_preferred_and_unclean()
    {
        var (cluster, active, epochs) = WithBrokers(3);
        var id = CreateOne(cluster, active, Manual("t", [1, 2, 3], [2, 3, 1])).TopicId;
        Fence(cluster, active, 1, epochs[1]);
        Assert.False(Beat(cluster, active, 1, epochs[1]).IsFenced);
        Assert.Equal(2, Partition(cluster, active, "t", 0).Leader); // the partition had a leader: broker 1 does not take over
        var request = new ElectLeadersRequest { ElectionType = 0, TopicPartitions = [new ElectLeadersRequest.TopicPartitionsData { Topic = "t", Partitions = [0, 1, 9] }] };

        var notInIsr = cluster.Done(active.ElectLeaders(request, 2));
        Assert.Equal([(short)ErrorCode.PreferredLeaderNotAvailable, (short)ErrorCode.ElectionNotNeeded, (short)ErrorCode.UnknownTopicOrPartition],
            notInIsr.ReplicaElectionResults[0].PartitionResult.Select(r => r.ErrorCode));

        var p = Partition(cluster, active, "t", 0);
        cluster.Done(active.AlterPartition(AlterIsr(2, epochs[2], id, 0, p.LeaderEpoch, p.PartitionEpoch, 2, 3, 1), 3));
        var elected = cluster.Done(active.ElectLeaders(request, 2));
        Assert.Equal(0, elected.ReplicaElectionResults[0].PartitionResult[0].ErrorCode);
        p = Partition(cluster, active, "t", 0);
        Assert.Equal((1, 2), (p.Leader, p.LeaderEpoch));
        // All partitions (null): nothing left to do, nothing reported.
        var all = cluster.Done(active.ElectLeaders(new ElectLeadersRequest { ElectionType = 0, TopicPartitions = null }, 2));
        Assert.Empty(all.ReplicaElectionResults);

        // Unclean: partition 1's ISR shrinks to {2}, then 2 is fenced: no leader; ElectLeaders(unclean) picks 3.
        var p1 = Partition(cluster, active, "t", 1);
        cluster.Done(active.AlterPartition(AlterIsr(2, epochs[2], id, 1, p1.LeaderEpoch, p1.PartitionEpoch, 2), 3));
        Fence(cluster, active, 2, epochs[2]);
        Assert.Equal(PartitionState.NoLeader, Partition(cluster, active, "t", 1).Leader);
        var uncleanRequest = new ElectLeadersRequest { ElectionType = 1, TopicPartitions = [new ElectLeadersRequest.TopicPartitionsData { Topic = "t", Partitions = [0, 1] }] };
        var unclean = cluster.Done(active.ElectLeaders(uncleanRequest, 2));
        Assert.Equal([(short)ErrorCode.ElectionNotNeeded, (short)0], unclean.ReplicaElectionResults[0].PartitionResult.Select(r => r.ErrorCode));
        p1 = Partition(cluster, active, "t", 1);
        Assert.Equal(3, p1.Leader);
        Assert.Equal([3], p1.Isr.ToArray());
        Assert.Equal(1, p1.LeaderRecoveryState);
    }

    // ------------------------------------------------------------------ failover

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Failover_mid_stream_keeps_every_acknowledged_topic_and_never_half_a_topic(int seed)
    {
        var cluster = NewCluster(3, seed);
        var old = cluster.ElectActive();
        for (int id = 1; id <= 3; id++) cluster.RegisterUnfenced(old, id);

        const int topics = 30;
        var tasks = new List<(string Name, Task<CreateTopicsResponse> Task)>();
        var random = new Random(seed);
        for (int i = 0; i < topics; i++)
        {
            string name = $"topic-{i}";
            tasks.Add((name, old.CreateTopics(new CreateTopicsRequest { Topics = [Topic(name, 4, 3)] }, 7)));
            for (int s = random.Next(3); s > 0; s--) cluster.Raft.Step(); // let some commit, some not
        }
        cluster.Raft.Crash(old.NodeId);

        bool Acked(Task<CreateTopicsResponse> t) => t.IsCompletedSuccessfully && t.Result.Topics[0].ErrorCode == 0;
        var acked = tasks.Where(t => Acked(t.Task)).Select(t => t.Name).ToList();
        Assert.NotEmpty(acked);
        Assert.True(acked.Count < topics, "every request was acknowledged before the crash: the test proves nothing");

        var successor = cluster.ElectActive(except: old.NodeId);
        var state = cluster.Committed(successor, s => s);
        foreach (var name in acked)
        {
            var topic = state.TopicByName(name);
            Assert.NotNull(topic);
            Assert.Equal([0, 1, 2, 3], topic.Partitions.Keys);
        }
        foreach (var topic in state.Topics.Values)
        {
            Assert.Equal(4, topic.Partitions.Count);
            Assert.All(topic.Partitions.Values, p => Assert.Equal(3, p.Replicas.Distinct().Count()));
        }
        // Nothing the old controller never acknowledged is half there; everything pending is still pending (it crashed).
        Assert.All(tasks.Where(t => !t.Task.IsCompleted), t => Assert.True(state.TopicByName(t.Name) is null or { Partitions.Count: 4 }));

        // The other standby agrees, and the new controller goes on: it creates what was lost.
        var standby = cluster.Controllers.Values.Single(c => c != old && c != successor);
        Assert.True(cluster.Raft.RunUntil(() => standby.LastCommittedOffset >= successor.LastCommittedOffset));
        Assert.Equal(Describe(state), Describe(cluster.Committed(standby, s => s)));
        foreach (var (name, _) in tasks.Where(t => state.TopicByName(t.Name) is null))
            Assert.Equal(0, CreateOne(cluster, successor, Topic(name, 4, 3)).ErrorCode);
        Assert.Equal(topics, cluster.Committed(successor, s => s.Topics.Count));
    }
}
