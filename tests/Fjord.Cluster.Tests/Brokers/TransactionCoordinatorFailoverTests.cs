using System.Diagnostics;
using System.Text.Json;
using Fjord.Protocol.Messages;
using Xunit.Abstractions;

namespace Fjord.Cluster.Tests.Brokers;

/// <summary>
/// Issue 7, "Coordinator failover" for transactions, the broker coordinating a transactional id
/// (leader of its <c>__transaction_state</c> partition) SIGKILLed while a transaction is open. On a
/// combined 3-node cluster (RF=3, <c>min.insync.replicas=2</c> everywhere, <c>__transaction_state</c>
/// included) a python3-confluent-kafka transactional producer runs <see cref="Transactions"/>
/// transactions of <see cref="PerTransaction"/> records, every third aborted (after a flush, so its
/// records are in the log). Transaction <see cref="KillAt"/> is left open with its records flushed (so
/// its partitions are in the coordinator's state and its data in the log) while the coordinator is
/// SIGKILLed; the script then commits it (librdkafka finds the new coordinator; an abortable error
/// aborts and redoes the transaction, retriable ones are retried), the killed broker is restarted and
/// the script finishes.
/// </summary>
[Collection(BrokerClusterCollection.Name)]
public sealed class TransactionCoordinatorFailoverTests(ITestOutputHelper output) : TransactionCoordinatorFailoverRun(output)
{
    [Fact]
    public Task Transactions_are_exactly_once_across_a_kill_of_the_transaction_coordinator() => RunAsync(duringCommit: false, delayMs: 0);
}

/// <summary>
/// The same run, but the script itself SIGKILLs the coordinator <see cref="DelayMs"/> ms after it
/// starts <c>commit_transaction</c> of the open transaction. Where the kill lands is timing: in most
/// runs after PrepareCommit is persisted and before CompleteCommit (the new coordinator then logs
/// "1 to complete" and writes the markers itself), sometimes before PrepareCommit reaches the ISR
/// (librdkafka's EndTxn is redone at the new coordinator) or after the client's answer. Every case
/// must hold the same exactly-once invariants; the test prints which one it hit.
/// </summary>
[Collection(BrokerClusterCollection.Name)]
public sealed class TransactionCoordinatorCommitKillTests(ITestOutputHelper output) : TransactionCoordinatorFailoverRun(output)
{
    private const int DelayMs = 2;

    [Fact]
    public Task Transactions_are_exactly_once_when_the_coordinator_is_killed_during_a_commit() => RunAsync(duringCommit: true, delayMs: DelayMs);
}

/// <summary>
/// The run both test classes share (see them). The transactional id and the output topic's placement
/// are chosen so that the coordinator leads no output partition (and, when possible, is not the
/// active controller): the kill hits the coordinator alone, and the new coordinator must finish the
/// open transaction (markers to the output partitions, whose leader stays up).
/// <para>
/// Checked: every committed transaction's records read exactly once by read_committed, in
/// transaction order per partition; no record of an aborted attempt visible (read_uncommitted shows
/// the planned aborts' records were written); the transaction open across the kill committed exactly
/// once (first attempt, or aborted and redone); before the kill the coordinator names it Ongoing with
/// the output topic (DescribeTransactions); afterwards both ids are in a completed state at their
/// coordinators; the restarted old coordinator rejoins, names the current coordinator and answers
/// DescribeTransactions for the id with NOT_COORDINATOR (while another node coordinates it); a second
/// transactional producer with another id commits a transaction after the failover.
/// </para>
/// </summary>
/// <remarks>
/// The script and the test hand over through files in the test's directory (<c>go-kill</c>,
/// <c>go-rest</c>, <c>go-verify</c>, each written aside and renamed) and stdout lines (<c>open</c>,
/// <c>killed</c>, <c>crossed</c>, <c>produced</c>, <c>result</c>); every wait on either side has a deadline.
/// </remarks>
public abstract class TransactionCoordinatorFailoverRun(ITestOutputHelper output) : IDisposable
{
    protected const int Transactions = 30;
    protected const int PerTransaction = 20;
    protected const int KillAt = 10; // 10 % 3 != 2: a transaction meant to commit
    private const int Partitions = 3;
    private const string Topic = "txn-out";
    private const string SecondId = "txn-failover-second";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private readonly ClusterDirectory _dir = new();
    private BrokerCluster? _cluster;

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (!disposing) return;
        _cluster?.Dispose();
        _dir.Dispose();
    }

    private const string Script = """
        import sys, os, json, time, threading
        from confluent_kafka import Producer, Consumer, TopicPartition, KafkaError, KafkaException
        B, TOPIC, TXID, TXID2, SIG = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
        N, PER, KILL_AT, PARTS, MODE = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9]), sys.argv[10]
        def deadline(s):
            return time.monotonic() + s
        def say(line):
            print(line)
            sys.stdout.flush()
        def wait_for(name, seconds=60):
            end = deadline(seconds)
            while not os.path.exists(os.path.join(SIG, name)):
                if time.monotonic() > end:
                    say('no signal %s within %d s' % (name, seconds))
                    sys.exit(3)
                time.sleep(0.02)

        def retry(fn, what, seconds=60):
            end = deadline(seconds)
            while True:
                try:
                    return fn()
                except KafkaException as e:
                    err = e.args[0]
                    if err.retriable() and not err.txn_requires_abort() and time.monotonic() < end:
                        say('retry %s: %s' % (what, err))
                        time.sleep(0.1)
                        continue
                    raise

        def producer(txid):
            p = Producer({'bootstrap.servers': B, 'transactional.id': txid, 'transaction.timeout.ms': 60000,
                          'acks': 'all', 'linger.ms': 5, 'reconnect.backoff.max.ms': 500, 'retry.backoff.ms': 100})
            retry(lambda: p.init_transactions(20), 'init ' + txid)
            return p

        p = producer(TXID)
        say('initialized')
        committed, aborted = [], []   # [t, attempt] of every committed / aborted attempt
        error_aborts = 0
        crossed = None
        for t in range(N):
            planned_abort = t % 3 == 2
            attempt = 0
            while True:
                attempt += 1
                if attempt > 5:
                    raise RuntimeError('transaction %d: too many attempts' % t)
                try:
                    p.begin_transaction()
                    for i in range(PER):
                        p.produce(TOPIC, value=('t%d-a%d-%d' % (t, attempt, i)).encode(), partition=i % PARTS)
                    if t == KILL_AT and attempt == 1:
                        retry(lambda: p.flush(20), 'flush before the kill')
                        say('open %d' % t)
                        wait_for('go-kill')
                        started = time.monotonic()
                        if MODE == 'commit':
                            # go-kill holds 'PID DELAY_MS': SIGKILL the coordinator DELAY_MS after commit_transaction starts.
                            pid, delay = [int(x) for x in open(os.path.join(SIG, 'go-kill')).read().split()]
                            def killer():
                                time.sleep(delay / 1000.0)
                                os.kill(pid, 9)
                                say('killed %d' % pid)
                            threading.Thread(target=killer).start()
                    if planned_abort:
                        retry(lambda: p.flush(20), 'flush')
                        retry(lambda: p.abort_transaction(10), 'abort')
                        aborted.append([t, attempt])
                        say('aborted %d attempt %d' % (t, attempt))
                    else:
                        retry(lambda: p.commit_transaction(10), 'commit')
                        committed.append([t, attempt])
                        say('committed %d attempt %d' % (t, attempt))
                    break
                except KafkaException as e:
                    err = e.args[0]
                    if not err.txn_requires_abort():
                        raise
                    say('abortable error in %d attempt %d, aborting: %s' % (t, attempt, err))
                    retry(lambda: p.abort_transaction(10), 'abort after error')
                    aborted.append([t, attempt])
                    error_aborts += 1
            if t == KILL_AT:
                crossed = {'t': t, 'attempts': attempt, 'seconds': time.monotonic() - started}
                say('crossed %d attempts=%d seconds=%.1f' % (t, attempt, crossed['seconds']))
                wait_for('go-rest')
        p.flush(10)

        # A second producer with another transactional id, after the failover.
        p2 = producer(TXID2)
        p2.begin_transaction()
        for i in range(PER):
            p2.produce(TOPIC, value=('second-%d' % i).encode(), partition=i % PARTS)
        retry(lambda: p2.commit_transaction(10), 'commit of the second producer')
        p2.flush(10)
        say('produced')
        wait_for('go-verify')

        def read(isolation):
            c = Consumer({'bootstrap.servers': B, 'group.id': 'txn-check-' + isolation, 'enable.auto.commit': False,
                          'enable.partition.eof': True, 'isolation.level': isolation})
            c.assign([TopicPartition(TOPIC, q, 0) for q in range(PARTS)])
            got, eofs, errors = [], set(), []
            end = deadline(20)
            while len(eofs) < PARTS and time.monotonic() < end:
                for m in c.consume(500, 0.5):
                    if m.error() is not None:
                        if m.error().code() == KafkaError._PARTITION_EOF:
                            eofs.add(m.partition())
                        else:
                            errors.append(str(m.error()))
                        continue
                    got.append('%d:%s' % (m.partition(), m.value().decode()))
            c.close()
            return got, len(eofs), errors
        rc, rc_eofs, rc_errors = read('read_committed')
        ru, ru_eofs, ru_errors = read('read_uncommitted')
        say('result ' + json.dumps({'committed': committed, 'aborted': aborted, 'error_aborts': error_aborts, 'crossed': crossed,
                                    'rc': rc, 'rc_eofs': rc_eofs, 'rc_errors': rc_errors,
                                    'ru': ru, 'ru_eofs': ru_eofs, 'ru_errors': ru_errors}, separators=(',', ':')))
        """;
    /// <summary>
    /// The run; <paramref name="duringCommit"/>: the script SIGKILLs the coordinator itself
    /// <paramref name="delayMs"/> ms after it starts committing the open transaction (so the kill lands
    /// somewhere between EndTxn and CompleteCommit, or after), instead of before the commit.
    /// </summary>
    protected async Task RunAsync(bool duringCommit, int delayMs)
    {
        var clock = Stopwatch.StartNew();
        var cluster = _cluster = new BrokerCluster(_dir, output, combined: true, extra: """
            min.insync.replicas=2
            default.replication.factor=3
            offsets.topic.num.partitions=3
            offsets.topic.replication.factor=3
            transaction.state.log.num.partitions=3
            transaction.state.log.replication.factor=3
            transaction.state.log.min.isr=2
            """);
        string script = _dir.Sub("txn.py");
        File.WriteAllText(script, Script);
        string signals = _dir.Sub("signals");
        Directory.CreateDirectory(signals);
        cluster.StartAll();
        await cluster.WaitForBrokersAsync(Bound);

        // __transaction_state (made by the first TRANSACTION lookup) and the coordinators of some candidate ids.
        var candidates = Enumerable.Range(0, 24).Select(i => $"txn-failover-{i}").ToList();
        var coordinators = new Dictionary<string, int>();
        await cluster.WaitUntilAsync(async () =>
        {
            coordinators.Clear();
            var answer = await cluster.SendToBrokerAsync<FindCoordinatorResponse>(cluster.BrokerIds.First(cluster.IsRunning),
                new FindCoordinatorRequest { KeyType = 1, CoordinatorKeys = candidates }, 4);
            if (answer is null || answer.Coordinators.Any(c => c.ErrorCode != 0)) return false;
            foreach (var c in answer.Coordinators) coordinators[c.Key] = c.NodeId;
            return await cluster.TopicAsync("__transaction_state") is { } s && s.Partitions.Count == 3
                && s.Partitions.All(p => p.LeaderId >= 0 && p.IsrNodes.Count == 3);
        }, Bound, "__transaction_state with leaders and full ISRs, and every candidate id's coordinator");
        int active = await cluster.ActiveControllerAsync() ?? -1;
        // Preferably a coordinator that is not the active controller, so the kill takes down the coordinator alone.
        string txnId = candidates.FirstOrDefault(c => coordinators[c] != active) ?? candidates[0];
        int coordinator = coordinators[txnId];
        // The output partitions all led by another broker (preferably not the controller either), replicated on all three.
        int dataLeader = cluster.BrokerIds.Where(b => b != coordinator).OrderBy(b => b == active ? 1 : 0).First();
        int[] replicas = [dataLeader, .. cluster.BrokerIds.Where(b => b != dataLeader)];
        await CreateTopicOnAsync(cluster, Topic, Partitions, replicas);
        await cluster.WaitUntilAsync(async () =>
            await cluster.TopicAsync(Topic) is { } t && t.Partitions.Count == Partitions
            && t.Partitions.All(p => p.LeaderId == dataLeader && p.IsrNodes.Count == 3),
            Bound, $"{Topic} led by {dataLeader} with full ISRs");
        output.WriteLine($"ready after {clock.Elapsed.TotalSeconds:F1} s: transactional id {txnId}, coordinator node {coordinator}, "
            + $"{Topic} partitions 0-{Partitions - 1} led by node {dataLeader}, active controller node {active}");

        using var client = ScriptProcess.Start(script, cluster.Bootstrap, Topic, txnId, SecondId, signals,
            $"{Transactions}", $"{PerTransaction}", $"{KillAt}", $"{Partitions}", duringCommit ? "commit" : "open");
        string Failure(string what) => $"{what}\n{client.Transcript}\n{cluster.Transcripts(60)}";
        Task<TimeSpan> WaitForLineAsync(string prefix) => cluster.WaitUntilAsync(() =>
        {
            if (client.Last(prefix) is not null) return Task.FromResult(true);
            if (client.HasExited) throw new InvalidOperationException(Failure($"the script ended (exit {client.ExitCode}) before \"{prefix}\""));
            return Task.FromResult(false);
        }, Bound, $"the script's \"{prefix}\" line\n{client.Transcript}");
        await WaitForLineAsync($"open {KillAt}");

        // The transaction is open at the coordinator, with the output partitions added.
        int coordinatorNow = await CoordinatorOfAsync(cluster, txnId, cluster.BrokerIds.First(b => b != coordinator));
        Assert.True(coordinatorNow == coordinator, Failure($"the coordinator of {txnId} moved from {coordinator} to {coordinatorNow} before the kill"));
        var before = await DescribeAsync(cluster, coordinator, txnId);
        Assert.True(before is { ErrorCode: 0, TransactionState: "Ongoing" } && before.Topics.Any(t => t.Topic == Topic && t.Partitions.Count == Partitions),
            Failure($"before the kill the coordinator shows {before?.TransactionState ?? "nothing"} (error {before?.ErrorCode}) for {txnId}"));

        var killedAt = clock.Elapsed;
        if (duringCommit)
        {
            Signal(signals, "go-kill", $"{cluster.Node(coordinator).Pid} {delayMs}");
            await WaitForLineAsync("killed ");
            await cluster.KillAsync(coordinator); // reaps it (already dead)
            output.WriteLine($"SIGKILL node {coordinator} (coordinator of {txnId}) by the script {delayMs} ms into the commit of transaction {KillAt}");
        }
        else
        {
            await cluster.KillAsync(coordinator);
            Signal(signals, "go-kill", "");
            output.WriteLine($"SIGKILL node {coordinator} (coordinator of {txnId}) at {killedAt.TotalSeconds:F1} s, transaction {KillAt} open");
        }

        // The new coordinator (any running broker's answer) and the script's commit of the open transaction.
        int newCoordinator = -1;
        var moved = await cluster.WaitUntilAsync(async () =>
        {
            if (client.HasExited) throw new InvalidOperationException(Failure($"the script ended (exit {client.ExitCode}) during the failover"));
            newCoordinator = await CoordinatorOfAsync(cluster, txnId, dataLeader);
            return newCoordinator >= 0 && newCoordinator != coordinator;
        }, Bound, $"a new coordinator of {txnId}");
        await WaitForLineAsync("crossed ");
        output.WriteLine($"new coordinator node {newCoordinator} named {moved.TotalSeconds:F1} s after the kill; the script: {client.Last("crossed ")}");
        // The new coordinator loaded the id's partition; "K to complete" says whether the kill left it in a Prepare state.
        int partitionOfId = Fjord.Broker.Coordinator.JavaHash.PartitionFor(txnId, 3);
        string loaded = $"__transaction_state-{partitionOfId}: loaded";
        var newNode = cluster.Node(newCoordinator);
        await cluster.WaitUntilAsync(() => Task.FromResult(newNode.Lines("out").Concat(newNode.Lines("err")).Any(l => l.Contains(loaded, StringComparison.Ordinal))),
            Bound, $"node {newCoordinator} logging \"{loaded}\"");
        output.WriteLine($"node {newCoordinator}: {newNode.Lines("out").Concat(newNode.Lines("err")).First(l => l.Contains(loaded, StringComparison.Ordinal))}");
        cluster.Start(coordinator);
        Signal(signals, "go-rest", "");

        await WaitForLineAsync("produced");
        // Both ids completed at their coordinators (so every marker is written) before the read back.
        var states = new Dictionary<string, string>();
        foreach (var id in new[] { txnId, SecondId })
        {
            int at = -1;
            DescribeTransactionsResponse.TransactionStateData? state = null;
            await cluster.WaitUntilAsync(async () =>
            {
                at = await CoordinatorOfAsync(cluster, id, dataLeader);
                state = at >= 0 ? await DescribeAsync(cluster, at, id) : null;
                return state is { ErrorCode: 0, TransactionState: "CompleteCommit" or "CompleteAbort" };
            }, Bound, $"{id} completed at its coordinator (last: node {at}, {state?.TransactionState}, error {state?.ErrorCode})");
            states[id] = $"{state!.TransactionState} at node {at}";
            if (id == txnId) Assert.Equal("CompleteAbort", state.TransactionState); // transaction 29 is a planned abort
            else Assert.Equal("CompleteCommit", state.TransactionState);
        }
        output.WriteLine($"DescribeTransactions: {string.Join(", ", states.Select(kv => $"{kv.Key} {kv.Value}"))}");

        // The restarted old coordinator rejoins and does not act as the id's coordinator while another node is.
        var rejoined = await cluster.WaitForBrokersAsync(Bound);
        int coordinatorAtEnd = -1, namedByRestarted = -1;
        DescribeTransactionsResponse.TransactionStateData? atRestarted = null;
        await cluster.WaitUntilAsync(async () =>
        {
            coordinatorAtEnd = await CoordinatorOfAsync(cluster, txnId, dataLeader);
            namedByRestarted = await CoordinatorOfAsync(cluster, txnId, coordinator);
            atRestarted = await DescribeAsync(cluster, coordinator, txnId);
            return coordinatorAtEnd >= 0 && namedByRestarted == coordinatorAtEnd && atRestarted is not null;
        }, Bound, $"the restarted node {coordinator} naming the coordinator of {txnId} (it names {namedByRestarted}, node {dataLeader} names {coordinatorAtEnd})");
        if (coordinatorAtEnd != coordinator)
            Assert.True(atRestarted!.ErrorCode == 16, $"the restarted node {coordinator} answered DescribeTransactions for {txnId} with error {atRestarted.ErrorCode} "
                + $"state {atRestarted.TransactionState} although node {coordinatorAtEnd} coordinates it"); // NOT_COORDINATOR
        output.WriteLine($"restarted node {coordinator} in every broker's metadata (waited {rejoined.TotalSeconds:F1} s after the run); it names node {namedByRestarted} "
            + $"as the coordinator and answers DescribeTransactions with error {atRestarted!.ErrorCode}");
        Signal(signals, "go-verify", "");

        await client.WaitForExitAsync(Bound);
        var resultLine = client.Last("result ");
        output.WriteLine(string.Join('\n', client.Lines.Where(l => !l.StartsWith("result ", StringComparison.Ordinal)).TakeLast(60)));
        Assert.True(client.ExitCode == 0 && resultLine is not null, Failure($"client failed (exit {client.ExitCode})"));
        var r = JsonDocument.Parse(resultLine!["result ".Length..]).RootElement;
        static List<(int T, int A)> Attempts(JsonElement e) =>
            [.. e.EnumerateArray().Select(x => (x[0].GetInt32(), x[1].GetInt32()))];
        var committed = Attempts(r.GetProperty("committed"));
        var aborted = Attempts(r.GetProperty("aborted"));
        var rc = r.GetProperty("rc").EnumerateArray().Select(e => e.GetString()!).ToList();
        var ru = r.GetProperty("ru").EnumerateArray().Select(e => e.GetString()!).ToList();
        int errorAborts = r.GetProperty("error_aborts").GetInt32();
        var crossed = r.GetProperty("crossed");
        output.WriteLine($"committed {committed.Count}, aborted {aborted.Count} ({errorAborts} after errors), read_committed {rc.Count}, "
            + $"read_uncommitted {ru.Count}; transaction {KillAt} took {crossed.GetProperty("attempts").GetInt32()} attempt(s); "
            + $"finished {clock.Elapsed.TotalSeconds:F1} s after the start");

        // The script's view: each planned-commit transaction committed once, each planned abort aborted, none both.
        Assert.Equal(Enumerable.Range(0, Transactions).Where(t => t % 3 != 2), committed.Select(c => c.T));
        Assert.All(aborted.Where(a => a.T % 3 == 2), a => Assert.Equal(1, a.A));
        Assert.Equal(Transactions / 3, aborted.Count(a => a.T % 3 == 2));
        Assert.Empty(aborted.Intersect(committed));
        var crossedAttempts = crossed.GetProperty("attempts").GetInt32();
        Assert.Contains((KillAt, crossedAttempts), committed);
        Assert.Equal(crossedAttempts - 1, aborted.Count(a => a.T == KillAt));

        // The read back: exactly the committed attempts' records, once each, and the second producer's.
        Assert.Equal(Partitions, r.GetProperty("rc_eofs").GetInt32());
        Assert.Equal(Partitions, r.GetProperty("ru_eofs").GetInt32());
        Assert.Equal(0, r.GetProperty("rc_errors").GetArrayLength());
        Assert.Equal(0, r.GetProperty("ru_errors").GetArrayLength());
        var expected = committed.SelectMany(c => Enumerable.Range(0, PerTransaction).Select(i => $"{i % Partitions}:t{c.T}-a{c.A}-{i}"))
            .Concat(Enumerable.Range(0, PerTransaction).Select(i => $"{i % Partitions}:second-{i}")).ToList();
        var duplicates = rc.GroupBy(v => v).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"read_committed duplicates: {string.Join(' ', duplicates.Take(20))}");
        var abortedValues = aborted.SelectMany(a => Enumerable.Range(0, PerTransaction).Select(i => $"{i % Partitions}:t{a.T}-a{a.A}-{i}")).ToHashSet();
        var leaked = rc.Where(abortedValues.Contains).ToList();
        Assert.True(leaked.Count == 0, $"records of aborted transactions read by read_committed: {string.Join(' ', leaked.Take(20))}");
        Assert.Equal(expected.Order(StringComparer.Ordinal), rc.Order(StringComparer.Ordinal));
        // The transaction open across the kill: one attempt's records, each once.
        Assert.Equal(PerTransaction, rc.Count(v => v.Contains($":t{KillAt}-", StringComparison.Ordinal)));
        // Per partition, in transaction order.
        foreach (var group in rc.Where(v => v.Contains(":t", StringComparison.Ordinal)).GroupBy(v => v[..v.IndexOf(':', StringComparison.Ordinal)]))
        {
            var order = group.Select(v => int.Parse(v[(v.IndexOf(":t", StringComparison.Ordinal) + 2)..v.IndexOf('-', StringComparison.Ordinal)])).ToList();
            Assert.True(order.SequenceEqual(order.Order()), $"partition {group.Key} out of transaction order: {string.Join(',', order)}");
        }
        // The planned aborts' records were written (read_uncommitted sees them) and filtered.
        var plannedAbortValues = aborted.Where(a => a.T % 3 == 2)
            .SelectMany(a => Enumerable.Range(0, PerTransaction).Select(i => $"{i % Partitions}:t{a.T}-a{a.A}-{i}")).ToList();
        Assert.Empty(plannedAbortValues.Except(ru));
        Assert.Empty(expected.Except(ru));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"took {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>Writes signal file <paramref name="name"/> whole at once (written aside, then renamed), for the script to see.</summary>
    private static void Signal(string dir, string name, string content)
    {
        string aside = Path.Combine(dir, $".{name}.tmp");
        File.WriteAllText(aside, content);
        File.Move(aside, Path.Combine(dir, name));
    }

    /// <summary>Creates <paramref name="topic"/> with every partition on <paramref name="replicas"/> (the first the preferred leader).</summary>
    private static Task CreateTopicOnAsync(BrokerCluster cluster, string topic, int partitions, int[] replicas)
    {
        var creatable = new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = -1, ReplicationFactor = -1 };
        for (int p = 0; p < partitions; p++)
            creatable.Assignments.Add(new CreateTopicsRequest.CreatableReplicaAssignment { PartitionIndex = p, BrokerIds = [.. replicas] });
        var request = new CreateTopicsRequest { TimeoutMs = 30_000, Topics = [creatable] };
        short last = -1;
        string? message = null;
        return cluster.WaitUntilAsync(async () =>
        {
            var answer = await cluster.SendToBrokerAsync<CreateTopicsResponse>(cluster.BrokerIds.First(cluster.IsRunning), request, 7);
            if (answer is null) return false;
            (last, message) = (answer.Topics[0].ErrorCode, answer.Topics[0].ErrorMessage);
            return last is 0 or 36; // created (or created by the earlier try)
        }, Bound, $"CreateTopics {topic} on {string.Join(",", replicas)} (last error {last} {message})");
    }

    /// <summary>The coordinator of transactional id <paramref name="id"/> as broker <paramref name="via"/> names it; -1 if it names none.</summary>
    private static async Task<int> CoordinatorOfAsync(BrokerCluster cluster, string id, int via)
    {
        if (!cluster.IsRunning(via)) via = cluster.BrokerIds.First(cluster.IsRunning);
        var answer = await cluster.SendToBrokerAsync<FindCoordinatorResponse>(via, new FindCoordinatorRequest { KeyType = 1, CoordinatorKeys = [id] }, 4);
        return answer is { Coordinators: [{ ErrorCode: 0 } c] } ? c.NodeId : -1;
    }

    /// <summary>DescribeTransactions v0 of <paramref name="id"/> at broker <paramref name="node"/>; null if it did not answer.</summary>
    private static async Task<DescribeTransactionsResponse.TransactionStateData?> DescribeAsync(BrokerCluster cluster, int node, string id)
    {
        if (!cluster.IsRunning(node)) return null;
        var answer = await cluster.SendToBrokerAsync<DescribeTransactionsResponse>(node, new DescribeTransactionsRequest { TransactionalIds = [id] }, 0);
        return answer?.TransactionStates.FirstOrDefault();
    }
}
