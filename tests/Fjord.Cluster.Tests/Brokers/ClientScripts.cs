namespace Fjord.Cluster.Tests.Brokers;

/// <summary>The confluent-kafka (librdkafka) client scripts the broker tests run with <see cref="ScriptProcess.Python"/>.</summary>
internal static class ClientScripts
{
    /// <summary>
    /// <c>produce.py BOOTSTRAP TOPIC COUNT PARTITIONS RATE ACKED_FILE</c>: an idempotent producer
    /// (acks=all) sends COUNT records round-robin to explicit partitions, value <c>p&lt;partition&gt;-&lt;seq&gt;</c>
    /// (seq increasing per partition), at RATE records/s (0: unpaced), never more than 10,000 unacknowledged
    /// (so a stall stretches the stream instead of leaving it all in flight). Every delivery callback without
    /// error is written as <c>partition offset value unix-ms</c> to ACKED_FILE. Prints <c>progress …</c> (with the
    /// acknowledgements per partition) every 100 ms, <c>window full …</c> every second while it waits for acknowledgements,
    /// and a final <c>done acked= failed= remaining= fatal= seconds= gaps=</c> line, gaps being the longest
    /// pause between two acknowledgements of each partition (ms) after the first one.
    /// </summary>
    public const string Produce = """
        import sys, time
        from confluent_kafka import Producer
        bootstrap, topic, count, parts, rate, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
        acked = 0; failed = 0; fatal = []; errors = []; acked_by = [0] * parts
        last_ack = {}; gaps = {p: 0.0 for p in range(parts)}
        f = open(out, 'w')
        def cb(err, msg):
            global acked, failed
            if err is not None:
                failed += 1
                errors.append(str(err))
                if err.fatal(): fatal.append(str(err))
                return
            acked += 1
            now = time.time(); p = msg.partition(); acked_by[p] += 1
            if p in last_ack: gaps[p] = max(gaps[p], now - last_ack[p])
            last_ack[p] = now
            f.write('%d %d %s %d\n' % (p, msg.offset(), msg.value().decode(), now * 1000))
        def on_error(e):
            if e.fatal(): fatal.append(str(e))
        p = Producer({'bootstrap.servers': bootstrap, 'enable.idempotence': True, 'acks': 'all',
                      'message.timeout.ms': 120000, 'linger.ms': 5, 'retry.backoff.ms': 50,
                      'topic.metadata.refresh.interval.ms': 1000, 'socket.timeout.ms': 5000,
                      'reconnect.backoff.max.ms': 500, 'error_cb': on_error,
                      # leader changes, metadata answers and idempotence states, on stderr: what the client believed
                      'debug': 'topic,metadata,eos'})
        start = time.time(); last = 0; window = 10000
        for i in range(count):
            part = i % parts
            v = 'p%d-%d' % (part, i // parts)
            while True:
                try:
                    p.produce(topic, v.encode(), partition=part, on_delivery=cb); break
                except BufferError:
                    p.poll(0.01)
            p.poll(0)
            while i + 1 - acked - failed > window and not fatal:
                p.poll(0.01)
                now = time.time()
                if now - last > 1:
                    last = now; print('window full sent=%d acked=%d failed=%d by_partition=%s' % (i + 1, acked, failed, ','.join(map(str, acked_by))), flush=True)
            if rate > 0:
                ahead = (i + 1) / rate - (time.time() - start)
                if ahead > 0: p.poll(ahead)
            now = time.time()
            if now - last > 0.1:
                last = now; print('progress sent=%d acked=%d failed=%d by_partition=%s' % (i + 1, acked, failed, ','.join(map(str, acked_by))), flush=True)
            if fatal: break
        remaining = p.flush(150)
        f.close()
        print('done acked=%d failed=%d remaining=%d fatal=%d seconds=%.1f gaps=%s errors=%s' % (acked, failed, remaining, len(fatal),
              time.time() - start, ','.join('p%d:%d' % (k, v * 1000) for k, v in sorted(gaps.items())),
              '|'.join(sorted(set(fatal + errors)))[:500].replace(' ', '_')), flush=True)
        """;

    /// <summary>
    /// <c>consume.py BOOTSTRAP TOPIC PARTITIONS OUT_FILE</c>: reads every partition from offset 0 up
    /// to its high watermark at the start (assigned, no group offsets) and writes
    /// <c>partition offset value</c> lines; prints <c>consumed=N complete=True|False ends=…</c>.
    /// </summary>
    public const string Consume = """
        import sys, time
        from confluent_kafka import Consumer, TopicPartition
        bootstrap, topic, parts, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
        c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'verify', 'enable.auto.commit': False,
                      'auto.offset.reset': 'earliest', 'enable.partition.eof': True})
        ends = {}
        for part in range(parts):
            for attempt in range(20):
                try:
                    ends[part] = c.get_watermark_offsets(TopicPartition(topic, part), timeout=5)[1]; break
                except Exception as e:
                    print('watermarks of %d: %s' % (part, e), flush=True); time.sleep(0.5)
        c.assign([TopicPartition(topic, part, 0) for part in range(parts)])
        done = {part for part in range(parts) if ends.get(part) == 0}
        f = open(out, 'w'); n = 0; deadline = time.time() + 60
        while len(done) < parts and time.time() < deadline:
            m = c.poll(1.0)
            if m is None: continue
            if m.error():
                if m.error().code() != -191: print('error %s' % m.error(), flush=True)
                continue
            f.write('%d %d %s\n' % (m.partition(), m.offset(), m.value().decode())); n += 1
            if m.offset() + 1 >= ends[m.partition()]: done.add(m.partition())
        f.close(); c.close()
        print('consumed=%d complete=%s ends=%s' % (n, len(done) == parts, ','.join('%d:%d' % kv for kv in sorted(ends.items()))), flush=True)
        """;

    /// <summary>Writes both scripts into <paramref name="dir"/>; returns (produce, consume) paths.</summary>
    public static (string Produce, string Consume) WriteTo(string dir)
    {
        var produce = Path.Combine(dir, "produce.py");
        var consume = Path.Combine(dir, "consume.py");
        File.WriteAllText(produce, Produce);
        File.WriteAllText(consume, Consume);
        return (produce, consume);
    }
}
