using System.Collections.Immutable;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>One partition's replication state (PartitionRecord, moved by PartitionChangeRecords).</summary>
public sealed record PartitionState(
    ImmutableArray<int> Replicas,
    ImmutableArray<int> Isr,
    ImmutableArray<int> RemovingReplicas,
    ImmutableArray<int> AddingReplicas,
    int Leader,
    sbyte LeaderRecoveryState,
    int LeaderEpoch,
    int PartitionEpoch,
    ImmutableArray<Uuid> Directories,
    ImmutableArray<int>? EligibleLeaderReplicas,
    ImmutableArray<int>? LastKnownElr)
{
    /// <summary>Leader value meaning "no leader".</summary>
    public const int NoLeader = -1;

    public bool HasLeader => Leader >= 0;

    public override string ToString() =>
        $"replicas=[{string.Join(",", Replicas)}] isr=[{string.Join(",", Isr)}] leader={Leader} leaderEpoch={LeaderEpoch} partitionEpoch={PartitionEpoch}";
}

/// <summary>A topic: its name, id and partitions (by index).</summary>
public sealed record TopicState(string Name, Uuid Id, ImmutableSortedDictionary<int, PartitionState> Partitions);

/// <summary>A config resource (ConfigRecord's ResourceType and ResourceName).</summary>
public readonly record struct ConfigResource(sbyte Type, string Name)
{
    /// <summary>Kafka's ConfigResource.Type ids.</summary>
    public const sbyte TopicType = 2;
    public const sbyte BrokerType = 4;

    public static ConfigResource Topic(string name) => new(TopicType, name);

    /// <summary>The cluster-wide default broker config (resource name "").</summary>
    public static readonly ConfigResource ClusterDefault = new(BrokerType, "");
}

public sealed partial record ControllerState
{
    public ImmutableDictionary<Uuid, TopicState> Topics { get; init; } = ImmutableDictionary<Uuid, TopicState>.Empty;
    public ImmutableSortedDictionary<string, Uuid> TopicIds { get; init; } = ImmutableSortedDictionary<string, Uuid>.Empty.WithComparers(StringComparer.Ordinal);

    /// <summary>Topics whose names hold '.' or '_', by their name with every '.' read as '_' (those
    /// two collide in metric names): the collision check is one lookup instead of a scan of every name.</summary>
    public ImmutableDictionary<string, string> TopicsByUnifiedName { get; init; } = ImmutableDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);

    /// <summary><paramref name="name"/> with '.' read as '_'; null when it holds neither (it then collides with no other name).</summary>
    public static string? UnifiedTopicName(string name) =>
        name.Contains('.', StringComparison.Ordinal) || name.Contains('_', StringComparison.Ordinal) ? name.Replace('.', '_') : null;
    public ImmutableDictionary<ConfigResource, ImmutableSortedDictionary<string, string>> Configs { get; init; } =
        ImmutableDictionary<ConfigResource, ImmutableSortedDictionary<string, string>>.Empty;

    /// <summary>The topic named <paramref name="name"/>, or null.</summary>
    public TopicState? TopicByName(string name) => TopicIds.TryGetValue(name, out var id) ? Topics[id] : null;

    /// <summary>The value of config <paramref name="key"/> on <paramref name="resource"/>, or null.</summary>
    public string? ConfigValue(ConfigResource resource, string key) =>
        Configs.TryGetValue(resource, out var values) && values.TryGetValue(key, out var value) ? value : null;

    /// <summary>Every partition, by topic name then index.</summary>
    public IEnumerable<(TopicState Topic, int PartitionId, PartitionState Partition)> AllPartitions()
    {
        foreach (var id in TopicIds.Values)
        {
            var topic = Topics[id];
            foreach (var (pid, partition) in topic.Partitions) yield return (topic, pid, partition);
        }
    }

    private ControllerState ReplayTopic(TopicRecord r)
    {
        if (r.TopicId.IsZero) throw new InvalidOperationException($"TopicRecord {r.Name} has no topic id");
        if (TopicIds.ContainsKey(r.Name)) throw new InvalidOperationException($"TopicRecord: topic {r.Name} exists");
        if (Topics.ContainsKey(r.TopicId)) throw new InvalidOperationException($"TopicRecord {r.Name}: topic id {r.TopicId} is in use");
        return this with
        {
            Topics = Topics.SetItem(r.TopicId, new TopicState(r.Name, r.TopicId, ImmutableSortedDictionary<int, PartitionState>.Empty)),
            TopicIds = TopicIds.SetItem(r.Name, r.TopicId),
            TopicsByUnifiedName = UnifiedTopicName(r.Name) is { } unified ? TopicsByUnifiedName.SetItem(unified, r.Name) : TopicsByUnifiedName,
        };
    }

    private TopicState Topic(Uuid id, string what) =>
        Topics.TryGetValue(id, out var topic) ? topic : throw new InvalidOperationException($"{what} for unknown topic id {id}");

    private ControllerState ReplayPartition(PartitionRecord r)
    {
        var topic = Topic(r.TopicId, "PartitionRecord");
        if (r.PartitionId < 0) throw new InvalidOperationException($"PartitionRecord: invalid partition id {r.PartitionId}");
        if (r.Directories.Count != 0 && r.Directories.Count != r.Replicas.Count)
            throw new InvalidOperationException($"PartitionRecord: {r.Directories.Count} directories for {r.Replicas.Count} replicas");
        var partition = new PartitionState(
            [.. r.Replicas], [.. r.Isr], [.. r.RemovingReplicas], [.. r.AddingReplicas],
            r.Leader, r.LeaderRecoveryState, r.LeaderEpoch, r.PartitionEpoch,
            [.. r.Directories],
            r.EligibleLeaderReplicas is null ? null : [.. r.EligibleLeaderReplicas],
            r.LastKnownElr is null ? null : [.. r.LastKnownElr]);
        Check(partition, $"PartitionRecord {topic.Name}-{r.PartitionId}");
        return WithTopic(topic with { Partitions = topic.Partitions.SetItem(r.PartitionId, partition) });
    }

    private ControllerState ReplayPartitionChange(PartitionChangeRecord r)
    {
        var topic = Topic(r.TopicId, "PartitionChangeRecord");
        if (!topic.Partitions.TryGetValue(r.PartitionId, out var old))
            throw new InvalidOperationException($"PartitionChangeRecord for unknown partition {topic.Name}-{r.PartitionId}");
        if (r.Leader < -2) throw new InvalidOperationException($"PartitionChangeRecord: invalid leader {r.Leader}");
        var replicas = r.Replicas is null ? old.Replicas : [.. r.Replicas];
        // Directories, by the image's rule (MetadataDelta): given ones must match the replicas; a new
        // replica set without them keeps each surviving replica's directory, new ones unassigned (zero).
        if (r.Directories is not null && r.Directories.Count != replicas.Length)
            throw new InvalidOperationException($"PartitionChangeRecord {topic.Name}-{r.PartitionId}: {r.Directories.Count} directories for {replicas.Length} replicas");
        var directories = r.Directories is not null
            ? [.. r.Directories]
            : r.Replicas is null || old.Directories.Length == 0
                ? old.Directories
                : [.. replicas.Select(b => old.Replicas.IndexOf(b) is var i && i >= 0 && i < old.Directories.Length ? old.Directories[i] : Uuid.Zero)];
        bool leaderChange = r.Leader != -2;
        var next = new PartitionState(
            replicas,
            r.Isr is null ? old.Isr : [.. r.Isr],
            r.RemovingReplicas is null ? old.RemovingReplicas : [.. r.RemovingReplicas],
            r.AddingReplicas is null ? old.AddingReplicas : [.. r.AddingReplicas],
            leaderChange ? r.Leader : old.Leader,
            r.LeaderRecoveryState == -1 ? old.LeaderRecoveryState : r.LeaderRecoveryState,
            leaderChange ? old.LeaderEpoch + 1 : old.LeaderEpoch,
            old.PartitionEpoch + 1,
            directories,
            r.EligibleLeaderReplicas is null ? old.EligibleLeaderReplicas : [.. r.EligibleLeaderReplicas],
            r.LastKnownElr is null ? old.LastKnownElr : [.. r.LastKnownElr]);
        Check(next, $"PartitionChangeRecord {topic.Name}-{r.PartitionId}");
        return WithTopic(topic with { Partitions = topic.Partitions.SetItem(r.PartitionId, next) });
    }

    /// <summary>The partition invariants every replay checks. Plain loops (replicas are a handful):
    /// no allocation on the replay path of each PartitionRecord.</summary>
    private static void Check(PartitionState p, string what)
    {
        var replicas = p.Replicas.AsSpan();
        var isr = p.Isr.AsSpan();
        if (replicas.Length == 0) throw new InvalidOperationException($"{what}: no replicas");
        for (int i = 1; i < replicas.Length; i++)
            if (replicas[..i].Contains(replicas[i])) throw new InvalidOperationException($"{what}: a replica appears twice");
        for (int i = 0; i < isr.Length; i++)
            if (!replicas.Contains(isr[i]) || isr[..i].Contains(isr[i]))
                throw new InvalidOperationException($"{what}: ISR [{string.Join(",", p.Isr)}] is not a set of replicas");
        if (p.Leader != PartitionState.NoLeader && !p.Replicas.Contains(p.Leader))
            throw new InvalidOperationException($"{what}: leader {p.Leader} is not a replica");
        if (p.LeaderRecoveryState is not (0 or 1)) throw new InvalidOperationException($"{what}: invalid leader recovery state {p.LeaderRecoveryState}");
    }

    /// <summary>This state with <paramref name="topic"/> replaced, counting the record that did it
    /// (one copy of the state per partition record instead of two: see <see cref="Replay"/>).</summary>
    private ControllerState WithTopic(TopicState topic) => this with { Topics = Topics.SetItem(topic.Id, topic), RecordCount = RecordCount + 1 };

    private ControllerState ReplayRemoveTopic(RemoveTopicRecord r)
    {
        var topic = Topic(r.TopicId, "RemoveTopicRecord");
        return this with
        {
            Topics = Topics.Remove(topic.Id),
            TopicIds = TopicIds.Remove(topic.Name),
            TopicsByUnifiedName = UnifiedTopicName(topic.Name) is { } unified ? TopicsByUnifiedName.Remove(unified) : TopicsByUnifiedName,
            Configs = Configs.Remove(ConfigResource.Topic(topic.Name)), // a topic's configs go with it (as in Kafka)
        };
    }

    private ControllerState ReplayConfig(ConfigRecord r)
    {
        var resource = new ConfigResource(r.ResourceType, r.ResourceName);
        var values = Configs.TryGetValue(resource, out var v) ? v : ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);
        values = r.Value is null ? values.Remove(r.Name) : values.SetItem(r.Name, r.Value);
        return this with { Configs = values.IsEmpty ? Configs.Remove(resource) : Configs.SetItem(resource, values) };
    }

    /// <summary>PartitionRecord's version at <paramref name="version"/>: v1 (directories) from 3.7-IV2, v2 (ELR) from level 23.</summary>
    internal static short PartitionRecordVersion(MetadataVersion version) => version.FeatureLevel switch
    {
        >= 23 => 2,
        >= 17 => 1,
        _ => 0,
    };

    private void AddReplicationRecords(List<MetadataRecord> records)
    {
        short partitionVersion = PartitionRecordVersion(MetadataVersion ?? Fjord.Metadata.MetadataVersion.MinimumKRaftVersion);
        foreach (var (name, id) in TopicIds)
        {
            records.Add(new MetadataRecord(new TopicRecord { Name = name, TopicId = id }, 0));
            foreach (var (pid, p) in Topics[id].Partitions)
                records.Add(new MetadataRecord(new PartitionRecord
                {
                    PartitionId = pid,
                    TopicId = id,
                    Replicas = [.. p.Replicas],
                    Isr = [.. p.Isr],
                    RemovingReplicas = [.. p.RemovingReplicas],
                    AddingReplicas = [.. p.AddingReplicas],
                    Leader = p.Leader,
                    LeaderRecoveryState = p.LeaderRecoveryState,
                    LeaderEpoch = p.LeaderEpoch,
                    PartitionEpoch = p.PartitionEpoch,
                    Directories = partitionVersion >= 1 ? [.. p.Directories] : [],
                    EligibleLeaderReplicas = partitionVersion >= 2 && p.EligibleLeaderReplicas is { } elr ? [.. elr] : null,
                    LastKnownElr = partitionVersion >= 2 && p.LastKnownElr is { } lk ? [.. lk] : null,
                }, partitionVersion));
        }
        foreach (var (resource, values) in Configs.OrderBy(c => c.Key.Type).ThenBy(c => c.Key.Name, StringComparer.Ordinal))
            foreach (var (key, value) in values)
                records.Add(new MetadataRecord(new ConfigRecord { ResourceType = resource.Type, ResourceName = resource.Name, Name = key, Value = value }, 0));
    }
}
