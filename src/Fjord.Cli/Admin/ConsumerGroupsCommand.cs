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
internal static class ConsumerGroupsCommand
{
    private const string Usage = """
        usage: fjord consumer-groups --bootstrap-server HOST:PORT <action> [options]

        actions (one):
          --list                                         every group (with its state and type in --output json)
          --describe --group G | --all-groups            offsets, lag and members per partition
          --delete --group G | --all-groups              delete groups (they must have no members)
          --reset-offsets --group G (--topic T[:P,P...]... | --all-topics) <scenario> [--dry-run | --execute]
              scenarios: --to-earliest, --to-latest, --to-current, --to-offset N, --shift-by N, --to-datetime YYYY-MM-DDTHH:mm:SS.sss[Z]
              the default --dry-run prints the new offsets; --execute commits them (the group must be empty)
        options:
          --output json                                  one JSON document instead of a table
        """;

    public static int Run(string[] args, TextWriter o, TextWriter e) =>
        AdminRunner.Run("consumer-groups", Usage, args, o, e,
            ["--group", "--topic", "--to-offset", "--shift-by", "--to-datetime"],
            ["--list", "--describe", "--delete", "--reset-offsets", "--all-groups", "--all-topics", "--to-earliest", "--to-latest",
             "--to-current", "--dry-run", "--execute", "--members", "--offsets", "--state"],
            false, RunAsync);

    private static async Task<int> RunAsync(AdminContext c)
    {
        var a = c.Args;
        string action = a.OneAction("--list", "--describe", "--delete", "--reset-offsets");
        a.Forbid(action != "--list", action, "--group", "--all-groups");
        a.Forbid(action == "--reset-offsets", action, "--topic", "--all-topics", "--to-earliest", "--to-latest", "--to-current", "--to-offset", "--shift-by", "--to-datetime", "--dry-run", "--execute");
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

    private static async Task<int> DescribeAsync(AdminContext c, AdminClient client)
    {
        var rows = new List<Row>();
        var states = new List<(string Group, string State, int Members)>();
        foreach (var group in await GroupIdsAsync(c, client).ConfigureAwait(false))
        {
            c.Progress.Step($"describing group {group}");
            var (g, committed) = await AtCoordinatorAsync(client, group, async coordinator =>
            {
                var described = await AdminClient.SendAsync<DescribeGroupsResponse>(coordinator, new DescribeGroupsRequest { Groups = [group] },
                    AdminClient.Version(coordinator, DescribeGroupsRequest.ApiKey, 0, 5), c.Ct).ConfigureAwait(false);
                var d = described.Groups.FirstOrDefault() ?? throw new AdminException($"DescribeGroups answered nothing for '{group}'");
                Check(d.ErrorCode, d.ErrorMessage, $"cannot describe group '{group}'");
                return (d, await CommittedAsync(coordinator, group, c.Ct).ConfigureAwait(false));
            }, c.Ct).ConfigureAwait(false);
            if (g.GroupState == "Dead") throw new AdminException($"Consumer group '{group}' does not exist.");
            states.Add((group, g.GroupState, g.Members.Count));
            var owner = new Dictionary<(string, int), DescribeGroupsResponse.DescribedGroupMember>();
            if (g.ProtocolType is "consumer" or "")
                foreach (var m in g.Members)
                    foreach (var tp in DecodeAssignment(m.MemberAssignment)) owner[tp] = m;
            var partitions = committed.Keys.Union(owner.Keys).Distinct().OrderBy(p => p.Item1, StringComparer.Ordinal).ThenBy(p => p.Item2).ToList();
            var ends = await OffsetsAtAsync(client, partitions, -1, c.Ct).ConfigureAwait(false);
            foreach (var tp in partitions)
            {
                owner.TryGetValue(tp, out var m);
                rows.Add(new Row(group, tp.Item1, tp.Item2, committed.TryGetValue(tp, out long cur) ? cur : null, ends.TryGetValue(tp, out long end) ? end : null,
                    m?.MemberId ?? "-", m?.ClientHost ?? "-", m?.ClientId ?? "-"));
            }
            foreach (var m in g.Members.Where(m => !owner.ContainsValue(m)))
                rows.Add(new Row(group, "-", -1, null, null, m.MemberId, m.ClientHost, m.ClientId));
        }
        static string Lag(Row r) => r.Current is { } cur && r.End is { } end ? Math.Max(0, end - cur).ToString(CultureInfo.InvariantCulture) : "-";
        if (c.Json)
        {
            AdminOutput.Json(c.Out, new JsonArray([.. states.Select(s => (JsonNode)new JsonObject
            {
                ["group"] = s.Group, ["state"] = s.State, ["members"] = s.Members,
                ["partitions"] = new JsonArray([.. rows.Where(r => r.Group == s.Group && r.Partition >= 0).Select(r => (JsonNode)new JsonObject
                {
                    ["topic"] = r.Topic, ["partition"] = r.Partition, ["currentOffset"] = r.Current, ["logEndOffset"] = r.End,
                    ["lag"] = r.Current is { } cur && r.End is { } end ? Math.Max(0, end - cur) : null,
                    ["consumerId"] = r.Consumer == "-" ? null : r.Consumer, ["host"] = r.Host == "-" ? null : r.Host, ["clientId"] = r.ClientId == "-" ? null : r.ClientId,
                })]),
            })]));
            return 0;
        }
        foreach (var s in states)
        {
            c.Out.WriteLine();
            if (s.Members == 0) c.Out.WriteLine($"Consumer group '{s.Group}' has no active members.");
            c.Out.WriteLine();
        }
        AdminOutput.Table(c.Out, ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"],
            rows.Select(r => (IReadOnlyList<string?>)[r.Group, r.Topic, r.Partition < 0 ? "-" : r.Partition.ToString(CultureInfo.InvariantCulture),
                r.Current?.ToString(CultureInfo.InvariantCulture) ?? "-", r.End?.ToString(CultureInfo.InvariantCulture) ?? "-", Lag(r), r.Consumer, r.Host, r.ClientId]));
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

    private static async Task<int> ResetAsync(AdminContext c, AdminClient client)
    {
        var a = c.Args;
        string scenario = a.OneAction("--to-earliest", "--to-latest", "--to-current", "--to-offset", "--shift-by", "--to-datetime");
        if (a.Has("--dry-run") && a.Has("--execute")) throw new UsageException("--dry-run and --execute cannot both be given");
        if (a.Has("--all-groups")) throw new UsageException("--reset-offsets works on one --group at a time");
        if (!a.Has("--topic") && !a.Has("--all-topics")) throw new UsageException("--reset-offsets needs --topic T or --all-topics");
        long? toOffset = a.Long("--to-offset"), shift = a.Long("--shift-by");
        long? timestamp = null;
        if (a.Get("--to-datetime") is { } dt)
            timestamp = DateTimeOffset.TryParse(dt, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when)
                ? when.ToUnixTimeMilliseconds() : throw new UsageException($"--to-datetime: '{dt}' is not a date and time (YYYY-MM-DDTHH:mm:SS.sss)");
        string group = a.Get("--group")!;
        var committed = await AtCoordinatorAsync(client, group, coordinator => CommittedAsync(coordinator, group, c.Ct), c.Ct).ConfigureAwait(false);
        var partitions = new List<(string Topic, int Partition)>();
        if (a.Has("--all-topics")) partitions.AddRange(committed.Keys);
        foreach (var spec in a.All("--topic"))
        {
            int colon = spec.IndexOf(':', StringComparison.Ordinal);
            string topic = colon < 0 ? spec : spec[..colon];
            if (colon < 0)
            {
                var (_, all) = await client.PartitionsAsync(topic, false, c.Ct).ConfigureAwait(false);
                partitions.AddRange(all.Select(p => (topic, p.Partition)));
            }
            else
                foreach (var p in spec[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries))
                    partitions.Add((topic, int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : throw new UsageException($"--topic: '{p}' is not a partition")));
        }
        partitions = [.. partitions.Distinct().OrderBy(p => p.Topic, StringComparer.Ordinal).ThenBy(p => p.Partition)];
        c.Progress.Step("computing the new offsets");
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
        bool execute = a.Has("--execute");
        if (execute)
        {
            c.Progress.Step("committing the new offsets");
            await AtCoordinatorAsync(client, group, async coordinator =>
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
            }, c.Ct).ConfigureAwait(false);
        }
        if (c.Json)
            AdminOutput.Json(c.Out, new JsonObject
            {
                ["group"] = group, ["executed"] = execute,
                ["partitions"] = new JsonArray([.. plan.Select(p => (JsonNode)new JsonObject { ["topic"] = p.Topic, ["partition"] = p.Partition, ["newOffset"] = p.Offset })]),
            });
        else
            AdminOutput.Table(c.Out, ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
                plan.Select(p => (IReadOnlyList<string?>)[group, p.Topic, p.Partition.ToString(CultureInfo.InvariantCulture), p.Offset.ToString(CultureInfo.InvariantCulture)]));
        return 0;
    }
}
