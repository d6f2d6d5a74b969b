using Xunit.Abstractions;

namespace Fjord.Clients.Tests;

/// <summary>
/// Exactly-once read-process-write with confluent-kafka-python 1.7.0 (librdkafka 2.0.2) against one
/// Fjord node: a consumer in a group reads an input topic, a transactional producer writes the
/// transformed records and the consumer's positions (send_offsets_to_transaction: AddOffsetsToTxn +
/// TxnOffsetCommit) and commits; every third transaction is aborted and its input re-processed from
/// the group's committed offsets. Covers TxnOffsetCommit, the COMMIT/ABORT markers reaching
/// <c>__consumer_offsets</c>, and OffsetFetch with RequireStable (UNSTABLE_OFFSET_COMMIT while a
/// transactional commit is pending).
/// </summary>
public sealed class ReadProcessWriteTests(FjordNode node, ITestOutputHelper output) : IClassFixture<FjordNode>
{
    private const int Inputs = 240;

    [Fact]
    public async Task Read_process_write_with_aborts_yields_each_output_exactly_once_and_commits_the_group_offsets()
    {
        var (r, run) = await ExternalClient.PythonAsync(node, """
            from confluent_kafka import Producer, Consumer, TopicPartition, KafkaError, KafkaException, OFFSET_BEGINNING
            from confluent_kafka.admin import AdminClient, NewTopic
            admin = AdminClient({'bootstrap.servers': B})
            for f in admin.create_topics([NewTopic('rpw-in', 3, 1), NewTopic('rpw-out', 3, 1)], operation_timeout=15).values():
                f.result(15)
            end = deadline(15)
            while time.monotonic() < end:
                md = admin.list_topics(timeout=5).topics
                if all(t in md and len(md[t].partitions) == 3 for t in ('rpw-in', 'rpw-out')):
                    break
                time.sleep(0.1)

            src = Producer({'bootstrap.servers': B, 'enable.idempotence': True})
            for i in range(240):
                src.produce('rpw-in', key=str(i).encode(), value=('in-%d' % i).encode(), partition=i % 3)
            src.flush(20)
            ends = {}
            probe = Consumer({'bootstrap.servers': B, 'group.id': 'rpw-probe'})
            for p in range(3):
                lo, hi = probe.get_watermark_offsets(TopicPartition('rpw-in', p), 10)
                ends[p] = hi
            probe.close()

            consumer = Consumer({'bootstrap.servers': B, 'group.id': 'rpw-group', 'enable.auto.commit': False,
                                 'isolation.level': 'read_committed', 'auto.offset.reset': 'earliest',
                                 'session.timeout.ms': 10000})
            consumer.subscribe(['rpw-in'])
            producer = Producer({'bootstrap.servers': B, 'transactional.id': 'rpw-txn', 'transaction.timeout.ms': 60000})
            producer.init_transactions(25)

            committed_inputs, aborted_inputs = [], []
            txns = aborts = 0
            last_positions = {}
            end = deadline(70)
            while len(set(committed_inputs)) < 240 and time.monotonic() < end:
                msgs = [m for m in consumer.consume(25, 0.5) if m.error() is None]
                if not msgs:
                    continue
                producer.begin_transaction()
                for m in msgs:
                    producer.produce('rpw-out', key=m.key(), value=('out-' + m.value().decode()).encode(), partition=m.partition())
                positions = consumer.position(consumer.assignment())
                producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 20)
                txns += 1
                if txns % 3 == 0:
                    producer.flush(20)  # the outputs reach the log before the abort
                    producer.abort_transaction(20)
                    aborts += 1
                    aborted_inputs += [m.value().decode() for m in msgs]
                    # Re-process: back to the group's committed offsets (OffsetFetch, require_stable).
                    for tp in consumer.committed(consumer.assignment(), 20):
                        consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
                else:
                    producer.commit_transaction(20)
                    committed_inputs += [m.value().decode() for m in msgs]
                    for tp in positions:
                        if tp.offset >= 0:
                            last_positions[tp.partition] = tp.offset
            group_committed = {tp.partition: tp.offset for tp in consumer.committed([TopicPartition('rpw-in', p) for p in range(3)], 20)}
            consumer.close()

            def read(isolation):
                c = Consumer({'bootstrap.servers': B, 'group.id': 'rpw-check-' + isolation, 'enable.auto.commit': False,
                              'enable.partition.eof': True, 'isolation.level': isolation})
                c.assign([TopicPartition('rpw-out', p, 0) for p in range(3)])
                got, eofs, errors = [], set(), []
                end = deadline(20)
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
                return got, len(eofs), errors
            rc, rc_eofs, rc_errors = read('read_committed')
            ru, ru_eofs, ru_errors = read('read_uncommitted')
            out({'committed_inputs': committed_inputs, 'aborted_inputs': aborted_inputs, 'txns': txns, 'aborts': aborts,
                 'ends': {str(k): v for k, v in ends.items()}, 'group_committed': {str(k): v for k, v in group_committed.items()},
                 'last_positions': {str(k): v for k, v in last_positions.items()},
                 'rc': rc, 'rc_eofs': rc_eofs, 'rc_errors': rc_errors, 'ru': ru, 'ru_eofs': ru_eofs, 'ru_errors': ru_errors})
            """, TimeSpan.FromSeconds(110));
        output.WriteLine(run.ToString());

        var expected = Enumerable.Range(0, Inputs).Select(i => $"in-{i}").ToList();
        var committedInputs = Strings(r, "committed_inputs");
        var readCommitted = Strings(r, "rc");
        var readUncommitted = Strings(r, "ru");
        int aborts = r.GetProperty("aborts").GetInt32();
        output.WriteLine($"transactions {r.GetProperty("txns").GetInt32()}, aborted {aborts}, read_committed {readCommitted.Count}, read_uncommitted {readUncommitted.Count}");

        // Every input processed in exactly one committed transaction.
        Assert.Equal(expected.Order(StringComparer.Ordinal), committedInputs.Order(StringComparer.Ordinal));
        Assert.True(aborts >= 1, "no transaction was aborted");
        Assert.NotEmpty(Strings(r, "aborted_inputs"));
        // A read_committed reader sees each input's output exactly once, and nothing else.
        Assert.Equal(3, r.GetProperty("rc_eofs").GetInt32());
        Assert.Equal(0, r.GetProperty("rc_errors").GetArrayLength());
        Assert.Equal(expected.Select(e => "out-" + e).Order(StringComparer.Ordinal), readCommitted.Order(StringComparer.Ordinal));
        // The aborted outputs were really written (read_uncommitted sees the duplicates).
        Assert.Equal(3, r.GetProperty("ru_eofs").GetInt32());
        Assert.True(readUncommitted.Count > readCommitted.Count, "the aborted transactions left nothing in the log");
        Assert.Subset(readUncommitted.ToHashSet(), readCommitted.ToHashSet());
        // The group's committed offsets are those of the last committed transaction: the input's end.
        var ends = r.GetProperty("ends");
        var groupCommitted = r.GetProperty("group_committed");
        var lastPositions = r.GetProperty("last_positions");
        for (int p = 0; p < 3; p++)
        {
            long end = ends.GetProperty($"{p}").GetInt64();
            Assert.Equal(Inputs / 3, end);
            Assert.Equal(end, groupCommitted.GetProperty($"{p}").GetInt64());
            Assert.Equal(end, lastPositions.GetProperty($"{p}").GetInt64());
        }
    }

    [Fact]
    public async Task A_pending_transactional_offset_commit_is_unstable_until_its_marker_then_committed_or_dropped()
    {
        var (r, run) = await ExternalClient.PythonAsync(node, """
            from confluent_kafka import Producer, Consumer, TopicPartition, KafkaError, KafkaException
            from confluent_kafka.admin import AdminClient, NewTopic
            admin = AdminClient({'bootstrap.servers': B})
            for f in admin.create_topics([NewTopic('stable-in', 1, 1)], operation_timeout=15).values():
                f.result(15)
            end = deadline(15)
            while time.monotonic() < end and 'stable-in' not in admin.list_topics(timeout=5).topics:
                time.sleep(0.1)
            src = Producer({'bootstrap.servers': B})
            for i in range(20):
                src.produce('stable-in', value=b'x', partition=0)
            src.flush(20)

            # The group only stores offsets (no member): the transactional producer commits for it.
            grp = Consumer({'bootstrap.servers': B, 'group.id': 'stable-group', 'enable.auto.commit': False})
            meta = grp.consumer_group_metadata()
            tp = TopicPartition('stable-in', 0)
            def committed(isolation, timeout):
                c = Consumer({'bootstrap.servers': B, 'group.id': 'stable-group', 'enable.auto.commit': False, 'isolation.level': isolation})
                try:
                    return c.committed([TopicPartition('stable-in', 0)], timeout)[0].offset
                except KafkaException as e:
                    return 'error:' + e.args[0].name()
                finally:
                    c.close()

            p = Producer({'bootstrap.servers': B, 'transactional.id': 'stable-txn'})
            p.init_transactions(25)
            results = {}
            for name, offset, commit in (('c1', 7, True), ('a1', 12, False), ('c2', 15, True)):
                p.begin_transaction()
                p.send_offsets_to_transaction([TopicPartition('stable-in', 0, offset)], meta, 20)
                # Pending: read_committed (require_stable) cannot get an answer; read_uncommitted gets the last committed one.
                results[name + '_pending_rc'] = committed('read_committed', 3)
                results[name + '_pending_ru'] = committed('read_uncommitted', 10)
                if commit:
                    p.commit_transaction(20)
                else:
                    p.abort_transaction(20)
                results[name + '_after'] = committed('read_committed', 15)
            grp.close()
            out(results)
            """, TimeSpan.FromSeconds(90));
        output.WriteLine(run.ToString());

        // librdkafka retries UNSTABLE_OFFSET_COMMIT until its timeout.
        Assert.Equal("error:_TIMED_OUT", r.GetProperty("c1_pending_rc").GetString());
        Assert.Equal(-1001, r.GetProperty("c1_pending_ru").GetInt64()); // nothing committed yet (OFFSET_INVALID)
        Assert.Equal(7, r.GetProperty("c1_after").GetInt64());
        Assert.Equal("error:_TIMED_OUT", r.GetProperty("a1_pending_rc").GetString());
        Assert.Equal(7, r.GetProperty("a1_pending_ru").GetInt64());
        Assert.Equal(7, r.GetProperty("a1_after").GetInt64()); // the aborted commit is dropped
        Assert.Equal("error:_TIMED_OUT", r.GetProperty("c2_pending_rc").GetString());
        Assert.Equal(7, r.GetProperty("c2_pending_ru").GetInt64());
        Assert.Equal(15, r.GetProperty("c2_after").GetInt64());
    }

    private static List<string> Strings(System.Text.Json.JsonElement r, string name) =>
        [.. r.GetProperty(name).EnumerateArray().Select(e => e.GetString()!)];
}
