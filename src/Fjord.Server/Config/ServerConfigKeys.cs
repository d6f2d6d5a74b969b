namespace Fjord.Server;

/// <summary>The <c>server.properties</c> keys Fjord reads: Kafka's names, so a Kafka KRaft config works as is.</summary>
public static class ServerConfigKeys
{
    // Identity and roles
    public const string NodeId = "node.id";
    public const string BrokerId = "broker.id";
    public const string ProcessRoles = "process.roles";

    // Quorum (QuorumConfig)
    public const string QuorumVoters = "controller.quorum.voters";
    public const string QuorumBootstrapServers = "controller.quorum.bootstrap.servers";
    public const string QuorumElectionTimeoutMs = "controller.quorum.election.timeout.ms";
    public const string QuorumFetchTimeoutMs = "controller.quorum.fetch.timeout.ms";
    public const string QuorumElectionBackoffMaxMs = "controller.quorum.election.backoff.max.ms";
    public const string QuorumRequestTimeoutMs = "controller.quorum.request.timeout.ms";
    public const string QuorumRetryBackoffMs = "controller.quorum.retry.backoff.ms";
    public const string QuorumAppendLingerMs = "controller.quorum.append.linger.ms";

    // Listeners
    public const string Listeners = "listeners";
    public const string AdvertisedListeners = "advertised.listeners";
    public const string ListenerSecurityProtocolMap = "listener.security.protocol.map";
    public const string ControllerListenerNames = "controller.listener.names";
    public const string InterBrokerListenerName = "inter.broker.listener.name";
    public const string InterBrokerSecurityProtocol = "security.inter.broker.protocol";
    public const string SocketRequestMaxBytes = "socket.request.max.bytes";

    // Directories
    public const string LogDirs = "log.dirs";
    public const string LogDir = "log.dir";
    public const string MetadataLogDir = "metadata.log.dir";

    // KRaft (KRaftConfigs, MetadataLogConfig)
    public const string BrokerSessionTimeoutMs = "broker.session.timeout.ms";
    public const string BrokerHeartbeatIntervalMs = "broker.heartbeat.interval.ms";
    public const string InitialBrokerRegistrationTimeoutMs = "initial.broker.registration.timeout.ms";
    public const string MetadataSnapshotMaxNewRecordBytes = "metadata.log.max.record.bytes.between.snapshots";
    public const string MetadataSnapshotMaxIntervalMs = "metadata.log.max.snapshot.interval.ms";
    public const string MetadataLogSegmentBytes = "metadata.log.segment.bytes";
    public const string MetadataLogSegmentMs = "metadata.log.segment.ms";
    public const string MetadataMaxRetentionBytes = "metadata.max.retention.bytes";
    public const string MetadataMaxRetentionMs = "metadata.max.retention.ms";
    public const string MetadataMaxIdleIntervalMs = "metadata.max.idle.interval.ms";
    public const string UnstableFeatureVersionsEnable = "unstable.feature.versions.enable";
    public const string UnstableApiVersionsEnable = "unstable.api.versions.enable";

    // Topics and replication
    public const string NumPartitions = "num.partitions";
    public const string DefaultReplicationFactor = "default.replication.factor";
    public const string MinInSyncReplicas = "min.insync.replicas";
    public const string AutoCreateTopicsEnable = "auto.create.topics.enable";
    public const string OffsetsTopicReplicationFactor = "offsets.topic.replication.factor";
    public const string OffsetsTopicNumPartitions = "offsets.topic.num.partitions";
    public const string TransactionStateLogReplicationFactor = "transaction.state.log.replication.factor";
    public const string TransactionStateLogMinIsr = "transaction.state.log.min.isr";

    // Broker network and replication
    public const string ConnectionsMaxIdleMs = "connections.max.idle.ms";
    public const string ReplicaLagTimeMaxMs = "replica.lag.time.max.ms";
    public const string ReplicaFetchMaxBytes = "replica.fetch.max.bytes";
    public const string ReplicaFetchWaitMaxMs = "replica.fetch.wait.max.ms";
    public const string ReplicaFetchBackoffMs = "replica.fetch.backoff.ms";
    public const string ControlledShutdownEnable = "controlled.shutdown.enable";

    // Topic-level defaults (server names of the topic configs in Fjord.Storage's LogConfig)
    public const string LogSegmentBytes = "log.segment.bytes";
    public const string LogRollMs = "log.roll.ms";
    public const string LogRollHours = "log.roll.hours";
    public const string LogRetentionMs = "log.retention.ms";
    public const string LogRetentionMinutes = "log.retention.minutes";
    public const string LogRetentionHours = "log.retention.hours";
    public const string LogRetentionBytes = "log.retention.bytes";
    public const string LogIndexIntervalBytes = "log.index.interval.bytes";
    public const string MessageMaxBytes = "message.max.bytes";
    public const string LogFlushIntervalMessages = "log.flush.interval.messages";
    public const string LogFlushIntervalMs = "log.flush.interval.ms";
    public const string LogFlushSchedulerIntervalMs = "log.flush.scheduler.interval.ms";
    public const string LogCleanupPolicy = "log.cleanup.policy";
    public const string LogCleanerDeleteRetentionMs = "log.cleaner.delete.retention.ms";
    public const string LogCleanerMinCompactionLagMs = "log.cleaner.min.compaction.lag.ms";
    public const string LogMessageTimestampType = "log.message.timestamp.type";
    public const string LogSegmentDeleteDelayMs = "log.segment.delete.delay.ms";
    public const string LogCleanerMinCleanableRatio = "log.cleaner.min.cleanable.ratio";

    /// <summary>Kafka keys accepted without a warning that Fjord does not act on (yet). The keys the
    /// broker's components read themselves are <c>Fjord.Broker.BrokerProperties.Keys</c>.</summary>
    public static readonly IReadOnlySet<string> AcceptedUnused = new HashSet<string>(StringComparer.Ordinal)
    {
        "num.network.threads", "num.io.threads", "background.threads", "queued.max.requests", "queued.max.request.bytes",
        "socket.send.buffer.bytes", "socket.receive.buffer.bytes", "socket.listen.backlog.size",
        "max.connections", "max.connections.per.ip", "max.connections.per.ip.overrides", "max.connection.creation.rate",
        "connections.max.reauth.ms", "request.timeout.ms", "early.start.listeners",
        "num.recovery.threads.per.data.dir", "num.replica.fetchers", "num.replica.alter.log.dirs.threads",
        "log.retention.check.interval.ms", "log.roll.jitter.ms", "log.roll.jitter.hours", "log.index.size.max.bytes",
        "log.preallocate", "log.cleaner.enable", "log.cleaner.threads", "log.cleaner.dedupe.buffer.size",
        "log.cleaner.io.buffer.size", "log.cleaner.io.buffer.load.factor", "log.cleaner.io.max.bytes.per.second",
        "log.cleaner.backoff.ms", "log.cleaner.max.compaction.lag.ms", "log.message.timestamp.before.max.ms",
        "log.message.timestamp.after.max.ms", "log.message.downconversion.enable", "log.local.retention.ms",
        "log.local.retention.bytes", "log.flush.offset.checkpoint.interval.ms", "log.flush.start.offset.checkpoint.interval.ms",
        "log.dir.failure.timeout.ms",
        "compression.type", "compression.gzip.level", "compression.lz4.level", "compression.zstd.level",
        "delete.topic.enable", "unclean.leader.election.enable", "auto.leader.rebalance.enable",
        "leader.imbalance.check.interval.seconds", "leader.imbalance.per.broker.percentage", "broker.rack",
        "fetch.max.bytes", "max.incremental.fetch.session.cache.slots",
        "replica.fetch.min.bytes", "replica.fetch.response.max.bytes", "replica.socket.timeout.ms",
        "replica.socket.receive.buffer.bytes", "replica.high.watermark.checkpoint.interval.ms", "replica.selector.class",
        "group.coordinator.rebalance.protocols", "offsets.load.buffer.size", "offsets.topic.compression.codec",
        "transaction.state.log.segment.bytes",
        "authorizer.class.name", "super.users", "allow.everyone.if.no.acl.found",
        "sasl.enabled.mechanisms", "sasl.mechanism.inter.broker.protocol", "sasl.mechanism.controller.protocol",
        "metric.reporters", "metrics.num.samples", "metrics.sample.window.ms", "metrics.recording.level",
        "quota.window.num", "quota.window.size.seconds", "controller.quorum.auto.join.enable",
        "controller.socket.timeout.ms", "server.max.startup.time.ms", "create.topic.policy.class.name",
        "alter.config.policy.class.name",
    };

    /// <summary>Prefixes of families of Kafka keys (TLS, SASL, per-listener overrides) accepted without a warning.</summary>
    public static readonly IReadOnlyList<string> AcceptedUnusedPrefixes = ["listener.name.", "ssl.", "sasl.", "principal.builder."];
}
