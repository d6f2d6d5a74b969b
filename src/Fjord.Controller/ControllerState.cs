using System.Collections.Immutable;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>A listener a broker or controller serves (name, host, port, security protocol id).</summary>
public sealed record ListenerEndpoint(string Name, string Host, int Port, short SecurityProtocol);

/// <summary>The levels of a feature a node supports (inclusive).</summary>
public readonly record struct SupportedRange(short Min, short Max)
{
    public bool Contains(short level) => level >= Min && level <= Max;
    public override string ToString() => $"{Min}-{Max}";
}

/// <summary>A broker's registration as the metadata log says (RegisterBrokerRecord and what changed it since).</summary>
public sealed record BrokerRegistration(
    int Id,
    long Epoch,
    Uuid IncarnationId,
    ImmutableArray<ListenerEndpoint> Listeners,
    ImmutableSortedDictionary<string, SupportedRange> SupportedFeatures,
    string? Rack,
    bool Fenced,
    bool InControlledShutdown,
    ImmutableArray<Uuid> LogDirs)
{
    /// <summary>The level range the broker supports for <paramref name="feature"/>; a feature it does
    /// not list is supported at level 0 only (Kafka's rule).</summary>
    public SupportedRange Supports(string feature) => SupportedFeatures.TryGetValue(feature, out var range) ? range : new SupportedRange(0, 0);
}

/// <summary>A controller's registration (RegisterControllerRecord).</summary>
public sealed record ControllerRegistration(
    int Id,
    Uuid IncarnationId,
    bool ZkMigrationReady,
    ImmutableArray<ListenerEndpoint> Listeners,
    ImmutableSortedDictionary<string, SupportedRange> SupportedFeatures);

/// <summary>
/// Everything the controller knows, as an immutable value: every write produces a new one, so the
/// controller can keep the state after each of its uncommitted appends and go back to the last
/// committed one by dropping references (see docs/controller.md, "Revert"). <see cref="Replay"/> is
/// the only way state changes, on the active controller (its own records, before they are appended)
/// and on standbys (committed records) alike.
/// </summary>
/// <remarks>Records of kinds not owned by a manager yet (delegation tokens, …) are accepted and
/// ignored here; their managers will keep them. Topics, partitions and configs: ControllerState.Replication.cs;
/// client quotas, ACLs and SCRAM credentials: ControllerState.Security.cs.</remarks>
public sealed partial record ControllerState
{
    public static readonly ControllerState Empty = new();

    public ImmutableSortedDictionary<int, BrokerRegistration> Brokers { get; init; } = ImmutableSortedDictionary<int, BrokerRegistration>.Empty;
    public ImmutableSortedDictionary<int, ControllerRegistration> Controllers { get; init; } = ImmutableSortedDictionary<int, ControllerRegistration>.Empty;
    public ImmutableSortedDictionary<string, short> FinalizedFeatures { get; init; } = ImmutableSortedDictionary<string, short>.Empty.WithComparers(StringComparer.Ordinal);

    /// <summary>The first producer id of the next block to hand out.</summary>
    public long NextProducerId { get; init; }

    /// <summary>Records replayed so far (0: the log holds no metadata yet, the bootstrap is due).</summary>
    public long RecordCount { get; init; }

    /// <summary>The finalized metadata.version, or null before the bootstrap records.</summary>
    public MetadataVersion? MetadataVersion =>
        FinalizedFeatures.TryGetValue(Fjord.Metadata.MetadataVersion.FeatureName, out var level) && level > 0
            ? Fjord.Metadata.MetadataVersion.All.FirstOrDefault(v => v.FeatureLevel == level)
            : null;

    /// <summary>The state after <paramref name="record"/>. Throws <see cref="InvalidOperationException"/>
    /// on a record that contradicts the state (a bug in whoever wrote it).</summary>
    public ControllerState Replay(IKafkaMessage record)
    {
        ArgumentNullException.ThrowIfNull(record);
        // The partition records (nearly all records at scale) count themselves: one state copy each.
        if (record is PartitionRecord partition) return ReplayPartition(partition);
        if (record is PartitionChangeRecord change) return ReplayPartitionChange(change);
        var next = record switch
        {
            RegisterBrokerRecord r => this with { Brokers = Brokers.SetItem(r.BrokerId, ToRegistration(r)) },
            UnregisterBrokerRecord r => this with { Brokers = Brokers.Remove(CheckEpoch(r.BrokerId, r.BrokerEpoch, "UnregisterBrokerRecord").Id) },
            FenceBrokerRecord r => this with { Brokers = Brokers.SetItem(r.Id, CheckEpoch(r.Id, r.Epoch, "FenceBrokerRecord") with { Fenced = true }) },
            UnfenceBrokerRecord r => this with { Brokers = Brokers.SetItem(r.Id, CheckEpoch(r.Id, r.Epoch, "UnfenceBrokerRecord") with { Fenced = false, InControlledShutdown = false }) },
            BrokerRegistrationChangeRecord r => this with { Brokers = Brokers.SetItem(r.BrokerId, ApplyChange(CheckEpoch(r.BrokerId, r.BrokerEpoch, "BrokerRegistrationChangeRecord"), r)) },
            RegisterControllerRecord r => this with { Controllers = Controllers.SetItem(r.ControllerId, ToRegistration(r)) },
            FeatureLevelRecord r => this with
            {
                FinalizedFeatures = r.FeatureLevel <= 0 ? FinalizedFeatures.Remove(r.Name) : FinalizedFeatures.SetItem(r.Name, r.FeatureLevel),
            },
            ProducerIdsRecord r => r.NextProducerId > NextProducerId
                ? this with { NextProducerId = r.NextProducerId }
                : throw new InvalidOperationException($"ProducerIdsRecord moves the next producer id back from {NextProducerId} to {r.NextProducerId}"),
            TopicRecord r => ReplayTopic(r),
            RemoveTopicRecord r => ReplayRemoveTopic(r),
            ConfigRecord r => ReplayConfig(r),
            ClientQuotaRecord r => ReplayClientQuota(r),
            AccessControlEntryRecord r => ReplayAcl(r),
            RemoveAccessControlEntryRecord r => ReplayRemoveAcl(r),
            UserScramCredentialRecord r => ReplayScram(r),
            RemoveUserScramCredentialRecord r => ReplayRemoveScram(r),
            _ => this,
        };
        return next with { RecordCount = RecordCount + 1 };
    }

    /// <summary>The records that rebuild this state from <see cref="Empty"/> (a snapshot's content).</summary>
    public IReadOnlyList<MetadataRecord> ToRecords()
    {
        var records = new List<MetadataRecord>();
        foreach (var (name, level) in FinalizedFeatures)
            records.Add(new MetadataRecord(new FeatureLevelRecord { Name = name, FeatureLevel = level }, 0));
        short brokerVersion = ClusterControlManager.RegisterBrokerRecordVersion(MetadataVersion ?? Fjord.Metadata.MetadataVersion.MinimumKRaftVersion);
        foreach (var broker in Brokers.Values) records.Add(new MetadataRecord(ClusterControlManager.ToRecord(broker), brokerVersion));
        foreach (var controller in Controllers.Values)
            records.Add(new MetadataRecord(ClusterControlManager.ToRecord(controller), 0));
        AddReplicationRecords(records);
        AddSecurityRecords(records);
        if (NextProducerId > 0)
            records.Add(new MetadataRecord(new ProducerIdsRecord { BrokerId = -1, BrokerEpoch = -1, NextProducerId = NextProducerId }, 0));
        return records;
    }

    private BrokerRegistration CheckEpoch(int brokerId, long epoch, string what)
    {
        if (!Brokers.TryGetValue(brokerId, out var broker))
            throw new InvalidOperationException($"{what} for broker {brokerId}, which is not registered");
        if (broker.Epoch != epoch)
            throw new InvalidOperationException($"{what} for broker {brokerId} epoch {epoch}, but its registration has epoch {broker.Epoch}");
        return broker;
    }

    private static BrokerRegistration ApplyChange(BrokerRegistration broker, BrokerRegistrationChangeRecord r)
    {
        var next = r.Fenced switch
        {
            1 => broker with { Fenced = true },
            -1 => broker with { Fenced = false },
            0 => broker,
            _ => throw new InvalidOperationException($"BrokerRegistrationChangeRecord: invalid Fenced value {r.Fenced}"),
        };
        next = r.InControlledShutdown switch
        {
            1 => next with { InControlledShutdown = true },
            0 => next,
            _ => throw new InvalidOperationException($"BrokerRegistrationChangeRecord: invalid InControlledShutdown value {r.InControlledShutdown}"),
        };
        return r.LogDirs.Count > 0 ? next with { LogDirs = [.. r.LogDirs] } : next;
    }

    private static BrokerRegistration ToRegistration(RegisterBrokerRecord r) => new(
        r.BrokerId,
        r.BrokerEpoch,
        r.IncarnationId,
        [.. r.EndPoints.Select(e => new ListenerEndpoint(e.Name, e.Host, e.Port, e.SecurityProtocol))],
        r.Features.ToImmutableSortedDictionary(f => f.Name, f => new SupportedRange(f.MinSupportedVersion, f.MaxSupportedVersion), StringComparer.Ordinal),
        r.Rack,
        r.Fenced,
        r.InControlledShutdown,
        [.. r.LogDirs]);

    private static ControllerRegistration ToRegistration(RegisterControllerRecord r) => new(
        r.ControllerId,
        r.IncarnationId,
        r.ZkMigrationReady,
        [.. r.EndPoints.Select(e => new ListenerEndpoint(e.Name, e.Host, e.Port, e.SecurityProtocol))],
        r.Features.ToImmutableSortedDictionary(f => f.Name, f => new SupportedRange(f.MinSupportedVersion, f.MaxSupportedVersion), StringComparer.Ordinal));
}
