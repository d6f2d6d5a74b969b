using Fjord.Protocol.Metadata;
using static Fjord.Metadata.Tests.TestRecords;

namespace Fjord.Metadata.Tests;

public sealed class ReplayTests
{
    private static readonly Fjord.Common.Uuid T1 = Id(1);

    private static MetadataImage Base() => Replay([
        Mv(), Broker(1), Broker(2), Broker(3),
        Topic("orders", T1),
        Partition(T1, 0, [1, 2, 3], leaderEpoch: 5),
        Partition(T1, 1, [2, 3, 1]),
    ]);

    [Fact]
    public void Feature_level_sets_and_level_zero_removes()
    {
        var image = Replay([Mv(21), Feature("kraft.version", 1), Feature("group.version", 1)]);
        Assert.Equal(21, image.Features.MetadataVersion!.FeatureLevel);
        Assert.Equal(1, image.Features.LevelOf("kraft.version"));
        image = Replay([Feature("group.version", 0)], image);
        Assert.False(image.Features.FinalizedLevels.ContainsKey("group.version"));
        Assert.Equal(2, image.Features.FinalizedLevels.Count);
    }

    [Fact]
    public void Metadata_version_cannot_be_removed_or_unknown()
    {
        Assert.Throws<MetadataReplayException>(() => Replay([Mv(0)]));
        Assert.Throws<MetadataReplayException>(() => Replay([Mv(99)]));
    }

    [Fact]
    public void Register_broker_keeps_every_field()
    {
        var b = Base().Cluster.Broker(2)!;
        Assert.Equal(10, b.Epoch);
        Assert.Equal(Id(102), b.IncarnationId);
        Assert.True(b.Fenced);
        Assert.Null(b.Rack);
        Assert.Equal(new Endpoint("PLAINTEXT", "broker2", 9094, 0), Assert.Single(b.Listeners));
        Assert.Equal(new SupportedFeature("metadata.version", 1, 25), Assert.Single(b.SupportedFeatures));
        Assert.Equal([Id(1002)], b.LogDirs.ToArray());

        var again = Replay([new RegisterBrokerRecord { BrokerId = 2, BrokerEpoch = 20, Rack = "r1", Fenced = false, InControlledShutdown = true }], Base());
        var r = again.Cluster.Broker(2)!;
        Assert.Equal((20L, "r1", false, true), (r.Epoch, r.Rack, r.Fenced, r.InControlledShutdown));
        Assert.Empty(r.Listeners);
    }

    [Fact]
    public void Unregister_fence_and_unfence_check_the_epoch()
    {
        var image = Replay([new UnfenceBrokerRecord { Id = 1, Epoch = 10 }], Base());
        Assert.False(image.Cluster.Broker(1)!.Fenced);
        image = Replay([new FenceBrokerRecord { Id = 1, Epoch = 10 }], image);
        Assert.True(image.Cluster.Broker(1)!.Fenced);
        image = Replay([new UnregisterBrokerRecord { BrokerId = 3, BrokerEpoch = 10 }], image);
        Assert.Null(image.Cluster.Broker(3));
        Assert.Equal(2, image.Cluster.Brokers.Count);

        var e = Assert.Throws<MetadataReplayException>(() => Replay([new FenceBrokerRecord { Id = 1, Epoch = 9 }], image));
        Assert.Contains("epoch", e.Message);
        Assert.Throws<MetadataReplayException>(() => Replay([new UnfenceBrokerRecord { Id = 3, Epoch = 10 }], image));
        Assert.Throws<MetadataReplayException>(() => Replay([new UnregisterBrokerRecord { BrokerId = 7, BrokerEpoch = 10 }], image));
    }

    [Fact]
    public void Broker_registration_change_applies_only_what_it_carries()
    {
        var image = Replay([new BrokerRegistrationChangeRecord { BrokerId = 1, BrokerEpoch = 10, Fenced = -1 }], Base());
        var b = image.Cluster.Broker(1)!;
        Assert.False(b.Fenced);
        Assert.False(b.InControlledShutdown);
        Assert.Equal([Id(1001)], b.LogDirs.ToArray());

        image = Replay([new BrokerRegistrationChangeRecord { BrokerId = 1, BrokerEpoch = 10, InControlledShutdown = 1, LogDirs = [Id(5), Id(6)] }], image);
        b = image.Cluster.Broker(1)!;
        Assert.False(b.Fenced); // 0 = unchanged
        Assert.True(b.InControlledShutdown);
        Assert.Equal([Id(5), Id(6)], b.LogDirs.ToArray());

        image = Replay([new BrokerRegistrationChangeRecord { BrokerId = 1, BrokerEpoch = 10, Fenced = 1 }], image);
        Assert.True(image.Cluster.Broker(1)!.Fenced);
        Assert.True(image.Cluster.Broker(1)!.InControlledShutdown);

        Assert.Throws<MetadataReplayException>(() => Replay([new BrokerRegistrationChangeRecord { BrokerId = 1, BrokerEpoch = 10, Fenced = 2 }], image));
    }

    [Fact]
    public void Register_controller()
    {
        var image = Replay([new RegisterControllerRecord
        {
            ControllerId = 3000, IncarnationId = Id(9), ZkMigrationReady = false,
            EndPoints = [new RegisterControllerRecord.ControllerEndpoint { Name = "CONTROLLER", Host = "c", Port = 9093, SecurityProtocol = 0 }],
            Features = [new RegisterControllerRecord.ControllerFeature { Name = "kraft.version", MinSupportedVersion = 0, MaxSupportedVersion = 1 }],
        }]);
        var c = image.Cluster.Controllers[3000];
        Assert.Equal(Id(9), c.IncarnationId);
        Assert.Equal(9093, Assert.Single(c.Listeners).Port);
        Assert.Equal(1, Assert.Single(c.SupportedFeatures).MaxSupportedVersion);
    }

    [Fact]
    public void Topic_and_partition_records_build_the_topic()
    {
        var image = Base();
        var t = image.Topics.Topic("orders")!;
        Assert.Same(t, image.Topics.Topic(T1));
        Assert.Equal(2, t.PartitionCount);
        var p0 = t.Partition(0)!;
        Assert.Equal([1, 2, 3], p0.Replicas.ToArray());
        Assert.Equal([1, 2, 3], p0.Isr.ToArray());
        Assert.Equal(1, p0.Leader);
        Assert.Equal(5, p0.LeaderEpoch);
        Assert.Equal(0, p0.PartitionEpoch);
        Assert.Equal(Id(1002), p0.DirectoryOf(2));
        Assert.Null(p0.EligibleLeaderReplicasOrNull);
        Assert.Equal(2, t.Partition(1)!.Leader);
        Assert.Null(t.Partition(2));
    }

    [Fact]
    public void Topic_records_refuse_duplicates_and_partitions_need_a_topic()
    {
        Assert.Throws<MetadataReplayException>(() => Replay([Topic("orders", Id(2))], Base()));
        Assert.Throws<MetadataReplayException>(() => Replay([Topic("other", T1)], Base()));
        Assert.Throws<MetadataReplayException>(() => Replay([Partition(Id(77), 0, [1])], Base()));
        Assert.Throws<MetadataReplayException>(() => Replay([Partition(T1, -3, [1])], Base()));
    }

    [Fact]
    public void Partition_change_applies_only_present_fields()
    {
        // Only the ISR: leader and leader epoch stay, partition epoch moves.
        var image = Replay([new PartitionChangeRecord { TopicId = T1, PartitionId = 0, Isr = [1, 2] }], Base());
        var p = image.Topics.Partition(T1, 0)!;
        Assert.Equal([1, 2], p.Isr.ToArray());
        Assert.Equal([1, 2, 3], p.Replicas.ToArray());
        Assert.Equal((1, 5, 1), (p.Leader, p.LeaderEpoch, p.PartitionEpoch));

        // A leader (even the same one) bumps the leader epoch; -1 means no leader.
        image = Replay([new PartitionChangeRecord { TopicId = T1, PartitionId = 0, Leader = 1 }], image);
        p = image.Topics.Partition(T1, 0)!;
        Assert.Equal((1, 6, 2), (p.Leader, p.LeaderEpoch, p.PartitionEpoch));
        image = Replay([new PartitionChangeRecord { TopicId = T1, PartitionId = 0, Leader = -1, LeaderRecoveryState = 1 }], image);
        p = image.Topics.Partition(T1, 0)!;
        Assert.Equal((-1, 7, 3, (sbyte)1), (p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.LeaderRecoveryState));

        // Reassignment: new replicas keep surviving directories, new ones unassigned.
        image = Replay([new PartitionChangeRecord
        {
            TopicId = T1, PartitionId = 0, Replicas = [2, 4], AddingReplicas = [4], RemovingReplicas = [1],
            EligibleLeaderReplicas = [2], LastKnownElr = [],
        }], image);
        p = image.Topics.Partition(T1, 0)!;
        Assert.Equal([2, 4], p.Replicas.ToArray());
        Assert.Equal([4], p.AddingReplicas.ToArray());
        Assert.Equal([1], p.RemovingReplicas.ToArray());
        Assert.Equal([Id(1002), Fjord.Common.Uuid.Zero], p.Directories.ToArray());
        Assert.Equal([2], p.EligibleLeaderReplicasOrNull!);
        Assert.Equal([], p.LastKnownElrOrNull!);
        Assert.Equal(7, p.LeaderEpoch);

        image = Replay([new PartitionChangeRecord { TopicId = T1, PartitionId = 0, Directories = [Id(8), Id(9)] }], image);
        Assert.Equal([Id(8), Id(9)], image.Topics.Partition(T1, 0)!.Directories.ToArray());
    }

    [Fact]
    public void Partition_change_refuses_unknown_partitions_and_bad_values()
    {
        Assert.Throws<MetadataReplayException>(() => Replay([new PartitionChangeRecord { TopicId = T1, PartitionId = 9, Isr = [1] }], Base()));
        Assert.Throws<MetadataReplayException>(() => Replay([new PartitionChangeRecord { TopicId = T1, PartitionId = 0, Leader = -3 }], Base()));
        Assert.Throws<MetadataReplayException>(() => Replay([new PartitionChangeRecord { TopicId = T1, PartitionId = 0, Directories = [Id(1)] }], Base()));
    }

    [Fact]
    public void Remove_topic_drops_it_by_name_and_id_and_its_configs()
    {
        var image = Replay([
            new ConfigRecord { ResourceType = ConfigResourceTypes.Topic, ResourceName = "orders", Name = "retention.ms", Value = "1000" },
            new RemoveTopicRecord { TopicId = T1 },
        ], Base());
        Assert.True(image.Topics.IsEmpty);
        Assert.Empty(image.Topics.TopicsByName);
        Assert.True(image.Configs.IsEmpty);
        // The name is free again, in the same delta or later.
        image = Replay([Topic("orders", Id(2)), new RemoveTopicRecord { TopicId = Id(2) }, Topic("orders", Id(3))], image);
        Assert.Equal(Id(3), image.Topics.Topic("orders")!.Id);
        Assert.Throws<MetadataReplayException>(() => Replay([new RemoveTopicRecord { TopicId = T1 }], image));
    }

    [Fact]
    public void Config_record_sets_and_null_deletes()
    {
        var broker = new ConfigResource(ConfigResourceTypes.Broker, "");
        var image = Replay([
            new ConfigRecord { ResourceType = ConfigResourceTypes.Broker, ResourceName = "", Name = "a", Value = "1" },
            new ConfigRecord { ResourceType = ConfigResourceTypes.Broker, ResourceName = "", Name = "b", Value = "2" },
            new ConfigRecord { ResourceType = ConfigResourceTypes.Broker, ResourceName = "", Name = "a", Value = null },
        ]);
        Assert.Equal("2", Assert.Single(image.Configs.ConfigsOf(broker)).Value);
        image = Replay([new ConfigRecord { ResourceType = ConfigResourceTypes.Broker, ResourceName = "", Name = "b", Value = null }], image);
        Assert.True(image.Configs.IsEmpty);
    }

    [Fact]
    public void Client_quota_sets_and_removes_per_entity_whatever_the_part_order()
    {
        ClientQuotaRecord Q(string key, double value, bool remove, params (string, string?)[] parts)
        {
            var r = new ClientQuotaRecord { Key = key, Value = value, Remove = remove };
            foreach (var (t, n) in parts) r.Entity.Add(new ClientQuotaRecord.EntityData { EntityType = t, EntityName = n });
            return r;
        }
        var image = Replay([
            Q("producer_byte_rate", 1024, false, ("user", "alice"), ("client-id", null)),
            Q("consumer_byte_rate", 2048, false, ("client-id", null), ("user", "alice")),
        ]);
        var entity = new ClientQuotaEntity([("user", "alice"), ("client-id", null)]);
        var quotas = Assert.Single(image.ClientQuotas.Entities).Value;
        Assert.Equal(1024, quotas["producer_byte_rate"]);
        Assert.Equal(2048, image.ClientQuotas.Entities[entity]["consumer_byte_rate"]);
        image = Replay([Q("producer_byte_rate", 0, true, ("user", "alice"), ("client-id", null)), Q("consumer_byte_rate", 0, true, ("user", "alice"), ("client-id", null))], image);
        Assert.True(image.ClientQuotas.IsEmpty);
        Assert.Throws<MetadataReplayException>(() => Replay([Q("k", 1, false, ("user", "a"), ("user", "b"))]));
    }

    [Fact]
    public void Producer_ids_keep_the_next_block_start()
    {
        Assert.Equal(-1, MetadataImage.Empty.ProducerIds.NextProducerId);
        var image = Replay([new ProducerIdsRecord { BrokerId = 1, BrokerEpoch = 10, NextProducerId = 1000 }, new ProducerIdsRecord { BrokerId = 2, BrokerEpoch = 10, NextProducerId = 2000 }]);
        Assert.Equal(2000, image.ProducerIds.NextProducerId);
    }

    [Fact]
    public void Acls_are_added_and_removed_by_id()
    {
        var image = Replay([new AccessControlEntryRecord { Id = Id(5), ResourceType = 2, ResourceName = "orders", PatternType = 3, Principal = "User:alice", Host = "*", Operation = 3, PermissionType = 3 }]);
        Assert.Equal(new StandardAcl(2, "orders", 3, "User:alice", "*", 3, 3), image.Acls.Acls[Id(5)]);
        image = Replay([new RemoveAccessControlEntryRecord { Id = Id(5) }], image);
        Assert.True(image.Acls.IsEmpty);
        var e = Assert.Throws<MetadataReplayException>(() => Replay([new RemoveAccessControlEntryRecord { Id = Id(5) }], image));
        Assert.Equal("REMOVE_ACCESS_CONTROL_ENTRY_RECORD", e.RecordType);
    }

    [Fact]
    public void Scram_credentials_per_mechanism_and_user()
    {
        var image = Replay([
            new UserScramCredentialRecord { Name = "alice", Mechanism = 1, Salt = [1, 2], StoredKey = [3], ServerKey = [4], Iterations = 4096 },
            new UserScramCredentialRecord { Name = "alice", Mechanism = 2, Salt = [5], StoredKey = [6], ServerKey = [7], Iterations = 8192 },
        ]);
        Assert.Equal(4096, image.Scram.Credential(1, "alice")!.Iterations);
        Assert.Equal([5], image.Scram.Credential(2, "alice")!.Salt);
        image = Replay([new RemoveUserScramCredentialRecord { Name = "alice", Mechanism = 1 }], image);
        Assert.Null(image.Scram.Credential(1, "alice"));
        Assert.Single(image.Scram.Mechanisms);
        Assert.Throws<MetadataReplayException>(() => Replay([new UserScramCredentialRecord { Name = "bob", Mechanism = 0 }]));
    }

    [Fact]
    public void Delegation_tokens_are_kept_and_removed()
    {
        var image = Replay([new DelegationTokenRecord { TokenId = "t1", Owner = "User:a", Requester = "User:b", Renewers = ["User:c"], IssueTimestamp = 1, MaxTimestamp = 3, ExpirationTimestamp = 2 }]);
        Assert.Equal(["User:c"], image.DelegationTokens.Tokens["t1"].Renewers.ToArray());
        image = Replay([new RemoveDelegationTokenRecord { TokenId = "t1" }], image);
        Assert.True(image.DelegationTokens.IsEmpty);
    }

    [Fact]
    public void NoOp_transaction_markers_and_zk_migration_change_nothing()
    {
        var image = Base();
        var delta = new MetadataDelta(image);
        delta.Replay(new NoOpRecord());
        delta.Replay(new BeginTransactionRecord { Name = "x" });
        delta.Replay(new EndTransactionRecord());
        delta.Replay(new AbortTransactionRecord());
        delta.Replay(new ZkMigrationStateRecord { ZkMigrationState = 0 });
        Assert.False(delta.HasChanges);
        Assert.Equal(5, delta.RecordCount);
        Assert.Equal(image.Describe(), delta.Apply().Describe());
    }

    [Fact]
    public void A_refused_record_names_its_offset_and_type_and_leaves_the_delta_unchanged()
    {
        var delta = new MetadataDelta(Base());
        delta.Replay(new PartitionChangeRecord { TopicId = T1, PartitionId = 0, Isr = [1] }, 41);
        string before = delta.Apply().Describe();
        var e = Assert.Throws<MetadataReplayException>(() => delta.Replay(new PartitionChangeRecord { TopicId = T1, PartitionId = 5, Isr = [1] }, 42));
        Assert.Equal(42, e.Offset);
        Assert.Equal("PARTITION_CHANGE_RECORD", e.RecordType);
        Assert.StartsWith("metadata record at offset 42 (PARTITION_CHANGE_RECORD): unknown partition orders-5", e.Message);
        Assert.Equal(before, delta.Apply().Describe());
    }

    [Fact]
    public void A_non_metadata_message_is_refused()
    {
        var e = Assert.Throws<MetadataReplayException>(() => new MetadataDelta(MetadataImage.Empty).Replay(new Fjord.Protocol.Messages.ApiVersionsRequest(), 7));
        Assert.Contains("offset 7", e.Message);
        Assert.Contains("not a metadata record", e.Message);
    }
}
