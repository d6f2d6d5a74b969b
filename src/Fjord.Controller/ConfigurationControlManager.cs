using System.Collections.Immutable;
using System.Globalization;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>
/// Dynamic configs (Kafka's ConfigurationControlManager): IncrementalAlterConfigs and the legacy
/// AlterConfigs for topic and broker resources, validated against <see cref="ConfigDefinitions"/>;
/// also the validation of the configs a CreateTopics request gives. The configs live in
/// <see cref="ControllerState.Configs"/> (ConfigRecords). Stateless: every operation is a function
/// of the state giving records and a response.
/// </summary>
public sealed class ConfigurationControlManager
{
    /// <summary>IncrementalAlterConfigs' operation ids.</summary>
    public const sbyte OpSet = 0, OpDelete = 1, OpAppend = 2, OpSubtract = 3;

    private const sbyte BrokerLoggerType = 8;

    // ------------------------------------------------------------------ IncrementalAlterConfigs

    public ControllerResult<IncrementalAlterConfigsResponse> IncrementalAlterConfigs(ControllerState state, IncrementalAlterConfigsRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var response = new IncrementalAlterConfigsResponse();
        var records = AlterEach(state, request.Resources, r => new ConfigResource(r.ResourceType, r.ResourceName), request.ValidateOnly,
            (current, id, r) => IncrementalAlter(current, id, r.Configs),
            (r, code, message) => response.Responses.Add(new IncrementalAlterConfigsResponse.AlterConfigsResourceResponse
            {
                ErrorCode = (short)code,
                ErrorMessage = code == ErrorCode.None ? null : message,
                ResourceType = r.ResourceType,
                ResourceName = r.ResourceName,
            }));
        return new ControllerResult<IncrementalAlterConfigsResponse>(records, response);
    }

    /// <summary>
    /// The loop both AlterConfigs flavours share: each resource (a resource named twice in the request
    /// is refused) is altered against the state left by the ones before it, answered, and — unless
    /// refused or validate-only — its records are replayed and kept for the one batch.
    /// </summary>
    private static List<MetadataRecord> AlterEach<T>(ControllerState state, IReadOnlyList<T> resources, Func<T, ConfigResource> idOf,
        bool validateOnly, Func<ControllerState, ConfigResource, T, (ErrorCode, string, List<MetadataRecord>)> alter,
        Action<T, ErrorCode, string> answer)
    {
        var records = new List<MetadataRecord>();
        var duplicates = Duplicates(resources.Select(idOf));
        var current = state;
        foreach (var resource in resources)
        {
            var id = idOf(resource);
            var (code, message, resourceRecords) = duplicates.Contains(id)
                ? (ErrorCode.InvalidRequest, "Duplicate resource.", [])
                : alter(current, id, resource);
            answer(resource, code, message);
            if (code != ErrorCode.None || validateOnly) continue;
            foreach (var record in resourceRecords) current = current.Replay(record.Message);
            records.AddRange(resourceRecords);
        }
        return records;
    }

    private static (ErrorCode, string, List<MetadataRecord>) IncrementalAlter(ControllerState state, ConfigResource resource,
        IReadOnlyList<IncrementalAlterConfigsRequest.AlterableConfig> ops)
    {
        var (code, message) = CheckResource(state, resource);
        if (code != ErrorCode.None) return (code, message, []);
        if (ops.GroupBy(o => o.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } repeated)
            return (ErrorCode.InvalidRequest, $"Error due to duplicate config keys: {repeated.Key}", []);

        var old = Existing(state, resource);
        var configs = new Dictionary<string, string>(old, StringComparer.Ordinal);
        foreach (var op in ops)
        {
            if (op.ConfigOperation is not (OpSet or OpDelete or OpAppend or OpSubtract))
                return (ErrorCode.InvalidRequest, $"Unknown operation type {op.ConfigOperation} for config {op.Name}.", []);
            if (op.ConfigOperation != OpDelete && op.Value is null)
                return (ErrorCode.InvalidRequest, $"Null value not supported for : {op.Name}", []);
            switch (op.ConfigOperation)
            {
                case OpSet:
                    configs[op.Name] = op.Value!;
                    break;
                case OpDelete:
                    configs.Remove(op.Name);
                    break;
                default:
                    var definition = ConfigDefinitions.Find(resource.Type, op.Name);
                    string verb = op.ConfigOperation == OpAppend ? "APPEND" : "SUBTRACT";
                    if (definition?.Type != ConfigType.List)
                        return (ErrorCode.InvalidConfig, $"Can't {verb} to key {op.Name} because its type is not LIST.", []);
                    var list = ConfigDefinition.SplitList(configs.TryGetValue(op.Name, out var value) ? value : definition.Default);
                    foreach (var item in ConfigDefinition.SplitList(op.Value))
                    {
                        if (op.ConfigOperation == OpAppend && !list.Contains(item)) list.Add(item);
                        else if (op.ConfigOperation == OpSubtract) list.Remove(item);
                    }
                    configs[op.Name] = string.Join(",", list);
                    break;
            }
        }
        if (ConfigDefinitions.ValidateSet(resource.Type, configs) is { } invalid) return (ErrorCode.InvalidConfig, invalid, []);
        return (ErrorCode.None, "", Changes(resource, old, configs, ops.Select(o => o.Name)));
    }

    // ------------------------------------------------------------------ AlterConfigs (legacy)

    /// <summary>The legacy AlterConfigs: each resource's whole config set becomes the one given
    /// (keys not given are deleted).</summary>
    public ControllerResult<AlterConfigsResponse> AlterConfigs(ControllerState state, AlterConfigsRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var response = new AlterConfigsResponse();
        var records = AlterEach(state, request.Resources, r => new ConfigResource(r.ResourceType, r.ResourceName), request.ValidateOnly,
            (current, id, r) => LegacyAlter(current, id, r.Configs),
            (r, code, message) => response.Responses.Add(new AlterConfigsResponse.AlterConfigsResourceResponse
            {
                ErrorCode = (short)code,
                ErrorMessage = code == ErrorCode.None ? null : message,
                ResourceType = r.ResourceType,
                ResourceName = r.ResourceName,
            }));
        return new ControllerResult<AlterConfigsResponse>(records, response);
    }

    private static (ErrorCode, string, List<MetadataRecord>) LegacyAlter(ControllerState state, ConfigResource resource,
        IReadOnlyList<AlterConfigsRequest.AlterableConfig> entries)
    {
        var (code, message) = CheckResource(state, resource);
        if (code != ErrorCode.None) return (code, message, []);
        var configs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (configs.ContainsKey(entry.Name)) return (ErrorCode.InvalidRequest, $"Error due to duplicate config keys: {entry.Name}", []);
            if (entry.Value is null)
            {
                if (resource.Type == ConfigResource.TopicType)
                    return (ErrorCode.InvalidConfig, $"Null value not supported for topic configs: {entry.Name}", []);
                continue; // a broker key without a value is simply not set
            }
            configs[entry.Name] = entry.Value;
        }
        if (ConfigDefinitions.ValidateSet(resource.Type, configs) is { } invalid) return (ErrorCode.InvalidConfig, invalid, []);
        return (ErrorCode.None, "", Changes(resource, Existing(state, resource), configs));
    }

    // ------------------------------------------------------------------ CreateTopics

    /// <summary>The checks on the configs of a topic being created: keys non-empty and given once
    /// (INVALID_REQUEST for a repeat), values non-null and valid (INVALID_CONFIG).</summary>
    public static (ErrorCode Code, string Message) ValidateNewTopicConfigs(IEnumerable<(string Name, string? Value)> configs)
    {
        ArgumentNullException.ThrowIfNull(configs);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in configs)
        {
            if (string.IsNullOrEmpty(name)) return (ErrorCode.InvalidConfig, "A config key is empty.");
            if (values.ContainsKey(name)) return (ErrorCode.InvalidRequest, $"Config {name} is given more than once.");
            if (value is null) return (ErrorCode.InvalidConfig, $"Null value not supported for topic configs: {name}");
            values[name] = value;
        }
        return ConfigDefinitions.ValidateSet(ConfigResource.TopicType, values) is { } invalid ? (ErrorCode.InvalidConfig, invalid) : (ErrorCode.None, "");
    }

    // ------------------------------------------------------------------ shared

    /// <summary>Kafka's resource checks: BROKER_LOGGER and other types are not the controller's
    /// (INVALID_REQUEST); a broker name is "" (the cluster default) or a non-negative integer
    /// (INVALID_REQUEST) naming a registered broker or controller (BROKER_ID_NOT_REGISTERED); a topic
    /// name must be legal (INVALID_REQUEST) and the topic must exist (UNKNOWN_TOPIC_OR_PARTITION).</summary>
    private static (ErrorCode, string) CheckResource(ControllerState state, ConfigResource resource)
    {
        switch (resource.Type)
        {
            case ConfigResource.BrokerType:
                if (resource.Name.Length == 0) return (ErrorCode.None, "");
                if (!int.TryParse(resource.Name, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int id))
                    return (ErrorCode.InvalidRequest, "Illegal non-integral BROKER resource type name.");
                if (id < 0) return (ErrorCode.InvalidRequest, "Illegal negative broker ID in BROKER resource.");
                if (!state.Brokers.ContainsKey(id) && !state.Controllers.ContainsKey(id))
                    return (ErrorCode.BrokerIdNotRegistered, $"No node with id {id} found.");
                return (ErrorCode.None, "");
            case ConfigResource.TopicType:
                if (ReplicationControlManager.ValidateTopicName(resource.Name).Code != ErrorCode.None)
                    return (ErrorCode.InvalidRequest, "Illegal topic name.");
                if (!state.TopicIds.ContainsKey(resource.Name))
                    return (ErrorCode.UnknownTopicOrPartition, $"The topic '{resource.Name}' does not exist.");
                return (ErrorCode.None, "");
            case BrokerLoggerType:
                return (ErrorCode.InvalidRequest, "Unsupported resource type BROKER_LOGGER.");
            default:
                return (ErrorCode.InvalidRequest, $"Unsupported resource type {resource.Type}.");
        }
    }

    private static ImmutableSortedDictionary<string, string> Existing(ControllerState state, ConfigResource resource) =>
        state.Configs.TryGetValue(resource, out var values) ? values : ImmutableSortedDictionary<string, string>.Empty.WithComparers(StringComparer.Ordinal);

    /// <summary>The ConfigRecords that take <paramref name="resource"/> from <paramref name="old"/> to
    /// <paramref name="next"/>, by key, for the keys <paramref name="touched"/> (null: every key). As
    /// in Kafka, a broker resource gets a record for every key touched even when its value does not
    /// change (brokers reload on it).</summary>
    private static List<MetadataRecord> Changes(ConfigResource resource, IReadOnlyDictionary<string, string> old,
        IReadOnlyDictionary<string, string> next, IEnumerable<string>? touched = null)
    {
        bool broker = resource.Type == ConfigResource.BrokerType;
        var records = new List<MetadataRecord>();
        foreach (var key in (touched ?? old.Keys.Concat(next.Keys)).Distinct().Order(StringComparer.Ordinal))
        {
            var was = old.GetValueOrDefault(key);
            var value = next.GetValueOrDefault(key);
            if (broker || was != value) records.Add(Record(resource, key, value));
        }
        return records;
    }

    private static MetadataRecord Record(ConfigResource resource, string key, string? value) =>
        new(new ConfigRecord { ResourceType = resource.Type, ResourceName = resource.Name, Name = key, Value = value }, 0);

    private static HashSet<ConfigResource> Duplicates(IEnumerable<ConfigResource> resources) =>
        [.. resources.GroupBy(r => r).Where(g => g.Count() > 1).Select(g => g.Key)];
}
