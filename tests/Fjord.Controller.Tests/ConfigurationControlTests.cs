using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using static Fjord.Controller.Tests.ReplicationControlTests;

namespace Fjord.Controller.Tests;

public sealed class ConfigurationControlTests
{
    private const sbyte TopicType = ConfigResource.TopicType, BrokerType = ConfigResource.BrokerType;

    private static IncrementalAlterConfigsRequest.AlterConfigsResource Resource(sbyte type, string name, params (string Key, sbyte Op, string? Value)[] ops) => new()
    {
        ResourceType = type,
        ResourceName = name,
        Configs = [.. ops.Select(o => new IncrementalAlterConfigsRequest.AlterableConfig { Name = o.Key, ConfigOperation = o.Op, Value = o.Value })],
    };

    private static IncrementalAlterConfigsResponse Alter(ControllerCluster cluster, QuorumController active, bool validateOnly,
        params IncrementalAlterConfigsRequest.AlterConfigsResource[] resources) =>
        cluster.Done(active.IncrementalAlterConfigs(new IncrementalAlterConfigsRequest { Resources = [.. resources], ValidateOnly = validateOnly }));

    private static IncrementalAlterConfigsResponse.AlterConfigsResourceResponse AlterOne(ControllerCluster cluster, QuorumController active,
        IncrementalAlterConfigsRequest.AlterConfigsResource resource) => Assert.Single(Alter(cluster, active, false, resource).Responses);

    private static (ControllerCluster, QuorumController) WithTopic(string name = "t", params (string, string?)[] configs)
    {
        var (cluster, active, _) = WithBrokers(1);
        Assert.Equal(0, Create(cluster, active, Topic(name, 1, 1, configs)).Topics[0].ErrorCode);
        return (cluster, active);
    }

    private static string? Value(ControllerCluster cluster, QuorumController active, sbyte type, string name, string key) =>
        cluster.Committed(active, s => s.ConfigValue(new ConfigResource(type, name), key));

    private static List<ConfigRecord> ConfigRecords(ControllerCluster cluster) =>
        [.. Batches(cluster.Raft[1]).SelectMany(b => b).OfType<ConfigRecord>()];

    // ------------------------------------------------------------------ IncrementalAlterConfigs

    [Fact]
    public void Set_and_delete_topic_configs()
    {
        var (cluster, active) = WithTopic("t", ("retention.ms", "1000"));
        var result = AlterOne(cluster, active, Resource(TopicType, "t",
            ("retention.ms", ConfigurationControlManager.OpSet, "2000"),
            ("segment.bytes", ConfigurationControlManager.OpSet, "1048576")));
        Assert.Equal(0, result.ErrorCode);
        Assert.Null(result.ErrorMessage);
        Assert.Equal((TopicType, "t"), (result.ResourceType, result.ResourceName));
        Assert.Equal("2000", Value(cluster, active, TopicType, "t", "retention.ms"));
        Assert.Equal("1048576", Value(cluster, active, TopicType, "t", "segment.bytes"));
        var batch = Batches(cluster.Raft[1])[^1];
        Assert.Equal(2, batch.Count);
        Assert.All(batch, r => Assert.IsType<ConfigRecord>(r));

        Assert.Equal(0, AlterOne(cluster, active, Resource(TopicType, "t", ("retention.ms", ConfigurationControlManager.OpDelete, null))).ErrorCode);
        Assert.Null(Value(cluster, active, TopicType, "t", "retention.ms"));
        var deletion = ConfigRecords(cluster)[^1];
        Assert.Equal(("retention.ms", null), (deletion.Name, deletion.Value));
    }

    [Fact]
    public void A_topic_config_set_to_its_current_value_writes_nothing_but_a_broker_config_is_always_written()
    {
        var (cluster, active) = WithTopic("t", ("retention.ms", "1000"));
        int before = ConfigRecords(cluster).Count;
        Assert.Equal(0, AlterOne(cluster, active, Resource(TopicType, "t", ("retention.ms", ConfigurationControlManager.OpSet, "1000"))).ErrorCode);
        Assert.Equal(0, AlterOne(cluster, active, Resource(TopicType, "t", ("segment.ms", ConfigurationControlManager.OpDelete, null))).ErrorCode);
        Assert.Equal(before, ConfigRecords(cluster).Count);

        Assert.Equal(0, AlterOne(cluster, active, Resource(BrokerType, "", ("log.retention.ms", ConfigurationControlManager.OpSet, "5"))).ErrorCode);
        Assert.Equal(0, AlterOne(cluster, active, Resource(BrokerType, "", ("log.retention.ms", ConfigurationControlManager.OpSet, "5"))).ErrorCode);
        Assert.Equal(before + 2, ConfigRecords(cluster).Count);
    }

    [Fact]
    public void Append_and_subtract_work_on_lists_starting_from_the_default()
    {
        var (cluster, active) = WithTopic();
        Assert.Equal(0, AlterOne(cluster, active, Resource(TopicType, "t", ("cleanup.policy", ConfigurationControlManager.OpAppend, "compact"))).ErrorCode);
        Assert.Equal("delete,compact", Value(cluster, active, TopicType, "t", "cleanup.policy"));
        Assert.Equal(0, AlterOne(cluster, active, Resource(TopicType, "t", ("cleanup.policy", ConfigurationControlManager.OpAppend, "compact,delete"))).ErrorCode);
        Assert.Equal("delete,compact", Value(cluster, active, TopicType, "t", "cleanup.policy"));
        Assert.Equal(0, AlterOne(cluster, active, Resource(TopicType, "t", ("cleanup.policy", ConfigurationControlManager.OpSubtract, "delete"))).ErrorCode);
        Assert.Equal("compact", Value(cluster, active, TopicType, "t", "cleanup.policy"));

        // Subtracting the last element leaves an empty policy, which cleanup.policy does not accept.
        var empty = AlterOne(cluster, active, Resource(TopicType, "t", ("cleanup.policy", ConfigurationControlManager.OpSubtract, "compact")));
        Assert.Equal((short)ErrorCode.InvalidConfig, empty.ErrorCode);
        Assert.Contains("cleanup.policy", empty.ErrorMessage, StringComparison.Ordinal);

        Assert.Equal(0, AlterOne(cluster, active, Resource(TopicType, "t", ("leader.replication.throttled.replicas", ConfigurationControlManager.OpAppend, "0:1,0:2"))).ErrorCode);
        Assert.Equal("0:1,0:2", Value(cluster, active, TopicType, "t", "leader.replication.throttled.replicas"));

        var notList = AlterOne(cluster, active, Resource(TopicType, "t", ("retention.ms", ConfigurationControlManager.OpAppend, "5")));
        Assert.Equal((short)ErrorCode.InvalidConfig, notList.ErrorCode);
        Assert.Contains("not LIST", notList.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal((short)ErrorCode.InvalidConfig,
            AlterOne(cluster, active, Resource(TopicType, "t", ("no.such.key", ConfigurationControlManager.OpSubtract, "x"))).ErrorCode);
    }

    [Fact]
    public void An_unknown_topic_is_UNKNOWN_TOPIC_OR_PARTITION_and_an_illegal_name_INVALID_REQUEST()
    {
        var (cluster, active) = WithTopic();
        var unknown = AlterOne(cluster, active, Resource(TopicType, "nope", ("retention.ms", ConfigurationControlManager.OpSet, "1")));
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, unknown.ErrorCode);
        Assert.Contains("nope", unknown.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal((short)ErrorCode.InvalidRequest,
            AlterOne(cluster, active, Resource(TopicType, "bad name", ("retention.ms", ConfigurationControlManager.OpSet, "1"))).ErrorCode);
    }

    [Fact]
    public void An_unknown_topic_key_is_INVALID_CONFIG()
    {
        var (cluster, active) = WithTopic();
        var result = AlterOne(cluster, active, Resource(TopicType, "t", ("retention.mss", ConfigurationControlManager.OpSet, "1")));
        Assert.Equal((short)ErrorCode.InvalidConfig, result.ErrorCode);
        Assert.Contains("retention.mss", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Null(Value(cluster, active, TopicType, "t", "retention.mss"));
    }

    [Theory]
    [InlineData("segment.bytes", "13")]
    [InlineData("segment.bytes", "2147483648")]
    [InlineData("min.insync.replicas", "0")]
    [InlineData("compression.type", "brotli")]
    [InlineData("cleanup.policy", "delete,bogus")]
    [InlineData("retention.ms", "abc")]
    [InlineData("retention.ms", "-2")]
    [InlineData("unclean.leader.election.enable", "yes")]
    [InlineData("min.cleanable.dirty.ratio", "1.5")]
    [InlineData("message.timestamp.type", "Now")]
    [InlineData("compression.gzip.level", "10")]
    [InlineData("leader.replication.throttled.replicas", "0-1")]
    public void A_bad_topic_value_is_INVALID_CONFIG_naming_the_key(string key, string value)
    {
        var (cluster, active) = WithTopic();
        var result = AlterOne(cluster, active, Resource(TopicType, "t", (key, ConfigurationControlManager.OpSet, value)));
        Assert.Equal((short)ErrorCode.InvalidConfig, result.ErrorCode);
        Assert.Contains(key, result.ErrorMessage, StringComparison.Ordinal);
        Assert.Null(Value(cluster, active, TopicType, "t", key));
    }

    [Theory]
    [InlineData("segment.bytes", "14")]
    [InlineData("compression.type", "zstd")]
    [InlineData("cleanup.policy", "compact, delete")]
    [InlineData("retention.ms", "-1")]
    [InlineData("unclean.leader.election.enable", "TRUE")]
    [InlineData("min.cleanable.dirty.ratio", "0.9")]
    [InlineData("message.timestamp.type", "LogAppendTime")]
    [InlineData("compression.gzip.level", "-1")]
    [InlineData("leader.replication.throttled.replicas", "*")]
    [InlineData("retention.bytes", "-7")]
    public void Good_topic_values_are_accepted(string key, string value)
    {
        var (cluster, active) = WithTopic();
        Assert.Equal(0, AlterOne(cluster, active, Resource(TopicType, "t", (key, ConfigurationControlManager.OpSet, value))).ErrorCode);
        Assert.Equal(value, Value(cluster, active, TopicType, "t", key));
    }

    [Fact]
    public void Compaction_lags_must_be_ordered()
    {
        var (cluster, active) = WithTopic("t", ("max.compaction.lag.ms", "100"));
        var result = AlterOne(cluster, active, Resource(TopicType, "t", ("min.compaction.lag.ms", ConfigurationControlManager.OpSet, "200")));
        Assert.Equal((short)ErrorCode.InvalidConfig, result.ErrorCode);
        Assert.Contains("min.compaction.lag.ms", result.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Broker_resources_the_cluster_default_and_registered_brokers()
    {
        var (cluster, active, _) = WithBrokers(1);
        Assert.Equal(0, AlterOne(cluster, active, Resource(BrokerType, "", ("log.retention.ms", ConfigurationControlManager.OpSet, "3600000"))).ErrorCode);
        Assert.Equal("3600000", Value(cluster, active, BrokerType, "", "log.retention.ms"));
        Assert.Equal(0, AlterOne(cluster, active, Resource(BrokerType, "1",
            ("num.io.threads", ConfigurationControlManager.OpSet, "16"),
            ("ssl.keystore.password", ConfigurationControlManager.OpSet, "secret"),
            ("listener.name.internal.ssl.keystore.location", ConfigurationControlManager.OpSet, "/x"))).ErrorCode);
        Assert.Equal("16", Value(cluster, active, BrokerType, "1", "num.io.threads"));
        Assert.Equal("/x", Value(cluster, active, BrokerType, "1", "listener.name.internal.ssl.keystore.location"));

        var bad = AlterOne(cluster, active, Resource(BrokerType, "", ("num.io.threads", ConfigurationControlManager.OpSet, "0")));
        Assert.Equal((short)ErrorCode.InvalidConfig, bad.ErrorCode);
        Assert.Contains("num.io.threads", bad.ErrorMessage, StringComparison.Ordinal);
        var password = AlterOne(cluster, active, Resource(BrokerType, "", ("log.cleaner.threads", ConfigurationControlManager.OpSet, "x")));
        Assert.Equal((short)ErrorCode.InvalidConfig, password.ErrorCode);

        Assert.Equal((short)ErrorCode.BrokerIdNotRegistered,
            AlterOne(cluster, active, Resource(BrokerType, "7", ("num.io.threads", ConfigurationControlManager.OpSet, "2"))).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest,
            AlterOne(cluster, active, Resource(BrokerType, "x", ("num.io.threads", ConfigurationControlManager.OpSet, "2"))).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest,
            AlterOne(cluster, active, Resource(BrokerType, "-1", ("num.io.threads", ConfigurationControlManager.OpSet, "2"))).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest,
            AlterOne(cluster, active, Resource(8, "1", ("kafka.server", ConfigurationControlManager.OpSet, "DEBUG"))).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest,
            AlterOne(cluster, active, Resource(99, "x", ("a", ConfigurationControlManager.OpSet, "b"))).ErrorCode);
    }

    [Fact]
    public void The_cluster_default_unclean_election_setting_takes_effect()
    {
        var (cluster, active, _) = WithBrokers(1);
        Assert.Equal(0, AlterOne(cluster, active, Resource(BrokerType, "", (ReplicationControlManager.UncleanLeaderElectionConfig, ConfigurationControlManager.OpSet, "true"))).ErrorCode);
        Assert.True(cluster.Committed(active, s => active.Replication.UncleanAllowed(s, "any-topic")));
    }

    [Fact]
    public void Malformed_requests_are_INVALID_REQUEST()
    {
        var (cluster, active) = WithTopic();
        var response = Alter(cluster, active, false,
            Resource(TopicType, "t", ("retention.ms", ConfigurationControlManager.OpSet, "1"), ("retention.ms", ConfigurationControlManager.OpDelete, null)),
            Resource(TopicType, "t", ("retention.ms", ConfigurationControlManager.OpSet, "2")));
        Assert.All(response.Responses, r => Assert.Equal((short)ErrorCode.InvalidRequest, r.ErrorCode)); // the same resource twice

        Assert.Equal((short)ErrorCode.InvalidRequest, AlterOne(cluster, active, Resource(TopicType, "t",
            ("retention.ms", ConfigurationControlManager.OpSet, "1"), ("retention.ms", ConfigurationControlManager.OpDelete, null))).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest, AlterOne(cluster, active, Resource(TopicType, "t", ("retention.ms", ConfigurationControlManager.OpSet, null))).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest, AlterOne(cluster, active, Resource(TopicType, "t", ("retention.ms", 7, "1"))).ErrorCode);
        Assert.Null(Value(cluster, active, TopicType, "t", "retention.ms"));
    }

    [Fact]
    public void Valid_resources_are_written_together_and_invalid_ones_not_at_all()
    {
        var (cluster, active, _) = WithBrokers(1);
        Assert.Equal(0, Create(cluster, active, Topic("a"), Topic("b")).Topics.Sum(t => t.ErrorCode));
        int batches = Batches(cluster.Raft[1]).Count;
        var response = Alter(cluster, active, false,
            Resource(TopicType, "a", ("retention.ms", ConfigurationControlManager.OpSet, "10")),
            Resource(TopicType, "b", ("retention.ms", ConfigurationControlManager.OpSet, "10"), ("segment.bytes", ConfigurationControlManager.OpSet, "1")),
            Resource(BrokerType, "", ("num.io.threads", ConfigurationControlManager.OpSet, "4")));
        Assert.Equal([(short)0, (short)ErrorCode.InvalidConfig, (short)0], response.Responses.Select(r => r.ErrorCode));
        var all = Batches(cluster.Raft[1]);
        Assert.Equal(batches + 1, all.Count);
        Assert.Equal(["a/retention.ms", "/num.io.threads"], all[^1].OfType<ConfigRecord>().Select(r => $"{r.ResourceName}/{r.Name}"));
        Assert.Null(Value(cluster, active, TopicType, "b", "retention.ms"));
    }

    [Fact]
    public void Validate_only_answers_but_writes_nothing()
    {
        var (cluster, active) = WithTopic();
        int batches = Batches(cluster.Raft[1]).Count;
        var response = Alter(cluster, active, true,
            Resource(TopicType, "t", ("retention.ms", ConfigurationControlManager.OpSet, "10")),
            Resource(TopicType, "nope", ("retention.ms", ConfigurationControlManager.OpSet, "10")));
        Assert.Equal([(short)0, (short)ErrorCode.UnknownTopicOrPartition], response.Responses.Select(r => r.ErrorCode));
        Assert.Equal(batches, Batches(cluster.Raft[1]).Count);
        Assert.Null(Value(cluster, active, TopicType, "t", "retention.ms"));

        var legacy = cluster.Done(active.AlterConfigs(new AlterConfigsRequest
        {
            ValidateOnly = true,
            Resources = [new AlterConfigsRequest.AlterConfigsResource { ResourceType = TopicType, ResourceName = "t", Configs = [new() { Name = "retention.ms", Value = "5" }] }],
        }));
        Assert.Equal(0, Assert.Single(legacy.Responses).ErrorCode);
        Assert.Equal(batches, Batches(cluster.Raft[1]).Count);
    }

    [Fact]
    public void A_standby_answers_NOT_CONTROLLER_for_every_resource_and_the_new_operations()
    {
        var cluster = NewCluster(3);
        var active = cluster.ElectActive();
        var standby = cluster.Controllers.Values.First(c => c != active);
        var response = Alter(cluster, standby, false, Resource(BrokerType, "", ("num.io.threads", ConfigurationControlManager.OpSet, "2")), Resource(TopicType, "t"));
        Assert.Equal([(short)ErrorCode.NotController, (short)ErrorCode.NotController], response.Responses.Select(r => r.ErrorCode));
        Assert.Equal("t", response.Responses[1].ResourceName);
        Assert.Equal((short)ErrorCode.NotController, Assert.Single(cluster.Done(standby.CreateAcls(new CreateAclsRequest { Creations = [new()] })).Results).ErrorCode);
        Assert.Equal((short)ErrorCode.NotController, Assert.Single(cluster.Done(standby.DeleteAcls(new DeleteAclsRequest { Filters = [new()] })).FilterResults).ErrorCode);
        Assert.Equal((short)ErrorCode.NotController,
            Assert.Single(cluster.Done(standby.AlterClientQuotas(new AlterClientQuotasRequest { Entries = [new()] })).Entries).ErrorCode);
        var scram = Assert.Single(cluster.Done(standby.AlterUserScramCredentials(new AlterUserScramCredentialsRequest
        {
            Deletions = [new() { Name = "u", Mechanism = 1 }],
            Upsertions = [new() { Name = "u", Mechanism = 1 }],
        })).Results);
        Assert.Equal(("u", (short)ErrorCode.NotController), (scram.User, scram.ErrorCode));
        Assert.Equal((short)ErrorCode.NotController,
            Assert.Single(cluster.Done(standby.AlterConfigs(new AlterConfigsRequest { Resources = [new() { ResourceType = TopicType, ResourceName = "t" }] })).Responses).ErrorCode);
    }

    // ------------------------------------------------------------------ AlterConfigs (legacy)

    private static AlterConfigsResponse.AlterConfigsResourceResponse Legacy(ControllerCluster cluster, QuorumController active, sbyte type, string name,
        params (string Key, string? Value)[] configs) =>
        Assert.Single(cluster.Done(active.AlterConfigs(new AlterConfigsRequest
        {
            Resources = [new AlterConfigsRequest.AlterConfigsResource
            {
                ResourceType = type,
                ResourceName = name,
                Configs = [.. configs.Select(c => new AlterConfigsRequest.AlterableConfig { Name = c.Key, Value = c.Value })],
            }],
        })).Responses);

    [Fact]
    public void Legacy_AlterConfigs_replaces_the_whole_set()
    {
        var (cluster, active) = WithTopic("t", ("retention.ms", "1000"), ("segment.ms", "2000"));
        var result = Legacy(cluster, active, TopicType, "t", ("retention.ms", "1000"), ("cleanup.policy", "compact"));
        Assert.Equal(0, result.ErrorCode);
        Assert.Null(result.ErrorMessage);
        Assert.Equal(new Dictionary<string, string> { ["cleanup.policy"] = "compact", ["retention.ms"] = "1000" },
            cluster.Committed(active, s => s.Configs[ConfigResource.Topic("t")].ToDictionary()));
        // retention.ms did not change: only the deletion of segment.ms and the new key are written.
        Assert.Equal(["cleanup.policy=compact", "segment.ms="], Batches(cluster.Raft[1])[^1].OfType<ConfigRecord>().Select(r => $"{r.Name}={r.Value}"));

        Assert.Equal(0, Legacy(cluster, active, TopicType, "t").ErrorCode);
        Assert.False(cluster.Committed(active, s => s.Configs.ContainsKey(ConfigResource.Topic("t"))));
    }

    [Fact]
    public void Legacy_AlterConfigs_errors()
    {
        var (cluster, active) = WithTopic("t", ("retention.ms", "1000"));
        Assert.Equal((short)ErrorCode.InvalidConfig, Legacy(cluster, active, TopicType, "t", ("retention.ms", null)).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidConfig, Legacy(cluster, active, TopicType, "t", ("bogus", "1")).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidConfig, Legacy(cluster, active, TopicType, "t", ("segment.bytes", "0")).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest, Legacy(cluster, active, TopicType, "t", ("segment.ms", "1"), ("segment.ms", "2")).ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, Legacy(cluster, active, TopicType, "u", ("segment.ms", "1")).ErrorCode);
        Assert.Equal((short)ErrorCode.BrokerIdNotRegistered, Legacy(cluster, active, BrokerType, "9", ("num.io.threads", "1")).ErrorCode);
        Assert.Equal("1000", Value(cluster, active, TopicType, "t", "retention.ms"));

        Assert.Equal(0, Legacy(cluster, active, BrokerType, "", ("num.io.threads", "4"), ("custom.key", "x")).ErrorCode);
        Assert.Equal("x", Value(cluster, active, BrokerType, "", "custom.key"));
    }

    // ------------------------------------------------------------------ CreateTopics

    [Theory]
    [InlineData("no.such.config", "1", ErrorCode.InvalidConfig)]
    [InlineData("segment.bytes", "1", ErrorCode.InvalidConfig)]
    [InlineData("cleanup.policy", "shred", ErrorCode.InvalidConfig)]
    [InlineData("retention.ms", null, ErrorCode.InvalidConfig)]
    [InlineData("", "1", ErrorCode.InvalidConfig)]
    public void CreateTopics_validates_configs_against_the_definitions(string key, string? value, ErrorCode expected)
    {
        var (cluster, active, _) = WithBrokers(1);
        var result = Assert.Single(Create(cluster, active, Topic("t", 1, 1, (key, value))).Topics);
        Assert.Equal((short)expected, result.ErrorCode);
        if (key.Length > 0) Assert.Contains(key, result.ErrorMessage, StringComparison.Ordinal);
        Assert.Empty(cluster.Committed(active, s => s.Topics));
    }

    [Fact]
    public void CreateTopics_refuses_a_repeated_config_key()
    {
        var (cluster, active, _) = WithBrokers(1);
        var result = Assert.Single(Create(cluster, active, Topic("t", 1, 1, ("retention.ms", "1"), ("retention.ms", "2"))).Topics);
        Assert.Equal((short)ErrorCode.InvalidRequest, result.ErrorCode);
    }

    // ------------------------------------------------------------------ definitions, replay, snapshot

    [Fact]
    public void The_definition_table_has_Kafka_types_and_defaults()
    {
        var segment = ConfigDefinitions.TopicConfigs["segment.bytes"];
        Assert.Equal((ConfigType.Int, "1073741824", 14d), (segment.Type, segment.Default, segment.Min));
        Assert.Equal(ConfigType.List, ConfigDefinitions.TopicConfigs["cleanup.policy"].Type);
        Assert.Equal("producer", ConfigDefinitions.TopicConfigs["compression.type"].Default);
        Assert.Equal(ConfigType.Boolean, ConfigDefinitions.TopicConfigs["unclean.leader.election.enable"].Type);
        Assert.Equal(ConfigType.Password, ConfigDefinitions.BrokerConfigs["ssl.keystore.password"].Type);
        Assert.True(ConfigDefinitions.BrokerConfigs["ssl.keystore.password"].IsSensitive);
        Assert.Equal(ConfigType.Class, ConfigDefinitions.BrokerConfigs["ssl.engine.factory.class"].Type);
        Assert.Null(ConfigDefinitions.Find(TopicType, "num.io.threads"));
        Assert.All(ConfigDefinitions.TopicConfigs.Values.Concat(ConfigDefinitions.BrokerConfigs.Values).Where(d => d.Default is not null && d.Type != ConfigType.Password),
            d => Assert.Null(d.Validate(d.Default!)));
        // A password's value never appears in an error.
        var hidden = new ConfigDefinition("p", ConfigType.Password, null, BrokerType) { Check = _ => "too weak" }.Validate("hunter2");
        Assert.DoesNotContain("hunter2", hidden, StringComparison.Ordinal);
    }

    [Fact]
    public void A_standby_replays_config_changes_and_a_snapshot_rebuilds_them()
    {
        var (cluster, active, _) = WithBrokers(1, voters: 3);
        Assert.Equal(0, Create(cluster, active, Topic("t", 1, 1, ("retention.ms", "1000"))).Topics[0].ErrorCode);
        Assert.Equal(0, AlterOne(cluster, active, Resource(TopicType, "t", ("cleanup.policy", ConfigurationControlManager.OpSet, "compact"))).ErrorCode);
        Assert.Equal(0, AlterOne(cluster, active, Resource(BrokerType, "", ("num.io.threads", ConfigurationControlManager.OpSet, "4"))).ErrorCode);
        Assert.Equal(0, AlterOne(cluster, active, Resource(BrokerType, "1", ("log.cleaner.threads", ConfigurationControlManager.OpSet, "2"))).ErrorCode);
        Assert.True(cluster.Raft.RunUntil(() => cluster.Controllers.Values.All(c => c.LastCommittedOffset >= active.LastCommittedOffset)));

        static string Configs(ControllerState s) => string.Join(";", s.Configs.OrderBy(c => c.Key.Type).ThenBy(c => c.Key.Name, StringComparer.Ordinal)
            .Select(c => $"{c.Key.Type}/{c.Key.Name}:" + string.Join(",", c.Value.Select(kv => $"{kv.Key}={kv.Value}"))));
        var expected = Configs(cluster.Committed(active, s => s));
        Assert.Equal("2/t:cleanup.policy=compact,retention.ms=1000;4/:num.io.threads=4;4/1:log.cleaner.threads=2", expected);
        foreach (var c in cluster.Controllers.Values) Assert.Equal(expected, Configs(cluster.Committed(c, s => s)));
        var rebuilt = cluster.Committed(active, s => s).ToRecords().Aggregate(ControllerState.Empty, (s, r) => s.Replay(r.Message));
        Assert.Equal(expected, Configs(rebuilt));
    }
}
