using System.Globalization;
using System.Net.Sockets;
using Fjord.Broker;
using Fjord.Storage;
using K = Fjord.Server.ServerConfigKeys;

namespace Fjord.Server;

/// <summary>
/// A KRaft server's static configuration, read from Kafka's <c>server.properties</c> keys with
/// Kafka's types, defaults and validation (KafkaConfig, KRaftConfigs, QuorumConfig, ServerLogConfigs).
/// <see cref="Parse"/> throws <see cref="ConfigException"/> for the first problem; keys Fjord does
/// not know land in <see cref="Warnings"/>.
/// </summary>
/// <remarks>
/// The cross-key rules are Kafka's: a controller (alone or combined) must be one of
/// <c>controller.quorum.voters</c> when that is set, otherwise <c>controller.quorum.bootstrap.servers</c>
/// must be; a controller must listen on its <c>controller.listener.names</c>; a broker-only node
/// must not; a broker must advertise at least one broker listener including the inter-broker one,
/// and never a controller listener. Immutable.
/// </remarks>
public sealed class ServerConfig
{
    public const string DefaultListeners = "PLAINTEXT://:9092";
    public const string DefaultSecurityProtocolMap = "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT";
    public const string DefaultLogDir = "/tmp/fjord-logs";
    public const long OneHourMs = 60L * 60 * 1000;

    private ServerConfig() { }

    /// <summary>The file this came from, when loaded from one.</summary>
    public string? Source { get; private init; }

    /// <summary>The properties as given.</summary>
    public IReadOnlyDictionary<string, string> Originals { get; private init; } = new Dictionary<string, string>();

    /// <summary>One line per key that was ignored (unknown to Fjord), and other non-fatal findings.</summary>
    public IReadOnlyList<string> Warnings { get; private init; } = [];

    public int NodeId { get; private init; }
    public ProcessRoles ProcessRoles { get; private init; }
    public bool IsBroker => ProcessRoles.HasFlag(ProcessRoles.Broker);
    public bool IsController => ProcessRoles.HasFlag(ProcessRoles.Controller);

    public IReadOnlyList<QuorumVoter> QuorumVoters { get; private init; } = [];
    public IReadOnlyList<HostPort> QuorumBootstrapServers { get; private init; } = [];
    public int QuorumElectionTimeoutMs { get; private init; }
    public int QuorumFetchTimeoutMs { get; private init; }
    public int QuorumElectionBackoffMaxMs { get; private init; }
    public int QuorumRequestTimeoutMs { get; private init; }
    public int QuorumRetryBackoffMs { get; private init; }
    public int QuorumAppendLingerMs { get; private init; }

    /// <summary>Every listener this node binds, controller listeners included.</summary>
    public IReadOnlyList<ListenerEndpoint> Listeners { get; private init; } = [];

    /// <summary>The broker listeners clients are told about: <c>advertised.listeners</c>, or
    /// <c>listeners</c> when that is not set, without controller listeners.</summary>
    public IReadOnlyList<ListenerEndpoint> AdvertisedBrokerListeners { get; private init; } = [];

    /// <summary>The controller listeners other nodes reach this controller on, in
    /// <c>controller.listener.names</c> order (<c>advertised.listeners</c> wins over <c>listeners</c>;
    /// a 0.0.0.0 host becomes empty). Empty on a broker-only node.</summary>
    public IReadOnlyList<ListenerEndpoint> AdvertisedControllerListeners { get; private init; } = [];

    /// <summary>The effective <c>listener.security.protocol.map</c> (upper-case names).</summary>
    public IReadOnlyDictionary<string, SecurityProtocol> ListenerSecurityProtocolMap { get; private init; } = new Dictionary<string, SecurityProtocol>();

    /// <summary><c>controller.listener.names</c>, upper-cased; the first one is the one used to reach controllers.</summary>
    public IReadOnlyList<string> ControllerListenerNames { get; private init; } = [];

    public string InterBrokerListenerName { get; private init; } = "PLAINTEXT";
    public SecurityProtocol InterBrokerSecurityProtocol { get; private init; }
    public int SocketRequestMaxBytes { get; private init; }

    /// <summary><c>log.dirs</c> (or <c>log.dir</c>), as written.</summary>
    public IReadOnlyList<string> LogDirs { get; private init; } = [];

    /// <summary><c>metadata.log.dir</c>, or the first log dir.</summary>
    public string MetadataLogDir { get; private init; } = "";

    /// <summary>The log dirs and the metadata log dir, without duplicates, sorted (what format and the start-up check cover).</summary>
    public IReadOnlyList<string> AllLogDirs => LogDirs.Append(MetadataLogDir).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    public int BrokerSessionTimeoutMs { get; private init; }
    public int BrokerHeartbeatIntervalMs { get; private init; }
    public int InitialBrokerRegistrationTimeoutMs { get; private init; }
    public long MetadataSnapshotMaxNewRecordBytes { get; private init; }
    public long MetadataSnapshotMaxIntervalMs { get; private init; }
    public int MetadataLogSegmentBytes { get; private init; }
    public long MetadataLogSegmentMs { get; private init; }
    public long MetadataMaxRetentionBytes { get; private init; }
    public long MetadataMaxRetentionMs { get; private init; }
    public int MetadataMaxIdleIntervalMs { get; private init; }
    public bool UnstableFeatureVersionsEnable { get; private init; }
    public bool UnstableApiVersionsEnable { get; private init; }

    public int NumPartitions { get; private init; }
    public int DefaultReplicationFactor { get; private init; }
    public int MinInSyncReplicas { get; private init; }
    public bool AutoCreateTopicsEnable { get; private init; }
    public short OffsetsTopicReplicationFactor { get; private init; }
    public int OffsetsTopicNumPartitions { get; private init; }
    public short TransactionStateLogReplicationFactor { get; private init; }
    public int TransactionStateLogMinIsr { get; private init; }

    /// <summary>The topic-config defaults from the <c>log.*</c> keys, for every partition log.</summary>
    public LogConfig LogDefaults { get; private init; } = LogConfig.Default;

    // Broker network and replication
    public long ConnectionsMaxIdleMs { get; private init; }
    public long ReplicaLagTimeMaxMs { get; private init; }
    public int ReplicaFetchMaxBytes { get; private init; }
    public int ReplicaFetchWaitMaxMs { get; private init; }
    public int ReplicaFetchBackoffMs { get; private init; }
    public bool ControlledShutdownEnable { get; private init; }

    /// <summary>Reads a <c>server.properties</c> file (see <see cref="PropertiesFile"/>) and parses it.</summary>
    public static ServerConfig Load(string path)
    {
        var file = PropertiesFile.Load(path);
        return Parse(file.ToDictionary(), path);
    }

    /// <summary>Parses and validates; throws <see cref="ConfigException"/> for the first problem.</summary>
    public static ServerConfig Parse(IReadOnlyDictionary<string, string> properties, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(properties);
        var r = new ConfigReader(properties);
        var warnings = new List<string>();

        var roles = ParseRoles(r);
        int nodeId = ParseNodeId(r);

        var voters = ParseVoters(r);
        var bootstrapServers = ParseBootstrapServers(r);
        int electionTimeout = r.Int(K.QuorumElectionTimeoutMs, 1000, min: 1);
        int fetchTimeout = r.Int(K.QuorumFetchTimeoutMs, 2000, min: 1);
        int electionBackoff = r.Int(K.QuorumElectionBackoffMaxMs, 1000, min: 1);
        int requestTimeout = r.Int(K.QuorumRequestTimeoutMs, 2000, min: 1);
        int retryBackoff = r.Int(K.QuorumRetryBackoffMs, 20, min: 0);
        int appendLinger = r.Int(K.QuorumAppendLingerMs, 25, min: 0);

        var controllerNames = (r.OptionalList(K.ControllerListenerNames) ?? [])
            .Select(n => n.ToUpperInvariant()).ToList();
        if (controllerNames.Distinct(StringComparer.Ordinal).Count() != controllerNames.Count)
            throw new ConfigException(K.ControllerListenerNames, r.Raw(K.ControllerListenerNames), "names a listener more than once");
        var listenerTexts = r.List(K.Listeners, DefaultListeners);
        var advertisedTexts = r.OptionalList(K.AdvertisedListeners);
        var protocolMap = ParseSecurityProtocolMap(r, controllerNames, listenerTexts);
        var listeners = ParseListeners(K.Listeners, r.Raw(K.Listeners) ?? DefaultListeners, listenerTexts, protocolMap, requireDistinctPorts: true);
        var advertised = advertisedTexts is null
            ? null
            : ParseListeners(K.AdvertisedListeners, r.Raw(K.AdvertisedListeners)!, advertisedTexts, protocolMap, requireDistinctPorts: false);
        var (interBrokerName, interBrokerProtocol) = ParseInterBroker(r, protocolMap);
        int socketRequestMaxBytes = r.Int(K.SocketRequestMaxBytes, 100 * 1024 * 1024, min: 1);

        var logDirs = r.OptionalList(K.LogDirs) ?? r.OptionalList(K.LogDir) ?? [DefaultLogDir];
        if (logDirs.Count == 0)
            throw new ConfigException(r.IsSet(K.LogDirs) ? K.LogDirs : K.LogDir, "", "at least one log directory must be defined via log.dirs or log.dir");
        if (r.IsSet(K.LogDirs) && r.IsSet(K.LogDir))
            warnings.Add($"both {K.LogDirs} and {K.LogDir} are set; {K.LogDirs} wins");
        var metadataLogDir = r.Raw(K.MetadataLogDir);
        if (metadataLogDir is { Length: 0 }) throw new ConfigException(K.MetadataLogDir, "", "must not be empty");

        var (advertisedBroker, advertisedController) = Advertised(r, roles, listeners, advertised, controllerNames);

        var config = new ServerConfig
        {
            Source = source,
            Originals = properties,
            Warnings = warnings,
            NodeId = nodeId,
            ProcessRoles = roles,
            QuorumVoters = voters,
            QuorumBootstrapServers = bootstrapServers,
            QuorumElectionTimeoutMs = electionTimeout,
            QuorumFetchTimeoutMs = fetchTimeout,
            QuorumElectionBackoffMaxMs = electionBackoff,
            QuorumRequestTimeoutMs = requestTimeout,
            QuorumRetryBackoffMs = retryBackoff,
            QuorumAppendLingerMs = appendLinger,
            Listeners = listeners,
            AdvertisedBrokerListeners = advertisedBroker,
            AdvertisedControllerListeners = advertisedController,
            ListenerSecurityProtocolMap = protocolMap,
            ControllerListenerNames = controllerNames,
            InterBrokerListenerName = interBrokerName,
            InterBrokerSecurityProtocol = interBrokerProtocol,
            SocketRequestMaxBytes = socketRequestMaxBytes,
            LogDirs = logDirs,
            MetadataLogDir = metadataLogDir ?? logDirs[0],
            BrokerSessionTimeoutMs = r.Int(K.BrokerSessionTimeoutMs, 9000, min: 1),
            BrokerHeartbeatIntervalMs = r.Int(K.BrokerHeartbeatIntervalMs, 2000, min: 1),
            InitialBrokerRegistrationTimeoutMs = r.Int(K.InitialBrokerRegistrationTimeoutMs, 60_000, min: 1),
            MetadataSnapshotMaxNewRecordBytes = r.Long(K.MetadataSnapshotMaxNewRecordBytes, 20L * 1024 * 1024, min: 1),
            MetadataSnapshotMaxIntervalMs = r.Long(K.MetadataSnapshotMaxIntervalMs, OneHourMs, min: 0),
            MetadataLogSegmentBytes = r.Int(K.MetadataLogSegmentBytes, 1024 * 1024 * 1024, min: 12),
            MetadataLogSegmentMs = r.Long(K.MetadataLogSegmentMs, 7 * LogConfig.OneDayMs, min: 1),
            MetadataMaxRetentionBytes = r.Long(K.MetadataMaxRetentionBytes, 100L * 1024 * 1024, min: -1),
            MetadataMaxRetentionMs = r.Long(K.MetadataMaxRetentionMs, 7 * LogConfig.OneDayMs, min: -1),
            MetadataMaxIdleIntervalMs = r.Int(K.MetadataMaxIdleIntervalMs, 500, min: 0),
            UnstableFeatureVersionsEnable = r.Bool(K.UnstableFeatureVersionsEnable, false),
            UnstableApiVersionsEnable = r.Bool(K.UnstableApiVersionsEnable, false),
            NumPartitions = r.Int(K.NumPartitions, 1, min: 1),
            DefaultReplicationFactor = r.Int(K.DefaultReplicationFactor, 1, min: 1),
            MinInSyncReplicas = r.Int(K.MinInSyncReplicas, 1, min: 1),
            AutoCreateTopicsEnable = r.Bool(K.AutoCreateTopicsEnable, true),
            OffsetsTopicReplicationFactor = r.Short(K.OffsetsTopicReplicationFactor, 3, min: 1),
            OffsetsTopicNumPartitions = r.Int(K.OffsetsTopicNumPartitions, 50, min: 1),
            TransactionStateLogReplicationFactor = r.Short(K.TransactionStateLogReplicationFactor, 3, min: 1),
            TransactionStateLogMinIsr = r.Int(K.TransactionStateLogMinIsr, 2, min: 1),
            LogDefaults = ParseLogDefaults(r),
            ConnectionsMaxIdleMs = r.Long(K.ConnectionsMaxIdleMs, 600_000, min: 1),
            ReplicaLagTimeMaxMs = r.Long(K.ReplicaLagTimeMaxMs, 30_000, min: 1),
            ReplicaFetchMaxBytes = r.Int(K.ReplicaFetchMaxBytes, 1024 * 1024, min: 0),
            ReplicaFetchWaitMaxMs = r.Int(K.ReplicaFetchWaitMaxMs, 500, min: 0),
            ReplicaFetchBackoffMs = r.Int(K.ReplicaFetchBackoffMs, 1000, min: 0),
            ControlledShutdownEnable = r.Bool(K.ControlledShutdownEnable, true),
        };
        config.ValidateRoles(r);

        if (config.BrokerHeartbeatIntervalMs * 2L > config.BrokerSessionTimeoutMs)
            warnings.Add($"{K.BrokerHeartbeatIntervalMs} ({config.BrokerHeartbeatIntervalMs} ms) should be at most half of " +
                         $"{K.BrokerSessionTimeoutMs} ({config.BrokerSessionTimeoutMs} ms), or brokers lose their lease between heartbeats");

        r.Accept(K.AcceptedUnused);
        r.Accept(BrokerProperties.Keys);
        try
        {
            BrokerProperties.Validate(r.Properties);
        }
        catch (InvalidBrokerPropertyException e)
        {
            throw new ConfigException(e.Key, e.Value, e.Problem);
        }
        foreach (var key in r.Unread(k => K.AcceptedUnusedPrefixes.Any(p => k.StartsWith(p, StringComparison.Ordinal))))
            warnings.Add($"unknown configuration '{key}' is ignored");
        return config;
    }

    /// <summary>Parses the text of a properties file (for tests and tools).</summary>
    public static ServerConfig ParseText(string text, string? source = null) =>
        Parse(PropertiesFile.Parse(text, source).ToDictionary(), source);

    // ---- identity and roles ----

    private static ProcessRoles ParseRoles(ConfigReader r)
    {
        var raw = r.Raw(K.ProcessRoles);
        if (raw is null) throw ConfigException.Missing(K.ProcessRoles, "Fjord runs in KRaft mode only: broker, controller or broker,controller");
        var names = ConfigReader.SplitList(raw);
        if (names.Count == 0) throw new ConfigException(K.ProcessRoles, raw, "must name broker, controller or both");
        var roles = ProcessRoles.None;
        foreach (var name in names)
        {
            var role = name switch
            {
                "broker" => ProcessRoles.Broker,
                "controller" => ProcessRoles.Controller,
                _ => throw new ConfigException(K.ProcessRoles, raw, $"unknown process role '{name}' (only 'broker' and 'controller' are allowed roles)"),
            };
            if ((roles & role) != 0) throw new ConfigException(K.ProcessRoles, raw, $"the role '{name}' is named twice");
            roles |= role;
        }
        return roles;
    }

    private static int ParseNodeId(ConfigReader r)
    {
        int? nodeId = r.OptionalInt(K.NodeId);
        int? brokerId = r.OptionalInt(K.BrokerId);
        if (nodeId is not null && brokerId is not null && nodeId != brokerId)
            throw new ConfigException(K.BrokerId, r.Raw(K.BrokerId), $"must be the same as {K.NodeId} ({nodeId}) when both are set");
        int id = nodeId ?? brokerId ?? throw ConfigException.Missing(K.NodeId);
        if (id < 0) throw new ConfigException(nodeId is null ? K.BrokerId : K.NodeId, id.ToString(CultureInfo.InvariantCulture), "must be at least 0");
        return id;
    }

    // ---- quorum ----

    private static List<QuorumVoter> ParseVoters(ConfigReader r)
    {
        var raw = r.Raw(K.QuorumVoters);
        var voters = new List<QuorumVoter>();
        if (raw is null) return voters;
        foreach (var entry in ConfigReader.SplitList(raw))
        {
            int at = entry.IndexOf('@', StringComparison.Ordinal);
            if (at <= 0)
                throw new ConfigException(K.QuorumVoters, raw, $"'{entry}' is not id@host:port");
            if (!int.TryParse(entry[..at], NumberStyles.None, CultureInfo.InvariantCulture, out int id))
                throw new ConfigException(K.QuorumVoters, raw, $"'{entry[..at]}' in '{entry}' is not a node id (an integer of at least 0)");
            if (!HostPort.TryParse(entry[(at + 1)..], out var address, out var problem))
                throw new ConfigException(K.QuorumVoters, raw, $"'{entry}' is not id@host:port: {problem}");
            if (voters.Any(v => v.NodeId == id))
                throw new ConfigException(K.QuorumVoters, raw, $"node id {id} appears more than once");
            voters.Add(new QuorumVoter(id, address));
        }
        return voters;
    }

    private static List<HostPort> ParseBootstrapServers(ConfigReader r)
    {
        var raw = r.Raw(K.QuorumBootstrapServers);
        var servers = new List<HostPort>();
        if (raw is null) return servers;
        foreach (var entry in ConfigReader.SplitList(raw))
        {
            if (!HostPort.TryParse(entry, out var address, out var problem))
                throw new ConfigException(K.QuorumBootstrapServers, raw, $"'{entry}' is not host:port: {problem}");
            servers.Add(address);
        }
        return servers;
    }

    // ---- listeners ----

    private static Dictionary<string, SecurityProtocol> ParseSecurityProtocolMap(ConfigReader r, List<string> controllerNames, IReadOnlyList<string> listenerTexts)
    {
        var raw = r.Raw(K.ListenerSecurityProtocolMap);
        var map = new Dictionary<string, SecurityProtocol>(StringComparer.Ordinal);
        foreach (var entry in ConfigReader.SplitList(raw ?? DefaultSecurityProtocolMap))
        {
            int colon = entry.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || colon == entry.Length - 1)
                throw new ConfigException(K.ListenerSecurityProtocolMap, raw, $"'{entry}' is not LISTENER_NAME:SECURITY_PROTOCOL");
            var name = entry[..colon].Trim().ToUpperInvariant();
            if (!SecurityProtocols.TryParse(entry[(colon + 1)..], out var protocol))
                throw new ConfigException(K.ListenerSecurityProtocolMap, raw,
                    $"invalid security protocol '{entry[(colon + 1)..].Trim()}' (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)");
            if (!map.TryAdd(name, protocol))
                throw new ConfigException(K.ListenerSecurityProtocolMap, raw, $"listener {name} is mapped more than once");
        }
        if (raw is null)
        {
            // Kafka's convenience: with the default map, controller listeners are PLAINTEXT unless TLS or
            // SASL is in sight (a listener or controller listener named after one of them).
            bool sslOrSasl = controllerNames.Any(SecurityProtocols.IsSslOrSaslName) ||
                listenerTexts.Any(t => SecurityProtocols.IsSslOrSaslName(ListenerNameOf(t)));
            if (!sslOrSasl)
                foreach (var name in controllerNames) map.TryAdd(name, SecurityProtocol.Plaintext);
        }
        return map;
    }

    private static string ListenerNameOf(string listenerText)
    {
        int colon = listenerText.IndexOf(':', StringComparison.Ordinal);
        return (colon < 0 ? listenerText : listenerText[..colon]).Trim().ToUpperInvariant();
    }

    private static List<ListenerEndpoint> ParseListeners(string key, string raw, IReadOnlyList<string> texts,
        IReadOnlyDictionary<string, SecurityProtocol> protocolMap, bool requireDistinctPorts)
    {
        var endpoints = new List<ListenerEndpoint>();
        foreach (var text in texts)
        {
            if (!ListenerEndpoint.TryParse(text, out var name, out var host, out int port))
                throw new ConfigException(key, raw, $"'{text}' is not NAME://host:port (port 0-65535; an IPv6 host in brackets)");
            if (!protocolMap.TryGetValue(name, out var protocol))
                throw new ConfigException(key, raw, $"no security protocol is defined for listener {name} in {K.ListenerSecurityProtocolMap}");
            if (endpoints.Any(e => e.Name == name))
                throw new ConfigException(key, raw, $"each listener must have a different name; {name} appears more than once");
            endpoints.Add(new ListenerEndpoint(name, protocol, host, port));
        }
        if (requireDistinctPorts)
        {
            foreach (var group in endpoints.Where(e => e.Port != 0).GroupBy(e => e.Port).Where(g => g.Count() > 1))
            {
                var same = group.ToList();
                bool ipv4AndIpv6 = same.Count == 2 &&
                    same[0].IsIpLiteral(out var f0) && same[1].IsIpLiteral(out var f1) && f0 != f1 &&
                    f0 is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 && f1 is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6;
                if (!ipv4AndIpv6)
                    throw new ConfigException(key, raw, $"each listener must have a different port unless one is an IPv4 and the other an IPv6 address; port {group.Key} is used by {string.Join(", ", same.Select(e => e.Name))}");
            }
        }
        return endpoints;
    }

    private static (string Name, SecurityProtocol Protocol) ParseInterBroker(ConfigReader r, IReadOnlyDictionary<string, SecurityProtocol> protocolMap)
    {
        var name = r.Raw(K.InterBrokerListenerName);
        var protocolText = r.Raw(K.InterBrokerSecurityProtocol);
        if (name is not null)
        {
            if (protocolText is not null)
                throw new ConfigException(K.InterBrokerSecurityProtocol, protocolText, $"only one of {K.InterBrokerListenerName} and {K.InterBrokerSecurityProtocol} may be set");
            name = name.ToUpperInvariant();
            if (!protocolMap.TryGetValue(name, out var mapped))
                throw new ConfigException(K.InterBrokerListenerName, name, $"listener {name} is not in {K.ListenerSecurityProtocolMap}");
            return (name, mapped);
        }
        protocolText ??= "PLAINTEXT";
        if (!SecurityProtocols.TryParse(protocolText, out var protocol))
            throw new ConfigException(K.InterBrokerSecurityProtocol, protocolText, "invalid security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)");
        return (protocol.Name(), protocol);
    }

    private static (List<ListenerEndpoint> Broker, List<ListenerEndpoint> Controller) Advertised(ConfigReader r, ProcessRoles roles,
        List<ListenerEndpoint> listeners, List<ListenerEndpoint>? advertised, List<string> controllerNames)
    {
        if (roles.HasFlag(ProcessRoles.Broker) && advertised is not null)
        {
            var leaked = advertised.FirstOrDefault(e => controllerNames.Contains(e.Name));
            if (leaked is not null)
                throw new ConfigException(K.AdvertisedListeners, r.Raw(K.AdvertisedListeners),
                    $"must not contain the controller listener {leaked.Name} when {K.ProcessRoles} contains broker: clients send requests only to brokers, never to controllers");
        }
        var broker = (advertised ?? listeners).Where(e => !controllerNames.Contains(e.Name)).ToList();
        var controller = new List<ListenerEndpoint>();
        if (!roles.HasFlag(ProcessRoles.Controller)) return (broker, controller);
        foreach (var name in controllerNames)
        {
            var endpoint = advertised?.FirstOrDefault(e => e.Name == name);
            if (endpoint is null)
            {
                endpoint = listeners.FirstOrDefault(e => e.Name == name);
                if (endpoint is { Host: "0.0.0.0" }) endpoint = endpoint with { Host = "" };
            }
            if (endpoint is not null) controller.Add(endpoint);
        }
        return (broker, controller);
    }

    // ---- cross-key rules ----

    private void ValidateRoles(ConfigReader r)
    {
        var voterIds = QuorumVoters.Select(v => v.NodeId).ToList();
        string votersText = r.Raw(K.QuorumVoters) ?? "";
        string listenersText = r.Raw(K.Listeners) ?? DefaultListeners;
        string controllerNamesText = r.Raw(K.ControllerListenerNames) ?? "";

        if (ControllerListenerNames.Count == 0)
            throw ConfigException.Missing(K.ControllerListenerNames, "every KRaft node needs the name of the listener controllers are reached on");
        if (QuorumVoters.Count == 0 && QuorumBootstrapServers.Count == 0)
            throw new ConfigException(K.QuorumBootstrapServers, null,
                $"either {K.QuorumBootstrapServers} must name the bootstrap controllers or {K.QuorumVoters} must list the controllers (id@host:port,...)");

        if (ProcessRoles == ProcessRoles.Broker)
        {
            if (voterIds.Contains(NodeId))
                throw new ConfigException(K.QuorumVoters, votersText,
                    $"node.id {NodeId} must not be one of the voters when {K.ProcessRoles} is just broker");
            var bound = Listeners.FirstOrDefault(e => ControllerListenerNames.Contains(e.Name));
            if (bound is not null)
                throw new ConfigException(K.Listeners, listenersText,
                    $"must not contain the controller listener {bound.Name} (from {K.ControllerListenerNames}) when {K.ProcessRoles} is just broker");
            foreach (var name in ControllerListenerNames)
                if (!ListenerSecurityProtocolMap.ContainsKey(name))
                    throw new ConfigException(K.ControllerListenerNames, controllerNamesText,
                        $"controller listener {name} is not in {K.ListenerSecurityProtocolMap} (an explicit mapping for each controller listener is required when the map is set, or when TLS or SASL is in use)");
        }
        else
        {
            if (voterIds.Count > 0 && !voterIds.Contains(NodeId))
                throw new ConfigException(K.QuorumVoters, votersText,
                    $"node.id {NodeId} must be one of the voters ({string.Join(", ", voterIds)}) when {K.ProcessRoles} contains controller; " +
                    $"for a dynamic quorum leave {K.QuorumVoters} unset and use {K.QuorumBootstrapServers}");
            var missing = ControllerListenerNames.FirstOrDefault(n => !Listeners.Any(e => e.Name == n));
            if (missing is not null)
                throw new ConfigException(K.ControllerListenerNames, controllerNamesText,
                    $"controller listener {missing} must appear in '{K.Listeners}' when running the controller role");
            if (ProcessRoles == ProcessRoles.Controller)
            {
                var other = Listeners.FirstOrDefault(e => !ControllerListenerNames.Contains(e.Name));
                if (other is not null)
                    throw new ConfigException(K.Listeners, listenersText,
                        $"must only contain controller listeners from {K.ControllerListenerNames} when {K.ProcessRoles}=controller, but {other.Name} is not one");
                if (r.IsSet(K.InterBrokerListenerName) && ControllerListenerNames.Contains(InterBrokerListenerName))
                    throw new ConfigException(K.InterBrokerListenerName, InterBrokerListenerName,
                        $"must not be one of {K.ControllerListenerNames} when {K.ProcessRoles}=controller");
            }
        }

        if (IsBroker)
        {
            if (AdvertisedBrokerListeners.Count == 0)
                throw new ConfigException(K.Listeners, listenersText,
                    $"there must be at least one broker listener to advertise; perhaps all listeners appear in {K.ControllerListenerNames}?");
            if (!AdvertisedBrokerListeners.Any(e => e.Name == InterBrokerListenerName))
                throw new ConfigException(r.IsSet(K.InterBrokerListenerName) ? K.InterBrokerListenerName : K.AdvertisedListeners,
                    r.IsSet(K.InterBrokerListenerName) ? InterBrokerListenerName : r.Raw(K.AdvertisedListeners) ?? listenersText,
                    $"the inter-broker listener {InterBrokerListenerName} must be an advertised broker listener; the configured ones are " +
                    string.Join(",", AdvertisedBrokerListeners.Select(e => e.Name)));
            var unbound = AdvertisedBrokerListeners.FirstOrDefault(a => !Listeners.Any(l => l.Name == a.Name));
            if (unbound is not null)
                throw new ConfigException(K.AdvertisedListeners, r.Raw(K.AdvertisedListeners),
                    $"advertised listener {unbound.Name} is not one of '{K.Listeners}' ({string.Join(",", Listeners.Select(e => e.Name))})");
            var wildcard = AdvertisedBrokerListeners.FirstOrDefault(e => e.Host == "0.0.0.0");
            if (wildcard is not null)
                throw new ConfigException(r.IsSet(K.AdvertisedListeners) ? K.AdvertisedListeners : K.Listeners,
                    r.Raw(K.AdvertisedListeners) ?? listenersText,
                    $"{wildcard.Name} would be advertised with the non-routable address 0.0.0.0; set {K.AdvertisedListeners} to a routable address");
        }
        if (IsController && AdvertisedControllerListeners.Any(e => e.Host == "0.0.0.0"))
            throw new ConfigException(K.AdvertisedListeners, r.Raw(K.AdvertisedListeners),
                "a controller listener cannot be advertised with the non-routable address 0.0.0.0");
    }

    // ---- topic defaults ----

    private static LogConfig ParseLogDefaults(ConfigReader r)
    {
        var d = LogConfig.Default;
        int segmentBytes = r.Int(K.LogSegmentBytes, d.SegmentBytes, min: LogConfigKeys.MinSegmentBytes);
        long? rollMs = r.OptionalLong(K.LogRollMs, min: 1);
        int rollHours = r.Int(K.LogRollHours, 168, min: 1);
        long? retentionMs = r.OptionalLong(K.LogRetentionMs);
        int? retentionMinutes = r.OptionalInt(K.LogRetentionMinutes);
        int retentionHours = r.Int(K.LogRetentionHours, 168);
        long retention = retentionMs ?? (retentionMinutes is { } m ? m * 60_000L : retentionHours * OneHourMs);
        string retentionKey = retentionMs is not null ? K.LogRetentionMs : retentionMinutes is not null ? K.LogRetentionMinutes : K.LogRetentionHours;
        if (retention == 0)
            throw new ConfigException(retentionKey, r.Raw(retentionKey), "log retention must be unlimited (-1) or at least 1 ms");
        if (retention < 0) retention = -1;
        long? flushMs = r.OptionalLong(K.LogFlushIntervalMs, min: 0);
        long flushSchedulerMs = r.Long(K.LogFlushSchedulerIntervalMs, long.MaxValue, min: 0);
        var policyRaw = r.Raw(K.LogCleanupPolicy);
        var timestampRaw = r.Raw(K.LogMessageTimestampType);

        var topicKeys = new Dictionary<string, string>(StringComparer.Ordinal);
        if (policyRaw is not null) topicKeys[LogConfigKeys.CleanupPolicy] = policyRaw;
        if (timestampRaw is not null) topicKeys[LogConfigKeys.MessageTimestampType] = timestampRaw;
        LogConfig parsed;
        try
        {
            parsed = LogConfig.FromProperties(topicKeys);
        }
        catch (ArgumentException e)
        {
            string key = e.ParamName == LogConfigKeys.CleanupPolicy ? K.LogCleanupPolicy : K.LogMessageTimestampType;
            throw new ConfigException(key, r.Raw(key), e.Message);
        }

        return parsed with
        {
            SegmentBytes = segmentBytes,
            SegmentMs = rollMs ?? rollHours * OneHourMs,
            RetentionMs = retention,
            RetentionBytes = r.Long(K.LogRetentionBytes, -1),
            IndexIntervalBytes = r.Int(K.LogIndexIntervalBytes, d.IndexIntervalBytes, min: 0),
            MaxMessageBytes = r.Int(K.MessageMaxBytes, d.MaxMessageBytes, min: 0),
            FlushMessages = r.Long(K.LogFlushIntervalMessages, d.FlushMessages, min: 1),
            FlushMs = flushMs ?? flushSchedulerMs,
            DeleteRetentionMs = r.Long(K.LogCleanerDeleteRetentionMs, d.DeleteRetentionMs, min: 0),
            MinCompactionLagMs = r.Long(K.LogCleanerMinCompactionLagMs, d.MinCompactionLagMs, min: 0),
            FileDeleteDelayMs = r.Long(K.LogSegmentDeleteDelayMs, d.FileDeleteDelayMs, min: 0),
            MinCleanableDirtyRatio = r.Double(K.LogCleanerMinCleanableRatio, d.MinCleanableDirtyRatio, 0, 1),
        };
    }
}
