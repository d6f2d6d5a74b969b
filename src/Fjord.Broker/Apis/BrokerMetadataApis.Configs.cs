using System.Collections.Immutable;
using System.Globalization;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Apis;

/// <summary>Kafka's ConfigSource ids (DescribeConfigs <c>ConfigSource</c> / synonym <c>Source</c>).</summary>
public static class ConfigSources
{
    public const sbyte Unknown = 0;
    public const sbyte DynamicTopicConfig = 1;
    public const sbyte DynamicBrokerConfig = 2;
    public const sbyte DynamicDefaultBrokerConfig = 3;
    public const sbyte StaticBrokerConfig = 4;
    public const sbyte DefaultConfig = 5;
}

/// <summary>
/// The broker configs that give a topic config its default (Kafka's topic-config synonyms), most
/// specific first, with the factor turning the broker value into the topic config's unit
/// (<c>log.retention.hours</c> × 3,600,000 → <c>retention.ms</c>). Topic configs absent here have no
/// broker synonym.
/// </summary>
public static class TopicConfigSynonyms
{
    public sealed record Synonym(string BrokerConfig, long Factor = 1);

    private const long Minute = 60_000, Hour = 3_600_000;

    public static readonly ImmutableDictionary<string, ImmutableArray<Synonym>> ByTopicConfig = new Dictionary<string, ImmutableArray<Synonym>>
    {
        ["cleanup.policy"] = [new("log.cleanup.policy")],
        ["compression.type"] = [new("compression.type")],
        ["compression.gzip.level"] = [new("compression.gzip.level")],
        ["compression.lz4.level"] = [new("compression.lz4.level")],
        ["compression.zstd.level"] = [new("compression.zstd.level")],
        ["delete.retention.ms"] = [new("log.cleaner.delete.retention.ms")],
        ["file.delete.delay.ms"] = [new("log.segment.delete.delay.ms")],
        ["flush.messages"] = [new("log.flush.interval.messages")],
        ["flush.ms"] = [new("log.flush.interval.ms"), new("log.flush.scheduler.interval.ms")],
        ["index.interval.bytes"] = [new("log.index.interval.bytes")],
        ["local.retention.bytes"] = [new("log.local.retention.bytes")],
        ["local.retention.ms"] = [new("log.local.retention.ms")],
        ["max.compaction.lag.ms"] = [new("log.cleaner.max.compaction.lag.ms")],
        ["max.message.bytes"] = [new("message.max.bytes")],
        ["message.timestamp.after.max.ms"] = [new("log.message.timestamp.after.max.ms")],
        ["message.timestamp.before.max.ms"] = [new("log.message.timestamp.before.max.ms")],
        ["message.timestamp.type"] = [new("log.message.timestamp.type")],
        ["min.cleanable.dirty.ratio"] = [new("log.cleaner.min.cleanable.ratio")],
        ["min.compaction.lag.ms"] = [new("log.cleaner.min.compaction.lag.ms")],
        ["min.insync.replicas"] = [new("min.insync.replicas")],
        ["preallocate"] = [new("log.preallocate")],
        ["retention.bytes"] = [new("log.retention.bytes")],
        ["retention.ms"] = [new("log.retention.ms"), new("log.retention.minutes", Minute), new("log.retention.hours", Hour)],
        ["segment.bytes"] = [new("log.segment.bytes")],
        ["segment.index.bytes"] = [new("log.index.size.max.bytes")],
        ["segment.jitter.ms"] = [new("log.roll.jitter.ms"), new("log.roll.jitter.hours", Hour)],
        ["segment.ms"] = [new("log.roll.ms"), new("log.roll.hours", Hour)],
        ["unclean.leader.election.enable"] = [new("unclean.leader.election.enable")],
    }.ToImmutableDictionary(StringComparer.Ordinal);

    public static ImmutableArray<Synonym> Of(string topicConfig) => ByTopicConfig.GetValueOrDefault(topicConfig, []);
}

public sealed partial class BrokerMetadataApis
{
    private sealed record SourcedValue(string Name, string? Value, sbyte Source, long Factor);

    /// <summary>
    /// DescribeConfigs v0–4.
    /// <list type="bullet">
    /// <item>TOPIC: every known topic config (or the requested keys among them) with its effective
    /// value and source, in precedence order DYNAMIC_TOPIC_CONFIG (the topic's ConfigRecords) →
    /// DYNAMIC_BROKER_CONFIG (this broker's, for the broker synonyms) → DYNAMIC_DEFAULT_BROKER_CONFIG
    /// (cluster default, resource name "") → STATIC_BROKER_CONFIG (<see cref="BrokerApiOptions.StaticConfigs"/>)
    /// → DEFAULT_CONFIG. Synonyms (v1+, when asked) list every level that sets it, in that order.
    /// Illegal name → INVALID_TOPIC_EXCEPTION; absent → UNKNOWN_TOPIC_OR_PARTITION.</item>
    /// <item>BROKER named by this broker's id: the known dynamic broker configs, the static ones and any
    /// dynamic key set for it or cluster-wide (read-only unless dynamically alterable). Name "":
    /// the cluster-wide dynamic defaults. Another broker id or a non-number → INVALID_REQUEST.</item>
    /// <item>Other resource types → INVALID_REQUEST.</item>
    /// </list>
    /// Sensitive values (passwords) are answered null. <c>ConfigType</c> from v3; documentation null.
    /// </summary>
    public DescribeConfigsResponse DescribeConfigs(DescribeConfigsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var image = _image();
        bool synonyms = version >= 1 && request.IncludeSynonyms;
        var response = new DescribeConfigsResponse();
        foreach (var resource in request.Resources)
        {
            var result = new DescribeConfigsResponse.DescribeConfigsResult
            {
                ResourceType = resource.ResourceType,
                ResourceName = resource.ResourceName,
                ErrorMessage = null,
            };
            response.Results.Add(result);
            var (error, message) = resource.ResourceType switch
            {
                ConfigResourceTypes.Topic => DescribeTopicConfigs(image, resource, result, version, synonyms),
                ConfigResourceTypes.Broker => DescribeBrokerConfigs(image, resource, result, version, synonyms),
                _ => (ErrorCode.InvalidRequest, $"Unsupported resource type {resource.ResourceType} for DescribeConfigs"),
            };
            if (error != ErrorCode.None)
            {
                result.ErrorCode = (short)error;
                result.ErrorMessage = message;
                result.Configs.Clear();
            }
        }
        return response;
    }

    private (ErrorCode, string?) DescribeTopicConfigs(MetadataImage image, DescribeConfigsRequest.DescribeConfigsResource resource,
        DescribeConfigsResponse.DescribeConfigsResult result, short version, bool includeSynonyms)
    {
        string name = resource.ResourceName;
        if (!TopicNames.IsValid(name)) return (ErrorCode.InvalidTopicException, $"Topic name \"{name}\" is illegal");
        if (image.Topics.Topic(name) is null) return (ErrorCode.UnknownTopicOrPartition, $"Topic {name} does not exist");
        var topicConfigs = image.Configs.ConfigsOf(new ConfigResource(ConfigResourceTypes.Topic, name));
        foreach (var key in KeysToDescribe(resource.ConfigurationKeys, ConfigDefinitions.TopicConfigs.Keys))
        {
            if (!ConfigDefinitions.TopicConfigs.TryGetValue(key, out var definition)) continue;
            var chain = new List<SourcedValue>();
            if (topicConfigs.TryGetValue(key, out var own)) chain.Add(new SourcedValue(key, own, ConfigSources.DynamicTopicConfig, 1));
            var brokerSynonyms = TopicConfigSynonyms.Of(key);
            chain.AddRange(BrokerChain(image, brokerSynonyms));
            if (definition.Default is not null)
                chain.Add(new SourcedValue(brokerSynonyms.IsEmpty ? key : brokerSynonyms[0].BrokerConfig, definition.Default, ConfigSources.DefaultConfig, 1));
            result.Configs.Add(Entry(key, definition, chain, readOnly: false, version, includeSynonyms));
        }
        return (ErrorCode.None, null);
    }

    private (ErrorCode, string?) DescribeBrokerConfigs(MetadataImage image, DescribeConfigsRequest.DescribeConfigsResource resource,
        DescribeConfigsResponse.DescribeConfigsResult result, short version, bool includeSynonyms)
    {
        string name = resource.ResourceName;
        var clusterDefaults = image.Configs.ConfigsOf(new ConfigResource(ConfigResourceTypes.Broker, ""));
        if (name.Length == 0)
        {
            foreach (var key in KeysToDescribe(resource.ConfigurationKeys, clusterDefaults.Keys))
            {
                if (!clusterDefaults.TryGetValue(key, out var value)) continue;
                var definition = ConfigDefinitions.BrokerConfigs.GetValueOrDefault(key);
                result.Configs.Add(Entry(key, definition, [new SourcedValue(key, value, ConfigSources.DynamicDefaultBrokerConfig, 1)],
                    readOnly: false, version, includeSynonyms));
            }
            return (ErrorCode.None, null);
        }
        if (!int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int id) || id != _options.NodeId)
            return (ErrorCode.InvalidRequest, $"Unexpected broker id, expected {_options.NodeId} or empty string, but received {name}");
        var perBroker = image.Configs.ConfigsOf(new ConfigResource(ConfigResourceTypes.Broker, name));
        var all = ConfigDefinitions.BrokerConfigs.Keys.Concat(_options.StaticConfigs.Keys).Concat(perBroker.Keys).Concat(clusterDefaults.Keys);
        foreach (var key in KeysToDescribe(resource.ConfigurationKeys, all))
        {
            var definition = ConfigDefinitions.BrokerConfigs.GetValueOrDefault(key);
            var chain = BrokerChain(image, [new TopicConfigSynonyms.Synonym(key)]);
            if (definition?.Default is not null) chain.Add(new SourcedValue(key, definition.Default, ConfigSources.DefaultConfig, 1));
            if (chain.Count == 0 && definition is null) continue; // requested but unknown and unset
            result.Configs.Add(Entry(key, definition, chain, readOnly: definition is null, version, includeSynonyms));
        }
        return (ErrorCode.None, null);
    }

    /// <summary>The requested keys (in request order, once each) or all <paramref name="known"/> keys sorted.</summary>
    private static IEnumerable<string> KeysToDescribe(List<string>? requested, IEnumerable<string> known) =>
        requested is null
            ? known.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            : requested.Distinct(StringComparer.Ordinal);

    /// <summary>The broker-level values of <paramref name="synonyms"/>: per-broker dynamic, then
    /// cluster-default dynamic, then static; within a level in synonym order.</summary>
    private List<SourcedValue> BrokerChain(MetadataImage image, ImmutableArray<TopicConfigSynonyms.Synonym> synonyms)
    {
        var chain = new List<SourcedValue>();
        if (synonyms.IsEmpty) return chain;
        var perBroker = image.Configs.ConfigsOf(new ConfigResource(ConfigResourceTypes.Broker, _options.NodeId.ToString(CultureInfo.InvariantCulture)));
        var clusterDefaults = image.Configs.ConfigsOf(new ConfigResource(ConfigResourceTypes.Broker, ""));
        foreach (var (level, source) in new (IReadOnlyDictionary<string, string>, sbyte)[]
                 {
                     (perBroker, ConfigSources.DynamicBrokerConfig),
                     (clusterDefaults, ConfigSources.DynamicDefaultBrokerConfig),
                     (_options.StaticConfigs, ConfigSources.StaticBrokerConfig),
                 })
        {
            foreach (var synonym in synonyms)
                if (level.TryGetValue(synonym.BrokerConfig, out var value))
                    chain.Add(new SourcedValue(synonym.BrokerConfig, value, source, synonym.Factor));
        }
        return chain;
    }

    private static DescribeConfigsResponse.DescribeConfigsResourceResult Entry(string key, ConfigDefinition? definition, List<SourcedValue> chain,
        bool readOnly, short version, bool includeSynonyms)
    {
        bool sensitive = definition?.IsSensitive ?? LooksSensitive(key);
        var effective = chain.Count > 0 ? chain[0] : null;
        sbyte source = effective?.Source ?? ConfigSources.DefaultConfig;
        var entry = new DescribeConfigsResponse.DescribeConfigsResourceResult
        {
            Name = key,
            Value = sensitive || effective is null ? null : Scale(effective.Value, effective.Factor),
            ReadOnly = readOnly,
            ConfigSource = source,
            IsDefault = version == 0 && source == ConfigSources.DefaultConfig,
            IsSensitive = sensitive,
            ConfigType = version >= 3 ? TypeId(definition) : (sbyte)0,
            Documentation = null,
        };
        if (includeSynonyms)
            entry.Synonyms = [.. chain.Select(s => new DescribeConfigsResponse.DescribeConfigsSynonym
            {
                Name = s.Name, Value = sensitive ? null : s.Value, Source = s.Source,
            })];
        return entry;
    }

    /// <summary>A broker value in hours or minutes turned into the topic config's milliseconds.</summary>
    private static string? Scale(string? value, long factor)
    {
        if (value is null || factor == 1) return value;
        return long.TryParse(value.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n) && n <= long.MaxValue / factor && n >= long.MinValue / factor
            ? (n * factor).ToString(CultureInfo.InvariantCulture)
            : value;
    }

    private static bool LooksSensitive(string key) =>
        key.Contains("password", StringComparison.OrdinalIgnoreCase) || key.EndsWith("jaas.config", StringComparison.Ordinal);

    /// <summary>DescribeConfigs' ConfigType ids: BOOLEAN 1, STRING 2, INT 3, LONG 5, DOUBLE 6, LIST 7, CLASS 8, PASSWORD 9; 0 unknown.</summary>
    private static sbyte TypeId(ConfigDefinition? definition) => definition?.Type switch
    {
        ConfigType.Boolean => 1,
        ConfigType.String => 2,
        ConfigType.Int => 3,
        ConfigType.Long => 5,
        ConfigType.Double => 6,
        ConfigType.List => 7,
        ConfigType.Class => 8,
        ConfigType.Password => 9,
        _ => 0,
    };
}
