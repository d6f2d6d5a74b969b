using System.Globalization;
using System.Text.Json.Nodes;
using Fjord.Protocol.Messages;

namespace Fjord.Cli.Admin;

/// <summary>
/// <c>fjord client-quotas</c>: client quotas (users, client ids, IPs) over DescribeClientQuotas and
/// AlterClientQuotas, as <c>kafka-configs --entity-type users|clients|ips</c> does them.
/// <c>--entity-default</c> is the default entity (a null name). <c>--describe</c> without an entity
/// lists every quota; with <c>--entity-type</c> alone, every entity of that type. An alter waits
/// (bounded) until the bootstrap broker describes the new values.
/// </summary>
internal static class ClientQuotasCommand
{
    private const string Usage = """
        usage: fjord client-quotas --bootstrap-server HOST:PORT <action> [--entity-type users|clients|ips] [--entity-name N | --entity-default]

        actions (one):
          --describe                                  quotas of the entity (of every entity of the type, or every quota)
          --alter --add-config k=v[,k=v...]           e.g. producer_byte_rate=1048576,consumer_byte_rate=2097152,
                                                      request_percentage=50, connection_creation_rate=10 (ips)
                  --delete-config k[,k...]            remove quotas
        options:
          --output json                               one JSON document instead of a table
        """;

    private static readonly TimeSpan PropagationBound = TimeSpan.FromSeconds(15);

    public static int Run(string[] args, TextWriter o, TextWriter e) =>
        AdminRunner.Run("client-quotas", Usage, args, o, e,
            ["--entity-type", "--entity-name", "--add-config", "--delete-config"],
            ["--describe", "--alter", "--entity-default"],
            false, RunAsync);

    /// <summary>Kafka's quota entity type for a kafka-configs entity type (users → user, clients → client-id, ips → ip).</summary>
    public static string EntityTypeName(string type) => type switch
    {
        "users" or "user" => "user",
        "clients" or "client" or "client-id" => "client-id",
        "ips" or "ip" => "ip",
        _ => throw new UsageException($"--entity-type: '{type}' is not users, clients or ips"),
    };

    private static async Task<int> RunAsync(AdminContext c)
    {
        var a = c.Args;
        string action = a.OneAction("--describe", "--alter");
        a.Forbid(action == "--alter", action, "--add-config", "--delete-config");
        string? type = a.Get("--entity-type") is { } t ? EntityTypeName(t) : null;
        string? name = a.Get("--entity-name");
        bool isDefault = a.Has("--entity-default");
        if (name is not null && isDefault) throw new UsageException("--entity-name and --entity-default cannot both be given");
        if (type is null && (name is not null || isDefault)) throw new UsageException("--entity-name and --entity-default need --entity-type");
        if (action == "--alter")
        {
            if (type is null || (name is null && !isDefault)) throw new UsageException("--alter needs --entity-type and --entity-name or --entity-default");
            return await AlterAsync(c, [(type, isDefault ? null : name)]).ConfigureAwait(false);
        }
        if (type is null) return await DescribeAsync(c, [], strict: false).ConfigureAwait(false);
        if (name is null && !isDefault) return await DescribeAsync(c, [(type, null)], strict: false, anyName: true).ConfigureAwait(false);
        return await DescribeAsync(c, [(type, isDefault ? null : name)], strict: true).ConfigureAwait(false);
    }

    private static string EntityText(IEnumerable<(string Type, string? Name)> entity) =>
        string.Join(",", entity.Select(e => $"{e.Type}={e.Name ?? "<default>"}"));

    private static async Task<List<DescribeClientQuotasResponse.EntryData>> QueryAsync(AdminClient client,
        IReadOnlyList<(string Type, string? Name)> entity, bool strict, bool anyName, CancellationToken ct)
    {
        var request = new DescribeClientQuotasRequest { Strict = strict };
        foreach (var (type, name) in entity)
            request.Components.Add(new DescribeClientQuotasRequest.ComponentData
            {
                EntityType = type,
                MatchType = anyName ? (sbyte)2 : name is null ? (sbyte)1 : (sbyte)0,
                Match = anyName ? null : name,
            });
        var answer = await client.SendAsync<DescribeClientQuotasResponse>(request, ct).ConfigureAwait(false);
        if (answer.ErrorCode != 0) throw new AdminException($"cannot describe client quotas: {Errors.Describe(answer.ErrorCode, answer.ErrorMessage)}");
        return answer.Entries ?? [];
    }

    public static async Task<int> DescribeAsync(AdminContext c, IReadOnlyList<(string Type, string? Name)> entity, bool strict, bool anyName = false)
    {
        var client = await c.ClientAsync().ConfigureAwait(false);
        c.Progress.Step("describing client quotas");
        var entries = (await QueryAsync(client, entity, strict, anyName, c.Ct).ConfigureAwait(false))
            .OrderBy(x => EntityText(x.Entity.Select(e => (e.EntityType, e.EntityName))), StringComparer.Ordinal).ToList();
        if (c.Json)
        {
            AdminOutput.Json(c.Out, new JsonArray([.. entries.Select(x =>
            {
                var ent = new JsonObject();
                foreach (var e in x.Entity) ent[e.EntityType] = e.EntityName;
                var values = new JsonObject();
                foreach (var v in x.Values.OrderBy(v => v.Key, StringComparer.Ordinal)) values[v.Key] = v.Value;
                return (JsonNode)new JsonObject { ["entity"] = ent, ["quotas"] = values };
            })]));
            return 0;
        }
        AdminOutput.Table(c.Out, ["ENTITY", "QUOTA", "VALUE"],
            entries.SelectMany(x => x.Values.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => (IReadOnlyList<string?>)
                [EntityText(x.Entity.Select(e => (e.EntityType, e.EntityName))), v.Key, v.Value.ToString("0.0##############", CultureInfo.InvariantCulture)])));
        return 0;
    }

    public static async Task<int> AlterAsync(AdminContext c, IReadOnlyList<(string Type, string? Name)> entity)
    {
        var a = c.Args;
        var add = new List<(string Key, double Value)>();
        foreach (var (k, v) in AdminArgs.KeyValues(a.All("--add-config"), "--add-config"))
            add.Add((k, double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d)
                ? d : throw new UsageException($"--add-config: the quota '{k}' needs a number, not '{v}'")));
        var delete = a.All("--delete-config").SelectMany(AdminArgs.SplitTopLevel).ToList();
        if (add.Count == 0 && delete.Count == 0) throw new UsageException("--alter needs --add-config and/or --delete-config");
        var client = await c.ClientAsync().ConfigureAwait(false);
        var entry = new AlterClientQuotasRequest.EntryData();
        foreach (var (type, name) in entity) entry.Entity.Add(new AlterClientQuotasRequest.EntityData { EntityType = type, EntityName = name });
        foreach (var (k, v) in add) entry.Ops.Add(new AlterClientQuotasRequest.OpData { Key = k, Value = v, Remove = false });
        foreach (var k in delete) entry.Ops.Add(new AlterClientQuotasRequest.OpData { Key = k, Value = 0, Remove = true });
        c.Progress.Step($"altering the quotas of {EntityText(entity)}");
        var answer = await client.SendAsync<AlterClientQuotasResponse>(new AlterClientQuotasRequest { Entries = [entry] }, c.Ct).ConfigureAwait(false);
        var result = answer.Entries.FirstOrDefault() ?? throw new AdminException("AlterClientQuotas answered no entry");
        if (result.ErrorCode != 0) throw new AdminException($"cannot alter the quotas of {EntityText(entity)}: {Errors.Describe(result.ErrorCode, result.ErrorMessage)}");

        c.Progress.Step($"waiting for the broker to show the quotas of {EntityText(entity)}");
        long deadline = Environment.TickCount64 + (long)PropagationBound.TotalMilliseconds;
        for (int round = 0; ; round++)
        {
            var now = await QueryAsync(client, entity, strict: true, anyName: false, c.Ct).ConfigureAwait(false);
            var values = now.SelectMany(x => x.Values).ToList();
            if (add.All(kv => values.Any(v => v.Key == kv.Key && v.Value == kv.Value)) && delete.All(k => values.All(v => v.Key != k))) break;
            if (Environment.TickCount64 >= deadline)
            {
                c.Err.WriteLine($"fjord {c.Command}: warning: the change was accepted, but the broker did not show it within {PropagationBound.TotalSeconds:0} s");
                break;
            }
            await Task.Delay(Math.Min(50 * (round + 1), 300), c.Ct).ConfigureAwait(false);
        }
        if (c.Json)
        {
            var ent = new JsonObject();
            foreach (var (type, name) in entity) ent[type] = name;
            var set = new JsonObject();
            foreach (var (k, v) in add) set[k] = v;
            AdminOutput.Json(c.Out, new JsonObject { ["entity"] = ent, ["set"] = set, ["deleted"] = new JsonArray([.. delete.Select(k => (JsonNode)JsonValue.Create(k))]) });
        }
        else c.Out.WriteLine($"Completed updating quotas for {EntityText(entity)}.");
        return 0;
    }
}
