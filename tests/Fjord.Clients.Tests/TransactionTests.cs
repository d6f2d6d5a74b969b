using Xunit.Abstractions;

namespace Fjord.Clients.Tests;

/// <summary>confluent-kafka-python 1.7.0 (librdkafka 2.0.2) transactional producer against one Fjord node:
/// InitProducerId with a transactional id, AddPartitionsToTxn, EndTxn, markers, read_committed.</summary>
public sealed class TransactionTests(FjordNode node, ITestOutputHelper output) : IClassFixture<FjordNode>
{
    [Fact]
    public async Task Aborted_transactions_are_never_visible_to_read_committed_consumers_and_committed_ones_exactly_once()
    {
        var (r, run) = await ExternalClient.PythonAsync(node, """
            from confluent_kafka import Producer, Consumer, TopicPartition, KafkaError, KafkaException
            from confluent_kafka.admin import AdminClient, NewTopic
            admin = AdminClient({'bootstrap.servers': B})
            for f in admin.create_topics([NewTopic('txn-out', 2, 1)], operation_timeout=15).values():
                f.result(15)
            p = Producer({'bootstrap.servers': B, 'transactional.id': 'fjord-txn-1', 'transaction.timeout.ms': 60000})
            p.init_transactions(25)
            committed, aborted = [], []
            for t in range(6):
                p.begin_transaction()
                commit = t % 2 == 0
                values = [('%s-%d-%d' % ('c' if commit else 'a', t, i)) for i in range(40)]
                for i, v in enumerate(values):
                    p.produce('txn-out', value=v.encode(), partition=i % 2)
                if commit:
                    p.commit_transaction(20)
                    committed += values
                else:
                    p.flush(20)  # the records reach the log before the abort
                    p.abort_transaction(20)
                    aborted += values

            # A second producer with the same transactional id fences the first.
            p2 = Producer({'bootstrap.servers': B, 'transactional.id': 'fjord-txn-1'})
            p2.init_transactions(25)
            fenced = False
            try:
                p.begin_transaction()
                p.produce('txn-out', value=b'zombie', partition=0)
                p.commit_transaction(10)
            except KafkaException as e:
                fenced = True
            p2.begin_transaction()
            p2.produce('txn-out', value=b'last', partition=1)
            p2.commit_transaction(20)
            committed.append('last')

            def read(isolation):
                c = Consumer({'bootstrap.servers': B, 'group.id': 'txn-' + isolation, 'enable.auto.commit': False,
                              'enable.partition.eof': True, 'isolation.level': isolation})
                c.assign([TopicPartition('txn-out', 0, 0), TopicPartition('txn-out', 1, 0)])
                got, eofs, errors = [], set(), []
                end = deadline(20)
                while len(eofs) < 2 and time.monotonic() < end:
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
            out({'committed': committed, 'aborted': aborted, 'fenced': fenced, 'rc': rc, 'rc_eofs': rc_eofs, 'rc_errors': rc_errors,
                 'ru': ru, 'ru_eofs': ru_eofs, 'ru_errors': ru_errors})
            """, TimeSpan.FromSeconds(90));
        output.WriteLine(run.ToString());

        var committed = r.GetProperty("committed").EnumerateArray().Select(e => e.GetString()!).ToList();
        var aborted = r.GetProperty("aborted").EnumerateArray().Select(e => e.GetString()!).ToList();
        var readCommitted = r.GetProperty("rc").EnumerateArray().Select(e => e.GetString()!).ToList();
        var readUncommitted = r.GetProperty("ru").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(2, r.GetProperty("rc_eofs").GetInt32());
        Assert.Equal(0, r.GetProperty("rc_errors").GetArrayLength());
        Assert.True(r.GetProperty("fenced").GetBoolean(), "the first producer was not fenced by the second");
        // Committed records exactly once; nothing aborted (nor the zombie's record).
        Assert.Equal(committed.Order(StringComparer.Ordinal), readCommitted.Order(StringComparer.Ordinal));
        Assert.DoesNotContain("zombie", readCommitted);
        // The aborted records were really written (a read_uncommitted consumer sees them).
        Assert.Equal(2, r.GetProperty("ru_eofs").GetInt32());
        Assert.Subset(readUncommitted.ToHashSet(), aborted.ToHashSet());
    }
}
