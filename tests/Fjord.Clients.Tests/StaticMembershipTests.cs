using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Fjord.Cluster.Tests;
using Xunit.Abstractions;

namespace Fjord.Clients.Tests;

/// <summary>
/// Static membership (KIP-345, <c>group.instance.id</c>) with confluent-kafka-python 1.7.0
/// (librdkafka 2.0.2, classic protocol, eager <c>range</c> assignor): a static member that closes
/// (librdkafka sends no LeaveGroup for a static member) and comes back as a new process within its
/// session timeout gets its partitions back without a rebalance — the other member sees no
/// revocation, the broker starts no rebalance, the member id of the other is unchanged — and
/// resumes from its committed offsets; a static member gone for longer than its session timeout is
/// expired and the other member takes every partition.
/// </summary>
public sealed partial class StaticMembershipTests(GroupNode node, ITestOutputHelper output) : IClassFixture<GroupNode>
{
    private const string Topic = "static-members";
    private const string Group = "static-g";
    private const int Partitions = 6;
    private const int SessionTimeoutMs = 6_000;

    [Fact]
    public async Task A_static_member_restarted_within_its_session_gets_its_partitions_back_without_a_rebalance_and_is_expired_after_it()
    {
        var clock = Stopwatch.StartNew();
        await CreateTopicAsync();
        await ProduceAsync("p1", 5);
        var all = new List<StaticMember>();
        try
        {
            // 'b' first and alone, so it leads the group: a static leader coming back with JoinGroup
            // < v9 (librdkafka 2.0.2) would have to rebalance (KIP-814), a follower must not.
            var b = StaticMember.Start(node, "b", Group, Topic, SessionTimeoutMs);
            all.Add(b);
            await WaitAsync(() => b.Ready, "b to start", all);
            b.Send("go");
            await WaitAsync(() => b.Assignment.SetEquals(Enumerable.Range(0, Partitions)) && b.Records.Count >= Partitions * 5,
                "b to own all 6 partitions and read the first 30 records", all);

            var a1 = StaticMember.Start(node, "a", Group, Topic, SessionTimeoutMs);
            all.Add(a1);
            await WaitAsync(() => a1.Ready, "a to start", all);
            a1.Send("go");
            await WaitAsync(() => a1.Assignment.Count > 0 && b.Assignment.Count > 0 && !a1.Assignment.Overlaps(b.Assignment)
                    && a1.Assignment.Union(b.Assignment).Order().SequenceEqual(Enumerable.Range(0, Partitions)),
                "a and b to own disjoint assignments covering the 6 partitions", all);
            var aPartitions = a1.Assignment.Order().ToList();
            var bPartitions = b.Assignment.Order().ToList();
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: a owns [{string.Join(',', aPartitions)}], b owns [{string.Join(',', bPartitions)}]");

            await ProduceAsync("p2", 5);
            await WaitAsync(() => Tagged(all, "p2").Count() >= Partitions * 5, "a and b to read the 30 records of p2", all);
            var before = await DescribeAsync();
            int bAssigns = b.AssignCount, bRevokes = b.RevokeCount;
            int rebalances = Rebalances();

            // The replacement process is started (interpreter and client loaded) before 'a' closes,
            // so it joins well within the session timeout.
            var a2 = StaticMember.Start(node, "a", Group, Topic, SessionTimeoutMs);
            all.Add(a2);
            await WaitAsync(() => a2.Ready, "the second 'a' process to start", all);
            a1.Send("close");
            Assert.True(await a1.WaitForExitAsync(TimeSpan.FromSeconds(20)) && a1.Closed, $"a did not close\n{Describe(all)}");
            var gone = Stopwatch.StartNew();
            a2.Send("go");
            await WaitAsync(() => a2.Assignment.Count > 0, "the second 'a' to get an assignment", all);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: the second 'a' got [{string.Join(',', a2.Assignment.Order())}] {gone.Elapsed.TotalSeconds:F1} s after the first closed");
            Assert.True(gone.Elapsed < TimeSpan.FromMilliseconds(SessionTimeoutMs), $"the replacement joined after {gone.Elapsed.TotalSeconds:F1} s\n{Describe(all)}");
            Assert.Equal(aPartitions, a2.Assignment.Order());

            await ProduceAsync("p3", 5);
            await WaitAsync(() => Tagged(all, "p3").Count() >= Partitions * 5, "a and b to read the 30 records of p3", all);
            var after = await DescribeAsync();
            Assert.True(b.AssignCount == bAssigns && b.RevokeCount == bRevokes,
                $"b saw a rebalance: assigns {bAssigns} -> {b.AssignCount}, revokes {bRevokes} -> {b.RevokeCount}\n{Describe(all)}");
            Assert.Equal(bPartitions, b.Assignment.Order());
            Assert.True(Rebalances() == rebalances, $"the broker rebalanced {Group} when the static member came back\n{node.Transcript}");
            Assert.Equal("Stable", before.State);
            Assert.Equal("Stable", after.State);
            Assert.Equal(before.Members["b"], after.Members["b"]); // b kept its member id
            Assert.NotEqual(before.Members["a"], after.Members["a"]); // the new process got a new one, in the old one's place
            Assert.Equal(2, after.Members.Count);
            // The second 'a' read only what was produced after the first closed, from its partitions.
            Assert.All(a2.Records, r => Assert.True(r.Value.StartsWith("p3-", StringComparison.Ordinal) && aPartitions.Contains(r.Partition),
                $"the second 'a' read {r}\n{Describe(all)}"));
            Assert.Equal(aPartitions.Count * 5, a2.Records.Count);

            // 'a' goes away for longer than its session timeout: it is expired and b takes everything.
            a2.Send("close");
            var closing = Stopwatch.StartNew();
            Assert.True(await a2.WaitForExitAsync(TimeSpan.FromSeconds(20)) && a2.Closed, $"the second 'a' did not close\n{Describe(all)}");
            await WaitAsync(() => b.Assignment.SetEquals(Enumerable.Range(0, Partitions)), "b to own all 6 partitions after a's session expired", all,
                TimeSpan.FromMilliseconds(SessionTimeoutMs + 20_000));
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: b owns every partition {closing.Elapsed.TotalSeconds:F1} s after a closed");
            // Not before the session timeout (less the heartbeat interval: a's last heartbeat preceded its close).
            Assert.True(closing.Elapsed > TimeSpan.FromMilliseconds(SessionTimeoutMs - 1_000), $"a was expired after {closing.Elapsed.TotalSeconds:F1} s\n{Describe(all)}");
            Assert.True(Rebalances() > rebalances, $"no rebalance when a expired\n{node.Transcript}");

            await ProduceAsync("p4", 2);
            await WaitAsync(() => Tagged(all, "p4").Count() >= Partitions * 2, "b to read the 12 records of p4", all);

            // Every record produced was read exactly once, by one member or another, and committed.
            var read = all.SelectMany(m => m.Records).ToList();
            var twice = read.GroupBy(r => (r.Partition, r.Offset)).FirstOrDefault(g => g.Count() > 1);
            Assert.True(twice is null, $"{twice?.Key} read twice\n{Describe(all)}");
            var expected = new[] { ("p1", 5), ("p2", 5), ("p3", 5), ("p4", 2) }
                .SelectMany(t => Enumerable.Range(0, Partitions).SelectMany(p => Enumerable.Range(0, t.Item2).Select(i => $"{t.Item1}-{p}-{i}")))
                .Order(StringComparer.Ordinal).ToList();
            Assert.Equal(expected, read.Select(r => r.Value).Order(StringComparer.Ordinal));
            Assert.All(read, r => Assert.True(r.Committed, $"commit of {r} failed\n{Describe(all)}"));
            Assert.Empty(all.SelectMany(m => m.Errors));
            b.Send("close");
            Assert.True(await b.WaitForExitAsync(TimeSpan.FromSeconds(20)), $"b did not close\n{Describe(all)}");
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: done");
        }
        finally
        {
            foreach (var m in all) m.Dispose();
        }
    }

    private static IEnumerable<StaticRecord> Tagged(IEnumerable<StaticMember> members, string tag) =>
        members.SelectMany(m => m.Records).Where(r => r.Value.StartsWith(tag + "-", StringComparison.Ordinal));

    /// <summary>How many rebalances of the group the broker started so far (its group coordinator's log lines).</summary>
    private int Rebalances() => RebalanceLine().Matches(node.Transcript).Count;

    [GeneratedRegex("group " + Group + ": preparing to rebalance")]
    private static partial Regex RebalanceLine();

    private async Task CreateTopicAsync()
    {
        var (r, run) = await ExternalClient.PythonAsync(node, $$"""
            from confluent_kafka.admin import AdminClient, NewTopic
            from confluent_kafka import Consumer
            admin = AdminClient({'bootstrap.servers': B})
            for f in admin.create_topics([NewTopic('{{Topic}}', {{Partitions}}, 1)], operation_timeout=15).values():
                f.result(15)
            end = deadline(15)
            n = 0
            while time.monotonic() < end:
                md = admin.list_topics(timeout=5)
                t = md.topics.get('{{Topic}}')
                n = len(t.partitions) if t is not None and t.error is None else 0
                if n == {{Partitions}}:
                    break
                time.sleep(0.1)
            out(n)
            """);
        Assert.True(r.GetInt32() == Partitions, run.ToString());
    }

    /// <summary>Produces <paramref name="perPartition"/> records to every partition: values <c>tag-partition-i</c>.</summary>
    private async Task ProduceAsync(string tag, int perPartition)
    {
        var (r, run) = await ExternalClient.PythonAsync(node, $$"""
            from confluent_kafka import Producer
            p = Producer({'bootstrap.servers': B, 'acks': 'all', 'linger.ms': 5})
            errors = []
            def done(err, msg):
                if err is not None:
                    errors.append(str(err))
            for part in range({{Partitions}}):
                for i in range({{perPartition}}):
                    p.produce('{{Topic}}', value=('{{tag}}-%d-%d' % (part, i)).encode(), partition=part, on_delivery=done)
            left = p.flush(15)
            out({'left': left, 'errors': errors})
            """);
        Assert.True(r.GetProperty("left").GetInt32() == 0 && r.GetProperty("errors").GetArrayLength() == 0, run.ToString());
    }

    private sealed record GroupView(string State, Dictionary<string, string> Members);

    /// <summary>DescribeGroups (kafka-python's admin): the state and each member's id by client id.</summary>
    private async Task<GroupView> DescribeAsync()
    {
        var (r, run) = await ExternalClient.PythonAsync(node, $$"""
            from kafka.admin import KafkaAdminClient
            admin = KafkaAdminClient(bootstrap_servers=B, request_timeout_ms=15000)
            d = admin.describe_consumer_groups(['{{Group}}'])[0]
            admin.close()
            out({'state': d.state, 'members': {m.client_id: m.member_id for m in d.members} })
            """);
        output.WriteLine($"DescribeGroups: {r}");
        var members = r.GetProperty("members").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
        Assert.True(members.Count == 2 && members.ContainsKey("a") && members.ContainsKey("b"), $"members of {Group}: {r}\n{run}");
        return new GroupView(r.GetProperty("state").GetString() ?? "", members);
    }

    private async Task WaitAsync(Func<bool> done, string what, IReadOnlyList<StaticMember> members, TimeSpan? bound = null)
    {
        var limit = bound ?? TimeSpan.FromSeconds(30);
        var sw = Stopwatch.StartNew();
        while (!done())
        {
            if (sw.Elapsed > limit)
                throw new TimeoutException($"waited {limit.TotalSeconds} s for {what}\n{Describe(members)}\n{node.Transcript}");
            await Task.Delay(50);
        }
    }

    private static string Describe(IEnumerable<StaticMember> members) => string.Join("\n", members.Select(m => m.Describe()));
}

/// <summary>One record a member read: partition, offset, value, and whether its synchronous commit succeeded.</summary>
public sealed record StaticRecord(int Partition, long Offset, string Value, bool Committed);

/// <summary>
/// A long-running confluent-kafka consumer process with <c>group.instance.id</c> = <c>client.id</c> =
/// its name, manual synchronous commits after every record, and these stdin commands: <c>go</c>
/// (create the consumer and subscribe; the interpreter and the client are loaded before it, so a
/// process can be made ready ahead of time) and <c>close</c> (<c>Consumer.close()</c>, then exit).
/// It prints one JSON event a line: <c>ready</c>, <c>assign</c>/<c>revoke</c> (the rebalance
/// callbacks, with their partitions), <c>rec</c> (a record read and its commit's outcome),
/// <c>error</c>, <c>closed</c>. <see cref="Dispose"/> kills it (its own process) if it still runs.
/// </summary>
internal sealed class StaticMember : IDisposable
{
    private const string Script = """
        import sys, json, time, threading
        from confluent_kafka import Consumer, KafkaException
        B, T, G, NAME, SESSION = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        def emit(**kw):
            print(json.dumps(kw, separators=(",", ":")))
            sys.stdout.flush()
        go, stop = threading.Event(), threading.Event()
        def commands():
            for line in sys.stdin:
                if line.strip() == 'go':
                    go.set()
                elif line.strip() == 'close':
                    stop.set()
            stop.set()
            go.set()
        threading.Thread(target=commands, daemon=True).start()
        emit(ev='ready')
        go.wait(120)
        if stop.is_set():
            sys.exit(0)
        c = Consumer({'bootstrap.servers': B, 'group.id': G, 'group.instance.id': NAME, 'client.id': NAME,
                      'session.timeout.ms': SESSION, 'heartbeat.interval.ms': 500, 'enable.auto.commit': False,
                      'auto.offset.reset': 'earliest', 'partition.assignment.strategy': 'range'})
        c.subscribe([T], on_assign=lambda _, ps: emit(ev='assign', parts=sorted(p.partition for p in ps)),
                    on_revoke=lambda _, ps: emit(ev='revoke', parts=sorted(p.partition for p in ps)))
        while not stop.is_set():
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error() is not None:
                emit(ev='error', error=str(m.error()))
                continue
            ok = True
            try:
                c.commit(message=m, asynchronous=False)
            except KafkaException as e:
                ok = False
                emit(ev='error', error='commit: ' + str(e))
            emit(ev='rec', p=m.partition(), o=m.offset(), v=m.value().decode(), committed=ok)
        c.close()
        emit(ev='closed')
        """;

    private static readonly object ScriptLock = new();
    private readonly Process _process;
    private readonly ConcurrentQueue<(long Ms, JsonElement Event)> _events = new();
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly object _inputLock = new();

    private StaticMember(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    private IEnumerable<JsonElement> Events(string kind) => _events.Select(e => e.Event).Where(e => e.GetProperty("ev").GetString() == kind);

    public bool Ready => Events("ready").Any();

    public bool Closed => Events("closed").Any();

    public int AssignCount => Events("assign").Count();

    public int RevokeCount => Events("revoke").Count();

    public IReadOnlyList<string> Errors => [.. Events("error").Select(e => e.GetProperty("error").GetString() ?? "")];

    /// <summary>The partitions of the last assign, unless a revoke came after it (eager protocol: whole assignments).</summary>
    public HashSet<int> Assignment
    {
        get
        {
            var last = _events.Select(e => e.Event).LastOrDefault(e => e.GetProperty("ev").GetString() is "assign" or "revoke");
            return last.ValueKind == JsonValueKind.Object && last.GetProperty("ev").GetString() == "assign"
                ? [.. last.GetProperty("parts").EnumerateArray().Select(p => p.GetInt32())]
                : [];
        }
    }

    public IReadOnlyList<StaticRecord> Records =>
        [.. Events("rec").Select(e => new StaticRecord(e.GetProperty("p").GetInt32(), e.GetProperty("o").GetInt64(), e.GetProperty("v").GetString() ?? "",
            e.GetProperty("committed").GetBoolean()))];

    public static StaticMember Start(FjordNode node, string name, string group, string topic, int sessionTimeoutMs)
    {
        if (!File.Exists(ExternalClient.Python)) throw new InvalidOperationException($"{ExternalClient.Python} is not installed (apt-get install -y python3-confluent-kafka)");
        var path = Path.Combine(node.ScratchDir, "static-member.py");
        lock (ScriptLock)
            if (!File.Exists(path)) File.WriteAllText(path, Script, new UTF8Encoding(false));
        var info = new ProcessStartInfo(ExternalClient.Python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-u", path, node.Bootstrap, topic, group, name, sessionTimeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            info.ArgumentList.Add(a);
        var process = new Process { StartInfo = info };
        var member = new StaticMember(name, process);
        process.OutputDataReceived += (_, e) => member.OnOut(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) member._stderr.Enqueue($"{member._clock.ElapsedMilliseconds,6} {e.Data}");
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return member;
    }

    private void OnOut(string? line)
    {
        if (string.IsNullOrWhiteSpace(line)) return;
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("ev", out _))
            {
                _events.Enqueue((_clock.ElapsedMilliseconds, doc.RootElement.Clone()));
                return;
            }
        }
        catch (JsonException)
        {
        }
        _stderr.Enqueue($"{_clock.ElapsedMilliseconds,6} out {line}");
    }

    /// <summary>Writes one command line to the process (ignored once it exited).</summary>
    public void Send(string command)
    {
        lock (_inputLock)
        {
            if (_process.HasExited) return;
            _process.StandardInput.WriteLine(command);
            _process.StandardInput.Flush();
        }
    }

    /// <summary>Waits (bounded) for the process to exit; false at the bound.</summary>
    public Task<bool> WaitForExitAsync(TimeSpan bound) => ExternalClient.WaitForExitAsync(_process, bound);

    public string Describe()
    {
        var lines = _events.Where(e => e.Event.GetProperty("ev").GetString() != "rec").Select(e => $"{e.Ms,6} {e.Event.GetRawText()}")
            .Concat(_stderr).ToList();
        var byPartition = Records.GroupBy(r => r.Partition).OrderBy(g => g.Key).Select(g => $"p{g.Key}:[{string.Join(',', g.Select(r => r.Offset))}]");
        return $"--- {Name} pid {_process.Id} ({(_process.HasExited ? "exited" : "running")}): {Records.Count} records {string.Join(' ', byPartition)}\n"
            + string.Join('\n', lines.Count <= 60 ? lines : lines.TakeLast(60));
    }

    public void Dispose() => ChildProcess.KillAndDispose(_process);
}
