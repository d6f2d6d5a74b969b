using Xunit.Abstractions;

namespace Fjord.Clients.Tests;

/// <summary>confluent-kafka-python 1.7.0 (librdkafka 2.0.2): the idempotent producer and an assigned consumer.</summary>
public sealed class ConfluentKafkaTests(FjordNode node, ITestOutputHelper output) : IClassFixture<FjordNode>
{
    [Fact]
    public async Task An_idempotent_producer_writes_thousands_of_records_that_an_assigned_consumer_reads_back_exactly_once_in_order()
    {
        const int count = 4000;
        var (r, run) = await ExternalClient.PythonAsync(node, $$"""
            from confluent_kafka import Producer, Consumer, TopicPartition, KafkaError
            from confluent_kafka.admin import AdminClient, NewTopic
            N = {{count}}
            admin = AdminClient({'bootstrap.servers': B})
            for f in admin.create_topics([NewTopic('idempotent', 1, 1)], operation_timeout=15).values():
                f.result(15)
            producer = Producer({'bootstrap.servers': B, 'enable.idempotence': True, 'linger.ms': 5,
                                 'batch.num.messages': 500, 'max.in.flight.requests.per.connection': 5})
            errors, acked = [], []
            def on_delivery(err, msg):
                if err is not None:
                    errors.append(str(err))
                else:
                    acked.append(msg.offset())
            end = deadline(20)
            for i in range(N):
                while True:
                    try:
                        producer.produce('idempotent', key=b'%d' % i, value=b'value-%d' % i, partition=0, on_delivery=on_delivery)
                        break
                    except BufferError:
                        producer.poll(0.05)
                        if time.monotonic() > end:
                            raise
                producer.poll(0)
            remaining = producer.flush(15)
            consumer = Consumer({'bootstrap.servers': B, 'group.id': 'fjord-clients-tests', 'enable.auto.commit': False,
                                 'enable.partition.eof': True, 'auto.offset.reset': 'error'})
            consumer.assign([TopicPartition('idempotent', 0, 0)])
            got, eof, consume_errors = [], False, []
            end = deadline(20)
            while not eof and time.monotonic() < end:
                for m in consumer.consume(1000, 0.5):
                    if m.error() is not None:
                        if m.error().code() == KafkaError._PARTITION_EOF:
                            eof = len(got) >= N
                        else:
                            consume_errors.append(str(m.error()))
                        continue
                    got.append([m.offset(), m.key().decode(), m.value().decode()])
            consumer.close()
            out({'remaining': remaining, 'errors': errors, 'acked': acked, 'consume_errors': consume_errors, 'eof': eof, 'got': got})
            """, TimeSpan.FromSeconds(28));
        output.WriteLine(run.ToString());

        Assert.Equal(0, r.GetProperty("remaining").GetInt32());
        Assert.Equal(0, r.GetProperty("errors").GetArrayLength());
        Assert.Equal(0, r.GetProperty("consume_errors").GetArrayLength());
        Assert.True(r.GetProperty("eof").GetBoolean());
        // Every delivery report carries a distinct offset: 0 .. N-1 (no duplicates, nothing lost).
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), r.GetProperty("acked").EnumerateArray().Select(e => e.GetInt64()).Order());
        var got = r.GetProperty("got").EnumerateArray().ToList();
        Assert.Equal(count, got.Count);
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(i, got[i][0].GetInt64());
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), got[i][1].GetString());
            Assert.Equal($"value-{i}", got[i][2].GetString());
        }

        // On disk: one producer id and epoch for every batch, sequences contiguous from 0.
        var batches = SegmentBatches.Read(Path.Combine(node.LogDir, "idempotent-0"));
        Assert.NotEmpty(batches);
        var first = batches[0];
        Assert.True(first.ProducerId >= 0, $"producer id {first.ProducerId}");
        int sequence = 0;
        long offset = 0;
        foreach (var b in batches)
        {
            Assert.Equal((first.ProducerId, first.ProducerEpoch), (b.ProducerId, b.ProducerEpoch));
            Assert.Equal(sequence, b.BaseSequence);
            Assert.Equal(offset, b.BaseOffset);
            Assert.Equal(b.RecordCount - 1, b.LastOffsetDelta);
            sequence += b.RecordCount;
            offset += b.RecordCount;
        }
        Assert.Equal(count, sequence);
    }
}
