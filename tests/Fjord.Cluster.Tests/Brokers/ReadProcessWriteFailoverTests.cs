using System.Diagnostics;
using System.Text.Json;
using Fjord.Protocol.Messages;
using Xunit.Abstractions;

namespace Fjord.Cluster.Tests.Brokers;

/// <summary>
/// Issue 7, "Must show" 3 and 4: exactly-once read-process-write (python3-confluent-kafka's
/// transactional API) across a broker kill, on a combined 3-node cluster (RF=3,
/// <c>min.insync.replicas=2</c> everywhere, <c>__consumer_offsets</c> and <c>__transaction_state</c>
/// included). A consumer in a group reads an input topic; a transactional producer writes each
/// record transformed and the consumer's positions (send_offsets_to_transaction) and commits;
/// every fourth transaction is aborted and re-processed from the group's committed offsets. A third
/// of the way through, the broker coordinating the group (leader of its <c>__consumer_offsets</c>
/// partition) is SIGKILLed and restarted at once. Abortable errors abort and re-process; retriable
/// ones are retried. At the end a read_committed reader sees each input's output exactly once and
/// the group's committed offsets are the input's end offsets.
/// </summary>
[Collection(BrokerClusterCollection.Name)]
public sealed class ReadProcessWriteFailoverTests(ITestOutputHelper output) : IDisposable
{
    private const int Inputs = 600;
    private const string Group = "rpw-failover";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    private readonly ClusterDirectory _dir = new();
    private BrokerCluster? _cluster;

    public void Dispose()
    {
        _cluster?.Dispose();
        _dir.Dispose();
        GC.SuppressFinalize(this);
    }

    private const string Script = """
        import sys, json, time
        from confluent_kafka import Producer, Consumer, TopicPartition, KafkaError, KafkaException, OFFSET_BEGINNING
        B, N, GROUP = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        def deadline(s):
            return time.monotonic() + s
        def say(line):
            print(line)
            sys.stdout.flush()

        src = Producer({'bootstrap.servers': B, 'enable.idempotence': True, 'acks': 'all'})
        for i in range(N):
            src.produce('rpw-in', key=str(i).encode(), value=('in-%d' % i).encode(), partition=i % 3)
        src.flush(30)
        say('inputs produced')

        consumer = Consumer({'bootstrap.servers': B, 'group.id': GROUP, 'enable.auto.commit': False,
                             'isolation.level': 'read_committed', 'auto.offset.reset': 'earliest',
                             'session.timeout.ms': 20000, 'max.poll.interval.ms': 120000})
        consumer.subscribe(['rpw-in'])
        producer = Producer({'bootstrap.servers': B, 'transactional.id': 'rpw-failover-txn', 'transaction.timeout.ms': 30000,
                             'acks': 'all'})
        producer.init_transactions(60)

        def retry(fn, what, seconds=60):
            end = deadline(seconds)
            while True:
                try:
                    return fn()
                except KafkaException as e:
                    err = e.args[0]
                    # librdkafka 2.0.2's committed() hands coordinator moves to the caller.
                    moved = err.code() in (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                                           KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError._TIMED_OUT, KafkaError._TRANSPORT)
                    if (err.retriable() or moved) and time.monotonic() < end:
                        say('retry %s: %s' % (what, err))
                        time.sleep(0.2)
                        continue
                    raise

        def rewind():
            for tp in retry(lambda: consumer.committed(consumer.assignment(), 20), 'committed'):
                consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))

        committed_inputs, aborted_inputs = [], []
        txns = planned_aborts = error_aborts = 0
        end = deadline(75)
        while len(set(committed_inputs)) < N and time.monotonic() < end:
            msgs = [m for m in consumer.consume(20, 0.5) if m.error() is None]
            if not msgs:
                continue
            txns += 1
            values = [m.value().decode() for m in msgs]
            try:
                producer.begin_transaction()
                for m in msgs:
                    producer.produce('rpw-out', key=m.key(), value=('out-' + m.value().decode()).encode(), partition=m.partition())
                positions = consumer.position(consumer.assignment())
                retry(lambda: producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 20), 'send_offsets')
                if txns % 4 == 0:
                    retry(lambda: producer.flush(20), 'flush')
                    retry(lambda: producer.abort_transaction(20), 'abort')
                    planned_aborts += 1
                    aborted_inputs += values
                    rewind()
                else:
                    retry(lambda: producer.commit_transaction(20), 'commit')
                    committed_inputs += values
                say('progress committed=%d txns=%d' % (len(committed_inputs), txns))
            except KafkaException as e:
                err = e.args[0]
                if not err.txn_requires_abort():
                    raise
                say('abortable error, aborting: %s' % err)
                retry(lambda: producer.abort_transaction(20), 'abort after error')
                error_aborts += 1
                rewind()

        group_committed = {tp.partition: tp.offset for tp in
                           retry(lambda: consumer.committed([TopicPartition('rpw-in', p) for p in range(3)], 20), 'final committed')}
        consumer.close()

        c = Consumer({'bootstrap.servers': B, 'group.id': 'rpw-check', 'enable.auto.commit': False,
                      'enable.partition.eof': True, 'isolation.level': 'read_committed'})
        c.assign([TopicPartition('rpw-out', p, 0) for p in range(3)])
        got, eofs, errors = [], set(), []
        end = deadline(30)
        while len(eofs) < 3 and time.monotonic() < end:
            for m in c.consume(500, 0.5):
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        eofs.add(m.partition())
                    else:
                        errors.append(str(m.error()))
                    continue
                got.append(m.value().decode())
        c.close()
        ends = {}
        probe = Consumer({'bootstrap.servers': B, 'group.id': 'rpw-probe'})
        for p in range(3):
            ends[p] = probe.get_watermark_offsets(TopicPartition('rpw-in', p), 10)[1]
        probe.close()
        say('result ' + json.dumps({'committed_inputs': committed_inputs, 'aborted_inputs': aborted_inputs, 'txns': txns,
                                    'planned_aborts': planned_aborts, 'error_aborts': error_aborts,
                                    'group_committed': {str(k): v for k, v in group_committed.items()},
                                    'ends': {str(k): v for k, v in ends.items()},
                                    'rc': got, 'rc_eofs': len(eofs), 'rc_errors': errors}, separators=(',', ':')))
        """;

    [Fact]
    public async Task Read_process_write_is_exactly_once_across_a_kill_of_the_group_coordinator()
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
        string script = _dir.Sub("rpw.py");
        File.WriteAllText(script, Script);
        cluster.StartAll();
        await cluster.WaitForBrokersAsync(Bound);
        foreach (var topic in new[] { "rpw-in", "rpw-out" })
            await cluster.CreateTopicAsync(topic, 3, 3, new Dictionary<string, string>(), Bound);
        await cluster.WaitUntilAsync(async () =>
            await cluster.TopicAsync("rpw-in") is { } a && a.Partitions.Count == 3 && a.Partitions.All(p => p.LeaderId >= 0 && p.IsrNodes.Count == 3)
            && await cluster.TopicAsync("rpw-out") is { } b && b.Partitions.Count == 3 && b.Partitions.All(p => p.LeaderId >= 0 && p.IsrNodes.Count == 3),
            Bound, "rpw-in and rpw-out with leaders and full ISRs");
        output.WriteLine($"cluster and topics ready after {clock.Elapsed.TotalSeconds:F1} s");

        using var client = ScriptProcess.Start(script, cluster.Bootstrap, $"{Inputs}", Group);
        int Committed() => client.Last("progress ") is { } l ? int.Parse(ScriptProcess.Fields(l)["committed"]) : 0;
        await cluster.WaitUntilAsync(() =>
        {
            if (client.HasExited) throw new InvalidOperationException($"the client ended early\n{client.Transcript}\n{cluster.Transcripts(60)}");
            return Task.FromResult(Committed() >= Inputs / 3);
        }, Bound, $"a third of the inputs committed (now {Committed()})\n{client.Transcript}");

        // The group's coordinator: the leader of its __consumer_offsets partition.
        int coordinator = -1;
        await cluster.WaitUntilAsync(async () =>
        {
            var answer = await cluster.SendToBrokerAsync<FindCoordinatorResponse>(cluster.BrokerIds.First(cluster.IsRunning),
                new FindCoordinatorRequest { KeyType = 0, CoordinatorKeys = [Group] }, 4);
            coordinator = answer is { Coordinators: [{ ErrorCode: 0 } c] } ? c.NodeId : -1;
            return coordinator >= 0;
        }, Bound, $"the coordinator of {Group}");
        int committedAtKill = Committed();
        var killedAt = clock.Elapsed;
        await cluster.KillAsync(coordinator);
        var restarted = cluster.Start(coordinator);
        output.WriteLine($"SIGKILL node {coordinator} (coordinator of {Group}) at {killedAt.TotalSeconds:F1} s with {committedAtKill} inputs committed; restarted");

        await client.WaitForExitAsync(Bound);
        var resultLine = client.Last("result ");
        output.WriteLine(string.Join('\n', client.Lines.Where(l => !l.StartsWith("result ", StringComparison.Ordinal)).TakeLast(40)));
        Assert.True(client.ExitCode == 0 && resultLine is not null, $"client failed (exit {client.ExitCode})\n{client.Transcript}\n{cluster.Transcripts(60)}");
        var r = JsonDocument.Parse(resultLine!["result ".Length..]).RootElement;
        var committedInputs = r.GetProperty("committed_inputs").EnumerateArray().Select(e => e.GetString()!).ToList();
        var readCommitted = r.GetProperty("rc").EnumerateArray().Select(e => e.GetString()!).ToList();
        output.WriteLine($"transactions {r.GetProperty("txns").GetInt32()}, planned aborts {r.GetProperty("planned_aborts").GetInt32()}, "
            + $"aborts after errors {r.GetProperty("error_aborts").GetInt32()}, finished {clock.Elapsed.TotalSeconds:F1} s after the start");

        var expected = Enumerable.Range(0, Inputs).Select(i => $"in-{i}").ToList();
        Assert.Equal(expected.Order(StringComparer.Ordinal), committedInputs.Order(StringComparer.Ordinal));
        Assert.True(r.GetProperty("planned_aborts").GetInt32() >= 1, "no transaction was aborted");
        Assert.Equal(3, r.GetProperty("rc_eofs").GetInt32());
        Assert.Equal(0, r.GetProperty("rc_errors").GetArrayLength());
        Assert.Equal(expected.Select(e => "out-" + e).Order(StringComparer.Ordinal), readCommitted.Order(StringComparer.Ordinal));
        for (int p = 0; p < 3; p++)
        {
            long end = r.GetProperty("ends").GetProperty($"{p}").GetInt64();
            Assert.Equal(Inputs / 3, end);
            Assert.Equal(end, r.GetProperty("group_committed").GetProperty($"{p}").GetInt64());
        }
    }
}
