using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Fjord.Cli;
using Fjord.Cli.Admin;
using Fjord.Cluster.Tests;
using Fjord.Network;
using Fjord.Protocol.Messages;

namespace Fjord.Tools.Tests;

/// <summary>
/// Class fixture of the consumer-group and command-config tests: one combined node as
/// <see cref="AdminNode"/>, but with <c>group.consumer.heartbeat.interval.ms=300</c> so that
/// members of a KIP-848 group reconcile in well under a second (the default 5 s would make a
/// two-member rebalance take up to 10 s).
/// </summary>
public sealed class GroupNode() : AdminNode([], """
    offsets.topic.num.partitions=3
    group.consumer.heartbeat.interval.ms=300
    auto.create.topics.enable=false
    """)
{
    /// <summary>Produces <paramref name="lines"/> (key TAB value) with console-producer; extra args e.g. --partition.</summary>
    public void Produce(string topic, IEnumerable<string> lines, params string[] extra)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = ConsoleProducerCommand.Run(["--bootstrap-server", Bootstrap, "--topic", topic, "--property", "parse.key=true", .. extra],
            new StringReader(string.Join('\n', lines) + "\n"), o, e);
        Assert.True(code == 0, $"console-producer exited {code}: {e}");
    }

    /// <summary>A raw connection to the node (for ConsumerGroupDescribe and the like).</summary>
    public Task<KafkaClientConnection> ConnectAsync(string clientId = "test")
    {
        var (host, port) = (Bootstrap[..Bootstrap.LastIndexOf(':')], int.Parse(Bootstrap[(Bootstrap.LastIndexOf(':') + 1)..]));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return KafkaClientConnection.ConnectAsync(host, port, clientId, cts.Token);
    }

    /// <summary>ConsumerGroupDescribe of <paramref name="group"/> (the single node is every group's coordinator).</summary>
    public async Task<ConsumerGroupDescribeResponse.DescribedGroup> DescribeGroupAsync(KafkaClientConnection connection, string group)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var answer = await connection.SendAsync<ConsumerGroupDescribeResponse>(new ConsumerGroupDescribeRequest { GroupIds = [group] }, 0, cts.Token);
        return answer.Groups.Single();
    }

    /// <summary>The committed offsets of <paramref name="group"/> for <paramref name="topic"/> (OffsetFetch v8), by partition.</summary>
    public async Task<Dictionary<int, long>> CommittedAsync(string group, string topic)
    {
        await using var connection = await ConnectAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var request = new OffsetFetchRequest { Groups = [new OffsetFetchRequest.OffsetFetchRequestGroup { GroupId = group, Topics = null }] };
        var answer = await connection.SendAsync<OffsetFetchResponse>(request, 8, cts.Token);
        var g = answer.Groups.Single();
        Assert.Equal(0, g.ErrorCode);
        return g.Topics.Where(t => t.Name == topic).SelectMany(t => t.Partitions).ToDictionary(p => p.PartitionIndex, p => p.CommittedOffset);
    }
}

/// <summary>
/// <c>fjord console-consumer --group G</c> against a live node: each record once, committed offsets
/// resumed, and partitions shared by two members running at once (KIP-848 consumer protocol).
/// </summary>
public sealed class ConsoleConsumerGroupTests(GroupNode node) : IClassFixture<GroupNode>
{
    private static List<JsonElement> Records(string stdout) =>
        [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    [Fact]
    public async Task Group_member_prints_each_record_once_commits_and_resumes_where_it_stopped()
    {
        node.Ok("topics", "--create", "--topic", "cg-resume", "--partitions", "3");
        node.Produce("cg-resume", Enumerable.Range(0, 100).Select(i => $"k{i}\tv{i}"));

        // 1. From the beginning: all 100, each once, over the 3 partitions.
        var (code, o, e) = node.Fjord("console-consumer", "--topic", "cg-resume", "--group", "g-resume", "--from-beginning",
            "--max-messages", "100", "--timeout-ms", "15000", "--output", "json");
        Assert.True(code == 0, e);
        var first = Records(o);
        Assert.Equal(100, first.Count);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"v{i}").Order(StringComparer.Ordinal),
            first.Select(r => r.GetProperty("value").GetString()!).Order(StringComparer.Ordinal));
        Assert.Equal(3, first.Select(r => r.GetProperty("partition").GetInt32()).Distinct().Count());
        Assert.Contains("Processed a total of 100 messages", e);

        // 2. Again in the same group: nothing new; it waits --timeout-ms and exits 0.
        var sw = Stopwatch.StartNew();
        var (code2, o2, e2) = node.Fjord("console-consumer", "--topic", "cg-resume", "--group", "g-resume", "--timeout-ms", "1500");
        sw.Stop();
        Assert.True(code2 == 0, e2);
        Assert.Equal("", o2);
        Assert.Contains("Processed a total of 0 messages", e2);
        Assert.True(sw.ElapsedMilliseconds >= 1400, $"ended after {sw.ElapsedMilliseconds} ms");

        // 3. Ten more: the next run prints exactly those.
        node.Produce("cg-resume", Enumerable.Range(100, 10).Select(i => $"k{i}\tv{i}"));
        var (code3, o3, e3) = node.Fjord("console-consumer", "--topic", "cg-resume", "--group", "g-resume", "--timeout-ms", "2500", "--output", "json");
        Assert.True(code3 == 0, e3);
        Assert.Equal(Enumerable.Range(100, 10).Select(i => $"v{i}").Order(StringComparer.Ordinal),
            Records(o3).Select(r => r.GetProperty("value").GetString()!).Order(StringComparer.Ordinal));

        // 4. The group's committed offsets are the log-end offsets: every record of every partition was printed,
        // so each partition's end is its last printed offset + 1.
        var ends = first.Concat(Records(o3)).GroupBy(r => r.GetProperty("partition").GetInt32())
            .ToDictionary(g => g.Key, g => g.Max(r => r.GetProperty("offset").GetInt64()) + 1);
        Assert.Equal(110, ends.Values.Sum());
        var committed = await node.CommittedAsync("g-resume", "cg-resume");
        Assert.Equal(ends.OrderBy(kv => kv.Key), committed.OrderBy(kv => kv.Key));

        // 5. consumer-groups describes the group (a KIP-848 group: through ConsumerGroupDescribe) with the same
        // offsets, no lag and no members left.
        var (code5, o5, e5) = node.Fjord("consumer-groups", "--describe", "--group", "g-resume", "--output", "json");
        Assert.True(code5 == 0, e5);
        var described = JsonDocument.Parse(o5).RootElement[0];
        Assert.Equal("Empty", described.GetProperty("state").GetString());
        Assert.Equal(0, described.GetProperty("memberCount").GetInt32());
        var rows = described.GetProperty("partitions").EnumerateArray().ToDictionary(r => r.GetProperty("partition").GetInt32());
        Assert.Equal(ends.OrderBy(kv => kv.Key), rows.OrderBy(kv => kv.Key).Select(kv => KeyValuePair.Create(kv.Key, kv.Value.GetProperty("currentOffset").GetInt64())));
        Assert.All(rows.Values, r => Assert.Equal(0, r.GetProperty("lag").GetInt64()));
    }

    [Fact]
    public async Task Two_members_of_one_group_share_the_partitions_and_print_each_record_once()
    {
        node.Ok("topics", "--create", "--topic", "cg-share", "--partitions", "4");
        string[] args = ["console-consumer", "--topic", "cg-share", "--group", "g-share", "--from-beginning",
            "--max-messages", "100", "--timeout-ms", "25000", "--output", "json", "--bootstrap-server", node.Bootstrap];
        var a = GroupNode.RawOnOwnThread(args);
        var b = GroupNode.RawOnOwnThread(args);

        // Both members hold two partitions each (the uniform assignor), and the group is stable.
        await using (var connection = await node.ConnectAsync())
        {
            var deadline = Stopwatch.StartNew();
            ConsumerGroupDescribeResponse.DescribedGroup? g = null;
            while (deadline.Elapsed < TimeSpan.FromSeconds(15) && !a.IsCompleted && !b.IsCompleted)
            {
                g = await node.DescribeGroupAsync(connection, "g-share");
                if (g.ErrorCode == 0 && g.GroupState == "Stable" && g.Members.Count == 2
                    && g.Members.All(m => m.Assignment.TopicPartitions.Sum(t => t.Partitions.Count) == 2 && m.MemberEpoch == g.GroupEpoch))
                    break;
                await Task.Delay(50);
            }
            async Task<string> Ended(Task<(int Code, string Out, string Err)> t) => t.IsCompleted ? $" (a member ended: exit {(await t).Code}, {(await t).Err})" : "";
            string ended = await Ended(a) + await Ended(b);
            Assert.True(g is { GroupState: "Stable", Members.Count: 2 },
                $"the group did not settle: {(g is null ? "no answer" : $"{g.GroupState}, {g.Members.Count} members, error {g.ErrorCode}")}{ended}");

            // consumer-groups --describe --members shows the two live members and their partitions, as the broker has them.
            var (code, o, e) = node.Fjord("consumer-groups", "--describe", "--group", "g-share", "--members", "--output", "json");
            Assert.True(code == 0, e);
            var described = JsonDocument.Parse(o).RootElement[0];
            Assert.Equal("Stable", described.GetProperty("state").GetString());
            Assert.Equal("uniform", described.GetProperty("assignmentStrategy").GetString());
            var shown = described.GetProperty("members").EnumerateArray()
                .ToDictionary(m => m.GetProperty("consumerId").GetString()!,
                    m => m.GetProperty("assignment").EnumerateArray().Select(p => p.GetProperty("partition").GetInt32()).Order().ToList());
            var actual = g!.Members.ToDictionary(m => m.MemberId, m => m.Assignment.TopicPartitions.SelectMany(t => t.Partitions).Order().ToList());
            Assert.Equal(actual.Keys.Order(), shown.Keys.Order());
            foreach (var (member, partitions) in actual) Assert.Equal(partitions, shown[member]);
        }

        // 50 records to each partition, produced only now: each member's 2 partitions hold 100.
        for (int p = 0; p < 4; p++)
            node.Produce("cg-share", Enumerable.Range(p * 50, 50).Select(i => $"k{i}\tv{i}"), "--partition", p.ToString());

        var results = await Task.WhenAll(a, b).WaitAsync(TimeSpan.FromSeconds(40));
        foreach (var (code, _, err) in results) Assert.True(code == 0, err);
        var shares = results.Select(r => Records(r.Out)).ToList();
        Assert.All(shares, s => Assert.NotEmpty(s));
        var all = shares.SelectMany(s => s).Select(r => r.GetProperty("value").GetString()!).ToList();
        Assert.Equal(200, all.Count);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => $"v{i}").Order(StringComparer.Ordinal), all.Order(StringComparer.Ordinal));
        // No partition was read by both.
        var partitionsOf = shares.Select(s => s.Select(r => r.GetProperty("partition").GetInt32()).ToHashSet()).ToList();
        Assert.Empty(partitionsOf[0].Intersect(partitionsOf[1]));
    }

    [Fact]
    public void Group_flags_that_conflict_are_usage_errors()
    {
        var (code, _, e) = node.Fjord("console-consumer", "--topic", "x", "--group", "g", "--partition", "0");
        Assert.Equal(2, code);
        Assert.Contains("cannot be used with --group", e);
        Assert.Contains("--group G", node.Ok("console-consumer", "--help"));
    }
}
