using Fjord.Broker.Apis;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using static Fjord.Broker.Tests.Apis.ApiTestSupport;

namespace Fjord.Broker.Tests.Apis;

public sealed class DescribeConfigsTests
{
    private const sbyte TopicType = ConfigResourceTypes.Topic, BrokerType = ConfigResourceTypes.Broker;
    private static readonly Uuid T = Id(21);

    private static readonly Dictionary<string, string> Static = new(StringComparer.Ordinal)
    {
        ["log.retention.hours"] = "72",
        ["log.segment.bytes"] = "536870912",
        ["num.partitions"] = "6",
        ["min.insync.replicas"] = "2",
        ["ssl.keystore.password"] = "secret-static",
    };

    /// <summary>Topic "t" with retention.ms=1000 set; broker 1 dynamic: log.cleanup.policy=compact,
    /// cluster default: log.retention.ms=7200000 and min.insync.replicas=3.</summary>
    private static MetadataImage Configured() => Image(
        Mv(), BrokerRecord(1), Topic("t", T), Partition(T, 0, [1]),
        Config(TopicType, "t", "retention.ms", "1000"),
        Config(BrokerType, "1", "log.cleanup.policy", "compact"),
        Config(BrokerType, "", "log.retention.ms", "7200000"),
        Config(BrokerType, "", "min.insync.replicas", "3"));

    private static BrokerMetadataApis Apis(MetadataImage image) => new(Options(staticConfigs: Static), () => image);

    private static DescribeConfigsRequest Request(sbyte type, string name, string[]? keys = null, bool synonyms = false) => new()
    {
        Resources = [new() { ResourceType = type, ResourceName = name, ConfigurationKeys = keys is null ? null : [.. keys] }],
        IncludeSynonyms = synonyms,
    };

    private static DescribeConfigsResponse.DescribeConfigsResourceResult Entry(DescribeConfigsResponse r, string key) =>
        Assert.Single(r.Results[0].Configs, c => c.Name == key);

    [Fact]
    public void Topic_configs_every_known_key_with_value_and_source()
    {
        var response = RoundTrip(Apis(Configured()).DescribeConfigs(Request(TopicType, "t"), 4), 4);
        var result = Assert.Single(response.Results);
        Assert.Equal((0, (string?)null), (result.ErrorCode, result.ErrorMessage));
        Assert.Equal(ConfigDefinitions.TopicConfigs.Count, result.Configs.Count);
        Assert.Equal(result.Configs.Select(c => c.Name).Order(StringComparer.Ordinal), result.Configs.Select(c => c.Name));

        var retention = Entry(response, "retention.ms");
        Assert.Equal(("1000", ConfigSources.DynamicTopicConfig, false, false), (retention.Value, retention.ConfigSource, retention.ReadOnly, retention.IsSensitive));
        Assert.Equal(5, retention.ConfigType); // LONG
        Assert.Null(retention.Documentation);
        Assert.Empty(retention.Synonyms); // not asked

        var cleanup = Entry(response, "cleanup.policy");
        Assert.Equal(("compact", ConfigSources.DynamicBrokerConfig), (cleanup.Value, cleanup.ConfigSource));
        Assert.Equal(7, cleanup.ConfigType); // LIST

        var isr = Entry(response, "min.insync.replicas");
        Assert.Equal(("3", ConfigSources.DynamicDefaultBrokerConfig), (isr.Value, isr.ConfigSource));

        var segment = Entry(response, "segment.bytes");
        Assert.Equal(("536870912", ConfigSources.StaticBrokerConfig), (segment.Value, segment.ConfigSource));

        var compression = Entry(response, "compression.type");
        Assert.Equal(("producer", ConfigSources.DefaultConfig), (compression.Value, compression.ConfigSource));
    }

    [Fact]
    public void Synonyms_list_every_level_in_precedence_order_and_convert_units()
    {
        var apis = Apis(Configured());
        var response = apis.DescribeConfigs(Request(TopicType, "t", ["retention.ms", "segment.ms"], synonyms: true), 3);
        var retention = Entry(response, "retention.ms");
        Assert.Equal(
            [("retention.ms", "1000", ConfigSources.DynamicTopicConfig),
             ("log.retention.ms", "7200000", ConfigSources.DynamicDefaultBrokerConfig),
             ("log.retention.hours", "72", ConfigSources.StaticBrokerConfig),
             ("log.retention.ms", "604800000", ConfigSources.DefaultConfig)],
            retention.Synonyms.Select(s => (s.Name, s.Value, s.Source)));
        Assert.Equal(2, response.Results[0].Configs.Count);

        // Without the topic's own value and the dynamic default, the static hours win, in milliseconds.
        var bare = Image(Mv(), BrokerRecord(1), Topic("t", T), Partition(T, 0, [1]));
        var derived = Entry(Apis(bare).DescribeConfigs(Request(TopicType, "t", ["retention.ms"], synonyms: true), 1), "retention.ms");
        Assert.Equal(("259200000", ConfigSources.StaticBrokerConfig), (derived.Value, derived.ConfigSource));
        Assert.Equal("log.retention.hours", derived.Synonyms[0].Name);
        Assert.Equal("72", derived.Synonyms[0].Value);

        // A topic config without broker synonym and without value: the default.
        var remote = Entry(Apis(bare).DescribeConfigs(Request(TopicType, "t", ["remote.storage.enable"], synonyms: true), 1), "remote.storage.enable");
        Assert.Equal(("false", ConfigSources.DefaultConfig), (remote.Value, remote.ConfigSource));
        Assert.Equal([("remote.storage.enable", ConfigSources.DefaultConfig)], remote.Synonyms.Select(s => (s.Name, s.Source)));
    }

    [Fact]
    public void Version_0_uses_is_default_and_unknown_requested_keys_are_skipped()
    {
        var response = RoundTrip(Apis(Configured()).DescribeConfigs(Request(TopicType, "t", ["retention.ms", "compression.type", "no.such.key"]), 0), 0);
        Assert.Equal(["retention.ms", "compression.type"], response.Results[0].Configs.Select(c => c.Name));
        Assert.False(Entry(response, "retention.ms").IsDefault);
        Assert.True(Entry(response, "compression.type").IsDefault);
    }

    [Fact]
    public void Unknown_and_invalid_topics()
    {
        var apis = Apis(Configured());
        var request = new DescribeConfigsRequest
        {
            Resources =
            [
                new() { ResourceType = TopicType, ResourceName = "missing", ConfigurationKeys = null },
                new() { ResourceType = TopicType, ResourceName = "bad name", ConfigurationKeys = null },
                new() { ResourceType = 8, ResourceName = "1", ConfigurationKeys = null },
                new() { ResourceType = TopicType, ResourceName = "t", ConfigurationKeys = ["retention.ms"] },
            ],
        };
        var response = RoundTrip(apis.DescribeConfigs(request, 2), 2);
        Assert.Equal([(short)ErrorCode.UnknownTopicOrPartition, (short)ErrorCode.InvalidTopicException, (short)ErrorCode.InvalidRequest, (short)0],
            response.Results.Select(r => r.ErrorCode));
        Assert.All(response.Results.Take(3), r => { Assert.Empty(r.Configs); Assert.NotNull(r.ErrorMessage); });
        Assert.Equal((TopicType, "missing"), (response.Results[0].ResourceType, response.Results[0].ResourceName));
        Assert.Single(response.Results[3].Configs);
    }

    [Fact]
    public void Broker_configs_of_this_broker()
    {
        var response = RoundTrip(Apis(Configured()).DescribeConfigs(Request(BrokerType, "1", synonyms: true), 4), 4);
        Assert.Equal(0, response.Results[0].ErrorCode);

        var cleanup = Entry(response, "log.cleanup.policy");
        Assert.Equal(("compact", ConfigSources.DynamicBrokerConfig, false), (cleanup.Value, cleanup.ConfigSource, cleanup.ReadOnly));
        Assert.Equal([ConfigSources.DynamicBrokerConfig, ConfigSources.DefaultConfig], cleanup.Synonyms.Select(s => s.Source));

        var isr = Entry(response, "min.insync.replicas");
        Assert.Equal(("3", ConfigSources.DynamicDefaultBrokerConfig), (isr.Value, isr.ConfigSource));
        Assert.Equal([("3", ConfigSources.DynamicDefaultBrokerConfig), ("2", ConfigSources.StaticBrokerConfig), ("1", ConfigSources.DefaultConfig)],
            isr.Synonyms.Select(s => (s.Value, s.Source)));

        var partitions = Entry(response, "num.partitions"); // static only, not dynamically alterable
        Assert.Equal(("6", ConfigSources.StaticBrokerConfig, true, (sbyte)0), (partitions.Value, partitions.ConfigSource, partitions.ReadOnly, partitions.ConfigType));

        var password = Entry(response, "ssl.keystore.password");
        Assert.Equal(((string?)null, true, ConfigSources.StaticBrokerConfig, (sbyte)9), (password.Value, password.IsSensitive, password.ConfigSource, password.ConfigType));
        Assert.All(password.Synonyms, s => Assert.Null(s.Value));

        var threads = Entry(response, "num.io.threads");
        Assert.Equal(("8", ConfigSources.DefaultConfig, false), (threads.Value, threads.ConfigSource, threads.ReadOnly));
    }

    [Fact]
    public void Broker_cluster_default_and_other_brokers()
    {
        var apis = Apis(Configured());
        var defaults = apis.DescribeConfigs(Request(BrokerType, ""), 4);
        Assert.Equal(["log.retention.ms", "min.insync.replicas"], defaults.Results[0].Configs.Select(c => c.Name));
        Assert.All(defaults.Results[0].Configs, c => Assert.Equal(ConfigSources.DynamicDefaultBrokerConfig, c.ConfigSource));

        Assert.Equal((short)ErrorCode.InvalidRequest, apis.DescribeConfigs(Request(BrokerType, "2"), 4).Results[0].ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest, apis.DescribeConfigs(Request(BrokerType, "one"), 4).Results[0].ErrorCode);

        var filtered = apis.DescribeConfigs(Request(BrokerType, "1", ["num.partitions", "unknown.key"]), 4);
        Assert.Equal(["num.partitions"], filtered.Results[0].Configs.Select(c => c.Name));
    }
}
