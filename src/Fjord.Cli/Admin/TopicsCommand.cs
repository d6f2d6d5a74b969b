using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Cli.Admin;

/// <summary>
/// <c>fjord topics</c>: what <c>kafka-topics</c> does. <c>--create</c> (CreateTopics), <c>--delete</c>
/// (DeleteTopics), <c>--alter --partitions N</c> (CreatePartitions), <c>--list</c> and
/// <c>--describe</c> (Metadata, plus DescribeConfigs for the overridden configs). <c>--topic</c> is a
/// regular expression matched against whole names for list/describe/delete/alter (a plain name
/// matches itself). Create and delete wait (bounded) until the bootstrap broker's metadata shows the
/// change, so a describe right after a create sees the topic.
/// </summary>
internal static class TopicsCommand
{
    private const string Usage = """
        usage: fjord topics --bootstrap-server HOST:PORT <action> [options]

        actions (one):
          --create        --topic T [--partitions N] [--replication-factor R] [--config k=v]... [--if-not-exists]
          --delete        --topic T (a regular expression) [--if-exists]
          --alter         --topic T --partitions N (more partitions) [--if-exists]
          --list          [--topic REGEX] [--exclude-internal]
          --describe      [--topic REGEX] [--exclude-internal] [--under-replicated-partitions] [--unavailable-partitions]
                          [--if-exists]
        options:
          --output json   one JSON document instead of text
        """;

    /// <summary>How long create/delete wait for the broker's metadata to show the change.</summary>
    private static readonly TimeSpan PropagationBound = TimeSpan.FromSeconds(15);

    public static int Run(string[] args, TextWriter o, TextWriter e) =>
        AdminRunner.Run("topics", Usage, args, o, e,
            ["--topic", "--partitions", "--replication-factor", "--config"],
            ["--create", "--delete", "--alter", "--list", "--describe", "--if-not-exists", "--if-exists", "--exclude-internal",
             "--under-replicated-partitions", "--unavailable-partitions"],
            false, RunAsync);

    private static async Task<int> RunAsync(AdminContext c)
    {
        var a = c.Args;
        string action = a.OneAction("--create", "--delete", "--alter", "--list", "--describe");
        a.Forbid(action == "--create", action, "--if-not-exists", "--replication-factor", "--config");
        a.Forbid(action is "--create" or "--alter", action, "--partitions");
        a.Forbid(action is "--delete" or "--alter" or "--describe", action, "--if-exists");
        a.Forbid(action is "--list" or "--describe", action, "--exclude-internal");
        a.Forbid(action == "--describe", action, "--under-replicated-partitions", "--unavailable-partitions");
        if (action is "--create" or "--delete" or "--alter") a.Required("--topic", $"with {action}");
        if (action == "--alter" && !a.Has("--partitions")) throw new UsageException("--alter needs --partitions N (configs are changed with 'fjord configs --alter')");
        return action switch
        {
            "--create" => await CreateAsync(c).ConfigureAwait(false),
            "--delete" => await DeleteAsync(c).ConfigureAwait(false),
            "--alter" => await AlterAsync(c).ConfigureAwait(false),
            "--list" => await ListAsync(c).ConfigureAwait(false),
            _ => await DescribeAsync(c).ConfigureAwait(false),
        };
    }

    private static async Task<int> CreateAsync(AdminContext c)
    {
        var a = c.Args;
        string topic = a.Get("--topic")!;
        int partitions = a.Int("--partitions", 1) ?? -1;
        int rf = a.Int("--replication-factor", 1) ?? -1;
        if (rf > short.MaxValue) throw new UsageException("--replication-factor is too large");
        var configs = AdminArgs.KeyValues(a.All("--config"), "--config");
        var client = await c.ClientAsync().ConfigureAwait(false);
        var creatable = new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = partitions, ReplicationFactor = (short)rf };
        foreach (var (k, v) in configs) creatable.Configs.Add(new CreateTopicsRequest.CreatableTopicConfig { Name = k, Value = v });
        c.Progress.Step($"creating topic {topic}");
        var answer = await client.SendAsync<CreateTopicsResponse>(new CreateTopicsRequest { Topics = [creatable], TimeoutMs = 30_000 }, c.Ct, min: 2).ConfigureAwait(false);
        var result = answer.Topics.FirstOrDefault() ?? throw new AdminException("CreateTopics answered no topic");
        if (result.ErrorCode == (short)ErrorCode.TopicAlreadyExists && a.Has("--if-not-exists"))
        {
            if (c.Json) AdminOutput.Json(c.Out, new JsonObject { ["topic"] = topic, ["created"] = false });
            return 0;
        }
        if (result.ErrorCode != 0) throw new AdminException($"cannot create topic '{topic}': {Errors.Describe(result.ErrorCode, result.ErrorMessage)}");
        c.Progress.Step($"waiting for the broker to see topic {topic}");
        await WaitForAsync(client, topic, exists: true, c.Ct).ConfigureAwait(false);
        if (c.Json) AdminOutput.Json(c.Out, new JsonObject { ["topic"] = topic, ["created"] = true, ["topicId"] = result.TopicId.ToString() });
        else c.Out.WriteLine($"Created topic {topic}.");
        return 0;
    }

    /// <summary>Waits until the bootstrap broker's Metadata lists <paramref name="topic"/> with a leader for every partition (or no longer lists it).</summary>
    private static async Task WaitForAsync(AdminClient client, string topic, bool exists, CancellationToken ct)
    {
        long deadline = Environment.TickCount64 + (long)PropagationBound.TotalMilliseconds;
        for (int round = 0; ; round++)
        {
            var metadata = await client.MetadataAsync([topic], ct).ConfigureAwait(false);
            var t = metadata.Topics.FirstOrDefault(x => x.Name == topic);
            bool present = t is { ErrorCode: 0 } && t.Partitions.Count > 0 && t.Partitions.All(p => p.LeaderId >= 0);
            bool absent = t is null || t.ErrorCode == (short)ErrorCode.UnknownTopicOrPartition;
            if (exists ? present : absent) return;
            if (Environment.TickCount64 >= deadline)
                throw new AdminException($"the controller accepted the change, but the broker's metadata did not show topic '{topic}' {(exists ? "with leaders" : "gone")} within {PropagationBound.TotalSeconds:0} s");
            await Task.Delay(Math.Min(50 * (round + 1), 300), ct).ConfigureAwait(false);
        }
    }

    /// <summary>The topics whose whole name matches <paramref name="pattern"/> (null: all), in name order.</summary>
    private static List<MetadataResponse.MetadataResponseTopic> Matching(MetadataResponse metadata, string? pattern, bool excludeInternal)
    {
        Regex? regex = null;
        if (pattern is not null)
        {
            try
            {
                regex = new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException ex)
            {
                throw new UsageException($"--topic: '{pattern}' is not a regular expression: {ex.Message}");
            }
        }
        return [.. metadata.Topics
            .Where(t => t.ErrorCode == 0 && t.Name is not null && (regex is null || regex.IsMatch(t.Name)) && !(excludeInternal && t.IsInternal))
            .OrderBy(t => t.Name, StringComparer.Ordinal)];
    }

    private static async Task<int> ListAsync(AdminContext c)
    {
        var client = await c.ClientAsync().ConfigureAwait(false);
        c.Progress.Step("listing topics");
        var topics = Matching(await client.MetadataAsync(null, c.Ct).ConfigureAwait(false), c.Args.Get("--topic"), c.Args.Has("--exclude-internal"));
        if (c.Json) AdminOutput.Json(c.Out, new JsonArray([.. topics.Select(t => (JsonNode)JsonValue.Create(t.Name!))]));
        else foreach (var t in topics) c.Out.WriteLine(t.Name);
        return 0;
    }

    private static async Task<int> DescribeAsync(AdminContext c)
    {
        var a = c.Args;
        var client = await c.ClientAsync().ConfigureAwait(false);
        c.Progress.Step("reading topic metadata");
        string? pattern = a.Get("--topic");
        var topics = Matching(await client.MetadataAsync(null, c.Ct).ConfigureAwait(false), pattern, a.Has("--exclude-internal"));
        if (topics.Count == 0 && pattern is not null && !a.Has("--if-exists"))
            throw new AdminException($"Topic '{pattern}' does not exist as expected");
        var configs = await OverriddenConfigsAsync(client, topics.Select(t => t.Name!), c).ConfigureAwait(false);
        bool underReplicated = a.Has("--under-replicated-partitions"), unavailable = a.Has("--unavailable-partitions");
        bool filtered = underReplicated || unavailable;
        var json = new JsonArray();
        foreach (var t in topics)
        {
            var partitions = t.Partitions.OrderBy(p => p.PartitionIndex)
                .Where(p => !filtered || (underReplicated && p.IsrNodes.Count < p.ReplicaNodes.Count) || (unavailable && p.LeaderId < 0))
                .ToList();
            if (filtered && partitions.Count == 0) continue;
            int rf = t.Partitions.Count == 0 ? 0 : t.Partitions.Min(p => p.ReplicaNodes.Count);
            var topicConfigs = configs.GetValueOrDefault(t.Name!) ?? [];
            if (c.Json)
            {
                var configNode = new JsonObject();
                foreach (var (k, v) in topicConfigs) configNode[k] = v;
                json.Add(new JsonObject
                {
                    ["topic"] = t.Name,
                    ["topicId"] = t.TopicId.ToString(),
                    ["partitionCount"] = t.Partitions.Count,
                    ["replicationFactor"] = rf,
                    ["internal"] = t.IsInternal,
                    ["configs"] = configNode,
                    ["partitions"] = new JsonArray([.. partitions.Select(p => (JsonNode)new JsonObject
                    {
                        ["partition"] = p.PartitionIndex,
                        ["leader"] = p.LeaderId,
                        ["leaderEpoch"] = p.LeaderEpoch,
                        ["replicas"] = new JsonArray([.. p.ReplicaNodes.Select(r => (JsonNode)JsonValue.Create(r))]),
                        ["isr"] = new JsonArray([.. p.IsrNodes.Select(r => (JsonNode)JsonValue.Create(r))]),
                        ["offline"] = new JsonArray([.. p.OfflineReplicas.Select(r => (JsonNode)JsonValue.Create(r))]),
                    })]),
                });
                continue;
            }
            if (!filtered)
                c.Out.WriteLine($"Topic: {t.Name}\tTopicId: {t.TopicId}\tPartitionCount: {t.Partitions.Count}\tReplicationFactor: {rf}\tConfigs: {string.Join(",", topicConfigs.Select(kv => $"{kv.Key}={kv.Value}"))}");
            foreach (var p in partitions)
                c.Out.WriteLine($"\tTopic: {t.Name}\tPartition: {p.PartitionIndex}\tLeader: {(p.LeaderId < 0 ? "none" : p.LeaderId.ToString(CultureInfo.InvariantCulture))}\tReplicas: {string.Join(",", p.ReplicaNodes)}\tIsr: {string.Join(",", p.IsrNodes)}" +
                    (p.OfflineReplicas.Count > 0 ? $"\tOffline: {string.Join(",", p.OfflineReplicas)}" : ""));
        }
        if (c.Json) AdminOutput.Json(c.Out, json);
        return 0;
    }

    /// <summary>Per topic, the configs set on the topic itself (source DYNAMIC_TOPIC_CONFIG), as kafka-topics shows them.</summary>
    private static async Task<Dictionary<string, List<KeyValuePair<string, string?>>>> OverriddenConfigsAsync(AdminClient client, IEnumerable<string> topics, AdminContext c)
    {
        var result = new Dictionary<string, List<KeyValuePair<string, string?>>>(StringComparer.Ordinal);
        var request = new DescribeConfigsRequest();
        foreach (var t in topics) request.Resources.Add(new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = ConfigsCommand.TopicResource, ResourceName = t, ConfigurationKeys = null });
        if (request.Resources.Count == 0 || !client.Serves(DescribeConfigsRequest.ApiKey)) return result;
        c.Progress.Step("reading topic configs");
        var answer = await client.SendAsync<DescribeConfigsResponse>(request, c.Ct, min: 1).ConfigureAwait(false);
        foreach (var r in answer.Results)
        {
            if (r.ErrorCode != 0) continue;
            result[r.ResourceName] = [.. r.Configs.Where(x => x.ConfigSource == ConfigsCommand.DynamicTopicConfig)
                .OrderBy(x => x.Name, StringComparer.Ordinal)
                .Select(x => new KeyValuePair<string, string?>(x.Name, x.IsSensitive ? null : x.Value))];
        }
        return result;
    }

    private static async Task<int> DeleteAsync(AdminContext c)
    {
        var client = await c.ClientAsync().ConfigureAwait(false);
        string pattern = c.Args.Get("--topic")!;
        c.Progress.Step("reading topic metadata");
        var topics = Matching(await client.MetadataAsync(null, c.Ct).ConfigureAwait(false), pattern, excludeInternal: false);
        if (topics.Count == 0)
        {
            if (c.Args.Has("--if-exists")) { if (c.Json) AdminOutput.Json(c.Out, new JsonArray()); return 0; }
            throw new AdminException($"Topic '{pattern}' does not exist as expected");
        }
        if (topics.FirstOrDefault(t => t.IsInternal) is { } internalTopic)
            throw new AdminException($"topic '{internalTopic.Name}' is an internal topic and may not be deleted");
        short version = client.Version(DeleteTopicsRequest.ApiKey, 1);
        var request = new DeleteTopicsRequest { TimeoutMs = 30_000 };
        if (version >= 6) foreach (var t in topics) request.Topics.Add(new DeleteTopicsRequest.DeleteTopicState { Name = t.Name });
        else foreach (var t in topics) request.TopicNames.Add(t.Name!);
        c.Progress.Step($"deleting {topics.Count} topic(s)");
        var answer = await AdminClient.SendAsync<DeleteTopicsResponse>(client.Bootstrap, request, version, c.Ct).ConfigureAwait(false);
        var failed = answer.Responses.Where(r => r.ErrorCode != 0).ToList();
        if (failed.Count > 0)
            throw new AdminException(string.Join("; ", failed.Select(r => $"cannot delete topic '{r.Name}': {Errors.Describe(r.ErrorCode, r.ErrorMessage)}")));
        c.Progress.Step("waiting for the broker to forget the deleted topics");
        foreach (var t in topics) await WaitForAsync(client, t.Name!, exists: false, c.Ct).ConfigureAwait(false);
        if (c.Json) AdminOutput.Json(c.Out, new JsonArray([.. topics.Select(t => (JsonNode)JsonValue.Create(t.Name!))]));
        else foreach (var t in topics) c.Out.WriteLine($"Deleted topic {t.Name}.");
        return 0;
    }

    private static async Task<int> AlterAsync(AdminContext c)
    {
        var client = await c.ClientAsync().ConfigureAwait(false);
        string pattern = c.Args.Get("--topic")!;
        int count = c.Args.Int("--partitions", 1)!.Value;
        var topics = Matching(await client.MetadataAsync(null, c.Ct).ConfigureAwait(false), pattern, excludeInternal: false);
        if (topics.Count == 0)
        {
            if (c.Args.Has("--if-exists")) return 0;
            throw new AdminException($"Topic '{pattern}' does not exist as expected");
        }
        var request = new CreatePartitionsRequest { TimeoutMs = 30_000 };
        foreach (var t in topics) request.Topics.Add(new CreatePartitionsRequest.CreatePartitionsTopic { Name = t.Name!, Count = count, Assignments = null });
        c.Progress.Step("adding partitions");
        var answer = await client.SendAsync<CreatePartitionsResponse>(request, c.Ct).ConfigureAwait(false);
        var failed = answer.Results.Where(r => r.ErrorCode != 0).ToList();
        if (failed.Count > 0)
            throw new AdminException(string.Join("; ", failed.Select(r => $"cannot alter topic '{r.Name}': {Errors.Describe(r.ErrorCode, r.ErrorMessage)}")));
        if (c.Json) AdminOutput.Json(c.Out, new JsonArray([.. topics.Select(t => (JsonNode)new JsonObject { ["topic"] = t.Name, ["partitions"] = count })]));
        else foreach (var t in topics) c.Out.WriteLine($"Topic {t.Name} now has {count} partitions.");
        return 0;
    }
}
