using System.Text.Json.Nodes;
using Fjord.Protocol.Messages;

namespace Fjord.Cli.Admin;

/// <summary>
/// <c>fjord configs</c>: what <c>kafka-configs</c> does. Topics and brokers go through DescribeConfigs
/// and IncrementalAlterConfigs (SET for <c>--add-config</c>, DELETE for <c>--delete-config</c>);
/// <c>--entity-default</c> with brokers (or <c>--entity-type broker-defaults</c>) is the cluster-wide
/// default resource (name ""). Users and clients are client quotas (DescribeClientQuotas /
/// AlterClientQuotas, as kafka-configs does for them). An alter waits (bounded) until the bootstrap
/// broker describes the new values, so a describe right after it sees them.
/// </summary>
internal static class ConfigsCommand
{
    public const sbyte TopicResource = 2;
    public const sbyte BrokerResource = 4;
    public const sbyte DynamicTopicConfig = 1;
    public const sbyte DynamicBrokerConfig = 2;
    public const sbyte DynamicDefaultBrokerConfig = 3;

    private const string Usage = """
        usage: fjord configs --bootstrap-server HOST:PORT --entity-type TYPE (--entity-name NAME | --entity-default) <action>

        entity types: topics, brokers, broker-defaults, users, clients (users/clients: client quotas)
        actions (one):
          --describe [--all]                          the dynamic configs (--all: every config with its source)
          --alter --add-config k=v[,k=v...]           set configs (a value with commas in brackets: k=[a,b])
                  --delete-config k[,k...]            remove dynamic configs (back to the default)
        options:
          --output json                               one JSON document instead of a table
        """;

    private static readonly string[] SourceNames =
    [
        "UNKNOWN", "DYNAMIC_TOPIC_CONFIG", "DYNAMIC_BROKER_CONFIG", "DYNAMIC_DEFAULT_BROKER_CONFIG", "STATIC_BROKER_CONFIG",
        "DEFAULT_CONFIG", "DYNAMIC_BROKER_LOGGER_CONFIG", "CLIENT_METRICS_CONFIG", "GROUP_CONFIG",
    ];

    public static string SourceName(sbyte source) => source >= 0 && source < SourceNames.Length ? SourceNames[source] : $"SOURCE_{source}";

    private static readonly TimeSpan PropagationBound = TimeSpan.FromSeconds(15);

    public static int Run(string[] args, TextWriter o, TextWriter e) =>
        AdminRunner.Run("configs", Usage, args, o, e,
            ["--entity-type", "--entity-name", "--add-config", "--delete-config", "--topic", "--broker"],
            ["--describe", "--alter", "--entity-default", "--all", "--broker-defaults"],
            false, RunAsync);

    private sealed record Entity(string Type, string Name, bool IsDefault);

    private static Entity ParseEntity(AdminArgs a)
    {
        // Kafka's shortcuts: --topic T, --broker N, --broker-defaults.
        if (a.Get("--topic") is { } topic) return new("topics", topic, false);
        if (a.Get("--broker") is { } broker) return new("brokers", broker, false);
        if (a.Has("--broker-defaults")) return new("brokers", "", true);
        string type = a.Required("--entity-type", "(topics, brokers, broker-defaults, users or clients)");
        if (type is not ("topics" or "brokers" or "broker-defaults" or "users" or "clients"))
            throw new UsageException($"--entity-type: '{type}' is not topics, brokers, broker-defaults, users or clients");
        if (type == "broker-defaults") return new("brokers", "", true);
        string? name = a.Get("--entity-name");
        bool isDefault = a.Has("--entity-default");
        if (name is not null && isDefault) throw new UsageException("--entity-name and --entity-default cannot both be given");
        if (type == "topics" && name is null) throw new UsageException("--entity-name is required for topics");
        if (type == "brokers" && name is null && !isDefault) throw new UsageException("--entity-name ID or --entity-default is required for brokers");
        if (type == "brokers" && name is not null && !int.TryParse(name, out _)) throw new UsageException($"--entity-name: '{name}' is not a broker id");
        if (type is "users" or "clients" && name is null && !isDefault) throw new UsageException($"--entity-name or --entity-default is required for {type}");
        return new(type, name ?? "", isDefault);
    }

    private static async Task<int> RunAsync(AdminContext c)
    {
        var a = c.Args;
        string action = a.OneAction("--describe", "--alter");
        a.Forbid(action == "--alter", action, "--add-config", "--delete-config");
        a.Forbid(action == "--describe", action, "--all");
        var entity = ParseEntity(a);
        if (entity.Type is "users" or "clients")
        {
            var quotaEntity = new[] { (ClientQuotasCommand.EntityTypeName(entity.Type), entity.IsDefault ? null : entity.Name) };
            return action == "--describe"
                ? await ClientQuotasCommand.DescribeAsync(c, quotaEntity, strict: true).ConfigureAwait(false)
                : await ClientQuotasCommand.AlterAsync(c, quotaEntity).ConfigureAwait(false);
        }
        sbyte resourceType = entity.Type == "topics" ? TopicResource : BrokerResource;
        return action == "--describe"
            ? await DescribeAsync(c, resourceType, entity.Name).ConfigureAwait(false)
            : await AlterAsync(c, resourceType, entity.Name).ConfigureAwait(false);
    }

    private static string Label(sbyte type, string name) =>
        type == TopicResource ? $"topic {name}" : name.Length == 0 ? "the default broker" : $"broker {name}";

    public static async Task<DescribeConfigsResponse.DescribeConfigsResult> DescribeResourceAsync(AdminClient client, sbyte type, string name, CancellationToken ct)
    {
        var request = new DescribeConfigsRequest { IncludeSynonyms = true };
        request.Resources.Add(new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = type, ResourceName = name, ConfigurationKeys = null });
        var answer = await client.SendAsync<DescribeConfigsResponse>(request, ct, min: 1).ConfigureAwait(false);
        var result = answer.Results.FirstOrDefault() ?? throw new AdminException("DescribeConfigs answered no resource");
        if (result.ErrorCode != 0) throw new AdminException($"cannot describe the configs of {Label(type, name)}: {Errors.Describe(result.ErrorCode, result.ErrorMessage)}");
        return result;
    }

    private static async Task<int> DescribeAsync(AdminContext c, sbyte type, string name)
    {
        var client = await c.ClientAsync().ConfigureAwait(false);
        c.Progress.Step($"describing {Label(type, name)}");
        var result = await DescribeResourceAsync(client, type, name, c.Ct).ConfigureAwait(false);
        bool all = c.Args.Has("--all");
        sbyte dynamicSource = type == TopicResource ? DynamicTopicConfig : name.Length == 0 ? DynamicDefaultBrokerConfig : DynamicBrokerConfig;
        var configs = result.Configs
            .Where(x => all || x.ConfigSource == dynamicSource || (type == BrokerResource && name.Length > 0 && x.ConfigSource == DynamicBrokerConfig))
            .OrderBy(x => x.Name, StringComparer.Ordinal).ToList();
        if (c.Json)
        {
            AdminOutput.Json(c.Out, new JsonObject
            {
                ["entityType"] = type == TopicResource ? "topics" : "brokers",
                ["entityName"] = name,
                ["configs"] = new JsonArray([.. configs.Select(x => (JsonNode)new JsonObject
                {
                    ["name"] = x.Name,
                    ["value"] = x.IsSensitive ? null : x.Value,
                    ["source"] = SourceName(x.ConfigSource),
                    ["sensitive"] = x.IsSensitive,
                    ["readOnly"] = x.ReadOnly,
                    ["synonyms"] = new JsonArray([.. x.Synonyms.Select(s => (JsonNode)new JsonObject { ["name"] = s.Name, ["value"] = x.IsSensitive ? null : s.Value, ["source"] = SourceName(s.Source) })]),
                })]),
            });
            return 0;
        }
        c.Out.WriteLine($"{(all ? "All" : "Dynamic")} configs for {Label(type, name)} are:");
        AdminOutput.Table(c.Out, ["NAME", "VALUE", "SOURCE", "SENSITIVE", "READ-ONLY"],
            configs.Select(x => (IReadOnlyList<string?>)[x.Name, x.IsSensitive ? "[hidden]" : x.Value ?? "null", SourceName(x.ConfigSource),
                x.IsSensitive ? "true" : "false", x.ReadOnly ? "true" : "false"]));
        return 0;
    }

    private static async Task<int> AlterAsync(AdminContext c, sbyte type, string name)
    {
        var a = c.Args;
        var add = AdminArgs.KeyValues(a.All("--add-config"), "--add-config");
        var delete = a.All("--delete-config").SelectMany(AdminArgs.SplitTopLevel).ToList();
        if (add.Count == 0 && delete.Count == 0) throw new UsageException("--alter needs --add-config and/or --delete-config");
        if (add.Select(kv => kv.Key).Intersect(delete).FirstOrDefault() is { } both)
            throw new UsageException($"'{both}' is both added and deleted");
        var client = await c.ClientAsync().ConfigureAwait(false);
        var resource = new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = type, ResourceName = name };
        foreach (var (k, v) in add) resource.Configs.Add(new IncrementalAlterConfigsRequest.AlterableConfig { Name = k, ConfigOperation = 0, Value = v });
        foreach (var k in delete) resource.Configs.Add(new IncrementalAlterConfigsRequest.AlterableConfig { Name = k, ConfigOperation = 1, Value = null });
        c.Progress.Step($"altering {Label(type, name)}");
        var answer = await client.SendAsync<IncrementalAlterConfigsResponse>(new IncrementalAlterConfigsRequest { Resources = [resource] }, c.Ct).ConfigureAwait(false);
        var result = answer.Responses.FirstOrDefault() ?? throw new AdminException("IncrementalAlterConfigs answered no resource");
        if (result.ErrorCode != 0) throw new AdminException($"cannot alter the configs of {Label(type, name)}: {Errors.Describe(result.ErrorCode, result.ErrorMessage)}");

        // Wait until the bootstrap broker's metadata has the change (the controller answered once it committed).
        c.Progress.Step($"waiting for the broker to show the new configs of {Label(type, name)}");
        long deadline = Environment.TickCount64 + (long)PropagationBound.TotalMilliseconds;
        sbyte dynamicSource = type == TopicResource ? DynamicTopicConfig : name.Length == 0 ? DynamicDefaultBrokerConfig : DynamicBrokerConfig;
        for (int round = 0; ; round++)
        {
            var now = await DescribeResourceAsync(client, type, name, c.Ct).ConfigureAwait(false);
            bool seen = add.All(kv => now.Configs.Any(x => x.Name == kv.Key && (x.IsSensitive || x.Value == kv.Value)
                            && (x.ConfigSource == dynamicSource || x.Synonyms.Any(s => s.Source == dynamicSource))))
                        && delete.All(k => !now.Configs.Any(x => x.Name == k && x.ConfigSource == dynamicSource));
            if (seen) break;
            if (Environment.TickCount64 >= deadline)
            {
                c.Err.WriteLine($"fjord configs: warning: the change was accepted, but the broker did not show it within {PropagationBound.TotalSeconds:0} s");
                break;
            }
            await Task.Delay(Math.Min(50 * (round + 1), 300), c.Ct).ConfigureAwait(false);
        }
        if (c.Json)
            AdminOutput.Json(c.Out, new JsonObject
            {
                ["entityType"] = type == TopicResource ? "topics" : "brokers",
                ["entityName"] = name,
                ["set"] = new JsonObject([.. add.Select(kv => new KeyValuePair<string, JsonNode?>(kv.Key, kv.Value))]),
                ["deleted"] = new JsonArray([.. delete.Select(k => (JsonNode)JsonValue.Create(k))]),
            });
        else c.Out.WriteLine($"Completed updating config for {Label(type, name)}.");
        return 0;
    }
}
