using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Server.Tests;

public sealed class ServerConfigTests
{
    /// <summary>Kafka's config/kraft/server.properties (combined mode), trimmed.</summary>
    public const string Combined = """
        process.roles=broker,controller
        node.id=1
        controller.quorum.voters=1@localhost:9093
        listeners=PLAINTEXT://:9092,CONTROLLER://:9093
        inter.broker.listener.name=PLAINTEXT
        advertised.listeners=PLAINTEXT://localhost:9092
        controller.listener.names=CONTROLLER
        listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
        num.network.threads=3
        num.io.threads=8
        socket.send.buffer.bytes=102400
        socket.receive.buffer.bytes=102400
        socket.request.max.bytes=104857600
        log.dirs=/tmp/kraft-combined-logs
        num.partitions=1
        num.recovery.threads.per.data.dir=1
        offsets.topic.replication.factor=1
        transaction.state.log.replication.factor=1
        transaction.state.log.min.isr=1
        log.retention.hours=168
        log.segment.bytes=1073741824
        log.retention.check.interval.ms=300000
        """;

    /// <summary>Kafka's config/kraft/controller.properties, trimmed.</summary>
    public const string ControllerOnly = """
        process.roles=controller
        node.id=1
        controller.quorum.voters=1@c1:9093,2@c2:9093,3@c3:9093
        listeners=CONTROLLER://:9093
        controller.listener.names=CONTROLLER
        log.dirs=/tmp/kraft-controller-logs
        """;

    /// <summary>Kafka's config/kraft/broker.properties, trimmed.</summary>
    public const string BrokerOnly = """
        process.roles=broker
        node.id=4
        controller.quorum.voters=1@c1:9093,2@c2:9093,3@c3:9093
        listeners=PLAINTEXT://localhost:9092
        inter.broker.listener.name=PLAINTEXT
        advertised.listeners=PLAINTEXT://localhost:9092
        controller.listener.names=CONTROLLER
        listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
        log.dirs=/tmp/kraft-broker-logs
        """;

    private static ServerConfig Parse(string text) => ServerConfig.ParseText(text);

    /// <summary><paramref name="text"/> with <paramref name="key"/> set to <paramref name="value"/> (null removes it).</summary>
    internal static string With(string text, string key, string? value)
    {
        var lines = text.Split('\n').Where(l => !l.TrimStart().StartsWith(key + "=", StringComparison.Ordinal)).ToList();
        if (value is not null) lines.Add($"{key}={value}");
        return string.Join("\n", lines);
    }

    private static ConfigException Invalid(string text, string expectedKey)
    {
        var e = Assert.Throws<ConfigException>(() => Parse(text));
        Assert.Equal(expectedKey, e.Key);
        Assert.Contains(expectedKey, e.Message);
        return e;
    }

    private static void InvalidValue(string baseText, string key, string value, string? expectedKey = null)
    {
        var e = Invalid(With(baseText, key, value), expectedKey ?? key);
        if (expectedKey is null || expectedKey == key) Assert.Contains(value.Trim(), e.Message);
    }

    // ---- valid configurations ----

    [Fact]
    public void Kafkas_combined_example_parses()
    {
        var c = Parse(Combined);
        Assert.Equal(1, c.NodeId);
        Assert.Equal(ProcessRoles.Combined, c.ProcessRoles);
        Assert.True(c.IsBroker && c.IsController);
        Assert.Equal([new QuorumVoter(1, new HostPort("localhost", 9093))], c.QuorumVoters);
        Assert.Equal(["PLAINTEXT", "CONTROLLER"], c.Listeners.Select(l => l.Name));
        Assert.Equal("", c.Listeners[0].Host);
        Assert.Equal(9092, c.Listeners[0].Port);
        Assert.Equal([new ListenerEndpoint("PLAINTEXT", SecurityProtocol.Plaintext, "localhost", 9092)], c.AdvertisedBrokerListeners);
        Assert.Equal([new ListenerEndpoint("CONTROLLER", SecurityProtocol.Plaintext, "", 9093)], c.AdvertisedControllerListeners);
        Assert.Equal(["CONTROLLER"], c.ControllerListenerNames);
        Assert.Equal("PLAINTEXT", c.InterBrokerListenerName);
        Assert.Equal(["/tmp/kraft-combined-logs"], c.LogDirs);
        Assert.Equal("/tmp/kraft-combined-logs", c.MetadataLogDir);
        Assert.Equal(["/tmp/kraft-combined-logs"], c.AllLogDirs);
        Assert.Equal(1, c.OffsetsTopicReplicationFactor);
        Assert.Equal(168 * 3_600_000L, c.LogDefaults.RetentionMs);
        Assert.Empty(c.Warnings);
    }

    [Fact]
    public void Kafkas_controller_example_parses()
    {
        var c = Parse(ControllerOnly);
        Assert.Equal(ProcessRoles.Controller, c.ProcessRoles);
        Assert.False(c.IsBroker);
        Assert.Equal(3, c.QuorumVoters.Count);
        Assert.Empty(c.AdvertisedBrokerListeners);
        Assert.Equal("CONTROLLER", c.AdvertisedControllerListeners.Single().Name);
        Assert.Equal(SecurityProtocol.Plaintext, c.ListenerSecurityProtocolMap["CONTROLLER"]); // implied, map not set
        Assert.Empty(c.Warnings);
    }

    [Fact]
    public void Kafkas_broker_example_parses()
    {
        var c = Parse(BrokerOnly);
        Assert.Equal(ProcessRoles.Broker, c.ProcessRoles);
        Assert.Empty(c.AdvertisedControllerListeners);
        Assert.Equal("localhost", c.Listeners.Single().Host);
        Assert.Empty(c.Warnings);
    }

    [Fact]
    public void Defaults_are_Kafkas()
    {
        var c = Parse(ControllerOnly);
        Assert.Equal(1000, c.QuorumElectionTimeoutMs);
        Assert.Equal(2000, c.QuorumFetchTimeoutMs);
        Assert.Equal(1000, c.QuorumElectionBackoffMaxMs);
        Assert.Equal(2000, c.QuorumRequestTimeoutMs);
        Assert.Equal(20, c.QuorumRetryBackoffMs);
        Assert.Equal(25, c.QuorumAppendLingerMs);
        Assert.Equal(9000, c.BrokerSessionTimeoutMs);
        Assert.Equal(2000, c.BrokerHeartbeatIntervalMs);
        Assert.Equal(20 * 1024 * 1024, c.MetadataSnapshotMaxNewRecordBytes);
        Assert.Equal(3_600_000, c.MetadataSnapshotMaxIntervalMs);
        Assert.Equal(1024 * 1024 * 1024, c.MetadataLogSegmentBytes);
        Assert.Equal(604_800_000, c.MetadataLogSegmentMs);
        Assert.Equal(100 * 1024 * 1024, c.MetadataMaxRetentionBytes);
        Assert.Equal(604_800_000, c.MetadataMaxRetentionMs);
        Assert.Equal(104_857_600, c.SocketRequestMaxBytes);
        Assert.Equal(1, c.NumPartitions);
        Assert.Equal(1, c.DefaultReplicationFactor);
        Assert.Equal(1, c.MinInSyncReplicas);
        Assert.True(c.AutoCreateTopicsEnable);
        Assert.Equal(3, c.OffsetsTopicReplicationFactor);
        Assert.False(c.UnstableFeatureVersionsEnable);
        Assert.Equal(LogConfig.Default, c.LogDefaults);
    }

    [Fact]
    public void Default_security_protocol_map_is_Kafkas()
    {
        var c = Parse(ControllerOnly);
        Assert.Equal(SecurityProtocol.Plaintext, c.ListenerSecurityProtocolMap["PLAINTEXT"]);
        Assert.Equal(SecurityProtocol.Ssl, c.ListenerSecurityProtocolMap["SSL"]);
        Assert.Equal(SecurityProtocol.SaslPlaintext, c.ListenerSecurityProtocolMap["SASL_PLAINTEXT"]);
        Assert.Equal(SecurityProtocol.SaslSsl, c.ListenerSecurityProtocolMap["SASL_SSL"]);
        Assert.Equal(5, c.ListenerSecurityProtocolMap.Count);
    }

    [Fact]
    public void Controller_listener_is_not_implied_plaintext_when_tls_is_in_sight()
    {
        // Kafka adds CONTROLLER:PLAINTEXT to the default map only when no listener is named after SSL/SASL.
        var text = With(ControllerOnly, "listeners", "CONTROLLER://:9093,SSL://:9094");
        var e = Invalid(text, "listeners");
        Assert.Contains("no security protocol is defined for listener CONTROLLER", e.Message);
    }

    [Fact]
    public void An_explicit_map_without_the_controller_listener_fails()
    {
        var e = Invalid(With(ControllerOnly, "listener.security.protocol.map", "PLAINTEXT:PLAINTEXT"), "listeners");
        Assert.Contains("CONTROLLER", e.Message);
    }

    [Fact]
    public void Listener_names_are_case_insensitive_and_upper_cased()
    {
        var c = Parse(With(With(Combined, "listeners", "plaintext://:9092,controller://:9093"), "controller.listener.names", "controller"));
        Assert.Equal(["PLAINTEXT", "CONTROLLER"], c.Listeners.Select(l => l.Name));
        Assert.Equal(["CONTROLLER"], c.ControllerListenerNames);
    }

    [Fact]
    public void IPv6_listeners_and_voters_use_brackets()
    {
        var text = With(With(Combined, "listeners", "PLAINTEXT://[::1]:9092,CONTROLLER://[::1]:9093"), "controller.quorum.voters", "1@[::1]:9093");
        text = With(text, "advertised.listeners", "PLAINTEXT://[::1]:9092");
        var c = Parse(text);
        Assert.Equal("::1", c.Listeners[0].Host);
        Assert.Equal("PLAINTEXT://[::1]:9092", c.Listeners[0].ToString());
        Assert.Equal(new HostPort("::1", 9093), c.QuorumVoters[0].Address);
        Assert.Equal("1@[::1]:9093", c.QuorumVoters[0].ToString());
    }

    [Fact]
    public void A_dynamic_quorum_uses_bootstrap_servers_without_voters()
    {
        var c = Parse(With(With(ControllerOnly, "controller.quorum.voters", null), "controller.quorum.bootstrap.servers", "c1:9093, c2:9093,[::1]:9093"));
        Assert.Empty(c.QuorumVoters);
        Assert.Equal([new HostPort("c1", 9093), new HostPort("c2", 9093), new HostPort("::1", 9093)], c.QuorumBootstrapServers);
    }

    [Fact]
    public void Advertised_listeners_default_to_listeners()
    {
        var c = Parse(With(With(Combined, "advertised.listeners", null), "listeners", "PLAINTEXT://broker1:9092,CONTROLLER://:9093"));
        Assert.Equal([new ListenerEndpoint("PLAINTEXT", SecurityProtocol.Plaintext, "broker1", 9092)], c.AdvertisedBrokerListeners);
    }

    [Fact]
    public void A_controller_may_advertise_its_controller_listener()
    {
        var c = Parse(With(ControllerOnly, "advertised.listeners", "CONTROLLER://c1.example:9093"));
        Assert.Equal("c1.example", c.AdvertisedControllerListeners.Single().Host);
    }

    [Fact]
    public void A_wildcard_controller_listener_is_advertised_without_host()
    {
        var c = Parse(With(ControllerOnly, "listeners", "CONTROLLER://0.0.0.0:9093"));
        Assert.Equal("", c.AdvertisedControllerListeners.Single().Host);
    }

    [Fact]
    public void Log_dirs_wins_over_log_dir_and_metadata_log_dir_is_separate()
    {
        var c = Parse(With(With(Combined, "log.dir", "/ignored"), "metadata.log.dir", "/meta"));
        Assert.Equal(["/tmp/kraft-combined-logs"], c.LogDirs);
        Assert.Equal("/meta", c.MetadataLogDir);
        Assert.Equal(["/meta", "/tmp/kraft-combined-logs"], c.AllLogDirs);
        Assert.Contains(c.Warnings, w => w.Contains("log.dirs wins"));

        var single = Parse(With(With(Combined, "log.dirs", null), "log.dir", "/only"));
        Assert.Equal(["/only"], single.LogDirs);
        Assert.Equal("/only", single.MetadataLogDir);

        var several = Parse(With(Combined, "log.dirs", "/d1, /d2,/d3"));
        Assert.Equal(["/d1", "/d2", "/d3"], several.LogDirs);
        Assert.Equal("/d1", several.MetadataLogDir);
    }

    [Fact]
    public void Without_log_dirs_the_default_is_used()
    {
        var c = Parse(With(Combined, "log.dirs", null));
        Assert.Equal([ServerConfig.DefaultLogDir], c.LogDirs);
    }

    [Fact]
    public void Topic_defaults_map_onto_LogConfig()
    {
        var text = Combined + """

            log.segment.bytes=1048576
            log.roll.ms=60000
            log.retention.ms=-5
            log.retention.bytes=1000000
            log.index.interval.bytes=1024
            message.max.bytes=2000000
            log.flush.interval.messages=1000
            log.flush.interval.ms=5000
            log.cleanup.policy=compact,delete
            log.cleaner.delete.retention.ms=1000
            log.cleaner.min.compaction.lag.ms=10
            log.message.timestamp.type=LogAppendTime
            log.segment.delete.delay.ms=0
            log.cleaner.min.cleanable.ratio=0.25
            """;
        var d = Parse(With(text, "log.retention.hours", null)).LogDefaults;
        Assert.Equal(1048576, d.SegmentBytes);
        Assert.Equal(60000, d.SegmentMs);
        Assert.Equal(-1, d.RetentionMs); // any negative is unlimited
        Assert.Equal(1000000, d.RetentionBytes);
        Assert.Equal(1024, d.IndexIntervalBytes);
        Assert.Equal(2000000, d.MaxMessageBytes);
        Assert.Equal(1000, d.FlushMessages);
        Assert.Equal(5000, d.FlushMs);
        Assert.Equal(CleanupPolicy.Compact | CleanupPolicy.Delete, d.CleanupPolicy);
        Assert.Equal(1000, d.DeleteRetentionMs);
        Assert.Equal(10, d.MinCompactionLagMs);
        Assert.Equal(TimestampType.LogAppendTime, d.MessageTimestampType);
        Assert.Equal(0, d.FileDeleteDelayMs);
        Assert.Equal(0.25, d.MinCleanableDirtyRatio);
    }

    [Fact]
    public void Retention_ms_wins_over_minutes_over_hours()
    {
        Assert.Equal(2 * 3_600_000L, Parse(With(Combined, "log.retention.hours", "2")).LogDefaults.RetentionMs);
        Assert.Equal(3 * 60_000L, Parse(With(Combined, "log.retention.minutes", "3")).LogDefaults.RetentionMs);
        Assert.Equal(42L, Parse(With(With(Combined, "log.retention.minutes", "3"), "log.retention.ms", "42")).LogDefaults.RetentionMs);
        Assert.Equal(5 * 3_600_000L, Parse(With(Combined, "log.roll.hours", "5")).LogDefaults.SegmentMs);
    }

    [Fact]
    public void Broker_id_is_a_synonym_of_node_id()
    {
        Assert.Equal(1, Parse(With(With(Combined, "node.id", null), "broker.id", "1")).NodeId);
        Assert.Equal(1, Parse(With(Combined, "broker.id", "1")).NodeId);
        Invalid(With(Combined, "broker.id", "2"), "broker.id");
    }

    [Fact]
    public void Values_are_trimmed_and_booleans_case_insensitive()
    {
        var c = Parse(With(With(Combined, "num.partitions", "  7  "), "auto.create.topics.enable", "FALSE"));
        Assert.Equal(7, c.NumPartitions);
        Assert.False(c.AutoCreateTopicsEnable);
    }

    // ---- unknown keys ----

    [Fact]
    public void Unknown_keys_become_warnings_and_known_unused_ones_do_not()
    {
        var c = Parse(Combined + "\nlog.retention.hourz=1\nzookeeper.connect=localhost:2181\nssl.keystore.location=/x\nlistener.name.controller.ssl.key.password=p\n");
        Assert.Equal(2, c.Warnings.Count);
        Assert.Contains(c.Warnings, w => w.Contains("'log.retention.hourz'"));
        Assert.Contains(c.Warnings, w => w.Contains("'zookeeper.connect'"));
    }

    [Fact]
    public void Keys_the_broker_components_read_are_known_and_checked_at_parse_time()
    {
        // Read by the group and transaction coordinators and the replica manager, not by ServerConfig itself:
        // accepted without a warning...
        var c = Parse(Combined + "\ngroup.consumer.max.size=10\ntransaction.abort.timed.out.transaction.cleanup.interval.ms=500\n" +
                      "producer.id.expiration.check.interval.ms=1000\ngroup.initial.rebalance.delay.ms=0\n");
        Assert.Empty(c.Warnings);
        // ...and a value they cannot use is an error naming the key, not a silent default.
        Invalid(With(Combined, "group.initial.rebalance.delay.ms", "soon"), "group.initial.rebalance.delay.ms");
        Invalid(With(Combined, "transaction.max.timeout.ms", "0"), "transaction.max.timeout.ms");
        Invalid(With(Combined, "producer.id.expiration.ms", "-5"), "producer.id.expiration.ms");
        Invalid(With(Combined, "offsets.topic.segment.bytes", "99999999999"), "offsets.topic.segment.bytes");
    }

    [Fact]
    public void A_short_heartbeat_margin_is_a_warning()
    {
        var c = Parse(With(Combined, "broker.heartbeat.interval.ms", "5000"));
        Assert.Contains(c.Warnings, w => w.Contains("broker.heartbeat.interval.ms") && w.Contains("broker.session.timeout.ms"));
    }

    // ---- invalid values name their key and value ----

    [Fact]
    public void Node_id_is_required()
    {
        var e = Invalid(With(Combined, "node.id", null), "node.id");
        Assert.Contains("Missing required configuration", e.Message);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("one")]
    [InlineData("2147483648")]
    public void Node_id_must_be_a_non_negative_int(string value) => InvalidValue(Combined, "node.id", value);

    [Fact]
    public void Process_roles_is_required() => Invalid(With(Combined, "process.roles", null), "process.roles");

    [Theory]
    [InlineData("")]
    [InlineData("zookeeper")]
    [InlineData("broker,broker")]
    [InlineData("broker,controller,observer")]
    public void Process_roles_must_be_broker_and_or_controller(string value)
    {
        var e = Invalid(With(Combined, "process.roles", value), "process.roles");
        Assert.Equal(value, e.Value);
    }

    [Theory]
    [InlineData("1@localhost")]
    [InlineData("localhost:9093")]
    [InlineData("x@localhost:9093")]
    [InlineData("-1@localhost:9093")]
    [InlineData("1@:9093")]
    [InlineData("1@localhost:99999")]
    [InlineData("1@localhost:9093,1@other:9093")]
    [InlineData("1@[::1:9093")]
    public void Voters_must_be_unique_id_at_host_port(string value) => InvalidValue(Combined, "controller.quorum.voters", value);

    [Theory]
    [InlineData("localhost")]
    [InlineData(":9093")]
    [InlineData("localhost:port")]
    [InlineData("localhost:70000")]
    public void Bootstrap_servers_must_be_host_port(string value) =>
        InvalidValue(With(ControllerOnly, "controller.quorum.voters", null), "controller.quorum.bootstrap.servers", value);

    [Fact]
    public void Voters_or_bootstrap_servers_are_required()
    {
        var e = Invalid(With(ControllerOnly, "controller.quorum.voters", null), "controller.quorum.bootstrap.servers");
        Assert.Contains("controller.quorum.voters", e.Message);
    }

    [Theory]
    [InlineData("PLAINTEXT:9092")]
    [InlineData("PLAINTEXT://localhost")]
    [InlineData("PLAINTEXT://localhost:65536")]
    [InlineData("PLAINTEXT://localhost:-1")]
    [InlineData("://localhost:9092")]
    [InlineData("PLAINTEXT://::1:9092")]
    [InlineData("PLAINTEXT://bad host:9092")]
    public void Listeners_must_be_name_host_port(string value) =>
        InvalidValue(Combined, "listeners", value + ",CONTROLLER://:9093");

    [Fact]
    public void Listener_names_must_be_unique()
    {
        var e = Invalid(With(Combined, "listeners", "PLAINTEXT://:9092,plaintext://:9094,CONTROLLER://:9093"), "listeners");
        Assert.Contains("different name", e.Message);
    }

    [Fact]
    public void Listener_ports_must_be_distinct_except_zero_or_ipv4_plus_ipv6()
    {
        var e = Invalid(With(Combined, "listeners", "PLAINTEXT://:9092,CONTROLLER://:9092"), "listeners");
        Assert.Contains("different port", e.Message);
        Parse(With(Combined, "listeners", "PLAINTEXT://:0,CONTROLLER://:0"));
        var text = With(With(Combined, "listener.security.protocol.map", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,V6:PLAINTEXT"),
            "listeners", "PLAINTEXT://127.0.0.1:9092,V6://[::1]:9092,CONTROLLER://:9093");
        Parse(text);
    }

    [Fact]
    public void A_listener_without_a_security_protocol_fails()
    {
        var e = Invalid(With(Combined, "listeners", "PLAINTEXT://:9092,CONTROLLER://:9093,INTERNAL://:9094"), "listeners");
        Assert.Contains("INTERNAL", e.Message);
    }

    [Theory]
    [InlineData("CONTROLLER:PLAINTEXT,PLAINTEXT:TLS")]
    [InlineData("CONTROLLER:PLAINTEXT,PLAINTEXT")]
    [InlineData("CONTROLLER:PLAINTEXT,CONTROLLER:SSL")]
    public void Security_protocol_map_entries_must_be_valid(string value) =>
        InvalidValue(Combined, "listener.security.protocol.map", value);

    [Fact]
    public void Controller_listener_names_are_required()
    {
        var e = Invalid(With(Combined, "controller.listener.names", null), "controller.listener.names");
        Assert.Contains("Missing required configuration", e.Message);
    }

    [Fact]
    public void A_controller_must_be_a_voter()
    {
        var e = Invalid(With(Combined, "controller.quorum.voters", "2@localhost:9093"), "controller.quorum.voters");
        Assert.Contains("node.id 1", e.Message);
        Invalid(With(ControllerOnly, "node.id", "4"), "controller.quorum.voters");
    }

    [Fact]
    public void A_controller_must_listen_on_its_controller_listener()
    {
        var e = Invalid(With(Combined, "listeners", "PLAINTEXT://:9092"), "controller.listener.names");
        Assert.Contains("CONTROLLER", e.Message);
    }

    [Fact]
    public void A_controller_only_node_listens_only_on_controller_listeners()
    {
        var e = Invalid(With(ControllerOnly, "listeners", "CONTROLLER://:9093,PLAINTEXT://:9092"), "listeners");
        Assert.Contains("PLAINTEXT", e.Message);
    }

    [Fact]
    public void A_controller_only_node_must_not_use_its_controller_listener_for_brokers()
    {
        Invalid(With(ControllerOnly, "inter.broker.listener.name", "CONTROLLER"), "inter.broker.listener.name");
    }

    [Fact]
    public void A_broker_only_node_is_not_a_voter()
    {
        var e = Invalid(With(BrokerOnly, "node.id", "2"), "controller.quorum.voters");
        Assert.Contains("must not be one of the voters", e.Message);
    }

    [Fact]
    public void A_broker_only_node_does_not_listen_on_the_controller_listener()
    {
        Invalid(With(BrokerOnly, "listeners", "PLAINTEXT://localhost:9092,CONTROLLER://:9093"), "listeners");
    }

    [Fact]
    public void A_broker_only_node_needs_a_protocol_for_the_controller_listener()
    {
        Invalid(With(BrokerOnly, "listener.security.protocol.map", "PLAINTEXT:PLAINTEXT"), "controller.listener.names");
        // Without an explicit map, the controller listener is PLAINTEXT.
        Parse(With(BrokerOnly, "listener.security.protocol.map", null));
    }

    [Fact]
    public void Advertised_listeners_must_not_contain_a_controller_listener_on_a_broker()
    {
        var e = Invalid(With(Combined, "advertised.listeners", "PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093"), "advertised.listeners");
        Assert.Contains("CONTROLLER", e.Message);
    }

    [Fact]
    public void Advertised_listeners_must_be_bound_listeners()
    {
        var text = With(With(Combined, "listener.security.protocol.map", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT"),
            "advertised.listeners", "PLAINTEXT://localhost:9092,EXTERNAL://example.com:9094");
        var e = Invalid(text, "advertised.listeners");
        Assert.Contains("EXTERNAL", e.Message);
    }

    [Fact]
    public void Advertised_listeners_must_not_be_the_wildcard_address()
    {
        Invalid(With(Combined, "advertised.listeners", "PLAINTEXT://0.0.0.0:9092"), "advertised.listeners");
        Invalid(With(With(Combined, "advertised.listeners", null), "listeners", "PLAINTEXT://0.0.0.0:9092,CONTROLLER://:9093"), "listeners");
    }

    [Fact]
    public void A_broker_needs_a_broker_listener()
    {
        var e = Invalid(With(Combined, "listeners", "CONTROLLER://:9093") + "\nadvertised.listeners=", "listeners");
        Assert.Contains("at least one broker listener", e.Message);
    }

    [Fact]
    public void The_inter_broker_listener_must_be_advertised()
    {
        var e = Invalid(With(Combined, "inter.broker.listener.name", "SSL"), "inter.broker.listener.name");
        Assert.Contains("PLAINTEXT", e.Message);
        Invalid(With(Combined, "inter.broker.listener.name", "NOPE"), "inter.broker.listener.name");
    }

    [Fact]
    public void Inter_broker_name_and_protocol_are_exclusive()
    {
        Invalid(With(Combined, "security.inter.broker.protocol", "PLAINTEXT"), "security.inter.broker.protocol");
        var c = Parse(With(With(Combined, "inter.broker.listener.name", null), "security.inter.broker.protocol", "PLAINTEXT"));
        Assert.Equal("PLAINTEXT", c.InterBrokerListenerName);
    }

    [Theory]
    [InlineData("num.partitions", "0")]
    [InlineData("num.partitions", "many")]
    [InlineData("default.replication.factor", "0")]
    [InlineData("min.insync.replicas", "0")]
    [InlineData("auto.create.topics.enable", "yes")]
    [InlineData("offsets.topic.replication.factor", "0")]
    [InlineData("offsets.topic.replication.factor", "40000")]
    [InlineData("controller.quorum.election.timeout.ms", "0")]
    [InlineData("controller.quorum.fetch.timeout.ms", "-1")]
    [InlineData("controller.quorum.election.backoff.max.ms", "x")]
    [InlineData("controller.quorum.request.timeout.ms", "0")]
    [InlineData("controller.quorum.append.linger.ms", "-1")]
    [InlineData("broker.session.timeout.ms", "0")]
    [InlineData("broker.heartbeat.interval.ms", "0")]
    [InlineData("metadata.log.max.record.bytes.between.snapshots", "0")]
    [InlineData("metadata.log.max.snapshot.interval.ms", "-1")]
    [InlineData("metadata.log.segment.bytes", "11")]
    [InlineData("metadata.log.segment.bytes", "3000000000")]
    [InlineData("metadata.max.retention.bytes", "-2")]
    [InlineData("metadata.max.retention.ms", "soon")]
    [InlineData("socket.request.max.bytes", "0")]
    [InlineData("log.segment.bytes", "13")]
    [InlineData("log.roll.ms", "0")]
    [InlineData("log.retention.ms", "0")]
    [InlineData("log.retention.bytes", "1.5")]
    [InlineData("log.index.interval.bytes", "-1")]
    [InlineData("message.max.bytes", "-1")]
    [InlineData("log.flush.interval.messages", "0")]
    [InlineData("log.cleanup.policy", "archive")]
    [InlineData("log.message.timestamp.type", "WallClock")]
    [InlineData("log.cleaner.min.cleanable.ratio", "1.5")]
    [InlineData("unstable.feature.versions.enable", "1")]
    public void Invalid_values_name_their_key_and_value(string key, string value) => InvalidValue(Combined, key, value);

    [Fact]
    public void An_empty_log_dirs_fails()
    {
        Invalid(With(Combined, "log.dirs", " , "), "log.dirs");
    }

    [Fact]
    public void Load_reads_a_file_and_remembers_it()
    {
        using var dir = new TempDirectory();
        var path = dir.WriteFile("server.properties", Combined);
        var c = ServerConfig.Load(path);
        Assert.Equal(path, c.Source);
        Assert.Equal("1", c.Originals["node.id"]);
    }
}
