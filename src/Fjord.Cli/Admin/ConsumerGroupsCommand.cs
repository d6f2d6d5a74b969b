using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Fjord.Common;
using Fjord.Network;
using Fjord.Protocol.Messages;

namespace Fjord.Cli.Admin;

/// <summary>
/// <c>fjord consumer-groups</c>: what <c>kafka-consumer-groups</c> does, over the Kafka protocol.
/// <c>--list</c>: ListGroups at every broker. <c>--describe</c>: the coordinator (FindCoordinator)
/// answers DescribeGroups (members and their assignments, decoded from the consumer protocol) and
/// OffsetFetch (committed offsets); log-end offsets come from ListOffsets at the leaders; one row per
/// partition with CURRENT-OFFSET, LOG-END-OFFSET, LAG, CONSUMER-ID, HOST, CLIENT-ID.
/// <c>--delete</c>: DeleteGroups. <c>--reset-offsets</c>: new offsets computed from ListOffsets /
/// the committed offsets, printed (<c>--dry-run</c>, the default) or committed with OffsetCommit
/// (<c>--execute</c>; generation -1, which a coordinator accepts only for a group without members).
/// </summary>
public static class ConsumerGroupsCommand
{
    private const string Usage = """
        usage: fjord consumer-groups --bootstrap-server HOST:PORT <action> [options]

        actions (one):
          --list [--state]                               every group (--state: with its state; --output json: state and type)
          --describe --group G | --all-groups            offsets, lag and members per partition (--offsets, the default),
              [--members [--verbose] | --state]          or the members (--verbose: instance ids, assignments), or the state
          --delete --group G | --all-groups              delete groups (they must have no members)
          --reset-offsets --group G | --all-groups (--topic T[:P,P...]... | --all-topics) <scenario> [--dry-run | --execute]
              scenarios: --to-earliest, --to-latest, --to-current, --to-offset N, --shift-by N,
                         --to-datetime YYYY-MM-DDTHH:mm:SS.sss[Z|+HH:mm] (UTC without a zone)
              --all-topics: every topic the group has committed offsets for
              the default --dry-run prints the new offsets; --execute commits them; the group must have no members
        options:
          --output json                                  one JSON document instead of a table
        """;

    public static int Run(string[] args, TextWriter o, TextWriter e) =>
        AdminRunner.Run("consumer-groups", Usage, args, o, e,
            ["--group", "--topic", "--to-offset", "--shift-by", "--to-datetime"],
            ["--list", "--describe", "--delete", "--reset-offsets", "--all-groups", "--all-topics", "--to-earliest", "--to-latest",
             "--to-current", "--dry-run", "--execute", "--members", "--offsets", "--state", "--verbose"],
            false, RunAsync);

    private static async Task<int> RunAsync(AdminContext c)
    {
        var a = c.Args;
        string action = a.OneAction("--list", "--describe", "--delete", "--reset-offsets");
        a.Forbid(action != "--list", action, "--group", "--all-groups");
        a.Forbid(action == "--reset-offsets", action, "--topic", "--all-topics", "--to-earliest", "--to-latest", "--to-current", "--to-offset", "--shift-by", "--to-datetime", "--dry-run", "--execute");
        a.Forbid(action == "--describe", action, "--members", "--offsets", "--verbose");
        a.Forbid(action is "--describe" or "--list", action, "--state");
        if (action == "--describe" && new[] { "--members", "--offsets", "--state" }.Count(a.Has) > 1)
            throw new UsageException("--describe takes at most one of --members, --offsets, --state");
        if (action != "--list" && !a.Has("--group") && !a.Has("--all-groups")) throw new UsageException($"{action} needs --group G or --all-groups");
        if (a.Has("--group") && a.Has("--all-groups")) throw new UsageException("--group and --all-groups cannot both be given");
        var client = await c.ClientAsync().ConfigureAwait(false);
        foreach (short key in new[] { ListGroupsRequest.ApiKey, FindCoordinatorRequest.ApiKey })
            if (!client.Serves(key)) throw new AdminException($"the broker at {client.BootstrapAddress} has no group coordinator (it does not serve API key {key})");
        return action switch
        {
            "--list" => await ListAsync(c, client).ConfigureAwait(false),
            "--describe" => await DescribeAsync(c, client).ConfigureAwait(false),
            "--delete" => await DeleteAsync(c, client).ConfigureAwait(false),
            _ => await ResetAsync(c, client).ConfigureAwait(false),
        };
    }

    private static async Task<List<ListGroupsResponse.ListedGroup>> AllGroupsAsync(AdminContext c, AdminClient client)
    {
        c.Progress.Step("listing groups");
        var metadata = await client.MetadataAsync([], c.Ct).ConfigureAwait(false);
        var groups = new Dictionary<string, ListGroupsResponse.ListedGroup>(StringComparer.Ordinal);
        foreach (var broker in metadata.Brokers)
        {
            var connection = await client.NodeAsync(broker.NodeId, c.Ct).ConfigureAwait(false);
            var answer = await AdminClient.SendAsync<ListGroupsResponse>(connection, new ListGroupsRequest(), AdminClient.Version(connection, ListGroupsRequest.ApiKey), c.Ct).ConfigureAwait(false);
            if (answer.ErrorCode != 0) throw new AdminException($"ListGroups at broker {broker.NodeId} failed: {Errors.Describe(answer.ErrorCode, null)}");
            foreach (var g in answer.Groups) groups[g.GroupId] = g;
        }
        return [.. groups.Values.OrderBy(g => g.GroupId, StringComparer.Ordinal)];
    }

    private static async Task<int> ListAsync(AdminContext c, AdminClient client)
    {
        var groups = await AllGroupsAsync(c, client).ConfigureAwait(false);
        if (c.Json)
            AdminOutput.Json(c.Out, new JsonArray([.. groups.Select(g => (JsonNode)new JsonObject
                { ["group"] = g.GroupId, ["protocolType"] = g.ProtocolType, ["state"] = g.GroupState, ["type"] = g.GroupType })]));
        else if (c.Args.Has("--state"))
            AdminOutput.Table(c.Out, ["GROUP", "STATE"], groups.Select(g => (IReadOnlyList<string?>)[g.GroupId, g.GroupState]));
        else
            foreach (var g in groups) c.Out.WriteLine(g.GroupId);
        return 0;
    }

    private static async Task<List<string>> GroupIdsAsync(AdminContext c, AdminClient client) =>
        c.Args.Has("--all-groups") ? [.. (await AllGroupsAsync(c, client).ConfigureAwait(false)).Select(g => g.GroupId)] : [.. c.Args.All("--group")];

    private static readonly TimeSpan CoordinatorPatience = TimeSpan.FromSeconds(15);

    /// <summary>The coordinator moved or is still loading (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS).</summary>
    private sealed class CoordinatorMovedException(string message) : Exception(message);

    private static bool IsCoordinatorError(short code) =>
        code is (short)ErrorCode.NotCoordinator or (short)ErrorCode.CoordinatorNotAvailable or (short)ErrorCode.CoordinatorLoadInProgress;

    /// <summary>Throws <see cref="CoordinatorMovedException"/> for a coordinator error, <see cref="AdminException"/> for any other.</summary>
    private static void Check(short code, string? message, string what)
    {
        if (code == 0) return;
        if (IsCoordinatorError(code)) throw new CoordinatorMovedException($"{what}: {Errors.Describe(code, message)}");
        throw new AdminException($"{what}: {Errors.Describe(code, message)}");
    }

    /// <summary>
    /// Runs <paramref name="action"/> at the coordinator of <paramref name="group"/>, finding it again and
    /// retrying while it answers a coordinator error (it moved, or is loading the group), for up to
    /// <see cref="CoordinatorPatience"/>.
    /// </summary>
    private static async Task<T> AtCoordinatorAsync<T>(AdminClient client, string group, Func<KafkaClientConnection, Task<T>> action, CancellationToken ct)
    {
        long deadline = Environment.TickCount64 + (long)CoordinatorPatience.TotalMilliseconds;
        for (int attempt = 0; ; attempt++)
        {
            var coordinator = await client.CoordinatorAsync(group, CoordinatorPatience, ct).ConfigureAwait(false);
            try
            {
                return await action(coordinator).ConfigureAwait(false);
            }
            catch (CoordinatorMovedException e) when (Environment.TickCount64 < deadline)
            {
                _ = e;
                await Task.Delay(Math.Min(100 * (attempt + 1), 500), ct).ConfigureAwait(false);
            }
            catch (CoordinatorMovedException e)
            {
                throw new AdminException(e.Message);
            }
        }
    }

    /// <summary>Committed offsets of <paramref name="group"/> (every topic), by (topic, partition).</summary>
    private static async Task<SortedDictionary<(string Topic, int Partition), long>> CommittedAsync(KafkaClientConnection coordinator, string group, CancellationToken ct)
    {
        short version = AdminClient.Version(coordinator, OffsetFetchRequest.ApiKey, 2, 9);
        var request = new OffsetFetchRequest();
        if (version >= 8) request.Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = null }];
        else { request.GroupId = group; request.Topics = null; }
        var answer = await AdminClient.SendAsync<OffsetFetchResponse>(coordinator, request, version, ct).ConfigureAwait(false);
        var result = new SortedDictionary<(string, int), long>();
        if (version >= 8)
        {
            var g = answer.Groups.FirstOrDefault() ?? throw new AdminException("OffsetFetch answered no group");
            Check(g.ErrorCode, null, $"cannot fetch the offsets of group '{group}'");
            foreach (var t in g.Topics) foreach (var p in t.Partitions) if (IsCoordinatorError(p.ErrorCode)) Check(p.ErrorCode, null, $"cannot fetch the offsets of group '{group}'"); else if (p.ErrorCode == 0 && p.CommittedOffset >= 0) result[(t.Name, p.PartitionIndex)] = p.CommittedOffset;
        }
        else
        {
            Check(answer.ErrorCode, null, $"cannot fetch the offsets of group '{group}'");
            foreach (var t in answer.Topics) foreach (var p in t.Partitions) if (IsCoordinatorError(p.ErrorCode)) Check(p.ErrorCode, null, $"cannot fetch the offsets of group '{group}'"); else if (p.ErrorCode == 0 && p.CommittedOffset >= 0) result[(t.Name, p.PartitionIndex)] = p.CommittedOffset;
        }
        return result;
    }

    /// <summary>Offsets at <paramref name="timestamp"/> (-1 latest, -2 earliest, else the first offset at or after it) per partition.</summary>
    private static async Task<Dictionary<(string Topic, int Partition), long>> OffsetsAtAsync(AdminClient client, IEnumerable<(string Topic, int Partition)> partitions, long timestamp, CancellationToken ct)
    {
        var result = new Dictionary<(string, int), long>();
        foreach (var byTopic in partitions.GroupBy(p => p.Topic))
        {
            var (_, leaders) = await client.PartitionsAsync(byTopic.Key, false, ct).ConfigureAwait(false);
            foreach (var byLeader in byTopic.GroupBy(p => leaders.FirstOrDefault(l => l.Partition == p.Partition).Leader))
            {
                var connection = await client.NodeAsync(byLeader.Key, ct).ConfigureAwait(false);
                var t = new ListOffsetsRequest.ListOffsetsTopic { Name = byTopic.Key };
                foreach (var p in byLeader) t.Partitions.Add(new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = p.Partition, Timestamp = timestamp });
                var answer = await AdminClient.SendAsync<ListOffsetsResponse>(connection, new ListOffsetsRequest { ReplicaId = -1, Topics = [t] },
                    AdminClient.Version(connection, ListOffsetsRequest.ApiKey, 1, 7), ct).ConfigureAwait(false);
                foreach (var rt in answer.Topics)
                    foreach (var rp in rt.Partitions)
                        if (rp.ErrorCode == 0) result[(rt.Name, rp.PartitionIndex)] = rp.Offset;
            }
        }
        return result;
    }

    /// <summary>The consumer protocol's assignment (version, [topic, [partition]], user data): the partitions it names.</summary>
    public static List<(string Topic, int Partition)> DecodeAssignment(ReadOnlySpan<byte> bytes)
    {
        var result = new List<(string, int)>();
        try
        {
            int at = 2;
            int topics = BinaryPrimitives.ReadInt32BigEndian(bytes[at..]); at += 4;
            for (int t = 0; t < topics && t < 100_000; t++)
            {
                int length = BinaryPrimitives.ReadInt16BigEndian(bytes[at..]); at += 2;
                string topic = Encoding.UTF8.GetString(bytes.Slice(at, length)); at += length;
                int count = BinaryPrimitives.ReadInt32BigEndian(bytes[at..]); at += 4;
                for (int p = 0; p < count && p < 1_000_000; p++) { result.Add((topic, BinaryPrimitives.ReadInt32BigEndian(bytes[at..]))); at += 4; }
            }
        }
        catch (ArgumentOutOfRangeException)
        {
            // A truncated or foreign assignment: what was read so far.
        }
        return result;
    }

    private sealed record Row(string Group, string Topic, int Partition, long? Current, long? End, string Consumer, string Host, string ClientId);

    /// <summary>One described group: DescribeGroups' answer, its coordinator, members with their decoded assignments, offset rows.</summary>
    private sealed record GroupView(string Group, DescribeGroupsResponse.DescribedGroup Described, (int Id, string Host, int Port) Coordinator,
        List<(DescribeGroupsResponse.DescribedGroupMember Member, List<(string Topic, int Partition)> Assignment)> Members, List<Row> Rows);

    /// <summary>The coordinator of <paramref name="group"/> as FindCoordinator names it (node id, host, port), for <c>--state</c>.</summary>
    private static async Task<(int Id, string Host, int Port)> CoordinatorNodeAsync(AdminClient client, string group, CancellationToken ct)
    {
        short version = client.Version(FindCoordinatorRequest.ApiKey);
        var request = new FindCoordinatorRequest { KeyType = 0 };
        if (version >= 4) request.CoordinatorKeys = [group];
        else request.Key = group;
        var answer = await AdminClient.SendAsync<FindCoordinatorResponse>(client.Bootstrap, request, version, ct).ConfigureAwait(false);
        if (version >= 4)
        {
            var c = answer.Coordinators.FirstOrDefault();
            return c is { ErrorCode: 0 } ? (c.NodeId, c.Host, c.Port) : (-1, "-", -1);
        }
        return answer.ErrorCode == 0 ? (answer.NodeId, answer.Host, answer.Port) : (-1, "-", -1);
    }

    /// <summary>
    /// DescribeGroups and OffsetFetch of <paramref name="group"/> at its coordinator, log-end offsets at
    /// the leaders. A group of the new consumer protocol (KIP-848) is not a classic group: DescribeGroups
    /// answers GROUP_ID_NOT_FOUND, and ConsumerGroupDescribe describes it instead (in the same shape:
    /// its assignor as the protocol, its members' current assignments).
    /// </summary>
    private static async Task<GroupView> DescribeGroupAsync(AdminContext c, AdminClient client, string group)
    {
        c.Progress.Step($"describing group {group}");
        var (g, members, committed) = await AtCoordinatorAsync(client, group, async coordinator =>
        {
            var described = await AdminClient.SendAsync<DescribeGroupsResponse>(coordinator, new DescribeGroupsRequest { Groups = [group] },
                AdminClient.Version(coordinator, DescribeGroupsRequest.ApiKey, 0, 5), c.Ct).ConfigureAwait(false);
            var d = described.Groups.FirstOrDefault() ?? throw new AdminException($"DescribeGroups answered nothing for '{group}'");
            var decoded = d.Members.Select(m => (m, d.ProtocolType is "consumer" or "" ? DecodeAssignment(m.MemberAssignment) : new List<(string, int)>())).ToList();
            if (d.ErrorCode == (short)ErrorCode.GroupIdNotFound && await DescribeConsumerGroupAsync(coordinator, group, c.Ct).ConfigureAwait(false) is { } kip848)
                (d, decoded) = kip848;
            Check(d.ErrorCode, d.ErrorMessage, $"cannot describe group '{group}'");
            return (d, decoded, await CommittedAsync(coordinator, group, c.Ct).ConfigureAwait(false));
        }, c.Ct).ConfigureAwait(false);
        if (g.GroupState == "Dead") throw new AdminException($"Consumer group '{group}' does not exist.");
        var coordinatorNode = await CoordinatorNodeAsync(client, group, c.Ct).ConfigureAwait(false);
        members = [.. members.OrderBy(x => x.m.ClientId, StringComparer.Ordinal).ThenBy(x => x.m.MemberId, StringComparer.Ordinal)];
        var owner = new Dictionary<(string, int), DescribeGroupsResponse.DescribedGroupMember>();
        foreach (var (m, assignment) in members)
            foreach (var tp in assignment) owner[tp] = m;
        var partitions = committed.Keys.Union(owner.Keys).Distinct().OrderBy(p => p.Item1, StringComparer.Ordinal).ThenBy(p => p.Item2).ToList();
        var ends = await OffsetsAtAsync(client, partitions, -1, c.Ct).ConfigureAwait(false);
        var rows = new List<Row>();
        foreach (var tp in partitions)
        {
            owner.TryGetValue(tp, out var m);
            rows.Add(new Row(group, tp.Item1, tp.Item2, committed.TryGetValue(tp, out long cur) ? cur : null, ends.TryGetValue(tp, out long end) ? end : null,
                m?.MemberId ?? "-", m?.ClientHost ?? "-", m?.ClientId ?? "-"));
        }
        foreach (var (m, assignment) in members.Where(x => x.Item2.Count == 0))
            rows.Add(new Row(group, "-", -1, null, null, m.MemberId, m.ClientHost, m.ClientId));
        return new GroupView(group, g, coordinatorNode, members, rows);
    }

    /// <summary>
    /// ConsumerGroupDescribe of a KIP-848 group in DescribeGroups' shape, or null when the coordinator
    /// does not serve it or knows no such group.
    /// </summary>
    private static async Task<(DescribeGroupsResponse.DescribedGroup, List<(DescribeGroupsResponse.DescribedGroupMember m, List<(string, int)>)>)?> DescribeConsumerGroupAsync(
        KafkaClientConnection coordinator, string group, CancellationToken ct)
    {
        if (!AdminClient.Serves(coordinator, ConsumerGroupDescribeRequest.ApiKey)) return null;
        var answer = await AdminClient.SendAsync<ConsumerGroupDescribeResponse>(coordinator, new ConsumerGroupDescribeRequest { GroupIds = [group] },
            AdminClient.Version(coordinator, ConsumerGroupDescribeRequest.ApiKey, 0, 1), ct).ConfigureAwait(false);
        if (answer.Groups.FirstOrDefault() is not { ErrorCode: 0 } g) return null;
        var described = new DescribeGroupsResponse.DescribedGroup
        {
            GroupId = g.GroupId, GroupState = g.GroupState, ProtocolType = "consumer", ProtocolData = g.AssignorName,
        };
        var members = new List<(DescribeGroupsResponse.DescribedGroupMember m, List<(string, int)>)>();
        foreach (var m in g.Members)
        {
            var member = new DescribeGroupsResponse.DescribedGroupMember
            {
                MemberId = m.MemberId, GroupInstanceId = m.InstanceId, ClientId = m.ClientId, ClientHost = m.ClientHost,
            };
            described.Members.Add(member);
            members.Add((member, [.. m.Assignment.TopicPartitions.SelectMany(t => t.Partitions.Select(p => (t.TopicName, p)))]));
        }
        return (described, members);
    }

    /// <summary>Kafka's ASSIGNMENT column: <c>t1(0,1),t2(2)</c>, topics in order; <c>-</c> for none.</summary>
    public static string AssignmentText(IEnumerable<(string Topic, int Partition)> assignment)
    {
        var parts = assignment.GroupBy(p => p.Topic).OrderBy(t => t.Key, StringComparer.Ordinal)
            .Select(t => $"{t.Key}({string.Join(",", t.Select(p => p.Partition).Distinct().Order())})").ToList();
        return parts.Count == 0 ? "-" : string.Join(",", parts);
    }

    private static long? Lag(Row r) => r.Current is { } cur && r.End is { } end ? Math.Max(0, end - cur) : null;

    private static string Text(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "-";

    /// <summary>
    /// <c>--describe</c> in one of Kafka's three views (at most one of <c>--offsets</c>, the default,
    /// <c>--members</c> [<c>--verbose</c>: GROUP-INSTANCE-ID and ASSIGNMENT] and <c>--state</c>), one table
    /// per group after Kafka's notes (no active members, rebalancing). <c>--output json</c> always holds
    /// every view: state, protocol, coordinator, members with their assignments, offsets and lag.
    /// </summary>
    private static async Task<int> DescribeAsync(AdminContext c, AdminClient client)
    {
        var a = c.Args;
        var views = new List<GroupView>();
        foreach (var group in await GroupIdsAsync(c, client).ConfigureAwait(false))
            views.Add(await DescribeGroupAsync(c, client, group).ConfigureAwait(false));
        if (c.Json)
        {
            AdminOutput.Json(c.Out, new JsonArray([.. views.Select(v => (JsonNode)new JsonObject
            {
                ["group"] = v.Group, ["state"] = v.Described.GroupState, ["protocolType"] = v.Described.ProtocolType,
                ["assignmentStrategy"] = v.Described.ProtocolData,
                ["coordinator"] = new JsonObject { ["id"] = v.Coordinator.Id, ["host"] = v.Coordinator.Host, ["port"] = v.Coordinator.Port },
                ["memberCount"] = v.Members.Count,
                ["members"] = new JsonArray([.. v.Members.Select(x => (JsonNode)new JsonObject
                {
                    ["consumerId"] = x.Member.MemberId, ["groupInstanceId"] = x.Member.GroupInstanceId, ["host"] = x.Member.ClientHost,
                    ["clientId"] = x.Member.ClientId, ["partitions"] = x.Assignment.Count,
                    ["assignment"] = new JsonArray([.. x.Assignment.OrderBy(p => p.Topic, StringComparer.Ordinal).ThenBy(p => p.Partition)
                        .Select(p => (JsonNode)new JsonObject { ["topic"] = p.Topic, ["partition"] = p.Partition })]),
                })]),
                ["partitions"] = new JsonArray([.. v.Rows.Where(r => r.Partition >= 0).Select(r => (JsonNode)new JsonObject
                {
                    ["topic"] = r.Topic, ["partition"] = r.Partition, ["currentOffset"] = r.Current, ["logEndOffset"] = r.End, ["lag"] = Lag(r),
                    ["consumerId"] = r.Consumer == "-" ? null : r.Consumer, ["host"] = r.Host == "-" ? null : r.Host, ["clientId"] = r.ClientId == "-" ? null : r.ClientId,
                })]),
            })]));
            return 0;
        }
        bool members = a.Has("--members"), state = a.Has("--state"), verbose = a.Has("--verbose");
        foreach (var v in views)
        {
            string s = v.Described.GroupState;
            c.Out.WriteLine();
            if (!state)
            {
                if (v.Members.Count == 0) { c.Out.WriteLine($"Consumer group '{v.Group}' has no active members."); c.Out.WriteLine(); }
                else if (s is "PreparingRebalance" or "CompletingRebalance") { c.Out.WriteLine($"Warning: Consumer group '{v.Group}' is rebalancing."); c.Out.WriteLine(); }
            }
            if (state)
                AdminOutput.Table(c.Out, ["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"],
                    [[v.Group, v.Coordinator.Id < 0 ? "-" : $"{v.Coordinator.Host}:{v.Coordinator.Port} ({v.Coordinator.Id})",
                      v.Described.ProtocolData, s, v.Members.Count.ToString(CultureInfo.InvariantCulture)]]);
            else if (members)
            {
                if (v.Members.Count == 0) continue;
                var headers = verbose
                    ? new[] { "GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT" }
                    : ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"];
                AdminOutput.Table(c.Out, headers, v.Members.Select(x => (IReadOnlyList<string?>)(verbose
                    ? [v.Group, x.Member.MemberId, x.Member.GroupInstanceId ?? "-", x.Member.ClientHost, x.Member.ClientId,
                       x.Assignment.Count.ToString(CultureInfo.InvariantCulture), AssignmentText(x.Assignment)]
                    : [v.Group, x.Member.MemberId, x.Member.ClientHost, x.Member.ClientId, x.Assignment.Count.ToString(CultureInfo.InvariantCulture)])));
            }
            else
                AdminOutput.Table(c.Out, ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"],
                    v.Rows.Select(r => (IReadOnlyList<string?>)[r.Group, r.Topic, r.Partition < 0 ? "-" : r.Partition.ToString(CultureInfo.InvariantCulture),
                        Text(r.Current), Text(r.End), Text(Lag(r)), r.Consumer, r.Host, r.ClientId]));
        }
        return 0;
    }

    private static async Task<int> DeleteAsync(AdminContext c, AdminClient client)
    {
        var results = new List<(string Group, short Error)>();
        foreach (var group in await GroupIdsAsync(c, client).ConfigureAwait(false))
        {
            c.Progress.Step($"deleting group {group}");
            short error = await AtCoordinatorAsync(client, group, async coordinator =>
            {
                var answer = await AdminClient.SendAsync<DeleteGroupsResponse>(coordinator, new DeleteGroupsRequest { GroupsNames = [group] },
                    AdminClient.Version(coordinator, DeleteGroupsRequest.ApiKey), c.Ct).ConfigureAwait(false);
                short code = answer.Results.FirstOrDefault(r => r.GroupId == group)?.ErrorCode ?? (short)ErrorCode.UnknownServerError;
                if (IsCoordinatorError(code)) Check(code, null, $"cannot delete group '{group}'");
                return code;
            }, c.Ct).ConfigureAwait(false);
            results.Add((group, error));
        }
        if (c.Json)
            AdminOutput.Json(c.Out, new JsonArray([.. results.Select(r => (JsonNode)new JsonObject { ["group"] = r.Group, ["deleted"] = r.Error == 0, ["error"] = r.Error == 0 ? null : Errors.Name(r.Error) })]));
        else
        {
            foreach (var r in results.Where(r => r.Error != 0)) c.Out.WriteLine($"Error: Deletion of group '{r.Group}' failed: {Errors.Describe(r.Error, null)}");
            if (results.Any(r => r.Error == 0)) c.Out.WriteLine($"Deletion of requested consumer groups ({string.Join(", ", results.Where(r => r.Error == 0).Select(r => $"'{r.Group}'"))}) was successful.");
        }
        if (results.Any(r => r.Error != 0))
        {
            c.Err.WriteLine($"fjord consumer-groups: {results.Count(r => r.Error != 0)} group(s) could not be deleted");
            return 1;
        }
        return 0;
    }

    /// <summary>
    /// <c>--to-datetime</c> as Kafka reads it: <c>yyyy-MM-ddTHH:mm:ss.SSS</c> (the milliseconds may be left
    /// out), then an optional zone <c>Z</c>, <c>±HH:mm</c>, <c>±HHmm</c> or <c>±HH</c>; without a zone the time is UTC
    /// (Kafka appends <c>Z</c>). Returns Unix milliseconds, null when <paramref name="text"/> is not such a time.
    /// </summary>
    public static long? ParseDateTime(string text)
    {
        string[] formats =
        [
            "yyyy-MM-dd'T'HH:mm:ss.fff", "yyyy-MM-dd'T'HH:mm:ss",
            "yyyy-MM-dd'T'HH:mm:ss.fffK", "yyyy-MM-dd'T'HH:mm:ssK",
            "yyyy-MM-dd'T'HH:mm:ss.fffzzz", "yyyy-MM-dd'T'HH:mm:sszzz",
            "yyyy-MM-dd'T'HH:mm:ss.fffzz", "yyyy-MM-dd'T'HH:mm:sszz",
        ];
        string t = text.Trim();
        // ±HHmm: DateTimeOffset wants a colon.
        if (t.Length > 5 && (t[^5] == '+' || t[^5] == '-') && t[^4..].All(char.IsAsciiDigit) && t.IndexOf('T', StringComparison.Ordinal) is > 0 and var at && t.Length - 5 > at)
            t = t[..^2] + ":" + t[^2..];
        return DateTimeOffset.TryParseExact(t, formats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when)
            ? when.ToUnixTimeMilliseconds() : null;
    }

    private sealed record ResetPlan(string Group, List<(string Topic, int Partition, long Offset)> Partitions, string? Error);

    /// <summary>
    /// <c>--reset-offsets</c> for each group (<c>--group</c>, repeatable, or <c>--all-groups</c>). As Kafka, a group
    /// with members (any state but Empty or Dead) is refused, even for a dry run: <c>Assignments can only be reset
    /// if the group 'G' is inactive, but the current state is S.</c>; the other groups are still reset, exit 1.
    /// New offsets are clamped to [log start, log end]; <c>--to-datetime</c> past the last record is the log end.
    /// </summary>
    private static async Task<int> ResetAsync(AdminContext c, AdminClient client)
    {
        var a = c.Args;
        string scenario = a.OneAction("--to-earliest", "--to-latest", "--to-current", "--to-offset", "--shift-by", "--to-datetime");
        if (a.Has("--dry-run") && a.Has("--execute")) throw new UsageException("--dry-run and --execute cannot both be given");
        if (!a.Has("--topic") && !a.Has("--all-topics")) throw new UsageException("--reset-offsets needs --topic T or --all-topics");
        if (a.Has("--topic") && a.Has("--all-topics")) throw new UsageException("--topic and --all-topics cannot both be given");
        long? toOffset = a.Long("--to-offset"), shift = a.Long("--shift-by");
        long? timestamp = null;
        if (a.Get("--to-datetime") is { } dt)
            timestamp = ParseDateTime(dt) ?? throw new UsageException($"--to-datetime: '{dt}' is not a date and time (YYYY-MM-DDTHH:mm:SS.sss, optionally Z or ±HH:mm)");
        var named = new List<(string Topic, int Partition)>();
        foreach (var spec in a.All("--topic"))
        {
            int colon = spec.IndexOf(':', StringComparison.Ordinal);
            string topic = colon < 0 ? spec : spec[..colon];
            if (colon < 0)
            {
                var (_, all) = await client.PartitionsAsync(topic, false, c.Ct).ConfigureAwait(false);
                named.AddRange(all.Select(p => (topic, p.Partition)));
            }
            else
                foreach (var p in spec[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries))
                    named.Add((topic, int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : throw new UsageException($"--topic: '{p}' is not a partition")));
        }
        bool execute = a.Has("--execute");
        var plans = new List<ResetPlan>();
        foreach (var group in await GroupIdsAsync(c, client).ConfigureAwait(false))
        {
            c.Progress.Step($"computing the new offsets of group {group}");
            var (state, committed) = await AtCoordinatorAsync(client, group, async coordinator =>
            {
                var described = await AdminClient.SendAsync<DescribeGroupsResponse>(coordinator, new DescribeGroupsRequest { Groups = [group] },
                    AdminClient.Version(coordinator, DescribeGroupsRequest.ApiKey, 0, 5), c.Ct).ConfigureAwait(false);
                var d = described.Groups.FirstOrDefault() ?? throw new AdminException($"DescribeGroups answered nothing for '{group}'");
                Check(d.ErrorCode, d.ErrorMessage, $"cannot describe group '{group}'");
                return (d.GroupState, await CommittedAsync(coordinator, group, c.Ct).ConfigureAwait(false));
            }, c.Ct).ConfigureAwait(false);
            if (state is not ("Empty" or "Dead"))
            {
                plans.Add(new ResetPlan(group, [], $"Assignments can only be reset if the group '{group}' is inactive, but the current state is {state}."));
                continue;
            }
            var partitions = (a.Has("--all-topics") ? [.. committed.Keys] : named)
                .Distinct().OrderBy(p => p.Topic, StringComparer.Ordinal).ThenBy(p => p.Partition).ToList();
            var earliest = await OffsetsAtAsync(client, partitions, -2, c.Ct).ConfigureAwait(false);
            var latest = await OffsetsAtAsync(client, partitions, -1, c.Ct).ConfigureAwait(false);
            var atTime = timestamp is { } ts ? await OffsetsAtAsync(client, partitions, ts, c.Ct).ConfigureAwait(false) : null;
            var plan = new List<(string Topic, int Partition, long Offset)>();
            foreach (var tp in partitions)
            {
                if (!earliest.TryGetValue(tp, out long lo) || !latest.TryGetValue(tp, out long hi)) throw new AdminException($"cannot read the offsets of {tp.Topic}-{tp.Partition}");
                long current = committed.TryGetValue(tp, out long cur) ? cur : lo;
                long target = scenario switch
                {
                    "--to-earliest" => lo,
                    "--to-latest" => hi,
                    "--to-current" => current,
                    "--to-offset" => toOffset!.Value,
                    "--shift-by" => current + shift!.Value,
                    _ => atTime!.TryGetValue(tp, out long t) && t >= 0 ? t : hi,
                };
                plan.Add((tp.Topic, tp.Partition, Math.Clamp(target, lo, hi)));
            }
            if (execute && plan.Count > 0)
            {
                c.Progress.Step($"committing the new offsets of group {group}");
                await CommitAsync(c, client, group, plan).ConfigureAwait(false);
            }
            plans.Add(new ResetPlan(group, plan, null));
        }
        if (c.Json)
            AdminOutput.Json(c.Out, new JsonArray([.. plans.Select(p => (JsonNode)new JsonObject
            {
                ["group"] = p.Group, ["executed"] = execute && p.Error is null, ["error"] = p.Error,
                ["partitions"] = new JsonArray([.. p.Partitions.Select(x => (JsonNode)new JsonObject { ["topic"] = x.Topic, ["partition"] = x.Partition, ["newOffset"] = x.Offset })]),
            })]));
        else
        {
            foreach (var p in plans.Where(p => p.Error is not null)) c.Out.WriteLine($"Error: {p.Error}");
            AdminOutput.Table(c.Out, ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
                plans.SelectMany(p => p.Partitions.Select(x => (IReadOnlyList<string?>)[p.Group, x.Topic, x.Partition.ToString(CultureInfo.InvariantCulture), x.Offset.ToString(CultureInfo.InvariantCulture)])));
        }
        if (plans.FirstOrDefault(p => p.Error is not null) is { } failed)
        {
            c.Err.WriteLine(plans.Count(p => p.Error is not null) == 1 ? $"fjord consumer-groups: {failed.Error}" : $"fjord consumer-groups: {plans.Count(p => p.Error is not null)} group(s) could not be reset");
            return 1;
        }
        return 0;
    }

    /// <summary>OffsetCommit of <paramref name="plan"/> for <paramref name="group"/> with generation -1 (accepted only for a group without members).</summary>
    private static Task CommitAsync(AdminContext c, AdminClient client, string group, List<(string Topic, int Partition, long Offset)> plan) =>
        AtCoordinatorAsync(client, group, async coordinator =>
        {
            short version = AdminClient.Version(coordinator, OffsetCommitRequest.ApiKey, 2, 9);
            var request = new OffsetCommitRequest { GroupId = group, GenerationIdOrMemberEpoch = -1, MemberId = "", GroupInstanceId = null };
            foreach (var byTopic in plan.GroupBy(p => p.Topic))
            {
                var t = new OffsetCommitRequest.OffsetCommitRequestTopic { Name = byTopic.Key };
                foreach (var p in byTopic) t.Partitions.Add(new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = p.Partition, CommittedOffset = p.Offset, CommittedMetadata = "" });
                request.Topics.Add(t);
            }
            var answer = await AdminClient.SendAsync<OffsetCommitResponse>(coordinator, request, version, c.Ct).ConfigureAwait(false);
            if (answer.Topics.SelectMany(t => t.Partitions).FirstOrDefault(p => IsCoordinatorError(p.ErrorCode)) is { } moved)
                Check(moved.ErrorCode, null, $"cannot reset the offsets of group '{group}'");
            var failed = answer.Topics.SelectMany(t => t.Partitions.Where(p => p.ErrorCode != 0).Select(p => $"{t.Name}-{p.PartitionIndex}: {Errors.Name(p.ErrorCode)}")).ToList();
            if (failed.Count > 0) throw new AdminException($"cannot reset the offsets of group '{group}' (it must have no active members): {string.Join(", ", failed)}");
            return true;
        }, c.Ct);
}
