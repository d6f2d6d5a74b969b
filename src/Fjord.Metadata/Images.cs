using System.Collections.Immutable;
using Fjord.Common;
using Fjord.Protocol.Metadata;

namespace Fjord.Metadata;

/// <summary>Where an image stands in the metadata log: the last offset it contains, the epoch of
/// the batch holding it, and that batch's append timestamp. <see cref="Empty"/> is before any record.</summary>
public sealed record MetadataProvenance(long LastContainedOffset, int LastContainedEpoch, long LastContainedTimestampMs)
{
    public static readonly MetadataProvenance Empty = new(-1, -1, -1);

    /// <summary>The offset the log continues from after this image.</summary>
    public long NextOffset => LastContainedOffset + 1;
}

/// <summary>Finalized feature levels (FeatureLevelRecord); <c>metadata.version</c> among them.</summary>
public sealed class FeaturesImage
{
    public static readonly FeaturesImage Empty = new(ImmutableDictionary<string, short>.Empty.WithComparers(StringComparer.Ordinal));

    internal FeaturesImage(ImmutableDictionary<string, short> levels) => FinalizedLevels = levels;

    /// <summary>Feature name → finalized level (never 0: level 0 removes the feature).</summary>
    public ImmutableDictionary<string, short> FinalizedLevels { get; }

    /// <summary>The finalized <c>metadata.version</c>, or null before the bootstrap records.</summary>
    public MetadataVersion? MetadataVersion =>
        FinalizedLevels.TryGetValue(global::Fjord.Metadata.MetadataVersion.FeatureName, out short level) ? global::Fjord.Metadata.MetadataVersion.FromFeatureLevel(level) : null;

    public short LevelOf(string feature) => FinalizedLevels.TryGetValue(feature, out short level) ? level : (short)0;

    public bool IsEmpty => FinalizedLevels.IsEmpty;
}

/// <summary>A listener of a broker or controller.</summary>
public sealed record Endpoint(string Name, string Host, ushort Port, short SecurityProtocol);

/// <summary>A feature range a broker or controller supports.</summary>
public sealed record SupportedFeature(string Name, short MinSupportedVersion, short MaxSupportedVersion);

/// <summary>A broker as RegisterBrokerRecord registered it and the fence/unfence/change records moved it.</summary>
public sealed record BrokerRegistration(
    int Id,
    long Epoch,
    Uuid IncarnationId,
    ImmutableArray<Endpoint> Listeners,
    ImmutableArray<SupportedFeature> SupportedFeatures,
    string? Rack,
    bool Fenced,
    bool InControlledShutdown,
    bool IsMigratingZkBroker,
    ImmutableArray<Uuid> LogDirs)
{
    public Endpoint? Listener(string name)
    {
        foreach (var e in Listeners) if (e.Name == name) return e;
        return null;
    }
}

/// <summary>A controller as RegisterControllerRecord registered it.</summary>
public sealed record ControllerRegistration(
    int Id,
    Uuid IncarnationId,
    bool ZkMigrationReady,
    ImmutableArray<Endpoint> Listeners,
    ImmutableArray<SupportedFeature> SupportedFeatures);

/// <summary>Registered brokers and controllers.</summary>
public sealed class ClusterImage
{
    public static readonly ClusterImage Empty = new(ImmutableDictionary<int, BrokerRegistration>.Empty, ImmutableDictionary<int, ControllerRegistration>.Empty);

    internal ClusterImage(ImmutableDictionary<int, BrokerRegistration> brokers, ImmutableDictionary<int, ControllerRegistration> controllers)
    {
        Brokers = brokers;
        Controllers = controllers;
    }

    public ImmutableDictionary<int, BrokerRegistration> Brokers { get; }
    public ImmutableDictionary<int, ControllerRegistration> Controllers { get; }

    public BrokerRegistration? Broker(int id) => Brokers.GetValueOrDefault(id);

    public bool IsEmpty => Brokers.IsEmpty && Controllers.IsEmpty;
}

/// <summary>
/// One topic: name, id and its partitions, kept in an array indexed by partition id (partition
/// ids are dense in practice; a gap is a null slot). Immutable; a delta that changes one partition
/// copies the array once for the whole delta.
/// </summary>
public sealed class TopicImage
{
    private readonly PartitionRegistration?[] _partitions;

    internal TopicImage(string name, Uuid id, PartitionRegistration?[] partitions, int partitionCount)
    {
        Name = name;
        Id = id;
        _partitions = partitions;
        PartitionCount = partitionCount;
    }

    public string Name { get; }
    public Uuid Id { get; }

    /// <summary>How many partitions exist (non-null slots).</summary>
    public int PartitionCount { get; }

    /// <summary>One past the highest partition id.</summary>
    public int PartitionIdLimit => _partitions.Length;

    public PartitionRegistration? Partition(int partitionId) =>
        partitionId >= 0 && partitionId < _partitions.Length ? _partitions[partitionId] : null;

    /// <summary>The partitions in id order.</summary>
    public IEnumerable<(int PartitionId, PartitionRegistration Registration)> Partitions
    {
        get
        {
            for (int i = 0; i < _partitions.Length; i++)
                if (_partitions[i] is { } p) yield return (i, p);
        }
    }

    internal PartitionRegistration?[] PartitionSlots => _partitions;
}

/// <summary>Topics by id and by name (the same <see cref="TopicImage"/> objects in both).</summary>
public sealed class TopicsImage
{
    public static readonly TopicsImage Empty = new(ImmutableDictionary<Uuid, TopicImage>.Empty, ImmutableDictionary<string, TopicImage>.Empty.WithComparers(StringComparer.Ordinal));

    internal TopicsImage(ImmutableDictionary<Uuid, TopicImage> byId, ImmutableDictionary<string, TopicImage> byName)
    {
        TopicsById = byId;
        TopicsByName = byName;
    }

    public ImmutableDictionary<Uuid, TopicImage> TopicsById { get; }
    public ImmutableDictionary<string, TopicImage> TopicsByName { get; }

    public TopicImage? Topic(Uuid id) => TopicsById.GetValueOrDefault(id);
    public TopicImage? Topic(string name) => TopicsByName.GetValueOrDefault(name);

    public PartitionRegistration? Partition(Uuid topicId, int partitionId) => Topic(topicId)?.Partition(partitionId);

    public bool IsEmpty => TopicsById.IsEmpty;
}

/// <summary>Kafka's ConfigResource type ids as ConfigRecord carries them.</summary>
public static class ConfigResourceTypes
{
    public const sbyte Topic = 2;
    public const sbyte Broker = 4;
    public const sbyte BrokerLogger = 8;
    public const sbyte ClientMetrics = 16;
    public const sbyte Group = 32;
}

/// <summary>A config resource: type id and name (an empty broker name is the cluster default).</summary>
public readonly record struct ConfigResource(sbyte Type, string Name);

/// <summary>Dynamic configs, per resource, key → value.</summary>
public sealed class ConfigsImage
{
    public static readonly ConfigsImage Empty = new(ImmutableDictionary<ConfigResource, ImmutableDictionary<string, string>>.Empty);

    internal static readonly ImmutableDictionary<string, string> NoConfigs = ImmutableDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);

    internal ConfigsImage(ImmutableDictionary<ConfigResource, ImmutableDictionary<string, string>> resources) => Resources = resources;

    /// <summary>Only resources with at least one key.</summary>
    public ImmutableDictionary<ConfigResource, ImmutableDictionary<string, string>> Resources { get; }

    public ImmutableDictionary<string, string> ConfigsOf(ConfigResource resource) => Resources.GetValueOrDefault(resource) ?? NoConfigs;

    public bool IsEmpty => Resources.IsEmpty;
}

/// <summary>
/// A client-quota entity: (entity type, entity name) pairs, held sorted by type so equal entities
/// compare equal whatever the order in the record. A null name is the type's default entity.
/// </summary>
public sealed class ClientQuotaEntity : IEquatable<ClientQuotaEntity>
{
    private readonly (string Type, string? Name)[] _parts;

    public ClientQuotaEntity(IEnumerable<(string Type, string? Name)> parts)
    {
        _parts = parts.OrderBy(p => p.Type, StringComparer.Ordinal).ToArray();
        for (int i = 1; i < _parts.Length; i++)
            if (_parts[i].Type == _parts[i - 1].Type)
                throw new ArgumentException($"entity type '{_parts[i].Type}' appears twice", nameof(parts));
    }

    public IReadOnlyList<(string Type, string? Name)> Parts => _parts;

    public bool Equals(ClientQuotaEntity? other)
    {
        if (other is null || other._parts.Length != _parts.Length) return false;
        for (int i = 0; i < _parts.Length; i++)
            if (_parts[i].Type != other._parts[i].Type || _parts[i].Name != other._parts[i].Name) return false;
        return true;
    }

    public override bool Equals(object? obj) => Equals(obj as ClientQuotaEntity);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var (type, name) in _parts)
        {
            hash.Add(type, StringComparer.Ordinal);
            hash.Add(name is null ? 0 : StringComparer.Ordinal.GetHashCode(name) + 1);
        }
        return hash.ToHashCode();
    }

    public override string ToString() => "{" + string.Join(",", _parts.Select(p => $"{p.Type}={p.Name ?? "<default>"}")) + "}";
}

/// <summary>Client quotas: entity → quota key → value.</summary>
public sealed class ClientQuotasImage
{
    public static readonly ClientQuotasImage Empty = new(ImmutableDictionary<ClientQuotaEntity, ImmutableDictionary<string, double>>.Empty);

    internal ClientQuotasImage(ImmutableDictionary<ClientQuotaEntity, ImmutableDictionary<string, double>> entities) => Entities = entities;

    /// <summary>Only entities with at least one quota.</summary>
    public ImmutableDictionary<ClientQuotaEntity, ImmutableDictionary<string, double>> Entities { get; }

    public bool IsEmpty => Entities.IsEmpty;
}

/// <summary>The producer-id allocator's state: the first id of the next block (-1 before any block).</summary>
public sealed class ProducerIdsImage
{
    public static readonly ProducerIdsImage Empty = new(-1);

    internal ProducerIdsImage(long nextProducerId) => NextProducerId = nextProducerId;

    public long NextProducerId { get; }

    public bool IsEmpty => NextProducerId < 0;
}

/// <summary>An ACL binding as AccessControlEntryRecord carries it (Kafka's StandardAcl; ids are the wire enum values).</summary>
public sealed record StandardAcl(sbyte ResourceType, string ResourceName, sbyte PatternType, string Principal, string Host, sbyte Operation, sbyte PermissionType)
{
    public static StandardAcl FromRecord(AccessControlEntryRecord r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return new(r.ResourceType, r.ResourceName, r.PatternType, r.Principal, r.Host, r.Operation, r.PermissionType);
    }

    public AccessControlEntryRecord ToRecord(Uuid id) => new()
    {
        Id = id, ResourceType = ResourceType, ResourceName = ResourceName, PatternType = PatternType,
        Principal = Principal, Host = Host, Operation = Operation, PermissionType = PermissionType,
    };
}

/// <summary>ACLs by id.</summary>
public sealed class AclsImage
{
    public static readonly AclsImage Empty = new(ImmutableDictionary<Uuid, StandardAcl>.Empty);

    internal AclsImage(ImmutableDictionary<Uuid, StandardAcl> acls) => Acls = acls;

    public ImmutableDictionary<Uuid, StandardAcl> Acls { get; }

    public bool IsEmpty => Acls.IsEmpty;
}

/// <summary>A stored SCRAM credential. The byte arrays are private copies and must not be modified.</summary>
public sealed class ScramCredential(byte[] salt, byte[] storedKey, byte[] serverKey, int iterations) : IEquatable<ScramCredential>
{
    public byte[] Salt { get; } = salt;
    public byte[] StoredKey { get; } = storedKey;
    public byte[] ServerKey { get; } = serverKey;
    public int Iterations { get; } = iterations;

    public bool Equals(ScramCredential? other) =>
        other is not null && Iterations == other.Iterations && Salt.AsSpan().SequenceEqual(other.Salt)
        && StoredKey.AsSpan().SequenceEqual(other.StoredKey) && ServerKey.AsSpan().SequenceEqual(other.ServerKey);

    public override bool Equals(object? obj) => Equals(obj as ScramCredential);
    public override int GetHashCode() => HashCode.Combine(Iterations, Salt.Length, StoredKey.Length);
}

/// <summary>SCRAM credentials: mechanism id (1 SCRAM-SHA-256, 2 SCRAM-SHA-512) → user → credential.</summary>
public sealed class ScramImage
{
    public static readonly ScramImage Empty = new(ImmutableDictionary<sbyte, ImmutableDictionary<string, ScramCredential>>.Empty);

    internal ScramImage(ImmutableDictionary<sbyte, ImmutableDictionary<string, ScramCredential>> mechanisms) => Mechanisms = mechanisms;

    /// <summary>Only mechanisms with at least one user.</summary>
    public ImmutableDictionary<sbyte, ImmutableDictionary<string, ScramCredential>> Mechanisms { get; }

    public ScramCredential? Credential(sbyte mechanism, string user) => Mechanisms.GetValueOrDefault(mechanism)?.GetValueOrDefault(user);

    public bool IsEmpty => Mechanisms.IsEmpty;
}

/// <summary>A delegation token's metadata (DelegationTokenRecord).</summary>
public sealed record DelegationTokenData(string TokenId, string Owner, string Requester, ImmutableArray<string> Renewers,
    long IssueTimestamp, long MaxTimestamp, long ExpirationTimestamp);

/// <summary>Delegation tokens by token id.</summary>
public sealed class DelegationTokensImage
{
    public static readonly DelegationTokensImage Empty = new(ImmutableDictionary<string, DelegationTokenData>.Empty.WithComparers(StringComparer.Ordinal));

    internal DelegationTokensImage(ImmutableDictionary<string, DelegationTokenData> tokens) => Tokens = tokens;

    public ImmutableDictionary<string, DelegationTokenData> Tokens { get; }

    public bool IsEmpty => Tokens.IsEmpty;
}
