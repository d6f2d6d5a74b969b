using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>
/// Brokers and controllers: registration (RegisterBrokerRecord, RegisterControllerRecord),
/// unregistration, heartbeats, fencing by session timeout, unfencing once caught up, controlled
/// shutdown. The registrations live in <see cref="ControllerState"/>; this class keeps only the soft
/// state Kafka's BrokerHeartbeatManager keeps — when each broker was last heard from — which is
/// not replicated: a new active controller starts every session afresh when it takes over.
/// </summary>
/// <remarks>Runs on the controller's event loop only.</remarks>
public sealed class ClusterControlManager
{
    private readonly ControllerConfig _config;
    private readonly Dictionary<int, long> _lastContactMs = [];

    public ClusterControlManager(ControllerConfig config)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
    }

    /// <summary>Whether a broker leads partitions in a state: controlled shutdown completes only once
    /// it leads none (the controller wires <see cref="ReplicationControlManager.LeadsPartitions"/>).</summary>
    public Func<ControllerState, int, bool> LeadsPartitions { get; set; } = ReplicationControlManager.LeadsPartitions;

    /// <summary>A broker has a live session when it was heard from within the session timeout.</summary>
    public bool HasLiveSession(int brokerId, long now) =>
        _lastContactMs.TryGetValue(brokerId, out var last) && now - last < _config.BrokerSessionTimeoutMs;

    /// <summary>A new active controller gives every registered broker a full session from now.</summary>
    public void ResetSessions(ControllerState state, long now)
    {
        ArgumentNullException.ThrowIfNull(state);
        _lastContactMs.Clear();
        foreach (var id in state.Brokers.Keys) _lastContactMs[id] = now;
    }

    /// <summary>BrokerRegistration: a RegisterBrokerRecord whose broker epoch is the offset the record
    /// gets (<paramref name="recordOffset"/>), fenced until the broker catches up.</summary>
    public ControllerResult<BrokerRegistrationResponse> RegisterBroker(ControllerState state, BrokerRegistrationRequest request, short version,
        long recordOffset, long now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        if (request.ClusterId != _config.ClusterId) return Fail(ErrorCode.InconsistentClusterId);
        if (request.BrokerId < 0) return Fail(ErrorCode.InvalidRegistration);
        var metadataVersion = state.MetadataVersion;
        if (metadataVersion is null) return Fail(ErrorCode.InvalidRegistration); // no metadata.version yet: the log is not bootstrapped
        if (state.Brokers.TryGetValue(request.BrokerId, out var existing)
            && existing.IncarnationId != request.IncarnationId && HasLiveSession(request.BrokerId, now))
            return Fail(ErrorCode.DuplicateBrokerRegistration);

        // Every finalized feature's level must be supported. Before v4 a broker leaves out features
        // whose lowest level is 0, so an absent feature is only checked from v4 on.
        foreach (var (name, level) in state.FinalizedFeatures)
        {
            var listed = request.Features.FirstOrDefault(f => f.Name == name);
            if (listed is null && version < 4 && name != MetadataVersion.FeatureName) continue;
            var range = listed is null ? new SupportedRange(0, 0) : new SupportedRange(listed.MinSupportedVersion, listed.MaxSupportedVersion);
            if (!range.Contains(level)) return Fail(ErrorCode.UnsupportedVersion);
        }

        var record = new RegisterBrokerRecord
        {
            BrokerId = request.BrokerId,
            IncarnationId = request.IncarnationId,
            BrokerEpoch = recordOffset,
            EndPoints = [.. request.Listeners.Select(l => new RegisterBrokerRecord.BrokerEndpoint { Name = l.Name, Host = l.Host, Port = l.Port, SecurityProtocol = l.SecurityProtocol })],
            Features = [.. request.Features.Select(f => new RegisterBrokerRecord.BrokerFeature { Name = f.Name, MinSupportedVersion = f.MinSupportedVersion, MaxSupportedVersion = f.MaxSupportedVersion })],
            Rack = request.Rack,
            Fenced = true,
            InControlledShutdown = false,
            IsMigratingZkBroker = request.IsMigratingZkBroker,
            LogDirs = [.. request.LogDirs],
        };
        _lastContactMs[request.BrokerId] = now;
        return ControllerResult<BrokerRegistrationResponse>.Of(
            new BrokerRegistrationResponse { BrokerEpoch = recordOffset },
            new MetadataRecord(record, RegisterBrokerRecordVersion(metadataVersion)));

        static ControllerResult<BrokerRegistrationResponse> Fail(ErrorCode code) =>
            ControllerResult<BrokerRegistrationResponse>.Of(new BrokerRegistrationResponse { ErrorCode = (short)code, BrokerEpoch = -1 });
    }

    /// <summary>
    /// BrokerHeartbeat: refreshes the session, then moves the broker through Kafka's states —
    /// fenced → unfenced once it wants it and has replayed up to its own registration; unfenced →
    /// fenced when it asks; unfenced → controlled shutdown when it wants to shut down, and from there
    /// fenced (and told to shut down) as soon as it leads no partition; fenced and shutting down →
    /// told to shut down at once.
    /// </summary>
    public ControllerResult<BrokerHeartbeatResponse> Heartbeat(ControllerState state, BrokerHeartbeatRequest request, long now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var error = CheckBrokerEpoch(state, request.BrokerId, request.BrokerEpoch);
        if (error != ErrorCode.None)
            return ControllerResult<BrokerHeartbeatResponse>.Of(new BrokerHeartbeatResponse { ErrorCode = (short)error, IsFenced = true });
        var broker = state.Brokers[request.BrokerId];
        var metadataVersion = state.MetadataVersion ?? MetadataVersion.MinimumKRaftVersion;
        _lastContactMs[request.BrokerId] = now;
        bool caughtUp = request.CurrentMetadataOffset >= broker.Epoch;
        var records = new List<MetadataRecord>();
        bool fenced = broker.Fenced;
        bool shutDown = false;

        if (broker.Fenced)
        {
            if (request.WantShutDown) shutDown = true;
            else if (!request.WantFence && caughtUp)
            {
                records.Add(Unfence(broker));
                fenced = false;
            }
        }
        else if (request.WantFence)
        {
            records.Add(Fence(broker));
            fenced = true;
        }
        else if (request.WantShutDown || broker.InControlledShutdown)
        {
            if (!broker.InControlledShutdown && metadataVersion.FeatureLevel >= ControlledShutdownRecordLevel)
                records.Add(new MetadataRecord(
                    new BrokerRegistrationChangeRecord { BrokerId = broker.Id, BrokerEpoch = broker.Epoch, InControlledShutdown = 1 },
                    BrokerRegistrationChangeRecordVersion(metadataVersion)));
            if (!LeadsPartitions(state, broker.Id))
            {
                records.Add(Fence(broker));
                fenced = true;
                shutDown = true;
            }
        }
        return new ControllerResult<BrokerHeartbeatResponse>(records, new BrokerHeartbeatResponse
        {
            IsCaughtUp = caughtUp,
            IsFenced = fenced,
            ShouldShutDown = shutDown,
        });
    }

    /// <summary>FenceBrokerRecords for every unfenced broker whose session has expired.</summary>
    public IReadOnlyList<MetadataRecord> FenceStaleBrokers(ControllerState state, long now)
    {
        ArgumentNullException.ThrowIfNull(state);
        var records = new List<MetadataRecord>();
        foreach (var broker in state.Brokers.Values)
        {
            if (broker.Fenced) continue;
            if (!_lastContactMs.ContainsKey(broker.Id)) _lastContactMs[broker.Id] = now; // first seen by this controller: a full session
            else if (!HasLiveSession(broker.Id, now)) records.Add(Fence(broker));
        }
        return records;
    }

    /// <summary>UnregisterBroker: an UnregisterBrokerRecord for the current registration.</summary>
    public ControllerResult<UnregisterBrokerResponse> UnregisterBroker(ControllerState state, UnregisterBrokerRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        if (!state.Brokers.TryGetValue(request.BrokerId, out var broker))
            return ControllerResult<UnregisterBrokerResponse>.Of(new UnregisterBrokerResponse
            {
                ErrorCode = (short)ErrorCode.BrokerIdNotRegistered,
                ErrorMessage = $"broker {request.BrokerId} is not registered",
            });
        _lastContactMs.Remove(broker.Id);
        return ControllerResult<UnregisterBrokerResponse>.Of(new UnregisterBrokerResponse { ErrorMessage = null },
            new MetadataRecord(new UnregisterBrokerRecord { BrokerId = broker.Id, BrokerEpoch = broker.Epoch }, 0));
    }

    /// <summary>ControllerRegistration: a RegisterControllerRecord (needs metadata.version 3.7-IV0,
    /// and support for every finalized feature level).</summary>
    public static ControllerResult<ControllerRegistrationResponse> RegisterController(ControllerState state, ControllerRegistrationRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        if (state.MetadataVersion is not { } metadataVersion || metadataVersion.FeatureLevel < ControllerRegistrationLevel)
            return Fail(ErrorCode.UnsupportedVersion, $"controller registration needs {MetadataVersion.FeatureName} 3.7-IV0 or later");
        foreach (var (name, level) in state.FinalizedFeatures)
        {
            var listed = request.Features.FirstOrDefault(f => f.Name == name);
            var range = listed is null ? new SupportedRange(0, 0) : new SupportedRange(listed.MinSupportedVersion, listed.MaxSupportedVersion);
            if (!range.Contains(level))
                return Fail(ErrorCode.UnsupportedVersion, $"controller {request.ControllerId} does not support {name} level {level} (supports {range})");
        }
        var record = new RegisterControllerRecord
        {
            ControllerId = request.ControllerId,
            IncarnationId = request.IncarnationId,
            ZkMigrationReady = request.ZkMigrationReady,
            EndPoints = [.. request.Listeners.Select(l => new RegisterControllerRecord.ControllerEndpoint { Name = l.Name, Host = l.Host, Port = l.Port, SecurityProtocol = l.SecurityProtocol })],
            Features = [.. request.Features.Select(f => new RegisterControllerRecord.ControllerFeature { Name = f.Name, MinSupportedVersion = f.MinSupportedVersion, MaxSupportedVersion = f.MaxSupportedVersion })],
        };
        return ControllerResult<ControllerRegistrationResponse>.Of(new ControllerRegistrationResponse { ErrorMessage = null }, new MetadataRecord(record, 0));

        static ControllerResult<ControllerRegistrationResponse> Fail(ErrorCode code, string message) =>
            ControllerResult<ControllerRegistrationResponse>.Of(new ControllerRegistrationResponse { ErrorCode = (short)code, ErrorMessage = message });
    }

    /// <summary>BROKER_ID_NOT_REGISTERED when there is no registration, STALE_BROKER_EPOCH when it has
    /// another epoch, NONE otherwise.</summary>
    public static ErrorCode CheckBrokerEpoch(ControllerState state, int brokerId, long brokerEpoch)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.Brokers.TryGetValue(brokerId, out var broker)) return ErrorCode.BrokerIdNotRegistered;
        return broker.Epoch == brokerEpoch ? ErrorCode.None : ErrorCode.StaleBrokerEpoch;
    }

    /// <summary>metadata.version levels that changed these records: BrokerRegistrationChangeRecord
    /// (3.3-IV2), its InControlledShutdown (3.3-IV3), RegisterBrokerRecord v2 (3.4-IV0), log
    /// directories (3.7-IV2), controller registration (3.7-IV0).</summary>
    internal const short ControlledShutdownRecordLevel = 7;
    internal const short ControllerRegistrationLevel = 15;

    internal static short RegisterBrokerRecordVersion(MetadataVersion version) => version.FeatureLevel switch
    {
        >= 17 => 3,
        >= 8 => 2,
        >= 7 => 1,
        _ => 0,
    };

    internal static short BrokerRegistrationChangeRecordVersion(MetadataVersion version) => version.FeatureLevel >= 17 ? (short)2 : (short)1;

    private static MetadataRecord Fence(BrokerRegistration broker) =>
        new(new FenceBrokerRecord { Id = broker.Id, Epoch = broker.Epoch }, 0);

    private static MetadataRecord Unfence(BrokerRegistration broker) =>
        new(new UnfenceBrokerRecord { Id = broker.Id, Epoch = broker.Epoch }, 0);

    internal static RegisterBrokerRecord ToRecord(BrokerRegistration broker) => new()
    {
        BrokerId = broker.Id,
        IncarnationId = broker.IncarnationId,
        BrokerEpoch = broker.Epoch,
        EndPoints = [.. broker.Listeners.Select(l => new RegisterBrokerRecord.BrokerEndpoint { Name = l.Name, Host = l.Host, Port = (ushort)l.Port, SecurityProtocol = l.SecurityProtocol })],
        Features = [.. broker.SupportedFeatures.Select(f => new RegisterBrokerRecord.BrokerFeature { Name = f.Key, MinSupportedVersion = f.Value.Min, MaxSupportedVersion = f.Value.Max })],
        Rack = broker.Rack,
        Fenced = broker.Fenced,
        InControlledShutdown = broker.InControlledShutdown,
        LogDirs = [.. broker.LogDirs],
    };

    internal static RegisterControllerRecord ToRecord(ControllerRegistration controller) => new()
    {
        ControllerId = controller.Id,
        IncarnationId = controller.IncarnationId,
        ZkMigrationReady = controller.ZkMigrationReady,
        EndPoints = [.. controller.Listeners.Select(l => new RegisterControllerRecord.ControllerEndpoint { Name = l.Name, Host = l.Host, Port = (ushort)l.Port, SecurityProtocol = l.SecurityProtocol })],
        Features = [.. controller.SupportedFeatures.Select(f => new RegisterControllerRecord.ControllerFeature { Name = f.Key, MinSupportedVersion = f.Value.Min, MaxSupportedVersion = f.Value.Max })],
    };
}
