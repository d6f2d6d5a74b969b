using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Fjord.Clients.Tests;

/// <summary>
/// The node of <see cref="GroupTests"/>: a short initial rebalance delay (members started together
/// land in one generation, but a lone consumer does not wait 3 s), five <c>__consumer_offsets</c>
/// partitions (fast to create and to load on restart), a minimum session timeout under the 6 s
/// the members ask for, and a 4 s broker session (a restarted node re-registers once the controller
/// no longer counts its previous incarnation as alive, which takes a broker session).
/// </summary>
public sealed class GroupNode() : FjordNode("""
    group.initial.rebalance.delay.ms=2000
    group.min.session.timeout.ms=1000
    offsets.topic.num.partitions=5
    broker.session.timeout.ms=4000
    broker.heartbeat.interval.ms=500
    """);

/// <summary>
/// Consumer groups with real clients (issue 7, "Must show"): kcat's balanced consumer (<c>-G</c>,
/// librdkafka's classic protocol) and kafka-python's KafkaConsumer/KafkaAdminClient.
/// </summary>
public sealed class GroupTests(GroupNode node, ITestOutputHelper output) : IClassFixture<GroupNode>
{
    private const int Partitions = 12;

    [Fact]
    public async Task Kcat_balanced_group_splits_partitions_reassigns_a_killed_members_and_resumes_after_a_node_restart()
    {
        const string topic = "kcat-group";
        const string group = "kcat-g";
        var clock = Stopwatch.StartNew();
        await CreateTopicAsync(topic, Partitions);

        // Phase 1: three members started together share the twelve partitions. The records are
        // produced once the group is Stable with the three of them (a member joining after the
        // initial rebalance delay makes one more generation, in which partitions change hands: the
        // records are read only in the final one).
        var members = new List<KcatMember>();
        try
        {
            for (int i = 0; i < 3; i++) members.Add(KcatMember.Start($"m{i}", node.Bootstrap, group, topic));
            await WaitForStableGroupAsync(group, topic, ["m0", "m1", "m2"], members);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: the group is Stable with the three members");
            await ProduceAsync(topic, "r1", 5);
            await WaitAsync(() => members.Sum(m => m.Records.Count) >= Partitions * 5, TimeSpan.FromSeconds(30),
                "the three members to consume the first 60 records", members);
            var owners = new Dictionary<int, string>();
            foreach (var m in members)
            {
                foreach (var r in m.Records)
                {
                    if (owners.TryGetValue(r.Partition, out var other))
                        Assert.True(other == m.Name, $"partition {r.Partition} consumed by {other} and {m.Name}\n{Describe(members)}");
                    owners[r.Partition] = m.Name;
                }
            }
            Assert.Equal(Enumerable.Range(0, Partitions), owners.Keys.Order());
            foreach (var m in members)
            {
                Assert.True(owners.Values.Count(v => v == m.Name) == Partitions / 3, $"{m.Name} does not own 4 partitions\n{Describe(members)}");
                AssertExactlyOnce(m.Records.Where(r => r.Value.StartsWith("r1-", StringComparison.Ordinal)), m.Name, members);
            }
            Assert.Equal(Partitions * 5, members.Sum(m => m.Records.Count));

            // Auto-commit (every 200 ms) has stored offset 5 for every partition before a member dies.
            await WaitForCommittedAsync(group, topic, 5);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: three members consumed and committed the first 60 records");

            // Phase 2: SIGKILL one member (no LeaveGroup): its partitions move after its session expires.
            var victim = members[2];
            var victimPartitions = owners.Where(o => o.Value == victim.Name).Select(o => o.Key).ToHashSet();
            victim.Kill();
            var killed = Stopwatch.StartNew();
            await ProduceAsync(topic, "r2", 3);
            var survivors = members.Take(2).ToList();
            await WaitAsync(() => survivors.SelectMany(m => m.Records).Where(r => r.Value.StartsWith("r2-", StringComparison.Ordinal))
                    .Select(r => (r.Partition, r.Offset)).Distinct().Count() >= Partitions * 3,
                TimeSpan.FromSeconds(30), "the two survivors to consume the 36 records produced after the kill", members);
            var reassignedAfter = killed.Elapsed;
            output.WriteLine($"the killed member's partitions were consumed again after {reassignedAfter.TotalSeconds:F1} s");
            // Detection needs the 6 s session timeout; the rejoin (1 s heartbeats) and sync add little.
            Assert.True(reassignedAfter < TimeSpan.FromSeconds(6 + 8), $"reassignment took {reassignedAfter.TotalSeconds:F1} s\n{Describe(members)}");
            foreach (var p in victimPartitions)
            {
                var takers = survivors.Where(m => m.Records.Any(r => r.Partition == p && r.Value.StartsWith("r2-", StringComparison.Ordinal))).ToList();
                Assert.True(takers.Count == 1, $"partition {p} of the killed member consumed by {takers.Count} survivors\n{Describe(members)}");
            }
            // Survivors resumed the killed member's partitions from its committed offsets: nothing re-read.
            foreach (var m in survivors) AssertExactlyOnce(m.Records, m.Name, members);
            Assert.All(survivors.SelectMany(m => m.Records).Where(r => victimPartitions.Contains(r.Partition) && r.Value.StartsWith("r2-", StringComparison.Ordinal)),
                r => Assert.True(r.Offset >= 5));
            Assert.DoesNotContain(survivors.SelectMany(m => m.Records), r => victimPartitions.Contains(r.Partition) && r.Value.StartsWith("r1-", StringComparison.Ordinal));

            await WaitForCommittedAsync(group, topic, 8);
            // SIGTERM: kcat closes its consumer (final commit, LeaveGroup), so the group is empty when the node stops.
            foreach (var m in survivors) m.Terminate();
            foreach (var m in survivors)
                Assert.True(await m.WaitForExitAsync(TimeSpan.FromSeconds(15)), $"{m.Name} did not exit on SIGTERM\n{Describe(members)}");
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: survivors committed offset 8 everywhere and left");
        }
        finally
        {
            foreach (var m in members) m.Dispose();
        }

        // A group deleted before the restart (offsets and group tombstoned) must stay deleted after it.
        var (deleted, deleteRun) = await ExternalClient.PythonAsync(node, $$"""
            from kafka import KafkaConsumer, TopicPartition
            from kafka.admin import KafkaAdminClient
            from kafka.structs import OffsetAndMetadata
            c = KafkaConsumer(bootstrap_servers=B, group_id='kcat-gone', enable_auto_commit=False)
            c.commit({TopicPartition('{{topic}}', p): OffsetAndMetadata(1, '') for p in range(3)})
            c.close()
            admin = KafkaAdminClient(bootstrap_servers=B, request_timeout_ms=15000)
            res = {'delete': [[g, e.errno] for g, e in admin.delete_consumer_groups(['kcat-gone'])]}
            admin.close()
            out(res)
            """);
        Assert.True(deleted.GetProperty("delete").GetRawText() == "[[\"kcat-gone\",0]]", deleteRun.ToString());

        // Phase 3: the whole node restarts; the committed offsets are read back from __consumer_offsets.
        await node.RestartAsync();
        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: node restarted");
        await WaitForCommittedAsync(group, topic, 8);
        var (gone, goneRun) = await ExternalClient.PythonAsync(node, """
            from kafka.admin import KafkaAdminClient
            admin = KafkaAdminClient(bootstrap_servers=B, request_timeout_ms=15000)
            res = {'groups': sorted(g for g, _ in admin.list_consumer_groups()),
                   'offsets': len(admin.list_consumer_group_offsets('kcat-gone'))}
            admin.close()
            out(res)
            """);
        var groupsAfter = gone.GetProperty("groups").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.True(groupsAfter.Contains(group) && !groupsAfter.Contains("kcat-gone") && gone.GetProperty("offsets").GetInt32() == 0,
            $"the deleted group came back after the restart: {gone}\n{goneRun}");
        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: committed offsets read back after the restart");
        await ProduceAsync(topic, "r3", 2);
        using var resumed = KcatMember.Start("m-after-restart", node.Bootstrap, group, topic);
        await WaitAsync(() => resumed.Records.Count >= Partitions * 2, TimeSpan.FromSeconds(30),
            "the member started after the restart to consume the 24 new records", [resumed]);
        Assert.All(resumed.Records, r => Assert.True(r.Value.StartsWith("r3-", StringComparison.Ordinal) && r.Offset >= 8,
            $"re-read {r} after the restart\n{Describe([resumed])}"));
        AssertExactlyOnce(resumed.Records, resumed.Name, [resumed]);
        Assert.Equal(Enumerable.Range(0, Partitions), resumed.Records.Select(r => r.Partition).Distinct().Order());
        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: a new member resumed from the committed offsets");
    }

    [Fact]
    public async Task Kafka_python_consumer_groups_subscribe_commit_seek_and_group_admin()
    {
        var (r, run) = await ExternalClient.PythonAsync(node, """
            from kafka import KafkaConsumer, KafkaProducer, TopicPartition
            from kafka.admin import KafkaAdminClient, NewTopic
            from kafka.structs import OffsetAndMetadata
            from kafka.errors import KafkaError
            T = 'kp-group'
            admin = KafkaAdminClient(bootstrap_servers=B, request_timeout_ms=15000)
            admin.create_topics([NewTopic(T, 4, 1)])
            end = deadline(15)
            probe = KafkaConsumer(bootstrap_servers=B)
            while (probe.partitions_for_topic(T) or set()) != {0, 1, 2, 3} and time.monotonic() < end:
                time.sleep(0.1)
                probe = KafkaConsumer(bootstrap_servers=B)
            probe.close()
            p = KafkaProducer(bootstrap_servers=B, acks='all')
            for part in range(4):
                for i in range(10):
                    p.send(T, value=('v-%d-%d' % (part, i)).encode(), partition=part)
            p.flush(15)
            p.close()

            def consumer(group):
                return KafkaConsumer(bootstrap_servers=B, group_id=group, enable_auto_commit=False,
                                     auto_offset_reset='earliest', session_timeout_ms=6000,
                                     heartbeat_interval_ms=1000, consumer_timeout_ms=1000)

            res = {}
            c1 = consumer('kp-g')
            c1.subscribe([T])
            got = []
            end = deadline(20)
            while len(got) < 40 and time.monotonic() < end:
                for tp, msgs in c1.poll(timeout_ms=500).items():
                    got += [(m.partition, m.offset, m.value.decode()) for m in msgs]
            res['first'] = sorted(got)
            res['assignment1'] = sorted(tp.partition for tp in c1.assignment())
            c1.commit()
            res['committed'] = [c1.committed(TopicPartition(T, i)) for i in range(4)]
            c1.commit({TopicPartition(T, 0): OffsetAndMetadata(3, 'meta-0')})
            res['committed0'] = c1.committed(TopicPartition(T, 0))

            # seek back within the assignment: records from offset 7 of partition 1 come again
            c1.seek(TopicPartition(T, 1), 7)
            again = []
            end = deadline(10)
            while len(again) < 3 and time.monotonic() < end:
                for tp, msgs in c1.poll(timeout_ms=500).items():
                    again += [(m.partition, m.offset, m.value.decode()) for m in msgs]
            res['again'] = again
            res['position1'] = c1.position(TopicPartition(T, 1))

            res['groups'] = sorted([list(g) for g in admin.list_consumer_groups()])
            d = admin.describe_consumer_groups(['kp-g'])[0]
            res['describe'] = {'group': d.group, 'state': d.state, 'protocol_type': d.protocol_type,
                               'protocol': d.protocol, 'error': d.error_code,
                               'members': [{'client_id': m.client_id,
                                            'topics': sorted(m.member_metadata.subscription),
                                            'assigned': sorted(p for t, ps in m.member_assignment.assignment for p in ps)}
                                           for m in d.members]}
            offs = admin.list_consumer_group_offsets('kp-g')
            res['offsets'] = sorted([tp.partition, om.offset, om.metadata] for tp, om in offs.items())

            # A second member: the group rebalances and the four partitions are split between them.
            # kafka-python's poll blocks until its member has joined, so each consumer polls in its own thread.
            import threading
            c2 = consumer('kp-g')
            c2.subscribe([T])
            stop = threading.Event()
            def poll_c2():
                while not stop.is_set():
                    c2.poll(timeout_ms=200)
            t2 = threading.Thread(target=poll_c2)
            t2.start()
            end = deadline(25)
            while time.monotonic() < end:
                c1.poll(timeout_ms=200)
                a1 = {tp.partition for tp in c1.assignment()}
                a2 = {tp.partition for tp in c2.assignment()}
                if a1 and a2 and not (a1 & a2) and (a1 | a2) == {0, 1, 2, 3}:
                    break
            stop.set()
            t2.join(15)
            res['split'] = [sorted(tp.partition for tp in c1.assignment()), sorted(tp.partition for tp in c2.assignment())]
            res['members_after_join'] = len(admin.describe_consumer_groups(['kp-g'])[0].members)

            # A non-empty group cannot be deleted; another group stays alive meanwhile.
            res['delete_nonempty'] = [[g, e.errno] for g, e in admin.delete_consumer_groups(['kp-g'])]
            c1.close()
            c2.close()
            res['state_after_close'] = admin.describe_consumer_groups(['kp-g'])[0].state
            res['delete'] = [[g, e.errno] for g, e in admin.delete_consumer_groups(['kp-g'])]
            res['groups_after_delete'] = sorted(g for g, _ in admin.list_consumer_groups())
            res['offsets_after_delete'] = len(admin.list_consumer_group_offsets('kp-g'))
            res['delete_again'] = [[g, e.errno] for g, e in admin.delete_consumer_groups(['kp-g'])]

            # After deletion the group starts afresh: a new member reads from the beginning.
            c3 = consumer('kp-g')
            c3.subscribe([T])
            fresh = 0
            end = deadline(20)
            while fresh < 40 and time.monotonic() < end:
                fresh += sum(len(m) for m in c3.poll(timeout_ms=500).values())
            res['fresh'] = fresh
            c3.close()
            admin.close()
            out(res)
            """, TimeSpan.FromSeconds(50));
        output.WriteLine(r.ToString());

        var first = r.GetProperty("first").EnumerateArray().Select(e => (e[0].GetInt32(), e[1].GetInt64(), e[2].GetString())).ToList();
        var expected = Enumerable.Range(0, 4).SelectMany(p => Enumerable.Range(0, 10).Select(i => (p, (long)i, (string?)$"v-{p}-{i}"))).ToList();
        Assert.Equal(expected, first);
        Assert.Equal([0, 1, 2, 3], Ints(r.GetProperty("assignment1")));
        Assert.Equal([10L, 10L, 10L, 10L], r.GetProperty("committed").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(3, r.GetProperty("committed0").GetInt64());
        Assert.Equal([(1, 7L, "v-1-7"), (1, 8L, "v-1-8"), (1, 9L, "v-1-9")],
            r.GetProperty("again").EnumerateArray().Select(e => (e[0].GetInt32(), e[1].GetInt64(), e[2].GetString()!)));
        Assert.Equal(10, r.GetProperty("position1").GetInt64());

        Assert.Contains(r.GetProperty("groups").EnumerateArray(), g => g[0].GetString() == "kp-g" && g[1].GetString() == "consumer");
        var d = r.GetProperty("describe");
        Assert.Equal("kp-g", d.GetProperty("group").GetString());
        Assert.Equal("Stable", d.GetProperty("state").GetString());
        Assert.Equal("consumer", d.GetProperty("protocol_type").GetString());
        Assert.Equal("range", d.GetProperty("protocol").GetString());
        Assert.Equal(0, d.GetProperty("error").GetInt32());
        var member = Assert.Single(d.GetProperty("members").EnumerateArray());
        Assert.Equal(["kp-group"], member.GetProperty("topics").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal([0, 1, 2, 3], Ints(member.GetProperty("assigned")));
        var offsets = r.GetProperty("offsets").EnumerateArray().Select(e => (e[0].GetInt32(), e[1].GetInt64(), e[2].GetString())).ToList();
        Assert.Equal([(0, 3L, "meta-0"), (1, 10L, ""), (2, 10L, ""), (3, 10L, "")], offsets);

        var split = r.GetProperty("split").EnumerateArray().Select(Ints).ToList();
        Assert.True(split[0].Count == 2 && split[1].Count == 2 && split[0].Concat(split[1]).Order().SequenceEqual([0, 1, 2, 3]),
            $"the two members did not split the partitions: {r.GetProperty("split")}");
        Assert.Equal(2, r.GetProperty("members_after_join").GetInt32());

        Assert.Equal("[[\"kp-g\",68]]", r.GetProperty("delete_nonempty").GetRawText()); // NON_EMPTY_GROUP
        Assert.Equal("Empty", r.GetProperty("state_after_close").GetString());
        Assert.Equal("[[\"kp-g\",0]]", r.GetProperty("delete").GetRawText());
        Assert.DoesNotContain("kp-g", r.GetProperty("groups_after_delete").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(0, r.GetProperty("offsets_after_delete").GetInt32());
        Assert.Equal("[[\"kp-g\",69]]", r.GetProperty("delete_again").GetRawText()); // GROUP_ID_NOT_FOUND
        Assert.Equal(40, r.GetProperty("fresh").GetInt32());
    }

    private static List<int> Ints(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetInt32())];

    private async Task CreateTopicAsync(string topic, int partitions)
    {
        await ExternalClient.PythonAsync(node, $$"""
            from kafka import KafkaConsumer
            from kafka.admin import KafkaAdminClient, NewTopic
            admin = KafkaAdminClient(bootstrap_servers=B, request_timeout_ms=15000)
            admin.create_topics([NewTopic('{{topic}}', {{partitions}}, 1)])
            admin.close()
            end = deadline(15)
            while time.monotonic() < end:
                c = KafkaConsumer(bootstrap_servers=B)
                n = len(c.partitions_for_topic('{{topic}}') or set())
                c.close()
                if n == {{partitions}}:
                    break
                time.sleep(0.1)
            out(n)
            """);
    }

    /// <summary>Produces <paramref name="perPartition"/> records to every partition: values <c>tag-partition-i</c>.</summary>
    private async Task ProduceAsync(string topic, string tag, int perPartition)
    {
        var lines = new StringBuilder();
        for (int p = 0; p < Partitions; p++)
        {
            var input = new StringBuilder();
            for (int i = 0; i < perPartition; i++) input.Append($"{tag}-{p}-{i}\n");
            var run = await ExternalClient.KcatAsync(Encoding.UTF8.GetBytes(input.ToString()),
                "-P", "-b", node.Bootstrap, "-t", topic, "-p", p.ToString(System.Globalization.CultureInfo.InvariantCulture), "-X", "acks=all");
            Assert.True(run.Code == 0, run.ToString());
        }
    }

    /// <summary>Waits (bounded) until the group's committed offset of every partition is <paramref name="offset"/>.</summary>
    private async Task WaitForCommittedAsync(string group, string topic, long offset)
    {
        var (r, run) = await ExternalClient.PythonAsync(node, $$"""
            from kafka.admin import KafkaAdminClient
            admin = KafkaAdminClient(bootstrap_servers=B, request_timeout_ms=15000)
            end = deadline(20)
            offs = {}
            while time.monotonic() < end:
                try:
                    offs = {tp.partition: om.offset for tp, om in admin.list_consumer_group_offsets('{{group}}').items() if tp.topic == '{{topic}}'}
                except Exception as e:
                    offs = {'error': repr(e)}
                if offs == {p: {{offset}} for p in range({{Partitions}})}:
                    break
                time.sleep(0.2)
            admin.close()
            out({str(k): v for k, v in offs.items()})
            """);
        var got = r.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ToString());
        var want = Enumerable.Range(0, Partitions).ToDictionary(p => p.ToString(System.Globalization.CultureInfo.InvariantCulture), _ => offset.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(want.Count == got.Count && want.All(w => got.GetValueOrDefault(w.Key) == w.Value),
            $"committed offsets of {group}: {r}, expected {offset} everywhere\n{run}");
    }

    /// <summary>
    /// Waits (bounded) until DescribeGroups shows <paramref name="group"/> Stable with exactly the
    /// members of <paramref name="clientIds"/> and their assignments (the broker's, as SyncGroup
    /// hands them out) disjoint and covering every partition of <paramref name="topic"/>: the final
    /// generation, unless a member joins or leaves later.
    /// </summary>
    private async Task WaitForStableGroupAsync(string group, string topic, IReadOnlyList<string> clientIds, IReadOnlyList<KcatMember> members)
    {
        var (r, run) = await ExternalClient.PythonAsync(node, $$"""
            from kafka.admin import KafkaAdminClient
            admin = KafkaAdminClient(bootstrap_servers=B, request_timeout_ms=15000)
            want = sorted([{{string.Join(", ", clientIds.Select(c => $"'{c}'"))}}])
            end = deadline(25)
            seen = None
            ok = False
            while time.monotonic() < end:
                try:
                    d = admin.describe_consumer_groups(['{{group}}'])[0]
                    owned = {m.client_id: sorted(p for t, ps in m.member_assignment.assignment if t == '{{topic}}' for p in ps)
                             for m in d.members if d.state == 'Stable'}
                    seen = {'state': d.state, 'members': owned}
                    parts = [p for ps in owned.values() for p in ps]
                    if d.state == 'Stable' and sorted(owned) == want and sorted(parts) == list(range({{Partitions}})):
                        ok = True
                        break
                except Exception as e:
                    seen = {'error': repr(e)}
                time.sleep(0.2)
            admin.close()
            out({'ok': ok, 'seen': seen})
            """, TimeSpan.FromSeconds(35));
        output.WriteLine($"DescribeGroups: {r}");
        Assert.True(r.GetProperty("ok").GetBoolean(), $"{group} did not become Stable with {string.Join(',', clientIds)} owning every partition: {r}\n{run}\n{Describe(members)}");
    }

    private static void AssertExactlyOnce(IEnumerable<KcatRecord> records, string who, IReadOnlyList<KcatMember> members)
    {
        var dup = records.GroupBy(r => (r.Partition, r.Offset)).FirstOrDefault(g => g.Count() > 1);
        Assert.True(dup is null, $"{who} consumed {dup?.Key} twice\n{Describe(members)}");
    }

    private async Task WaitAsync(Func<bool> done, TimeSpan bound, string what, IReadOnlyList<KcatMember> members)
    {
        var sw = Stopwatch.StartNew();
        while (!done())
        {
            if (sw.Elapsed > bound)
                throw new TimeoutException($"waited {bound.TotalSeconds} s for {what}\n{Describe(members)}\n{node.Transcript}");
            await Task.Delay(50);
        }
    }

    private static string Describe(IEnumerable<KcatMember> members) => string.Join("\n", members.Select(m => m.Describe()));
}

/// <summary>One record as a kcat member printed it (<c>-f '%p %o %s\n'</c>).</summary>
public sealed record KcatRecord(int Partition, long Offset, string Value);

/// <summary>
/// A long-running <c>kcat -G</c> member: its stdout records and stderr lines are collected as they come;
/// <see cref="Kill"/> sends SIGKILL (no LeaveGroup, no final commit); <see cref="Dispose"/> kills it if it
/// still runs. Auto-commit every 200 ms, 6 s session, 1 s heartbeats, earliest offset for a partition
/// without a committed one.
/// </summary>
internal sealed partial class KcatMember : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<KcatRecord> _records = new();
    private readonly ConcurrentQueue<string> _other = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private KcatMember(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    public IReadOnlyList<KcatRecord> Records => [.. _records];

    public static KcatMember Start(string name, string bootstrap, string group, string topic)
    {
        if (!File.Exists(ExternalClient.Kcat)) throw new InvalidOperationException($"{ExternalClient.Kcat} is not installed (apt-get install -y kcat)");
        var info = new ProcessStartInfo(ExternalClient.Kcat)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "-b", bootstrap, "-G", group, "-u", "-f", "%p %o %s\n",
            "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=1000",
            "-X", "auto.commit.interval.ms=200", "-X", "auto.offset.reset=earliest",
            "-X", $"client.id={name}", topic,
        }) info.ArgumentList.Add(a);
        var process = new Process { StartInfo = info };
        var member = new KcatMember(name, process);
        process.OutputDataReceived += (_, e) => member.OnOut(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) member._other.Enqueue($"{member._clock.ElapsedMilliseconds,6} err {e.Data}");
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return member;
    }

    private void OnOut(string? line)
    {
        if (line is null) return;
        var m = RecordLine().Match(line);
        if (m.Success)
            _records.Enqueue(new KcatRecord(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
                long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture), m.Groups[3].Value));
        else
            _other.Enqueue($"{_clock.ElapsedMilliseconds,6} out {line}");
    }

    [GeneratedRegex(@"^(\d+) (\d+) (.*)$")]
    private static partial Regex RecordLine();

    /// <summary>SIGTERM: kcat stops consuming, closes the consumer (commit, LeaveGroup) and exits.</summary>
    public void Terminate()
    {
        if (!_process.HasExited && kill(_process.Id, 15) != 0 && !_process.HasExited)
            throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    /// <summary>Waits (bounded) for the member to exit; false at the bound.</summary>
    public Task<bool> WaitForExitAsync(TimeSpan bound) => ExternalClient.WaitForExitAsync(_process, bound);

    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    public string Describe()
    {
        var byPartition = Records.GroupBy(r => r.Partition).OrderBy(g => g.Key)
            .Select(g => $"p{g.Key}:[{string.Join(',', g.Select(r => r.Offset))}]");
        var other = _other.ToArray();
        return $"--- {Name} ({(_process.HasExited ? "exited" : "running")}): {Records.Count} records {string.Join(' ', byPartition)}\n"
            + string.Join('\n', other.Length <= 60 ? other : other.TakeLast(60));
    }

    public void Dispose()
    {
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
            // never started
        }
        _process.Dispose();
    }
}
