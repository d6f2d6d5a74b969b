using System.Text.Json.Nodes;
using Fjord.Metadata;
using Fjord.Protocol.Messages;

namespace Fjord.Cli.Admin;

/// <summary>
/// <c>fjord acls</c>: what <c>kafka-acls</c> does, over CreateAcls, DescribeAcls and DeleteAcls.
/// <c>--add</c> creates one binding per resource × principal × host × operation (operation default
/// ALL, host default *), then waits (bounded) until the broker describes them. <c>--list</c> without a
/// resource lists every binding; <c>--remove</c> without principals removes every binding of the
/// resources (with --operation: of those operations). Names are Kafka's (Read, DescribeConfigs,
/// LITERAL, PREFIXED…), case and underscores ignored.
/// </summary>
internal static class AclsCommand
{
    private const string Usage = """
        usage: fjord acls --bootstrap-server HOST:PORT <action> [resources] [principals] [--operation OP]...

        actions (one): --add, --remove, --list
        resources:   --topic T, --group G, --cluster, --transactional-id ID (each may repeat; "*" is every name)
                     --resource-pattern-type literal|prefixed (add), also any|match (list, remove); default literal
        principals:  --allow-principal User:NAME, --deny-principal User:NAME (repeatable)
                     --allow-host H, --deny-host H (default *)
                     --principal User:NAME (list: only that principal's bindings)
        operations:  --operation Read|Write|Create|Delete|Alter|Describe|ClusterAction|DescribeConfigs|AlterConfigs|
                     IdempotentWrite|CreateTokens|DescribeTokens|All (repeatable; default All, list/remove: any)
        options:     --force (remove without asking; fjord never asks), --output json
        """;

    private static readonly TimeSpan PropagationBound = TimeSpan.FromSeconds(15);

    public static int Run(string[] args, TextWriter o, TextWriter e) =>
        AdminRunner.Run("acls", Usage, args, o, e,
            ["--topic", "--group", "--transactional-id", "--resource-pattern-type", "--allow-principal", "--deny-principal",
             "--allow-host", "--deny-host", "--operation", "--principal"],
            ["--add", "--remove", "--list", "--cluster", "--force"],
            false, RunAsync);

    private sealed record Binding(AclResourceType Type, string Name, AclPatternType Pattern, string Principal, string Host, AclOperation Operation, AclPermissionType Permission);

    public static T ParseEnum<T>(string text, string flag) where T : struct, Enum
    {
        string wanted = text.Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal);
        foreach (var value in Enum.GetValues<T>())
            if (string.Equals(value.ToString(), wanted, StringComparison.OrdinalIgnoreCase) && value.ToString() != "Unknown") return value;
        throw new UsageException($"{flag}: '{text}' is not one of {string.Join(", ", Enum.GetValues<T>().Where(v => v.ToString() != "Unknown").Select(v => v.ToString()))}");
    }

    private static List<(AclResourceType Type, string Name)> Resources(AdminArgs a)
    {
        var list = new List<(AclResourceType, string)>();
        list.AddRange(a.All("--topic").Select(t => (AclResourceType.Topic, t)));
        list.AddRange(a.All("--group").Select(g => (AclResourceType.Group, g)));
        list.AddRange(a.All("--transactional-id").Select(t => (AclResourceType.TransactionalId, t)));
        if (a.Has("--cluster")) list.Add((AclResourceType.Cluster, AclIds.ClusterResourceName));
        return list;
    }

    private static async Task<int> RunAsync(AdminContext c)
    {
        var a = c.Args;
        string action = a.OneAction("--add", "--remove", "--list");
        a.Forbid(action != "--list", action, "--allow-principal", "--deny-principal", "--allow-host", "--deny-host");
        a.Forbid(action == "--list", action, "--principal");
        var pattern = a.Get("--resource-pattern-type") is { } p ? ParseEnum<AclPatternType>(p, "--resource-pattern-type") : AclPatternType.Literal;
        if (action == "--add" && pattern is not (AclPatternType.Literal or AclPatternType.Prefixed))
            throw new UsageException("--add needs --resource-pattern-type literal or prefixed");
        var operations = a.All("--operation").Select(o => ParseEnum<AclOperation>(o, "--operation")).Distinct().ToList();
        var resources = Resources(a);
        var client = await c.ClientAsync().ConfigureAwait(false);
        switch (action)
        {
            case "--add":
            {
                if (resources.Count == 0) throw new UsageException("--add needs a resource: --topic, --group, --cluster or --transactional-id");
                var allow = a.All("--allow-principal");
                var deny = a.All("--deny-principal");
                if (allow.Count + deny.Count == 0) throw new UsageException("--add needs --allow-principal or --deny-principal");
                foreach (var principal in allow.Concat(deny))
                    if (!principal.Contains(':', StringComparison.Ordinal)) throw new UsageException($"'{principal}' is not a principal (TYPE:NAME, e.g. User:alice)");
                var allowHosts = a.All("--allow-host") is { Count: > 0 } ah ? ah : ["*"];
                var denyHosts = a.All("--deny-host") is { Count: > 0 } dh ? dh : ["*"];
                if (operations.Count == 0) operations.Add(AclOperation.All);
                if (operations.Contains(AclOperation.Any)) throw new UsageException("--operation Any is a filter, not an operation to allow or deny");
                var bindings = new List<Binding>();
                foreach (var (type, name) in resources)
                    foreach (var op in operations)
                    {
                        bindings.AddRange(from pr in allow from h in allowHosts select new Binding(type, name, pattern, pr, h, op, AclPermissionType.Allow));
                        bindings.AddRange(from pr in deny from h in denyHosts select new Binding(type, name, pattern, pr, h, op, AclPermissionType.Deny));
                    }
                var request = new CreateAclsRequest();
                foreach (var b in bindings)
                    request.Creations.Add(new CreateAclsRequest.AclCreation
                    {
                        ResourceType = (sbyte)b.Type, ResourceName = b.Name, ResourcePatternType = (sbyte)b.Pattern,
                        Principal = b.Principal, Host = b.Host, Operation = (sbyte)b.Operation, PermissionType = (sbyte)b.Permission,
                    });
                c.Progress.Step($"adding {bindings.Count} ACL(s)");
                var answer = await client.SendAsync<CreateAclsResponse>(request, c.Ct, min: 1).ConfigureAwait(false);
                var failures = answer.Results.Select((r, i) => (r, i)).Where(x => x.r.ErrorCode != 0).ToList();
                if (failures.Count > 0)
                    throw new AdminException(string.Join("; ", failures.Select(f => $"cannot add {Text(bindings[Math.Min(f.i, bindings.Count - 1)])}: {Errors.Describe(f.r.ErrorCode, f.r.ErrorMessage)}")));
                c.Progress.Step("waiting for the broker to show the new ACLs");
                long deadline = Environment.TickCount64 + (long)PropagationBound.TotalMilliseconds;
                for (int round = 0; ; round++)
                {
                    var now = await DescribeAsync(client, AclResourceType.Any, null, AclPatternType.Any, null, c.Ct).ConfigureAwait(false);
                    if (bindings.All(now.Contains)) break;
                    if (Environment.TickCount64 >= deadline)
                    {
                        c.Err.WriteLine($"fjord acls: warning: the ACLs were accepted, but the broker did not show them within {PropagationBound.TotalSeconds:0} s");
                        break;
                    }
                    await Task.Delay(Math.Min(50 * (round + 1), 300), c.Ct).ConfigureAwait(false);
                }
                Print(c, bindings, "Added");
                return 0;
            }
            case "--list":
            {
                var found = new List<Binding>();
                string? principal = a.Get("--principal");
                var listPattern = a.Has("--resource-pattern-type") ? pattern : resources.Count == 0 ? AclPatternType.Any : AclPatternType.Literal;
                c.Progress.Step("listing ACLs");
                if (resources.Count == 0)
                    found.AddRange(await DescribeAsync(client, AclResourceType.Any, null, listPattern, principal, c.Ct).ConfigureAwait(false));
                foreach (var (type, name) in resources)
                    found.AddRange(await DescribeAsync(client, type, name, listPattern, principal, c.Ct).ConfigureAwait(false));
                if (operations.Count > 0) found = [.. found.Where(b => operations.Contains(b.Operation))];
                Print(c, found.Distinct().ToList(), null);
                return 0;
            }
            default:
            {
                if (resources.Count == 0) throw new UsageException("--remove needs a resource: --topic, --group, --cluster or --transactional-id");
                var request = new DeleteAclsRequest();
                var principals = a.All("--allow-principal").Select(pr => (pr, AclPermissionType.Allow))
                    .Concat(a.All("--deny-principal").Select(pr => (pr, AclPermissionType.Deny))).ToList();
                var hosts = (a.All("--allow-host").Concat(a.All("--deny-host")).ToList()) is { Count: > 0 } hs ? hs.Cast<string?>().ToList() : [null];
                var ops = operations.Count > 0 ? operations : [AclOperation.Any];
                foreach (var (type, name) in resources)
                    foreach (var op in ops)
                    {
                        if (principals.Count == 0)
                            request.Filters.Add(Filter(type, name, pattern, null, null, op, AclPermissionType.Any));
                        foreach (var (pr, perm) in principals)
                            foreach (var h in hosts)
                                request.Filters.Add(Filter(type, name, pattern, pr, h, op, perm));
                    }
                c.Progress.Step("removing ACLs");
                var answer = await client.SendAsync<DeleteAclsResponse>(request, c.Ct, min: 1).ConfigureAwait(false);
                var failed = answer.FilterResults.Where(r => r.ErrorCode != 0).ToList();
                if (failed.Count > 0) throw new AdminException(string.Join("; ", failed.Select(f => $"cannot remove ACLs: {Errors.Describe(f.ErrorCode, f.ErrorMessage)}")));
                var removed = answer.FilterResults.SelectMany(r => r.MatchingAcls).Where(m => m.ErrorCode == 0)
                    .Select(m => new Binding(AclIds.ResourceType(m.ResourceType), m.ResourceName, AclIds.PatternType(m.PatternType), m.Principal, m.Host,
                        AclIds.Operation(m.Operation), AclIds.Permission(m.PermissionType))).Distinct().ToList();
                c.Progress.Step("waiting for the broker to forget the removed ACLs");
                long deadline = Environment.TickCount64 + (long)PropagationBound.TotalMilliseconds;
                for (int round = 0; removed.Count > 0; round++)
                {
                    var now = await DescribeAsync(client, AclResourceType.Any, null, AclPatternType.Any, null, c.Ct).ConfigureAwait(false);
                    if (!removed.Any(now.Contains) || Environment.TickCount64 >= deadline) break;
                    await Task.Delay(Math.Min(50 * (round + 1), 300), c.Ct).ConfigureAwait(false);
                }
                Print(c, removed, "Removed");
                return 0;
            }
        }
    }

    private static DeleteAclsRequest.DeleteAclsFilter Filter(AclResourceType type, string name, AclPatternType pattern, string? principal, string? host, AclOperation op, AclPermissionType permission) => new()
    {
        ResourceTypeFilter = (sbyte)type, ResourceNameFilter = name, PatternTypeFilter = (sbyte)pattern,
        PrincipalFilter = principal, HostFilter = host, Operation = (sbyte)op, PermissionType = (sbyte)permission,
    };

    private static async Task<List<Binding>> DescribeAsync(AdminClient client, AclResourceType type, string? name, AclPatternType pattern, string? principal, CancellationToken ct)
    {
        var request = new DescribeAclsRequest
        {
            ResourceTypeFilter = (sbyte)type, ResourceNameFilter = name, PatternTypeFilter = (sbyte)pattern,
            PrincipalFilter = principal, HostFilter = null, Operation = (sbyte)AclOperation.Any, PermissionType = (sbyte)AclPermissionType.Any,
        };
        var answer = await client.SendAsync<DescribeAclsResponse>(request, ct, min: 1).ConfigureAwait(false);
        if (answer.ErrorCode != 0) throw new AdminException($"cannot list ACLs: {Errors.Describe(answer.ErrorCode, answer.ErrorMessage)}");
        return [.. answer.Resources.SelectMany(r => r.Acls.Select(x => new Binding(AclIds.ResourceType(r.ResourceType), r.ResourceName, AclIds.PatternType(r.PatternType),
            x.Principal, x.Host, AclIds.Operation(x.Operation), AclIds.Permission(x.PermissionType))))];
    }

    private static string Text(Binding b) =>
        $"(resource={AclIds.Name(b.Type)}:{b.Name}, patternType={AclIds.Name(b.Pattern)}, principal={b.Principal}, host={b.Host}, operation={AclIds.Name(b.Operation)}, permissionType={AclIds.Name(b.Permission)})";

    private static void Print(AdminContext c, List<Binding> bindings, string? verb)
    {
        var ordered = bindings.OrderBy(b => b.Type).ThenBy(b => b.Name, StringComparer.Ordinal).ThenBy(b => b.Pattern)
            .ThenBy(b => b.Principal, StringComparer.Ordinal).ThenBy(b => b.Operation).ThenBy(b => b.Permission).ThenBy(b => b.Host, StringComparer.Ordinal).ToList();
        if (c.Json)
        {
            AdminOutput.Json(c.Out, new JsonArray([.. ordered.Select(b => (JsonNode)new JsonObject
            {
                ["resourceType"] = AclIds.Name(b.Type), ["name"] = b.Name, ["patternType"] = AclIds.Name(b.Pattern),
                ["principal"] = b.Principal, ["host"] = b.Host, ["operation"] = AclIds.Name(b.Operation), ["permission"] = AclIds.Name(b.Permission),
            })]));
            return;
        }
        if (verb is not null) c.Out.WriteLine($"{verb} {ordered.Count} ACL(s):");
        AdminOutput.Table(c.Out, ["RESOURCE-TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"],
            ordered.Select(b => (IReadOnlyList<string?>)[AclIds.Name(b.Type), b.Name, AclIds.Name(b.Pattern), b.Principal, b.Host, AclIds.Name(b.Operation), AclIds.Name(b.Permission)]));
    }
}
