using System.Text.Json;
using Xunit.Abstractions;

namespace Fjord.Clients.Tests;

/// <summary>
/// kafka-python 2.0.2 (Debian's <c>python3-kafka</c>) against a real node: the admin client, producers
/// with every acks setting, a consumer by partition, offset lookups, and its view of ApiVersions.
/// kafka-python 2.0.2 has no <c>delete_records</c>, so DeleteRecords is not exercised here.
/// </summary>
public sealed class KafkaPythonTests(FjordNode node, ITestOutputHelper output) : IClassFixture<FjordNode>
{
    private async Task<JsonElement> Python(string script)
    {
        var (result, run) = await ExternalClient.PythonAsync(node, Imports + script);
        output.WriteLine(run.ToString());
        return result;
    }

    private const string Imports = """
        from kafka import KafkaAdminClient, KafkaProducer, KafkaConsumer, TopicPartition
        from kafka.admin import NewTopic, NewPartitions, ConfigResource, ConfigResourceType
        from kafka.errors import KafkaError
        admin = KafkaAdminClient(bootstrap_servers=B, request_timeout_ms=15000)
        def error_of(call):
            try:
                call()
                return None
            except KafkaError as e:
                return {'name': type(e).__name__, 'errno': e.errno}
        def wait_partitions(topic, count):
            # Topic changes reach the broker's metadata asynchronously: poll, bounded.
            end = deadline(15)
            while time.monotonic() < end:
                meta = admin.describe_topics([topic])[0]
                if meta['error_code'] == 0 and len(meta['partitions']) == count:
                    return meta
                time.sleep(0.05)
            raise Exception('topic %s never had %d partitions: %s' % (topic, count, meta))

        """;

    [Fact]
    public async Task Admin_creates_topics_with_configs_and_reports_each_invalid_request_with_its_error()
    {
        var r = await Python("""
            res = {}
            resp = admin.create_topics([NewTopic('kp-created', 4, 1, topic_configs={'retention.ms': '123456', 'cleanup.policy': 'compact'})])
            res['created'] = [[t[0], t[1]] for t in resp.topic_errors]
            meta = wait_partitions('kp-created', 4)
            res['partitions'] = sorted([[p['partition'], p['leader'], p['replicas'], p['isr']] for p in meta['partitions']])
            res['existing'] = error_of(lambda: admin.create_topics([NewTopic('kp-created', 1, 1)]))
            res['bad_rf'] = error_of(lambda: admin.create_topics([NewTopic('kp-bad-rf', 1, 3)]))
            res['bad_name'] = error_of(lambda: admin.create_topics([NewTopic('bad name!', 1, 1)]))
            res['dot_name'] = error_of(lambda: admin.create_topics([NewTopic('..', 1, 1)]))
            res['long_name'] = error_of(lambda: admin.create_topics([NewTopic('x' * 250, 1, 1)]))
            res['bad_partitions'] = error_of(lambda: admin.create_topics([NewTopic('kp-zero', 0, 1)]))
            res['bad_config'] = error_of(lambda: admin.create_topics([NewTopic('kp-bad-config', 1, 1, topic_configs={'retention.ms': 'soon'})]))
            res['unknown_config'] = error_of(lambda: admin.create_topics([NewTopic('kp-unknown-config', 1, 1, topic_configs={'no.such.config': '1'})]))
            res['validate_only'] = error_of(lambda: admin.create_topics([NewTopic('kp-validated', 2, 1)], validate_only=True))
            tried = ['kp-created', 'kp-bad-rf', 'bad name!', '..', 'x' * 250, 'kp-zero', 'kp-bad-config', 'kp-unknown-config', 'kp-validated']
            res['topics'] = sorted(t for t in admin.list_topics() if t in tried)
            out(res)
            """);
        Assert.Equal("[[\"kp-created\",0]]", r.GetProperty("created").GetRawText());
        Assert.Equal("[[0,1,[1],[1]],[1,1,[1],[1]],[2,1,[1],[1]],[3,1,[1],[1]]]", r.GetProperty("partitions").GetRawText());
        AssertError(r, "existing", "TopicAlreadyExistsError", 36);
        AssertError(r, "bad_rf", "InvalidReplicationFactorError", 38);
        AssertError(r, "bad_name", "InvalidTopicError", 17);
        AssertError(r, "dot_name", "InvalidTopicError", 17);
        AssertError(r, "long_name", "InvalidTopicError", 17);
        AssertError(r, "bad_partitions", "InvalidPartitionsError", 37);
        AssertError(r, "bad_config", "InvalidConfigurationError", 40);
        AssertError(r, "unknown_config", "InvalidConfigurationError", 40);
        Assert.Equal(JsonValueKind.Null, r.GetProperty("validate_only").ValueKind);
        // Only the valid, not validate-only topic exists.
        Assert.Equal("[\"kp-created\"]", r.GetProperty("topics").GetRawText());
    }

    private static void AssertError(JsonElement result, string name, string error, int code)
    {
        var e = result.GetProperty(name);
        Assert.True(e.ValueKind == JsonValueKind.Object, $"{name}: expected {error}, got {e}");
        Assert.Equal((error, code), (e.GetProperty("name").GetString(), e.GetProperty("errno").GetInt32()));
    }

    [Fact]
    public async Task Describe_configs_shows_a_topic_override_as_dynamic_and_the_rest_as_defaults_or_static()
    {
        var r = await Python("""
            admin.create_topics([NewTopic('kp-configs', 1, 1, topic_configs={'retention.ms': '7654321', 'max.message.bytes': '2000000'})])
            wait_partitions('kp-configs', 1)
            resp = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'kp-configs')])[0]
            res = resp.resources[0]
            out({'error': res[0], 'entries': {e[0]: {'value': e[1], 'read_only': e[2], 'source': e[3], 'sensitive': e[4]} for e in res[4]}})
            """);
        Assert.Equal(0, r.GetProperty("error").GetInt32());
        var entries = r.GetProperty("entries");
        void Expect(string name, string value, int source)
        {
            Assert.True(entries.TryGetProperty(name, out var e), $"{name} missing from {entries}");
            Assert.Equal((value, source), (e.GetProperty("value").GetString()!, e.GetProperty("source").GetInt32()));
            Assert.False(e.GetProperty("sensitive").GetBoolean());
        }
        // ConfigSource: 1 DYNAMIC_TOPIC_CONFIG, 4 STATIC_BROKER_CONFIG (set in the node's properties file), 5 DEFAULT_CONFIG.
        Expect("retention.ms", "7654321", 1);
        Expect("max.message.bytes", "2000000", 1);
        Expect("cleanup.policy", "delete", 5);
        Expect("segment.bytes", "1073741824", 5);
        Expect("min.insync.replicas", "1", 4);
    }

    [Fact]
    public async Task Create_partitions_grows_a_topic_that_then_takes_records_on_the_new_partitions_and_delete_removes_it()
    {
        var r = await Python("""
            res = {}
            admin.create_topics([NewTopic('kp-grow', 2, 1)])
            wait_partitions('kp-grow', 2)
            resp = admin.create_partitions({'kp-grow': NewPartitions(5)})
            res['grow'] = [[t[0], t[1]] for t in resp.topic_errors]
            wait_partitions('kp-grow', 5)
            res['shrink'] = error_of(lambda: admin.create_partitions({'kp-grow': NewPartitions(3)}))
            res['unknown'] = error_of(lambda: admin.create_partitions({'kp-no-such': NewPartitions(3)}))
            producer = KafkaProducer(bootstrap_servers=B, acks='all')
            res['offsets'] = [producer.send('kp-grow', value=b'p%d' % p, partition=p).get(15).offset for p in range(5)]
            producer.close()
            resp = admin.delete_topics(['kp-grow'])
            res['delete'] = [[t[0], t[1]] for t in resp.topic_error_codes]
            end = deadline(15)
            while 'kp-grow' in admin.list_topics() and time.monotonic() < end:
                time.sleep(0.05)
            res['after_delete'] = 'kp-grow' in admin.list_topics()
            res['delete_again'] = error_of(lambda: admin.delete_topics(['kp-grow']))
            out(res)
            """);
        Assert.Equal("[[\"kp-grow\",0]]", r.GetProperty("grow").GetRawText());
        AssertError(r, "shrink", "InvalidPartitionsError", 37);
        AssertError(r, "unknown", "UnknownTopicOrPartitionError", 3);
        Assert.Equal("[0,0,0,0,0]", r.GetProperty("offsets").GetRawText());
        Assert.Equal("[[\"kp-grow\",0]]", r.GetProperty("delete").GetRawText());
        Assert.False(r.GetProperty("after_delete").GetBoolean());
        AssertError(r, "delete_again", "UnknownTopicOrPartitionError", 3);
    }

    [Fact]
    public async Task Producers_with_acks_0_1_and_all_deliver_every_record_with_keys_headers_and_timestamps()
    {
        var r = await Python("""
            admin.create_topics([NewTopic('kp-acks', 1, 1)])
            wait_partitions('kp-acks', 1)
            base_ts = int(time.time() * 1000) - 60000
            res = {'base_ts': base_ts, 'acks': {}}
            n = 0
            for acks in [0, 1, 'all']:
                producer = KafkaProducer(bootstrap_servers=B, acks=acks, linger_ms=5)
                futures = []
                for i in range(20):
                    futures.append(producer.send('kp-acks', key=b'k%d' % n, value=b'v%d-%s' % (n, str(acks).encode()), partition=0,
                                                 timestamp_ms=base_ts + n, headers=[('n', b'%d' % n), ('acks', str(acks).encode())]))
                    n += 1
                producer.flush(15)
                res['acks'][str(acks)] = [f.get(15).offset for f in futures]
                producer.close()
            consumer = KafkaConsumer(bootstrap_servers=B, enable_auto_commit=False)
            tp = TopicPartition('kp-acks', 0)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            got = []
            end = deadline(15)
            while len(got) < n and time.monotonic() < end:
                for rec in consumer.poll(500).get(tp, []):
                    got.append([rec.offset, rec.key.decode(), rec.value.decode(), rec.timestamp, [[h[0], h[1].decode()] for h in rec.headers]])
            res['got'] = got
            out(res)
            """);
        var acks = r.GetProperty("acks");
        // acks=0: no response, so no offset (-1); acks=1 and all: the assigned offsets.
        Assert.Equal(Enumerable.Repeat(-1L, 20), acks.GetProperty("0").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(Enumerable.Range(20, 20).Select(i => (long)i), acks.GetProperty("1").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(Enumerable.Range(40, 20).Select(i => (long)i), acks.GetProperty("all").EnumerateArray().Select(e => e.GetInt64()));
        long baseTs = r.GetProperty("base_ts").GetInt64();
        var got = r.GetProperty("got").EnumerateArray().ToList();
        Assert.Equal(60, got.Count);
        for (int i = 0; i < 60; i++)
        {
            string ackName = i < 20 ? "0" : i < 40 ? "1" : "all";
            var g = got[i];
            Assert.Equal(i, g[0].GetInt64());
            Assert.Equal($"k{i}", g[1].GetString());
            Assert.Equal($"v{i}-{ackName}", g[2].GetString());
            Assert.Equal(baseTs + i, g[3].GetInt64());
            Assert.Equal($"[[\"n\",\"{i}\"],[\"acks\",\"{ackName}\"]]", g[4].GetRawText());
        }
    }

    [Fact]
    public async Task A_consumer_by_partition_seeks_and_looks_offsets_up_by_time()
    {
        var r = await Python("""
            admin.create_topics([NewTopic('kp-seek', 2, 1)])
            wait_partitions('kp-seek', 2)
            base_ts = int(time.time() * 1000) - 100000
            producer = KafkaProducer(bootstrap_servers=B, acks='all')
            for i in range(10):
                producer.send('kp-seek', key=b'k%d' % i, value=b'v%d' % i, partition=0, timestamp_ms=base_ts + i * 1000)
            producer.flush(15)
            producer.close()
            consumer = KafkaConsumer(bootstrap_servers=B, enable_auto_commit=False)
            tp0, tp1 = TopicPartition('kp-seek', 0), TopicPartition('kp-seek', 1)
            consumer.assign([tp0, tp1])
            res = {}
            res['beginning'] = [consumer.beginning_offsets([tp0, tp1])[tp] for tp in (tp0, tp1)]
            res['end'] = [consumer.end_offsets([tp0, tp1])[tp] for tp in (tp0, tp1)]
            consumer.seek_to_end(tp0)
            res['pos_end'] = consumer.position(tp0)
            consumer.seek_to_beginning(tp0)
            res['pos_beginning'] = consumer.position(tp0)
            consumer.seek(tp0, 6)
            res['pos_seek'] = consumer.position(tp0)
            consumer.pause(tp1)
            got = []
            end = deadline(15)
            while len(got) < 4 and time.monotonic() < end:
                for rec in consumer.poll(500).get(tp0, []):
                    got.append([rec.offset, rec.value.decode()])
            res['from_seek'] = got
            res['pos_after'] = consumer.position(tp0)
            def lookup(ts):
                found = consumer.offsets_for_times({tp0: ts})[tp0]
                return None if found is None else [found.offset, found.timestamp - base_ts]
            res['times'] = [lookup(base_ts - 5000), lookup(base_ts), lookup(base_ts + 3500), lookup(base_ts + 9000), lookup(base_ts + 9001)]
            res['empty_partition_time'] = consumer.offsets_for_times({tp1: base_ts})[tp1]
            out(res)
            """);
        Assert.Equal("[0,0]", r.GetProperty("beginning").GetRawText());
        Assert.Equal("[10,0]", r.GetProperty("end").GetRawText());
        Assert.Equal(10, r.GetProperty("pos_end").GetInt64());
        Assert.Equal(0, r.GetProperty("pos_beginning").GetInt64());
        Assert.Equal(6, r.GetProperty("pos_seek").GetInt64());
        Assert.Equal("[[6,\"v6\"],[7,\"v7\"],[8,\"v8\"],[9,\"v9\"]]", r.GetProperty("from_seek").GetRawText());
        Assert.Equal(10, r.GetProperty("pos_after").GetInt64());
        // The first record with timestamp >= the target; none past the last one.
        Assert.Equal("[[0,0],[0,0],[4,4000],[9,9000],null]", r.GetProperty("times").GetRawText());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("empty_partition_time").ValueKind);
    }

    [Fact]
    public async Task Check_version_infers_the_newest_broker_it_knows_and_the_ranges_cover_the_versions_it_sends_and_an_old_produce_is_refused()
    {
        var r = await Python("""
            client = admin._client
            node_id = client.least_loaded_node()
            version = client.check_version(node_id)
            conn = client._conns[node_id]
            # A client pinned to 0.10 sends Produce v2 (message format 1), listed but not served: refused, not dropped.
            admin.create_topics([NewTopic('kp-old-client', 1, 1)])
            wait_partitions('kp-old-client', 1)
            old = KafkaProducer(bootstrap_servers=B, api_version=(0, 10, 0), acks=1, retries=0)
            refused = error_of(lambda: old.send('kp-old-client', value=b'v', partition=0).get(15))
            old.close()
            out({'version': list(version), 'api_versions': {str(k): list(v) for k, v in conn.get_api_versions().items()}, 'refused': refused})
            """);
        // (2, 5, 0) is the newest kafka-python 2.0.2 can infer: it needs DescribeAcls v2, Produce v8, Fetch v11, ListOffsets v5 ...
        Assert.Equal("[2,5,0]", r.GetProperty("version").GetRawText());
        AssertError(r, "refused", "UnsupportedVersionError", 35);
        var versions = r.GetProperty("api_versions");
        // ... and from that version it sends Produce v7, Fetch v4, ListOffsets v1, Metadata v1, CreateTopics v3,
        // DeleteTopics v3, CreatePartitions v1, DescribeConfigs v2 (what the tests above exercise) with no negotiation.
        foreach (var (key, used) in new[] { (0, 7), (1, 4), (2, 1), (3, 1), (18, 0), (19, 3), (20, 3), (32, 2), (37, 1) })
        {
            Assert.True(versions.TryGetProperty(key.ToString(System.Globalization.CultureInfo.InvariantCulture), out var range), $"api key {key} not advertised: {versions}");
            int min = range[0].GetInt32(), max = range[1].GetInt32();
            Assert.True(min <= used && used <= max, $"api key {key}: kafka-python sends v{used}, the broker advertises {min}..{max}");
        }
    }
}
