using System.Collections.Immutable;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Metadata;

namespace Fjord.Metadata;

/// <summary>A metadata record that cannot be applied to the state it meets: the state would no
/// longer be the log's. Names the record's offset (-1 when not known) and its type.</summary>
public sealed class MetadataReplayException(long offset, string recordType, string message, Exception? inner = null)
    : Exception($"metadata record at offset {offset} ({recordType}): {message}", inner)
{
    public long Offset { get; } = offset;
    public string RecordType { get; } = recordType;
}

/// <summary>
/// The changes a run of metadata records makes to a base <see cref="Image"/>. <see cref="Replay(IKafkaMessage, long)"/>
/// takes the records in log order; <see cref="Apply"/> gives the next image, in which every
/// sub-image the records did not touch is the base's own object. Each record is checked before it
/// changes anything, so a refused record (<see cref="MetadataReplayException"/>) leaves the delta
/// as it was. Not thread-safe; <see cref="Apply"/> may be called more than once and the delta may
/// keep replaying afterwards (images never share mutable state with it).
/// </summary>
public sealed class MetadataDelta
{
    /// <summary>Partition ids at or above this are refused (a topic's partitions live in an array indexed by id).</summary>
    public const int MaxPartitionId = 1 << 20;

    private Dictionary<string, short>? _features;                 // level 0 = removed
    private Dictionary<int, BrokerRegistration?>? _brokers;       // null = unregistered
    private Dictionary<int, ControllerRegistration>? _controllers;
    private Dictionary<Uuid, TopicChange?>? _topics;              // null = removed
    private Dictionary<string, Uuid?>? _topicNames;               // null = name freed
    private Dictionary<ConfigResource, ImmutableDictionary<string, string>>? _configs;
    private Dictionary<ClientQuotaEntity, ImmutableDictionary<string, double>>? _quotas;
    private long? _nextProducerId;
    private Dictionary<Uuid, StandardAcl?>? _acls;
    private Dictionary<(sbyte Mechanism, string User), ScramCredential?>? _scram;
    private Dictionary<string, DelegationTokenData?>? _tokens;

    public MetadataDelta(MetadataImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        Image = image;
    }

    /// <summary>The image the delta started from.</summary>
    public MetadataImage Image { get; }

    /// <summary>Metadata records replayed (NoOp and transaction markers included).</summary>
    public int RecordCount { get; private set; }

    public bool FeaturesChanged => _features is not null;
    public bool ClusterChanged => _brokers is not null || _controllers is not null;
    public bool TopicsChanged => _topics is not null;
    public bool ConfigsChanged => _configs is not null;
    public bool ClientQuotasChanged => _quotas is not null;
    public bool ProducerIdsChanged => _nextProducerId is not null;
    public bool AclsChanged => _acls is not null;
    public bool ScramChanged => _scram is not null;
    public bool DelegationTokensChanged => _tokens is not null;

    /// <summary>True when some record changed (or may have changed) some sub-image.</summary>
    public bool HasChanges => FeaturesChanged || ClusterChanged || TopicsChanged || ConfigsChanged || ClientQuotasChanged
                              || ProducerIdsChanged || AclsChanged || ScramChanged || DelegationTokensChanged;

    /// <summary>Brokers registered, changed or unregistered.</summary>
    public IReadOnlyCollection<int> ChangedBrokerIds => (IReadOnlyCollection<int>?)_brokers?.Keys ?? [];

    /// <summary>Topics of the base image that the delta removed.</summary>
    public IReadOnlyList<Uuid> DeletedTopicIds =>
        _topics is null ? [] : _topics.Where(t => t.Value is null && Image.Topics.TopicsById.ContainsKey(t.Key)).Select(t => t.Key).ToList();

    /// <summary>Topics created or with changed partitions that exist after the delta.</summary>
    public IReadOnlyList<Uuid> ChangedTopicIds =>
        _topics is null ? [] : _topics.Where(t => t.Value is not null).Select(t => t.Key).ToList();

    /// <summary>The partitions of <paramref name="topicId"/> that PartitionRecord/PartitionChangeRecord touched.</summary>
    public IReadOnlyCollection<int> ChangedPartitions(Uuid topicId) =>
        _topics?.GetValueOrDefault(topicId) is { } t ? t.ChangedPartitions : [];

    public void Replay(MetadataRecord record, long offset = -1) => Replay(record.Message, offset);

    /// <summary>Applies one record; <paramref name="offset"/> only names it in errors.</summary>
    public void Replay(IKafkaMessage record, long offset = -1)
    {
        ArgumentNullException.ThrowIfNull(record);
        switch (record)
        {
            case RegisterBrokerRecord r: ReplayRegisterBroker(r, offset); break;
            case UnregisterBrokerRecord r: ReplayUnregisterBroker(r, offset); break;
            case TopicRecord r: ReplayTopic(r, offset); break;
            case PartitionRecord r: ReplayPartition(r, offset); break;
            case ConfigRecord r: ReplayConfig(r, offset); break;
            case PartitionChangeRecord r: ReplayPartitionChange(r, offset); break;
            case FenceBrokerRecord r: ReplayFence(r.Id, r.Epoch, true, offset, r); break;
            case UnfenceBrokerRecord r: ReplayFence(r.Id, r.Epoch, false, offset, r); break;
            case RemoveTopicRecord r: ReplayRemoveTopic(r, offset); break;
            case DelegationTokenRecord r: ReplayDelegationToken(r); break;
            case UserScramCredentialRecord r: ReplayScram(r, offset); break;
            case FeatureLevelRecord r: ReplayFeatureLevel(r, offset); break;
            case ClientQuotaRecord r: ReplayClientQuota(r, offset); break;
            case ProducerIdsRecord r: ReplayProducerIds(r, offset); break;
            case BrokerRegistrationChangeRecord r: ReplayBrokerRegistrationChange(r, offset); break;
            case AccessControlEntryRecord r: ReplayAcl(r); break;
            case RemoveAccessControlEntryRecord r: ReplayRemoveAcl(r, offset); break;
            case RemoveUserScramCredentialRecord r: ReplayRemoveScram(r); break;
            case RemoveDelegationTokenRecord r: ReplayRemoveDelegationToken(r); break;
            case RegisterControllerRecord r: ReplayRegisterController(r); break;
            // Carry no state: NoOp advances the log; the transaction markers are the loader's
            // business (it holds publication back); ZooKeeper migration is not supported.
            case NoOpRecord or BeginTransactionRecord or EndTransactionRecord or AbortTransactionRecord or ZkMigrationStateRecord:
                break;
            default:
                throw Invalid(offset, record, record.MessageSchema.Kind == MessageKind.Metadata
                    ? "record type not supported by the metadata image"
                    : "not a metadata record");
        }
        RecordCount++;
    }

    // ---- features ----------------------------------------------------------------------------

    private void ReplayFeatureLevel(FeatureLevelRecord r, long offset)
    {
        if (string.IsNullOrEmpty(r.Name)) throw Invalid(offset, r, "empty feature name");
        if (r.FeatureLevel < 0) throw Invalid(offset, r, $"negative level {r.FeatureLevel} for {r.Name}");
        if (r.Name == MetadataVersion.FeatureName)
        {
            if (r.FeatureLevel == 0) throw Invalid(offset, r, "metadata.version cannot be removed (level 0)");
            if (!MetadataVersion.All.Any(v => v.FeatureLevel == r.FeatureLevel))
                throw Invalid(offset, r, $"unknown metadata.version level {r.FeatureLevel}");
        }
        (_features ??= new(StringComparer.Ordinal))[r.Name] = r.FeatureLevel;
    }

    // ---- cluster -----------------------------------------------------------------------------

    private BrokerRegistration? CurrentBroker(int id) =>
        _brokers is not null && _brokers.TryGetValue(id, out var b) ? b : Image.Cluster.Brokers.GetValueOrDefault(id);

    private BrokerRegistration BrokerOrThrow(int id, long epoch, long offset, IKafkaMessage r)
    {
        var b = CurrentBroker(id) ?? throw Invalid(offset, r, $"broker {id} is not registered");
        if (b.Epoch != epoch) throw Invalid(offset, r, $"broker {id} has epoch {b.Epoch}, not {epoch}");
        return b;
    }

    private void ReplayRegisterBroker(RegisterBrokerRecord r, long offset)
    {
        if (r.BrokerId < 0) throw Invalid(offset, r, $"negative broker id {r.BrokerId}");
        var listeners = r.EndPoints.Select(e => new Endpoint(e.Name, e.Host, e.Port, e.SecurityProtocol)).ToImmutableArray();
        var features = r.Features.Select(f => new SupportedFeature(f.Name, f.MinSupportedVersion, f.MaxSupportedVersion)).ToImmutableArray();
        (_brokers ??= [])[r.BrokerId] = new BrokerRegistration(r.BrokerId, r.BrokerEpoch, r.IncarnationId, listeners, features,
            r.Rack, r.Fenced, r.InControlledShutdown, r.IsMigratingZkBroker, [.. r.LogDirs]);
    }

    private void ReplayUnregisterBroker(UnregisterBrokerRecord r, long offset)
    {
        BrokerOrThrow(r.BrokerId, r.BrokerEpoch, offset, r);
        (_brokers ??= [])[r.BrokerId] = null;
    }

    private void ReplayFence(int id, long epoch, bool fenced, long offset, IKafkaMessage r)
    {
        var b = BrokerOrThrow(id, epoch, offset, r);
        (_brokers ??= [])[id] = b with { Fenced = fenced };
    }

    private void ReplayBrokerRegistrationChange(BrokerRegistrationChangeRecord r, long offset)
    {
        var b = BrokerOrThrow(r.BrokerId, r.BrokerEpoch, offset, r);
        bool fenced = r.Fenced switch
        {
            -1 => false,
            0 => b.Fenced,
            1 => true,
            _ => throw Invalid(offset, r, $"invalid Fenced value {r.Fenced} (-1, 0 or 1)"),
        };
        bool ics = r.InControlledShutdown switch
        {
            0 => b.InControlledShutdown,
            1 => true,
            _ => throw Invalid(offset, r, $"invalid InControlledShutdown value {r.InControlledShutdown} (0 or 1)"),
        };
        var dirs = r.LogDirs.Count > 0 ? [.. r.LogDirs] : b.LogDirs;
        (_brokers ??= [])[r.BrokerId] = b with { Fenced = fenced, InControlledShutdown = ics, LogDirs = dirs };
    }

    private void ReplayRegisterController(RegisterControllerRecord r)
    {
        var listeners = r.EndPoints.Select(e => new Endpoint(e.Name, e.Host, e.Port, e.SecurityProtocol)).ToImmutableArray();
        var features = r.Features.Select(f => new SupportedFeature(f.Name, f.MinSupportedVersion, f.MaxSupportedVersion)).ToImmutableArray();
        (_controllers ??= [])[r.ControllerId] = new ControllerRegistration(r.ControllerId, r.IncarnationId, r.ZkMigrationReady, listeners, features);
    }

    // ---- topics ------------------------------------------------------------------------------

    /// <summary>A topic as the delta has it: its own copy of the partition slots.</summary>
    private sealed class TopicChange(string name, Uuid id, PartitionRegistration?[] slots, int limit, int count)
    {
        public string Name { get; } = name;
        public Uuid Id { get; } = id;
        public PartitionRegistration?[] Slots = slots; // capacity may exceed Limit
        public int Limit = limit;                      // one past the highest partition id
        public int Count = count;
        public readonly HashSet<int> ChangedPartitions = [];

        public void Set(int partitionId, PartitionRegistration p)
        {
            if (partitionId >= Slots.Length) Array.Resize(ref Slots, Math.Max(partitionId + 1, Math.Max(8, Slots.Length * 2)));
            if (Slots[partitionId] is null) Count++;
            Slots[partitionId] = p;
            Limit = Math.Max(Limit, partitionId + 1);
            ChangedPartitions.Add(partitionId);
        }

        public TopicImage ToImage() => new(Name, Id, Slots[..Limit], Count);
    }

    private bool TopicExists(Uuid id, out string? name, out TopicChange? change, out TopicImage? image)
    {
        change = null;
        image = null;
        name = null;
        if (_topics is not null && _topics.TryGetValue(id, out change))
        {
            name = change?.Name;
            return change is not null;
        }
        image = Image.Topics.TopicsById.GetValueOrDefault(id);
        name = image?.Name;
        return image is not null;
    }

    private bool NameTaken(string name) =>
        _topicNames is not null && _topicNames.TryGetValue(name, out var id) ? id is not null : Image.Topics.TopicsByName.ContainsKey(name);

    private TopicChange TopicForWrite(Uuid id)
    {
        _topics ??= [];
        if (_topics.TryGetValue(id, out var change)) return change!;
        var image = Image.Topics.TopicsById[id];
        var slots = (PartitionRegistration?[])image.PartitionSlots.Clone();
        change = new TopicChange(image.Name, id, slots, slots.Length, image.PartitionCount);
        _topics[id] = change;
        return change;
    }

    private PartitionRegistration? CurrentPartition(TopicChange? change, TopicImage? image, int partitionId) =>
        change is not null ? (partitionId < change.Limit ? change.Slots[partitionId] : null) : image?.Partition(partitionId);

    private void ReplayTopic(TopicRecord r, long offset)
    {
        if (string.IsNullOrEmpty(r.Name)) throw Invalid(offset, r, "empty topic name");
        if (r.TopicId.IsZero) throw Invalid(offset, r, "zero topic id");
        if (TopicExists(r.TopicId, out var existing, out _, out _)) throw Invalid(offset, r, $"topic id {r.TopicId} already belongs to topic '{existing}'");
        if (NameTaken(r.Name)) throw Invalid(offset, r, $"a topic named '{r.Name}' already exists");
        (_topics ??= [])[r.TopicId] = new TopicChange(r.Name, r.TopicId, [], 0, 0);
        (_topicNames ??= new(StringComparer.Ordinal))[r.Name] = r.TopicId;
    }

    private void ReplayRemoveTopic(RemoveTopicRecord r, long offset)
    {
        if (!TopicExists(r.TopicId, out var name, out _, out _)) throw Invalid(offset, r, $"unknown topic id {r.TopicId}");
        (_topics ??= [])[r.TopicId] = null;
        (_topicNames ??= new(StringComparer.Ordinal))[name!] = null;
        // A deleted topic's dynamic configs go with it (as in Kafka).
        var resource = new ConfigResource(ConfigResourceTypes.Topic, name!);
        if (!CurrentConfigs(resource).IsEmpty) (_configs ??= [])[resource] = ConfigsImage.NoConfigs;
    }

    private void ReplayPartition(PartitionRecord r, long offset)
    {
        if (!TopicExists(r.TopicId, out _, out _, out _)) throw Invalid(offset, r, $"unknown topic id {r.TopicId}");
        CheckPartitionId(r.PartitionId, offset, r);
        if (r.Leader < PartitionRegistration.NoLeader) throw Invalid(offset, r, $"invalid leader {r.Leader}");
        if (r.LeaderRecoveryState is not (0 or 1)) throw Invalid(offset, r, $"invalid leader recovery state {r.LeaderRecoveryState}");
        if (r.Directories.Count != 0 && r.Directories.Count != r.Replicas.Count)
            throw Invalid(offset, r, $"{r.Directories.Count} directories for {r.Replicas.Count} replicas");
        var p = new PartitionRegistration([.. r.Replicas], [.. r.Isr], [.. r.RemovingReplicas], [.. r.AddingReplicas],
            r.Leader, r.LeaderRecoveryState, r.LeaderEpoch, r.PartitionEpoch, [.. r.Directories],
            r.EligibleLeaderReplicas is null ? null : [.. r.EligibleLeaderReplicas], r.LastKnownElr is null ? null : [.. r.LastKnownElr]);
        TopicForWrite(r.TopicId).Set(r.PartitionId, p);
    }

    private void ReplayPartitionChange(PartitionChangeRecord r, long offset)
    {
        if (!TopicExists(r.TopicId, out var name, out var change, out var image)) throw Invalid(offset, r, $"unknown topic id {r.TopicId}");
        CheckPartitionId(r.PartitionId, offset, r);
        var old = CurrentPartition(change, image, r.PartitionId) ?? throw Invalid(offset, r, $"unknown partition {name}-{r.PartitionId}");
        if (r.Leader < -2) throw Invalid(offset, r, $"invalid leader {r.Leader} (-2 means unchanged, -1 no leader)");
        if (r.LeaderRecoveryState is not (-1 or 0 or 1)) throw Invalid(offset, r, $"invalid leader recovery state {r.LeaderRecoveryState}");

        int[] replicas = r.Replicas is null ? old.ReplicasArray : [.. r.Replicas];
        Uuid[] dirs;
        if (r.Directories is not null)
        {
            if (r.Directories.Count != replicas.Length) throw Invalid(offset, r, $"{r.Directories.Count} directories for {replicas.Length} replicas");
            dirs = [.. r.Directories];
        }
        else if (r.Replicas is not null && old.DirectoriesArray.Length > 0)
        {
            // New replica set without directories: surviving replicas keep theirs, new ones are unassigned (zero).
            dirs = new Uuid[replicas.Length];
            for (int i = 0; i < replicas.Length; i++) dirs[i] = old.DirectoryOf(replicas[i]) ?? Uuid.Zero;
        }
        else dirs = old.DirectoriesArray;

        bool leaderChange = r.Leader != -2;
        var p = new PartitionRegistration(
            replicas,
            r.Isr is null ? old.IsrArray : [.. r.Isr],
            r.RemovingReplicas is null ? old.RemovingArray : [.. r.RemovingReplicas],
            r.AddingReplicas is null ? old.AddingArray : [.. r.AddingReplicas],
            leaderChange ? r.Leader : old.Leader,
            r.LeaderRecoveryState == -1 ? old.LeaderRecoveryState : r.LeaderRecoveryState,
            leaderChange ? old.LeaderEpoch + 1 : old.LeaderEpoch,
            old.PartitionEpoch + 1,
            dirs,
            r.EligibleLeaderReplicas is null ? old.EligibleLeaderReplicasOrNull : [.. r.EligibleLeaderReplicas],
            r.LastKnownElr is null ? old.LastKnownElrOrNull : [.. r.LastKnownElr]);
        TopicForWrite(r.TopicId).Set(r.PartitionId, p);
    }

    private static void CheckPartitionId(int id, long offset, IKafkaMessage r)
    {
        if (id < 0 || id >= MaxPartitionId) throw Invalid(offset, r, $"invalid partition id {id} (0 to {MaxPartitionId - 1})");
    }

    // ---- configs, quotas, producer ids -------------------------------------------------------

    private ImmutableDictionary<string, string> CurrentConfigs(ConfigResource resource) =>
        _configs is not null && _configs.TryGetValue(resource, out var c) ? c : Image.Configs.ConfigsOf(resource);

    private void ReplayConfig(ConfigRecord r, long offset)
    {
        if (r.Name.Length == 0) throw Invalid(offset, r, "empty config name");
        var resource = new ConfigResource(r.ResourceType, r.ResourceName);
        var current = CurrentConfigs(resource);
        (_configs ??= [])[resource] = r.Value is null ? current.Remove(r.Name) : current.SetItem(r.Name, r.Value);
    }

    private void ReplayClientQuota(ClientQuotaRecord r, long offset)
    {
        ClientQuotaEntity entity;
        try { entity = new ClientQuotaEntity(r.Entity.Select(e => (e.EntityType, e.EntityName))); }
        catch (ArgumentException e) { throw Invalid(offset, r, e.Message); }
        if (entity.Parts.Count == 0) throw Invalid(offset, r, "empty entity");
        if (r.Key.Length == 0) throw Invalid(offset, r, "empty quota key");
        _quotas ??= [];
        var current = _quotas.TryGetValue(entity, out var q) ? q
            : Image.ClientQuotas.Entities.GetValueOrDefault(entity) ?? ImmutableDictionary<string, double>.Empty.WithComparers(StringComparer.Ordinal);
        _quotas[entity] = r.Remove ? current.Remove(r.Key) : current.SetItem(r.Key, r.Value);
    }

    private void ReplayProducerIds(ProducerIdsRecord r, long offset)
    {
        if (r.NextProducerId < 0) throw Invalid(offset, r, $"negative next producer id {r.NextProducerId}");
        _nextProducerId = r.NextProducerId;
    }

    // ---- ACLs, SCRAM, delegation tokens ------------------------------------------------------

    private void ReplayAcl(AccessControlEntryRecord r) =>
        (_acls ??= [])[r.Id] = StandardAcl.FromRecord(r);

    private void ReplayRemoveAcl(RemoveAccessControlEntryRecord r, long offset)
    {
        bool exists = _acls is not null && _acls.TryGetValue(r.Id, out var acl) ? acl is not null : Image.Acls.Acls.ContainsKey(r.Id);
        if (!exists) throw Invalid(offset, r, $"no ACL with id {r.Id}");
        (_acls ??= [])[r.Id] = null;
    }

    private void ReplayScram(UserScramCredentialRecord r, long offset)
    {
        if (r.Mechanism is not (1 or 2)) throw Invalid(offset, r, $"unknown SCRAM mechanism {r.Mechanism} (1 SCRAM-SHA-256, 2 SCRAM-SHA-512)");
        if (r.Name.Length == 0) throw Invalid(offset, r, "empty user name");
        (_scram ??= [])[(r.Mechanism, r.Name)] = new ScramCredential(r.Salt.ToArray(), r.StoredKey.ToArray(), r.ServerKey.ToArray(), r.Iterations);
    }

    private void ReplayRemoveScram(RemoveUserScramCredentialRecord r) => (_scram ??= [])[(r.Mechanism, r.Name)] = null;

    private void ReplayDelegationToken(DelegationTokenRecord r) =>
        (_tokens ??= new(StringComparer.Ordinal))[r.TokenId] = new DelegationTokenData(r.TokenId, r.Owner, r.Requester, [.. r.Renewers],
            r.IssueTimestamp, r.MaxTimestamp, r.ExpirationTimestamp);

    private void ReplayRemoveDelegationToken(RemoveDelegationTokenRecord r) => (_tokens ??= new(StringComparer.Ordinal))[r.TokenId] = null;

    // ---- apply -------------------------------------------------------------------------------

    /// <summary>The image after every record replayed so far, at <paramref name="provenance"/>
    /// (default: the base image's). Untouched sub-images are the base image's objects.</summary>
    public MetadataImage Apply(MetadataProvenance? provenance = null) => new(
        provenance ?? Image.Provenance,
        ApplyFeatures(),
        ApplyCluster(),
        ApplyTopics(),
        ApplyConfigs(),
        ApplyQuotas(),
        _nextProducerId is { } next ? new ProducerIdsImage(next) : Image.ProducerIds,
        ApplyAcls(),
        ApplyScram(),
        ApplyTokens());

    private FeaturesImage ApplyFeatures()
    {
        if (_features is null) return Image.Features;
        var b = Image.Features.FinalizedLevels.ToBuilder();
        foreach (var (name, level) in _features)
            if (level == 0) b.Remove(name);
            else b[name] = level;
        return new FeaturesImage(b.ToImmutable());
    }

    private ClusterImage ApplyCluster()
    {
        if (_brokers is null && _controllers is null) return Image.Cluster;
        var brokers = Image.Cluster.Brokers;
        if (_brokers is not null)
        {
            var b = brokers.ToBuilder();
            foreach (var (id, reg) in _brokers)
                if (reg is null) b.Remove(id);
                else b[id] = reg;
            brokers = b.ToImmutable();
        }
        var controllers = Image.Cluster.Controllers;
        if (_controllers is not null) controllers = controllers.SetItems(_controllers);
        return new ClusterImage(brokers, controllers);
    }

    private TopicsImage ApplyTopics()
    {
        if (_topics is null) return Image.Topics;
        var byId = Image.Topics.TopicsById.ToBuilder();
        var byName = Image.Topics.TopicsByName.ToBuilder();
        foreach (var (id, change) in _topics)
        {
            if (change is not null) continue;
            if (byId.TryGetValue(id, out var old))
            {
                byId.Remove(id);
                byName.Remove(old.Name);
            }
        }
        foreach (var (id, change) in _topics)
        {
            if (change is null) continue;
            var topic = change.ToImage();
            byId[id] = topic;
            byName[topic.Name] = topic;
        }
        return new TopicsImage(byId.ToImmutable(), byName.ToImmutable());
    }

    private ConfigsImage ApplyConfigs()
    {
        if (_configs is null) return Image.Configs;
        var b = Image.Configs.Resources.ToBuilder();
        foreach (var (resource, configs) in _configs)
            if (configs.IsEmpty) b.Remove(resource);
            else b[resource] = configs;
        return new ConfigsImage(b.ToImmutable());
    }

    private ClientQuotasImage ApplyQuotas()
    {
        if (_quotas is null) return Image.ClientQuotas;
        var b = Image.ClientQuotas.Entities.ToBuilder();
        foreach (var (entity, quotas) in _quotas)
            if (quotas.IsEmpty) b.Remove(entity);
            else b[entity] = quotas;
        return new ClientQuotasImage(b.ToImmutable());
    }

    private AclsImage ApplyAcls()
    {
        if (_acls is null) return Image.Acls;
        var b = Image.Acls.Acls.ToBuilder();
        foreach (var (id, acl) in _acls)
            if (acl is null) b.Remove(id);
            else b[id] = acl;
        return new AclsImage(b.ToImmutable());
    }

    private ScramImage ApplyScram()
    {
        if (_scram is null) return Image.Scram;
        var b = Image.Scram.Mechanisms.ToBuilder();
        foreach (var group in _scram.GroupBy(s => s.Key.Mechanism))
        {
            var users = (b.GetValueOrDefault(group.Key) ?? ImmutableDictionary<string, ScramCredential>.Empty.WithComparers(StringComparer.Ordinal)).ToBuilder();
            foreach (var ((_, user), credential) in group)
                if (credential is null) users.Remove(user);
                else users[user] = credential;
            if (users.Count == 0) b.Remove(group.Key);
            else b[group.Key] = users.ToImmutable();
        }
        return new ScramImage(b.ToImmutable());
    }

    private DelegationTokensImage ApplyTokens()
    {
        if (_tokens is null) return Image.DelegationTokens;
        var b = Image.DelegationTokens.Tokens.ToBuilder();
        foreach (var (id, token) in _tokens)
            if (token is null) b.Remove(id);
            else b[id] = token;
        return new DelegationTokensImage(b.ToImmutable());
    }

    private static MetadataReplayException Invalid(long offset, IKafkaMessage record, string message) =>
        new(offset, MetadataRecordJson.TypeName(record), message);
}
