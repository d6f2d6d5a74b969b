using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Fjord.Cli.Admin;

namespace Fjord.Tools.Tests;

/// <summary>
/// <c>fjord consumer-groups</c> against a live node with real members: a classic group driven by
/// python3-confluent-kafka (two consumers in one script, range assignor, explicit commits), described in
/// every view; resets by time over records produced with known CreateTimes.
/// </summary>
public sealed class AdminGroupsTests(AdminNode node) : IClassFixture<AdminNode>
{
    /// <summary>
    /// ARGS: topic, group, {partition: records to produce}, {partition: offset to commit}. Produces, joins
    /// two consumers (client ids cg-client-a, cg-client-b), waits until the partitions are split between
    /// them, commits, reports the assignment; keeps both polling until a line arrives on stdin (≤ 60 s),
    /// then closes them (LeaveGroup) and reports again.
    /// </summary>
    private const string LiveMembers = """
        from confluent_kafka import Consumer, Producer, TopicPartition
        T, G = ARGS[0], ARGS[1]
        counts = {int(k): v for k, v in json.loads(ARGS[2]).items()}
        commits = {int(k): v for k, v in json.loads(ARGS[3]).items()}
        p = Producer({'bootstrap.servers': B, 'linger.ms': 0})
        for part, n in counts.items():
            for i in range(n):
                p.produce(T, value=('v%d' % i).encode(), partition=part)
        left = p.flush(20)
        if left:
            raise SystemExit('%d records not delivered' % left)
        def consumer(cid):
            return Consumer({'bootstrap.servers': B, 'group.id': G, 'client.id': cid, 'enable.auto.commit': False,
                             'auto.offset.reset': 'earliest', 'session.timeout.ms': 10000, 'heartbeat.interval.ms': 300,
                             'partition.assignment.strategy': 'range'})
        cs = {cid: consumer(cid) for cid in ('cg-client-a', 'cg-client-b')}
        for c in cs.values():
            c.subscribe([T])
        end = deadline(30)
        while True:
            for c in cs.values():
                c.poll(0.05)
            a = {cid: sorted(tp.partition for tp in c.assignment()) for cid, c in cs.items()}
            if all(a.values()) and sum(len(x) for x in a.values()) == len(counts):
                break
            if time.monotonic() > end:
                raise SystemExit('no split assignment within 30 s: %r' % a)
        for cid, c in cs.items():
            c.commit(offsets=[TopicPartition(T, part, commits[part]) for part in a[cid]], asynchronous=False)
        out({'assignment': a})
        stop = threading.Event()
        def wait_stdin():
            sys.stdin.readline()
            stop.set()
        threading.Thread(target=wait_stdin, daemon=True).start()
        end = deadline(60)
        while not stop.is_set() and time.monotonic() < end:
            for c in cs.values():
                c.poll(0.1)
        for c in cs.values():
            c.close()
        out({'closed': True})
        """;

    /// <summary>ARGS: topic, [[partition, CreateTime ms], …]. Produces one record per pair, in order.</summary>
    private const string ProduceWithTimestamps = """
        from confluent_kafka import Producer
        T = ARGS[0]
        p = Producer({'bootstrap.servers': B, 'linger.ms': 0})
        for part, ts in json.loads(ARGS[1]):
            p.produce(T, value=b'x', partition=part, timestamp=ts)
        out({'left': p.flush(20)})
        """;

    private static readonly Dictionary<int, int> Produced = new() { [0] = 4, [1] = 6, [2] = 8 };
    private static readonly Dictionary<int, int> Committed = new() { [0] = 1, [1] = 2, [2] = 3 };

    [Fact]
    public async Task Describe_live_classic_group_in_every_view_with_lag_list_and_all_groups()
    {
        node.Ok("topics", "--create", "--topic", "cg-live", "--partitions", "3");
        await using var py = AdminPython.Start(node, LiveMembers, "cg-live", "cg-live-g", JsonSerializer.Serialize(Produced), JsonSerializer.Serialize(Committed));
        var assignment = (await py.NextAsync(TimeSpan.FromSeconds(40))).GetProperty("assignment").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(x => x.GetInt32()).ToList());
        Assert.Equal(["cg-client-a", "cg-client-b"], assignment.Keys.Order(StringComparer.Ordinal));
        var ownerOf = assignment.SelectMany(kv => kv.Value.Select(p => (p, kv.Key))).ToDictionary(x => x.p, x => x.Key);

        // Two groups without members, for --list and --all-groups.
        node.Ok("consumer-groups", "--reset-offsets", "--group", "cg-idle-1", "--topic", "cg-live", "--to-latest", "--execute");
        node.Ok("consumer-groups", "--reset-offsets", "--group", "cg-idle-2", "--topic", "cg-live:1", "--to-offset", "5", "--execute");

        // JSON: the whole picture; consumer ids are the broker's "<client id>-<uuid>".
        var g = Assert.Single(node.Json("consumer-groups", "--describe", "--group", "cg-live-g").EnumerateArray());
        Assert.Equal("Stable", g.GetProperty("state").GetString());
        Assert.Equal("consumer", g.GetProperty("protocolType").GetString());
        Assert.Equal("range", g.GetProperty("assignmentStrategy").GetString());
        Assert.Equal(1, g.GetProperty("coordinator").GetProperty("id").GetInt32());
        Assert.Equal(2, g.GetProperty("memberCount").GetInt32());
        var members = g.GetProperty("members").EnumerateArray().ToDictionary(m => m.GetProperty("clientId").GetString()!);
        Assert.Equal(["cg-client-a", "cg-client-b"], members.Keys.Order(StringComparer.Ordinal));
        var consumerId = new Dictionary<string, string>();
        foreach (var (client, m) in members)
        {
            consumerId[client] = m.GetProperty("consumerId").GetString()!;
            Assert.Matches($"^{client}-[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$", consumerId[client]);
            Assert.Contains("127.0.0.1", m.GetProperty("host").GetString());
            Assert.Equal(assignment[client], m.GetProperty("assignment").EnumerateArray().Select(x =>
            {
                Assert.Equal("cg-live", x.GetProperty("topic").GetString());
                return x.GetProperty("partition").GetInt32();
            }));
            Assert.Equal(assignment[client].Count, m.GetProperty("partitions").GetInt32());
        }
        var rows = g.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], rows.Select(r => r.GetProperty("partition").GetInt32()));
        foreach (var r in rows)
        {
            int p = r.GetProperty("partition").GetInt32();
            Assert.Equal(Committed[p], r.GetProperty("currentOffset").GetInt64());
            Assert.Equal(Produced[p], r.GetProperty("logEndOffset").GetInt64());
            Assert.Equal(Produced[p] - Committed[p], r.GetProperty("lag").GetInt64());
            Assert.Equal(consumerId[ownerOf[p]], r.GetProperty("consumerId").GetString());
            Assert.Equal(ownerOf[p], r.GetProperty("clientId").GetString());
        }

        // --offsets (the default view): one row per partition, lag = produced - committed, its member.
        string offsets = node.Ok("consumer-groups", "--describe", "--group", "cg-live-g");
        Assert.Equal(offsets, node.Ok("consumer-groups", "--describe", "--group", "cg-live-g", "--offsets"));
        Assert.DoesNotContain("no active members", offsets);
        Assert.Matches(@"GROUP\s+TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+LOG-END-OFFSET\s+LAG\s+CONSUMER-ID\s+HOST\s+CLIENT-ID", offsets);
        foreach (int p in Produced.Keys)
            Assert.Matches($@"(?m)^cg-live-g\s+cg-live\s+{p}\s+{Committed[p]}\s+{Produced[p]}\s+{Produced[p] - Committed[p]}\s+{Regex.Escape(consumerId[ownerOf[p]])}\s+\S*127\.0\.0\.1\s+{ownerOf[p]}$", offsets);

        // --members: one row per member with its partition count; --verbose adds the assignment.
        string membersTable = node.Ok("consumer-groups", "--describe", "--group", "cg-live-g", "--members");
        Assert.Matches(@"GROUP\s+CONSUMER-ID\s+HOST\s+CLIENT-ID\s+#PARTITIONS", membersTable);
        foreach (var (client, parts) in assignment)
            Assert.Matches($@"(?m)^cg-live-g\s+{Regex.Escape(consumerId[client])}\s+\S*127\.0\.0\.1\s+{client}\s+{parts.Count}$", membersTable);
        string verbose = node.Ok("consumer-groups", "--describe", "--group", "cg-live-g", "--members", "--verbose");
        Assert.Matches(@"GROUP\s+CONSUMER-ID\s+GROUP-INSTANCE-ID\s+HOST\s+CLIENT-ID\s+#PARTITIONS\s+ASSIGNMENT", verbose);
        foreach (var (client, parts) in assignment)
            Assert.Matches($@"(?m)^cg-live-g\s+{Regex.Escape(consumerId[client])}\s+-\s+\S*127\.0\.0\.1\s+{client}\s+{parts.Count}\s+{Regex.Escape($"cg-live({string.Join(",", parts)})")}$", verbose);

        // --state: coordinator, strategy, Stable, two members.
        string state = node.Ok("consumer-groups", "--describe", "--group", "cg-live-g", "--state");
        Assert.Matches(@"GROUP\s+COORDINATOR \(ID\)\s+ASSIGNMENT-STRATEGY\s+STATE\s+#MEMBERS", state);
        Assert.Matches($@"(?m)^cg-live-g\s+{Regex.Escape(node.Bootstrap)} \(1\)\s+range\s+Stable\s+2$", state);
        Assert.Equal(2, node.Fjord("consumer-groups", "--describe", "--group", "cg-live-g", "--state", "--members").Code);

        // --list with several groups (text, --state, JSON).
        var listed = node.Ok("consumer-groups", "--list").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("cg-live-g", listed);
        Assert.Contains("cg-idle-1", listed);
        Assert.Contains("cg-idle-2", listed);
        string listState = node.Ok("consumer-groups", "--list", "--state");
        Assert.Matches(@"(?m)^cg-live-g\s+Stable$", listState);
        Assert.Matches(@"(?m)^cg-idle-1\s+Empty$", listState);
        var listJson = node.Json("consumer-groups", "--list").EnumerateArray().ToDictionary(x => x.GetProperty("group").GetString()!);
        Assert.Equal("Stable", listJson["cg-live-g"].GetProperty("state").GetString());
        Assert.Equal("consumer", listJson["cg-live-g"].GetProperty("protocolType").GetString());
        Assert.Equal("Empty", listJson["cg-idle-2"].GetProperty("state").GetString());

        // --describe --all-groups: every group, in order, each with its own notes and rows.
        string all = node.Ok("consumer-groups", "--describe", "--all-groups");
        Assert.Contains("Consumer group 'cg-idle-1' has no active members.", all);
        Assert.Contains("Consumer group 'cg-idle-2' has no active members.", all);
        Assert.DoesNotContain("Consumer group 'cg-live-g' has no active members.", all);
        foreach (int p in Produced.Keys)
            Assert.Matches($@"(?m)^cg-idle-1\s+cg-live\s+{p}\s+{Produced[p]}\s+{Produced[p]}\s+0\s+-\s+-\s+-$", all);
        Assert.Matches(@"(?m)^cg-idle-2\s+cg-live\s+1\s+5\s+6\s+1\s+-\s+-\s+-$", all);
        Assert.Matches(@"(?m)^cg-live-g\s+cg-live\s+2\s+3\s+8\s+5\s+", all);
        var allJson = node.Json("consumer-groups", "--describe", "--all-groups").EnumerateArray().ToDictionary(x => x.GetProperty("group").GetString()!);
        Assert.Equal(2, allJson["cg-live-g"].GetProperty("memberCount").GetInt32());
        Assert.Equal(0, allJson["cg-idle-1"].GetProperty("memberCount").GetInt32());
        Assert.Equal([0L, 0L, 0L], allJson["cg-idle-1"].GetProperty("partitions").EnumerateArray().Select(r => r.GetProperty("lag").GetInt64()));
        Assert.Equal(1L, Assert.Single(allJson["cg-idle-2"].GetProperty("partitions").EnumerateArray()).GetProperty("lag").GetInt64());

        // A group with members cannot be reset, not even as a dry run (Kafka's message), exit 1.
        var (code, o, err) = node.Fjord("consumer-groups", "--reset-offsets", "--group", "cg-live-g", "--topic", "cg-live", "--to-earliest");
        Assert.Equal(1, code);
        Assert.Contains("Assignments can only be reset if the group 'cg-live-g' is inactive, but the current state is Stable.", o + err);

        // The members leave: the group is Empty, its offsets stay.
        Assert.True((await py.StopAsync(TimeSpan.FromSeconds(20))).GetProperty("closed").GetBoolean());
        var deadline = DateTime.UtcNow.AddSeconds(15);
        string after;
        while (!Regex.IsMatch(after = node.Ok("consumer-groups", "--describe", "--group", "cg-live-g", "--state"), @"(?m)^cg-live-g\s+.*\s+Empty\s+0$") && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Matches(@"(?m)^cg-live-g\s+\S+ \(1\)\s+Empty\s+0$", after);
        Assert.Contains("Consumer group 'cg-live-g' has no active members.", node.Ok("consumer-groups", "--describe", "--group", "cg-live-g", "--members"));
        Assert.Matches(@"(?m)^cg-live-g\s+cg-live\s+1\s+2\s+6\s+4\s+-\s+-\s+-$", node.Ok("consumer-groups", "--describe", "--group", "cg-live-g"));
    }

    private static string Kafka(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Reset_to_datetime_lands_on_first_record_at_or_after_it_for_all_groups_and_all_topics()
    {
        node.Ok("topics", "--create", "--topic", "cg-time", "--partitions", "2");
        node.Ok("topics", "--create", "--topic", "cg-time2", "--partitions", "1");
        long t0 = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeSeconds() * 1000;
        // Partition 0: t0, +1 s … +4 s; partition 1: +0.5 s, +1.5 s, +2.5 s; cg-time2: t0, +10 s.
        var records = new List<long[]>();
        for (int i = 0; i < 5; i++) records.Add([0, t0 + i * 1000]);
        for (int i = 0; i < 3; i++) records.Add([1, t0 + 500 + i * 1000]);
        Assert.Equal(0, (await AdminPython.RunAsync(node, ProduceWithTimestamps, null, "cg-time", JsonSerializer.Serialize(records))).GetProperty("left").GetInt32());
        Assert.Equal(0, (await AdminPython.RunAsync(node, ProduceWithTimestamps, null, "cg-time2", JsonSerializer.Serialize(new long[][] { [0, t0], [0, t0 + 10_000] }))).GetProperty("left").GetInt32());
        node.Ok("consumer-groups", "--reset-offsets", "--group", "cg-time-g", "--topic", "cg-time", "--topic", "cg-time2", "--to-earliest", "--execute");
        node.Ok("consumer-groups", "--reset-offsets", "--group", "cg-time-h", "--topic", "cg-time", "--to-latest", "--execute");

        Dictionary<(string, int), long> Plan(params string[] args) =>
            Assert.Single(node.Json(["consumer-groups", "--reset-offsets", .. args]).EnumerateArray()).GetProperty("partitions").EnumerateArray()
                .ToDictionary(p => (p.GetProperty("topic").GetString()!, p.GetProperty("partition").GetInt32()), p => p.GetProperty("newOffset").GetInt64());

        // Between records (no zone = UTC, Kafka's yyyy-MM-ddTHH:mm:ss.SSS): the first record after it.
        string between = node.Ok("consumer-groups", "--reset-offsets", "--group", "cg-time-g", "--topic", "cg-time", "--to-datetime", Kafka(t0 + 1200));
        Assert.Matches(@"(?m)^cg-time-g\s+cg-time\s+0\s+2$", between);
        Assert.Matches(@"(?m)^cg-time-g\s+cg-time\s+1\s+1$", between);
        // The same instant with a zone (Z, +02:00, -0130): the same offsets.
        var at = DateTimeOffset.FromUnixTimeMilliseconds(t0 + 1200);
        foreach (var text in new[] { Kafka(t0 + 1200) + "Z", at.ToOffset(TimeSpan.FromHours(2)).ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", CultureInfo.InvariantCulture),
                     at.ToOffset(TimeSpan.FromMinutes(-90)).ToString("yyyy-MM-dd'T'HH:mm:ss.fff", CultureInfo.InvariantCulture) + "-0130" })
            Assert.Equal(new Dictionary<(string, int), long> { [("cg-time", 0)] = 2, [("cg-time", 1)] = 1 }, Plan("--group", "cg-time-g", "--topic", "cg-time", "--to-datetime", text));
        // Exactly a record's time: that record.
        Assert.Equal(new Dictionary<(string, int), long> { [("cg-time", 0)] = 2, [("cg-time", 1)] = 2 }, Plan("--group", "cg-time-g", "--topic", "cg-time", "--to-datetime", Kafka(t0 + 2000)));
        // Before every record: the first; after every record: the log end.
        Assert.Equal(new Dictionary<(string, int), long> { [("cg-time", 0)] = 0, [("cg-time", 1)] = 0 }, Plan("--group", "cg-time-g", "--topic", "cg-time", "--to-datetime", Kafka(t0 - 60_000)));
        Assert.Equal(new Dictionary<(string, int), long> { [("cg-time", 0)] = 5, [("cg-time", 1)] = 3 }, Plan("--group", "cg-time-g", "--topic", "cg-time", "--to-datetime", Kafka(t0 + 60_000)));
        // --all-topics: the topics the group has offsets for.
        Assert.Equal(new Dictionary<(string, int), long> { [("cg-time", 0)] = 2, [("cg-time", 1)] = 1, [("cg-time2", 0)] = 1 },
            Plan("--group", "cg-time-g", "--all-topics", "--to-datetime", Kafka(t0 + 1200)));
        Assert.Equal(2, node.Fjord("consumer-groups", "--reset-offsets", "--group", "cg-time-g", "--all-topics", "--topic", "cg-time", "--to-earliest").Code);

        // --all-groups --all-topics --execute: each group's own topics, committed.
        var executed = node.Json("consumer-groups", "--reset-offsets", "--all-groups", "--all-topics", "--to-datetime", Kafka(t0 + 1200), "--execute")
            .EnumerateArray().ToDictionary(x => x.GetProperty("group").GetString()!);
        Assert.True(executed["cg-time-g"].GetProperty("executed").GetBoolean());
        Assert.True(executed["cg-time-h"].GetProperty("executed").GetBoolean());
        var described = node.Json("consumer-groups", "--describe", "--group", "cg-time-g", "--group", "cg-time-h").EnumerateArray()
            .ToDictionary(x => x.GetProperty("group").GetString()!, x => x.GetProperty("partitions").EnumerateArray()
                .ToDictionary(p => (p.GetProperty("topic").GetString()!, p.GetProperty("partition").GetInt32()), p => p.GetProperty("currentOffset").GetInt64()));
        Assert.Equal(new Dictionary<(string, int), long> { [("cg-time", 0)] = 2, [("cg-time", 1)] = 1, [("cg-time2", 0)] = 1 }, described["cg-time-g"]);
        Assert.Equal(new Dictionary<(string, int), long> { [("cg-time", 0)] = 2, [("cg-time", 1)] = 1 }, described["cg-time-h"]);

        // Not Kafka's format: usage, exit 2.
        foreach (var bad in new[] { "2024-01-01", "2024-01-01 10:00:00.000", "2024-13-01T00:00:00.000", "2024-01-01T00:00:00.5", "yesterday" })
            Assert.Equal(2, node.Fjord("consumer-groups", "--reset-offsets", "--group", "cg-time-g", "--topic", "cg-time", "--to-datetime", bad).Code);
    }

    [Fact]
    public void Parse_datetime_is_kafkas_format()
    {
        Assert.Equal(1_700_000_000_123, ConsumerGroupsCommand.ParseDateTime("2023-11-14T22:13:20.123"));
        Assert.Equal(1_700_000_000_123, ConsumerGroupsCommand.ParseDateTime("2023-11-14T22:13:20.123Z"));
        Assert.Equal(1_700_000_000_000, ConsumerGroupsCommand.ParseDateTime("2023-11-14T22:13:20"));
        Assert.Equal(1_700_000_000_123, ConsumerGroupsCommand.ParseDateTime("2023-11-15T00:13:20.123+02:00"));
        Assert.Equal(1_700_000_000_123, ConsumerGroupsCommand.ParseDateTime("2023-11-15T00:13:20.123+0200"));
        Assert.Equal(1_700_000_000_123, ConsumerGroupsCommand.ParseDateTime("2023-11-14T20:13:20.123-02"));
        Assert.Null(ConsumerGroupsCommand.ParseDateTime("2023-11-14"));
        Assert.Null(ConsumerGroupsCommand.ParseDateTime("2023-11-14T22:13"));
        Assert.Equal("t(0,2),u(1)", ConsumerGroupsCommand.AssignmentText([("u", 1), ("t", 2), ("t", 0)]));
        Assert.Equal("-", ConsumerGroupsCommand.AssignmentText([]));
    }
}
