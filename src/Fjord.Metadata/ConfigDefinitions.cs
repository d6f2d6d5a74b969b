using System.Collections.Immutable;
using System.Globalization;

namespace Fjord.Metadata;

/// <summary>Kafka's ConfigDef types.</summary>
public enum ConfigType
{
    Boolean,
    Int,
    Long,
    Double,
    String,
    List,
    Class,
    Password,
}

/// <summary>
/// One known config: its key, type, default (as Kafka would print it; null = no default), the
/// resource type it belongs to (<see cref="ConfigResourceTypes.Topic"/> or
/// <see cref="ConfigResourceTypes.Broker"/>) and its validator: an inclusive numeric range, a set of
/// allowed values (for a list: allowed elements), or a custom check.
/// </summary>
public sealed record ConfigDefinition(string Name, ConfigType Type, string? Default, sbyte ResourceType)
{
    public double? Min { get; init; }
    public double? Max { get; init; }

    /// <summary>Allowed values (strings) or list elements (lists); null: any.</summary>
    public ImmutableArray<string>? ValidValues { get; init; }

    /// <summary>Whether the value of a string or list may be case-insensitively one of <see cref="ValidValues"/>.</summary>
    public bool IgnoreCase { get; init; }

    /// <summary>Whether an empty list is accepted.</summary>
    public bool AllowEmptyList { get; init; } = true;

    /// <summary>A check beyond type, range and allowed values: null when the (trimmed) value is valid, else why not.</summary>
    public Func<string, string?>? Check { get; init; }

    public bool IsSensitive => Type == ConfigType.Password;

    /// <summary>Null when <paramref name="value"/> is a valid value of this config, else Kafka's
    /// "Invalid value … for configuration …" message.</summary>
    public string? Validate(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string trimmed = value.Trim();
        string? why = Type switch
        {
            ConfigType.Boolean => trimmed.Equals("true", StringComparison.OrdinalIgnoreCase) || trimmed.Equals("false", StringComparison.OrdinalIgnoreCase)
                ? null : "Expected value to be either true or false",
            ConfigType.Int => int.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int i)
                ? CheckRange(i) : "Not a number of type INT",
            ConfigType.Long => long.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)
                ? CheckRange(l) : "Not a number of type LONG",
            ConfigType.Double => double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d)
                ? CheckRange(d) : "Not a number of type DOUBLE",
            ConfigType.String => CheckValue(trimmed),
            ConfigType.List => CheckList(trimmed),
            ConfigType.Class => trimmed.Length == 0 || IsClassName(trimmed) ? null : "Class not found: not a valid class name",
            ConfigType.Password => null,
            _ => "Unknown config type",
        };
        why ??= Check?.Invoke(trimmed);
        return why is null ? null : $"Invalid value {(IsSensitive ? "[hidden]" : value)} for configuration {Name}: {why}";
    }

    /// <summary>The elements of a list value (Kafka's syntax: comma-separated, trimmed, empty → no element).</summary>
    public static List<string> SplitList(string? value) =>
        string.IsNullOrWhiteSpace(value) ? [] : [.. value.Split(',', StringSplitOptions.TrimEntries)];

    private string? CheckRange(double v)
    {
        if (Min is { } min && v < min)
            return Max is { } max0 ? $"Value must be in the range [{Format(min)}, ...{Format(max0)}]" : $"Value must be at least {Format(min)}";
        if (Max is { } max && v > max)
            return Min is { } min0 ? $"Value must be in the range [{Format(min0)}, ...{Format(max)}]" : $"Value must be no more than {Format(max)}";
        return null;
    }

    private static string Format(double v) => v.ToString(CultureInfo.InvariantCulture);

    private string? CheckValue(string value)
    {
        if (ValidValues is not { } valid) return null;
        var comparison = IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return valid.Any(v => string.Equals(v, value, comparison)) ? null : $"String must be one of: {string.Join(", ", valid)}";
    }

    private string? CheckList(string value)
    {
        var items = SplitList(value);
        if (items.Count == 0) return AllowEmptyList ? null : "Empty list is not allowed";
        if (items.Any(i => i.Length == 0)) return "A list element is empty";
        if (ValidValues is not { } valid) return null;
        var comparison = IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        foreach (var item in items)
            if (!valid.Any(v => string.Equals(v, item, comparison)))
                return $"Invalid value {item} for configuration {Name}: String must be one of: {string.Join(", ", valid)}";
        return null;
    }

    private static bool IsClassName(string value)
    {
        foreach (var part in value.Split('.'))
        {
            if (part.Length == 0 || !(char.IsLetter(part[0]) || part[0] is '_' or '$')) return false;
            if (!part.All(c => char.IsLetterOrDigit(c) || c is '_' or '$')) return false;
        }
        return true;
    }
}

/// <summary>
/// The configs Fjord knows (Kafka's names, types, defaults and validators): the topic
/// configs of Kafka's TopicConfig/LogConfig and a set of dynamic broker configs. Topic resources
/// accept only these keys; broker resources accept any key (Kafka allows custom and
/// listener-prefixed broker configs) but validate the values of the keys known here.
/// </summary>
public static class ConfigDefinitions
{
    private const sbyte Topic = ConfigResourceTypes.Topic;
    private const sbyte Broker = ConfigResourceTypes.Broker;

    private static readonly ImmutableArray<string> CompressionTypes = ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
    private static readonly ImmutableArray<string> CleanupPolicies = ["compact", "delete"];
    private static readonly ImmutableArray<string> TimestampTypes = ["CreateTime", "LogAppendTime"];

    private static ConfigDefinition Long(string name, string? def, sbyte type, double? min = null, double? max = null) => new(name, ConfigType.Long, def, type) { Min = min, Max = max };
    private static ConfigDefinition Int(string name, string? def, sbyte type, double? min = null, double? max = null) => new(name, ConfigType.Int, def, type) { Min = min, Max = max };
    private static ConfigDefinition Double(string name, string? def, sbyte type, double? min = null, double? max = null) => new(name, ConfigType.Double, def, type) { Min = min, Max = max };
    private static ConfigDefinition Bool(string name, string def, sbyte type) => new(name, ConfigType.Boolean, def, type);
    private static ConfigDefinition String(string name, string? def, sbyte type, ImmutableArray<string>? valid = null) => new(name, ConfigType.String, def, type) { ValidValues = valid };

    private const string LongMax = "9223372036854775807";
    private const string IntMax = "2147483647";

    /// <summary>Topic configs (Kafka's TopicConfig keys with LogConfig's types, defaults and validators).</summary>
    public static readonly ImmutableDictionary<string, ConfigDefinition> TopicConfigs = new ConfigDefinition[]
    {
        new("cleanup.policy", ConfigType.List, "delete", Topic) { ValidValues = CleanupPolicies, AllowEmptyList = false },
        String("compression.type", "producer", Topic, CompressionTypes),
        Int("compression.gzip.level", "-1", Topic) with { Check = v => v == "-1" || int.Parse(v, CultureInfo.InvariantCulture) is >= 1 and <= 9 ? null : "Value must be -1 or in the range [1, ...9]" },
        Int("compression.lz4.level", "9", Topic, 1, 17),
        Int("compression.zstd.level", "3", Topic, -131072, 22),
        Long("delete.retention.ms", "86400000", Topic, 0),
        Long("file.delete.delay.ms", "60000", Topic, 0),
        Long("flush.messages", LongMax, Topic, 1),
        Long("flush.ms", LongMax, Topic, 0),
        new("follower.replication.throttled.replicas", ConfigType.List, "", Topic) { Check = ThrottledReplicas },
        new("leader.replication.throttled.replicas", ConfigType.List, "", Topic) { Check = ThrottledReplicas },
        Int("index.interval.bytes", "4096", Topic, 0),
        Long("local.retention.bytes", "-2", Topic, -2),
        Long("local.retention.ms", "-2", Topic, -2),
        Long("max.compaction.lag.ms", LongMax, Topic, 1),
        Int("max.message.bytes", "1048588", Topic, 0),
        Long("message.timestamp.after.max.ms", "3600000", Topic, 0),
        Long("message.timestamp.before.max.ms", LongMax, Topic, 0),
        String("message.timestamp.type", "CreateTime", Topic, TimestampTypes),
        Double("min.cleanable.dirty.ratio", "0.5", Topic, 0, 1),
        Long("min.compaction.lag.ms", "0", Topic, 0),
        Int("min.insync.replicas", "1", Topic, 1),
        Bool("preallocate", "false", Topic),
        Bool("remote.storage.enable", "false", Topic),
        Bool("remote.log.copy.disable", "false", Topic),
        Bool("remote.log.delete.on.disable", "false", Topic),
        Long("retention.bytes", "-1", Topic),
        Long("retention.ms", "604800000", Topic, -1),
        Int("segment.bytes", "1073741824", Topic, 14),
        Int("segment.index.bytes", "10485760", Topic, 4),
        Long("segment.jitter.ms", "0", Topic, 0),
        Long("segment.ms", "604800000", Topic, 1),
        Bool("unclean.leader.election.enable", "false", Topic),
    }.ToImmutableDictionary(d => d.Name, StringComparer.Ordinal);

    /// <summary>Broker configs that may be changed dynamically (per broker or cluster-wide, resource name "").</summary>
    public static readonly ImmutableDictionary<string, ConfigDefinition> BrokerConfigs = new ConfigDefinition[]
    {
        Int("background.threads", "10", Broker, 1),
        String("compression.type", "producer", Broker, CompressionTypes),
        Long("follower.replication.throttled.rate", LongMax, Broker, 0),
        Long("leader.replication.throttled.rate", LongMax, Broker, 0),
        Long("replica.alter.log.dirs.io.max.bytes.per.second", LongMax, Broker, 0),
        new("log.cleanup.policy", ConfigType.List, "delete", Broker) { ValidValues = CleanupPolicies, AllowEmptyList = false },
        Long("log.cleaner.backoff.ms", "15000", Broker, 0),
        Long("log.cleaner.dedupe.buffer.size", "134217728", Broker),
        Long("log.cleaner.delete.retention.ms", "86400000", Broker, 0),
        Double("log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308", Broker),
        Long("log.cleaner.max.compaction.lag.ms", LongMax, Broker, 1),
        Double("log.cleaner.min.cleanable.ratio", "0.5", Broker, 0, 1),
        Long("log.cleaner.min.compaction.lag.ms", "0", Broker, 0),
        Int("log.cleaner.threads", "1", Broker, 0),
        Long("log.flush.interval.messages", LongMax, Broker, 1),
        Long("log.flush.interval.ms", null, Broker),
        Int("log.index.interval.bytes", "4096", Broker, 0),
        Int("log.index.size.max.bytes", "10485760", Broker, 4),
        Long("log.local.retention.bytes", "-2", Broker, -2),
        Long("log.local.retention.ms", "-2", Broker, -2),
        Long("log.message.timestamp.after.max.ms", "3600000", Broker, 0),
        Long("log.message.timestamp.before.max.ms", LongMax, Broker, 0),
        String("log.message.timestamp.type", "CreateTime", Broker, TimestampTypes),
        Bool("log.preallocate", "false", Broker),
        Long("log.retention.bytes", "-1", Broker),
        Long("log.retention.ms", null, Broker, -1),
        Long("log.roll.jitter.ms", null, Broker, 0),
        Long("log.roll.ms", null, Broker, 1),
        Int("log.segment.bytes", "1073741824", Broker, 14),
        Long("log.segment.delete.delay.ms", "60000", Broker, 0),
        Int("max.connection.creation.rate", IntMax, Broker, 0),
        Int("max.connections", IntMax, Broker, 0),
        Int("max.connections.per.ip", IntMax, Broker, 0),
        String("max.connections.per.ip.overrides", "", Broker),
        Int("message.max.bytes", "1048588", Broker, 0),
        new("metric.reporters", ConfigType.List, "", Broker) { Check = v => ConfigDefinition.SplitList(v).All(c => new ConfigDefinition("", ConfigType.Class, null, Broker).Validate(c) is null) ? null : "not a list of class names" },
        Int("min.insync.replicas", "1", Broker, 1),
        Int("num.io.threads", "8", Broker, 1),
        Int("num.network.threads", "3", Broker, 1),
        Int("num.recovery.threads.per.data.dir", "2", Broker, 1),
        Int("num.replica.alter.log.dirs.threads", null, Broker),
        Int("num.replica.fetchers", "1", Broker),
        Int("producer.id.expiration.ms", "86400000", Broker, 1),
        new("sasl.jaas.config", ConfigType.Password, null, Broker),
        new("ssl.engine.factory.class", ConfigType.Class, null, Broker),
        new("ssl.key.password", ConfigType.Password, null, Broker),
        String("ssl.keystore.location", null, Broker),
        new("ssl.keystore.password", ConfigType.Password, null, Broker),
        String("ssl.keystore.type", "JKS", Broker),
        String("ssl.truststore.location", null, Broker),
        new("ssl.truststore.password", ConfigType.Password, null, Broker),
        Bool("transaction.partition.verification.enable", "true", Broker),
        Bool("unclean.leader.election.enable", "false", Broker),
    }.ToImmutableDictionary(d => d.Name, StringComparer.Ordinal);

    /// <summary>The definition of <paramref name="key"/> for resources of <paramref name="resourceType"/>, or null.</summary>
    public static ConfigDefinition? Find(sbyte resourceType, string key) => resourceType switch
    {
        Topic => TopicConfigs.GetValueOrDefault(key),
        Broker => BrokerConfigs.GetValueOrDefault(key),
        _ => null,
    };

    /// <summary>
    /// Checks a resource's whole resulting config set: every key known (topics) and every known
    /// key's value valid, plus Kafka's cross-config rules (min.compaction.lag.ms ≤ max.compaction.lag.ms).
    /// Null when valid, else the INVALID_CONFIG message naming the key.
    /// </summary>
    public static string? ValidateSet(sbyte resourceType, IReadOnlyDictionary<string, string> configs)
    {
        ArgumentNullException.ThrowIfNull(configs);
        foreach (var (key, value) in configs.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            var definition = Find(resourceType, key);
            if (definition is null)
            {
                if (resourceType == Topic) return $"Unknown topic config name: {key}";
                continue;
            }
            if (definition.Validate(value) is { } error) return error;
        }
        if (resourceType == Topic)
        {
            long minLag = LongValue(configs, "min.compaction.lag.ms"), maxLag = LongValue(configs, "max.compaction.lag.ms");
            if (minLag > maxLag)
                return $"conflict topic config setting min.compaction.lag.ms ({minLag}) > max.compaction.lag.ms ({maxLag})";
        }
        return null;

        static long LongValue(IReadOnlyDictionary<string, string> configs, string key) =>
            long.Parse(configs.TryGetValue(key, out var v) ? v.Trim() : TopicConfigs[key].Default!, CultureInfo.InvariantCulture);
    }

    /// <summary>Kafka's throttled-replicas syntax: "*", or a list of "partition:brokerId".</summary>
    private static string? ThrottledReplicas(string value)
    {
        if (value == "*") return null;
        foreach (var item in ConfigDefinition.SplitList(value))
        {
            var parts = item.Split(':');
            if (parts.Length != 2 || !parts.All(p => int.TryParse(p.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                return "must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...";
        }
        return null;
    }
}
