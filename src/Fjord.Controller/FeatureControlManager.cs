using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>How an UpdateFeatures entry may move a level (the request's UpgradeType, v1+).</summary>
public enum FeatureUpgradeType : sbyte
{
    Upgrade = 1,
    SafeDowngrade = 2,
    UnsafeDowngrade = 3,
}

/// <summary>
/// Finalized feature levels (FeatureLevelRecord) and UpdateFeatures. A level is accepted only when
/// this controller and every registered broker and controller support it. Lowering a level needs a
/// downgrade type; for metadata.version a downgrade is refused unless no level between the target
/// (exclusive) and the current one (inclusive) changed the metadata record formats
/// (<see cref="MetadataVersion.DidMetadataChange"/>), and an unsafe one is refused outright — as
/// Kafka, which does not support lossy metadata downgrades. metadata.version cannot be removed.
/// </summary>
public sealed class FeatureControlManager
{
    private readonly ControllerConfig _config;

    public FeatureControlManager(ControllerConfig config)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
    }

    public ControllerResult<UpdateFeaturesResponse> UpdateFeatures(ControllerState state, UpdateFeaturesRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var response = new UpdateFeaturesResponse { ErrorMessage = null };
        var records = new List<MetadataRecord>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var update in request.FeatureUpdates)
        {
            var type = version == 0
                ? (update.AllowDowngrade ? FeatureUpgradeType.SafeDowngrade : FeatureUpgradeType.Upgrade)
                : (FeatureUpgradeType)update.UpgradeType;
            var (code, message) = seen.Add(update.Feature)
                ? Validate(state, update.Feature, update.MaxVersionLevel, type)
                : (ErrorCode.InvalidRequest, $"feature {update.Feature} is named more than once");
            if (code == ErrorCode.None)
                records.Add(new MetadataRecord(new FeatureLevelRecord { Name = update.Feature, FeatureLevel = Math.Max((short)0, update.MaxVersionLevel) }, 0));
            response.Results.Add(new UpdateFeaturesResponse.UpdatableFeatureResult
            {
                Feature = update.Feature,
                ErrorCode = (short)code,
                ErrorMessage = code == ErrorCode.None ? null : message,
            });
            if (code != ErrorCode.None && response.ErrorCode == 0 && version >= 2)
            {
                // v2 has no per-feature results: the first failure is the answer, and nothing changes.
                response.ErrorCode = (short)code;
                response.ErrorMessage = message;
            }
        }
        if (request.ValidateOnly || response.ErrorCode != 0) records.Clear();
        return new ControllerResult<UpdateFeaturesResponse>(records, response);
    }

    private (ErrorCode, string) Validate(ControllerState state, string feature, short level, FeatureUpgradeType type)
    {
        if (!Enum.IsDefined(type)) return (ErrorCode.InvalidRequest, $"unknown upgrade type {(sbyte)type}");
        if (!_config.SupportedFeatures.TryGetValue(feature, out var supported))
            return (ErrorCode.InvalidUpdateVersion, $"feature {feature} is not supported by the controller");
        short current = state.FinalizedFeatures.TryGetValue(feature, out var c) ? c : (short)0;
        bool isMetadataVersion = feature == MetadataVersion.FeatureName;
        if (level < 1)
        {
            if (isMetadataVersion) return (ErrorCode.InvalidUpdateVersion, $"{feature} cannot be removed");
            if (type == FeatureUpgradeType.Upgrade) return (ErrorCode.InvalidUpdateVersion, $"removing {feature} is a downgrade: set a downgrade type");
            return (ErrorCode.None, "");
        }
        if (!supported.Contains(level))
            return (ErrorCode.InvalidUpdateVersion, $"the controller supports {feature} levels {supported}, not {level}");
        foreach (var broker in state.Brokers.Values)
        {
            var range = broker.Supports(feature);
            if (!range.Contains(level))
                return (ErrorCode.InvalidUpdateVersion, $"broker {broker.Id} does not support {feature} level {level} (supports {range})");
        }
        foreach (var controller in state.Controllers.Values)
        {
            var range = controller.SupportedFeatures.TryGetValue(feature, out var r) ? r : new SupportedRange(0, 0);
            if (!range.Contains(level))
                return (ErrorCode.InvalidUpdateVersion, $"controller {controller.Id} does not support {feature} level {level} (supports {range})");
        }
        if (level < current)
        {
            if (type == FeatureUpgradeType.Upgrade)
                return (ErrorCode.InvalidUpdateVersion, $"{feature} {current} → {level} is a downgrade: set a downgrade type");
            if (isMetadataVersion)
            {
                if (type == FeatureUpgradeType.UnsafeDowngrade)
                    return (ErrorCode.InvalidUpdateVersion, $"unsafe {feature} downgrades are not supported");
                var changed = MetadataVersion.All.Where(v => v.FeatureLevel > level && v.FeatureLevel <= current && v.DidMetadataChange).ToList();
                if (changed.Count > 0)
                    return (ErrorCode.InvalidUpdateVersion,
                        $"{feature} cannot be downgraded safely from {current} to {level}: {string.Join(", ", changed)} changed the metadata format");
            }
        }
        if (isMetadataVersion && MetadataVersion.All.All(v => v.FeatureLevel != level))
            return (ErrorCode.InvalidUpdateVersion, $"unknown {feature} level {level}");
        return (ErrorCode.None, "");
    }
}

/// <summary>
/// Producer id blocks (AllocateProducerIds): each request gets the next <see cref="ControllerConfig.ProducerIdBlockSize"/>
/// ids, recorded as a ProducerIdsRecord naming the start of the block after it, so blocks never
/// overlap and only grow — across failovers too, since the next start is in the log.
/// </summary>
public sealed class ProducerIdControlManager
{
    private readonly ControllerConfig _config;

    public ProducerIdControlManager(ControllerConfig config)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
    }

    public ControllerResult<AllocateProducerIdsResponse> Allocate(ControllerState state, AllocateProducerIdsRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var error = ClusterControlManager.CheckBrokerEpoch(state, request.BrokerId, request.BrokerEpoch);
        if (error == ErrorCode.BrokerIdNotRegistered) error = ErrorCode.StaleBrokerEpoch; // Kafka answers both with STALE_BROKER_EPOCH
        if (error != ErrorCode.None)
            return ControllerResult<AllocateProducerIdsResponse>.Of(new AllocateProducerIdsResponse { ErrorCode = (short)error, ProducerIdStart = -1 });
        long start = state.NextProducerId;
        int size = _config.ProducerIdBlockSize;
        if (start > long.MaxValue - size)
            return ControllerResult<AllocateProducerIdsResponse>.Of(new AllocateProducerIdsResponse { ErrorCode = (short)ErrorCode.UnknownServerError, ProducerIdStart = -1 });
        return ControllerResult<AllocateProducerIdsResponse>.Of(
            new AllocateProducerIdsResponse { ProducerIdStart = start, ProducerIdLen = size },
            new MetadataRecord(new ProducerIdsRecord { BrokerId = request.BrokerId, BrokerEpoch = request.BrokerEpoch, NextProducerId = start + size }, 0));
    }
}
