using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Fjord.Clients.Tests;

/// <summary>kcat (librdkafka 2.0.2) against a real node: metadata, produce/consume with every codec, limits, offsets, ApiVersions.</summary>
public sealed partial class KcatTests(FjordNode node, ITestOutputHelper output) : IClassFixture<FjordNode>
{
    private static readonly string[] Headers = ["h1=x", "trace=abc def=ghi", "empty=", "dup=1", "dup=2"];
    private static readonly string[] HeaderPairs = ["h1", "x", "trace", "abc def=ghi", "empty", "", "dup", "1", "dup", "2"];

    private async Task<ClientRun> Kcat(params string[] args)
    {
        var run = await ExternalClient.KcatAsync(["-b", node.Bootstrap, .. args]);
        output.WriteLine(run.ToString());
        return run;
    }

    private async Task<ClientRun> KcatIn(byte[] stdin, params string[] args)
    {
        var run = await ExternalClient.KcatAsync(stdin, ["-b", node.Bootstrap, .. args]);
        output.WriteLine(run.ToString());
        return run;
    }

    private string Fail(ClientRun run) => $"{run}\n{node.Transcript}";

    /// <summary>Consumes partition 0 of <paramref name="topic"/> from <paramref name="offset"/> to its end (<c>-e</c>) as kcat JSON lines.</summary>
    private async Task<(List<JsonElement> Messages, ClientRun Run)> ConsumeJson(string topic, string offset = "beginning", params string[] extra)
    {
        var run = await Kcat(["-C", "-t", topic, "-p", "0", "-o", offset, "-e", "-u", "-J", .. extra]);
        Assert.True(run.Code == 0, Fail(run));
        return ([.. run.Lines.Select(l => JsonDocument.Parse(l).RootElement.Clone())], run);
    }

    private async Task ProduceLines(string topic, IEnumerable<string> lines, params string[] extra)
    {
        var input = Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n");
        var run = await KcatIn(input, ["-P", "-t", topic, "-p", "0", "-K:", "-X", "topic.request.required.acks=all", .. extra]);
        Assert.True(run.Code == 0, Fail(run));
    }

    /// <summary>kcat's metadata view once it shows <paramref name="topic"/> (bounded: topic creation reaches the broker's metadata asynchronously).</summary>
    private async Task<JsonElement> MetadataWith(string topic)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var run = await Kcat("-L", "-J");
            Assert.True(run.Code == 0, Fail(run));
            var doc = JsonDocument.Parse(run.Lines[^1]).RootElement.Clone();
            if (doc.GetProperty("topics").EnumerateArray().Any(t => t.GetProperty("topic").GetString() == topic)) return doc;
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"topic {topic} never showed in the metadata\n{run}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Metadata_lists_the_broker_the_controller_and_every_partition_with_its_leader()
    {
        // Auto-creation on produce (num.partitions=1), then a second topic the same way.
        await ProduceLines("meta-a", ["k:v"]);
        await ProduceLines("meta-b", ["k:v"]);

        var doc = await MetadataWith("meta-b");
        var broker = Assert.Single(doc.GetProperty("brokers").EnumerateArray());
        Assert.Equal(1, broker.GetProperty("id").GetInt32());
        Assert.Equal(node.Bootstrap, broker.GetProperty("name").GetString());
        Assert.Equal(1, doc.GetProperty("controllerid").GetInt32());
        foreach (var name in new[] { "meta-a", "meta-b" })
        {
            var topic = doc.GetProperty("topics").EnumerateArray().Single(t => t.GetProperty("topic").GetString() == name);
            Assert.False(topic.TryGetProperty("error", out var error), $"{name}: {error}");
            var partition = Assert.Single(topic.GetProperty("partitions").EnumerateArray());
            Assert.Equal(0, partition.GetProperty("partition").GetInt32());
            Assert.Equal(1, partition.GetProperty("leader").GetInt32());
            Assert.Equal([1], partition.GetProperty("replicas").EnumerateArray().Select(r => r.GetProperty("id").GetInt32()));
            Assert.Equal([1], partition.GetProperty("isrs").EnumerateArray().Select(r => r.GetProperty("id").GetInt32()));
        }
        Assert.DoesNotContain(doc.GetProperty("topics").EnumerateArray(), t => t.GetProperty("topic").GetString()!.StartsWith("__", StringComparison.Ordinal));

        // The plain listing, for one topic.
        var text = await Kcat("-L", "-t", "meta-a");
        Assert.True(text.Code == 0, Fail(text));
        Assert.Contains(" 1 brokers:", text.Out);
        Assert.Contains($"  broker 1 at {node.Bootstrap} (controller)", text.Out);
        Assert.Contains("  topic \"meta-a\" with 1 partitions:", text.Out);
        Assert.Contains("    partition 0, leader 1, replicas: 1, isrs: 1", text.Out);
    }

    [Theory]
    [InlineData("none", 0)]
    [InlineData("gzip", 1)]
    [InlineData("snappy", 2)]
    [InlineData("lz4", 3)]
    [InlineData("zstd", 4)]
    public async Task Produce_and_consume_with_keys_and_headers_round_trip_exactly_with_every_codec(string codec, int codecId)
    {
        var topic = $"codec-{codec}";
        const int count = 60;
        // Keyed lines, a null key (no delimiter), an empty key, a value with the delimiter and non-ASCII text,
        // and long repetitive values so every codec really compresses.
        var expected = new List<(string? Key, string Value)>();
        for (int i = 0; i < count; i++)
        {
            expected.Add((i % 10) switch
            {
                3 => (null, $"no key {i}"),
                7 => ("", $"empty key {i}"),
                5 => ($"key-{i}", $"value:with:colons {i} ünïcødé ✓"),
                _ => ($"key-{i}", $"value-{i}-" + new string((char)('a' + i % 26), 200 + i)),
            });
        }
        var lines = expected.Select(e => e.Key is null ? e.Value : $"{e.Key}:{e.Value}");
        await ProduceLines(topic, lines, ["-z", codec, .. Headers.SelectMany(h => new[] { "-H", h })]);

        var (messages, run) = await ConsumeJson(topic);
        Assert.True(messages.Count == count, Fail(run));
        for (int i = 0; i < count; i++)
        {
            var m = messages[i];
            Assert.Equal(i, m.GetProperty("offset").GetInt64());
            Assert.Equal(0, m.GetProperty("partition").GetInt32());
            var key = m.GetProperty("key");
            Assert.Equal(expected[i].Key, key.ValueKind == JsonValueKind.Null ? null : key.GetString());
            Assert.Equal(expected[i].Value, m.GetProperty("payload").GetString());
            Assert.Equal(HeaderPairs, m.GetProperty("headers").EnumerateArray().Select(h => h.GetString()));
        }
        Assert.Contains($"Reached end of topic {topic} [0] at offset {count}", run.Err);

        // What the broker stored: batches in the producer's codec (compression.type=producer), all records.
        // librdkafka sends a batch uncompressed when compressing does not make it smaller (a lone short
        // record), so a batch is in the codec or uncompressed, and the long repetitive values — most of
        // the records — are in the codec.
        var batches = SegmentBatches.Read(Path.Combine(node.LogDir, $"{topic}-0"));
        Assert.NotEmpty(batches);
        Assert.All(batches, b => Assert.Contains(b.Codec, new[] { codecId, 0 }));
        Assert.True(batches.Where(b => b.Codec == codecId).Sum(b => b.RecordCount) >= count / 2,
            $"only {batches.Where(b => b.Codec == codecId).Sum(b => b.RecordCount)} of {count} records stored as {codec}");
        Assert.Equal(count, batches.Sum(b => b.RecordCount));
        Assert.Equal(count - 1, batches[^1].BaseOffset + batches[^1].LastOffsetDelta);
    }

    [Fact]
    public async Task A_message_just_under_the_limit_is_accepted_one_over_it_is_refused_and_the_broker_keeps_serving()
    {
        const string topic = "large";
        // message.max.bytes defaults to 1048588 (the whole batch: 61 header bytes + the record).
        var near = Payload(1_048_400);
        var over = Payload(1_048_600);
        var nearFile = Path.Combine(node.ScratchDir, "near.bin");
        var overFile = Path.Combine(node.ScratchDir, "over.bin");
        File.WriteAllBytes(nearFile, near);
        File.WriteAllBytes(overFile, over);
        string[] producer = ["-P", "-t", topic, "-p", "0", "-X", "message.max.bytes=4000000", "-X", "topic.request.required.acks=all"];

        var accepted = await Kcat([.. producer, nearFile]);
        Assert.True(accepted.Code == 0, Fail(accepted));

        var refused = await Kcat([.. producer, "-X", "debug=protocol", overFile]);
        Assert.True(refused.Code != 0, Fail(refused));
        Assert.Contains("Message size too large", refused.Err);
        // The broker's answer, not a client-side check: the request went out and a response came back.
        Assert.Contains("Received ProduceResponse", refused.Err);
        Assert.True(node.IsRunning, node.Transcript);

        await ProduceLines(topic, ["after:still serving"]);
        var (messages, run) = await ConsumeJson(topic, "beginning", "-X", "fetch.message.max.bytes=4000000");
        Assert.True(messages.Count == 2, Fail(run));
        Assert.Equal(0, messages[0].GetProperty("offset").GetInt64());
        Assert.Equal(Encoding.ASCII.GetString(near), messages[0].GetProperty("payload").GetString());
        Assert.Equal(1, messages[1].GetProperty("offset").GetInt64());
        Assert.Equal("after", messages[1].GetProperty("key").GetString());
        Assert.Equal("still serving", messages[1].GetProperty("payload").GetString());
    }

    private static byte[] Payload(int size)
    {
        var random = new Random(size);
        var bytes = new byte[size];
        for (int i = 0; i < size; i++) bytes[i] = (byte)('a' + random.Next(26));
        return bytes;
    }

    [Fact]
    public async Task Consume_from_absolute_relative_and_symbolic_offsets_and_exit_at_the_end_of_the_partition()
    {
        const string topic = "offsets";
        await ProduceLines(topic, Enumerable.Range(0, 10).Select(i => $"k{i}:v{i}"));

        static long[] Offsets(List<JsonElement> ms) => [.. ms.Select(m => m.GetProperty("offset").GetInt64())];

        var (from3, _) = await ConsumeJson(topic, "3");
        Assert.Equal([3, 4, 5, 6, 7, 8, 9], Offsets(from3));
        Assert.Equal(["v3", "v4", "v5", "v6", "v7", "v8", "v9"], from3.Select(m => m.GetProperty("payload").GetString()));

        var (last4, _) = await ConsumeJson(topic, "-4");
        Assert.Equal([6, 7, 8, 9], Offsets(last4));

        var (all, allRun) = await ConsumeJson(topic, "beginning");
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), Offsets(all));
        Assert.Contains($"Reached end of topic {topic} [0] at offset 10: exiting", allRun.Err);

        var (none, endRun) = await ConsumeJson(topic, "end");
        Assert.Empty(none);
        Assert.Contains($"Reached end of topic {topic} [0] at offset 10: exiting", endRun.Err);

        // -c: a count, no -e.
        var two = await Kcat("-C", "-t", topic, "-p", "0", "-o", "beginning", "-c", "2", "-u", "-f", "%o %k %s\n");
        Assert.True(two.Code == 0, Fail(two));
        Assert.Equal(["0 k0 v0", "1 k1 v1"], two.Lines);

        // By timestamp (s@): from the first record whose timestamp is at or after the 6th record's.
        long ts5 = all[5].GetProperty("ts").GetInt64();
        int firstAtTs5 = all.FindIndex(m => m.GetProperty("ts").GetInt64() >= ts5);
        var (fromTs, _) = await ConsumeJson(topic, $"s@{ts5}");
        Assert.Equal(Enumerable.Range(firstAtTs5, 10 - firstAtTs5).Select(i => (long)i), Offsets(fromTs));
    }

    [GeneratedRegex(@"ApiKey (\w+) \((\d+)\) Versions (\d+)\.\.(\d+)")]
    private static partial Regex ApiKeyLine();

    [GeneratedRegex(@"Sent (\w+)Request \(v(\d+),")]
    private static partial Regex SentLine();

    [Fact]
    public async Task ApiVersions_advertise_ranges_librdkafka_uses_without_fallbacks()
    {
        var produce = await KcatIn(Encoding.UTF8.GetBytes("k1:v1\nk2:v2\n"), "-P", "-t", "apiversions", "-p", "0", "-K:", "-X", "debug=feature,protocol,broker");
        Assert.True(produce.Code == 0, Fail(produce));
        var (messages, consume) = await ConsumeJson("apiversions", "beginning", "-X", "debug=feature,protocol,broker");
        Assert.Equal(2, messages.Count);

        foreach (var run in new[] { produce, consume })
        {
            var advertised = ApiKeyLine().Matches(run.Err).Select(m => (Name: m.Groups[1].Value, Key: int.Parse(m.Groups[2].Value), Min: int.Parse(m.Groups[3].Value), Max: int.Parse(m.Groups[4].Value)))
                .DistinctBy(a => a.Key).ToDictionary(a => a.Key);
            Assert.True(advertised.ContainsKey(0) && advertised.ContainsKey(1) && advertised.ContainsKey(3) && advertised.ContainsKey(18), Fail(run));
            // Produce is listed from v0 (KAFKA-18659: librdkafka < 2.10 compresses only if it sees v0), and
            // FindCoordinator is listed (librdkafka's LZ4 probe); InitProducerId v6 is unstable in Kafka: not listed.
            Assert.Equal(0, advertised[0].Min);
            Assert.True(advertised.ContainsKey(10), "FindCoordinator not advertised");
            Assert.True(advertised[22].Max <= 5, $"InitProducerId advertised up to v{advertised[22].Max}");
            // No fallback: ApiVersions worked, and the protocol features needed for v2 batches, every codec and idempotence are on.
            var features = run.Err.Split('\n').Last(l => l.Contains("Updated enabled protocol features to", StringComparison.Ordinal));
            // (MsgVer1 and ThrottleTime are probed with Produce/Fetch v1-2, which Kafka 4.0 dropped too: not expected.)
            foreach (var f in new[] { "ApiVersion", "MsgVer2", "LZ4", "ZSTD", "OffsetTime", "IdempotentProducer", "BrokerGroupCoordinator" })
                Assert.Contains(f, features.Split(' ').Last().Split(','));
            Assert.DoesNotContain("ApiVersionRequest failed", run.Err);
            Assert.DoesNotContain("not supported by broker", run.Err);
            Assert.DoesNotContain("falling back", run.Err, StringComparison.OrdinalIgnoreCase);
            // Every request kcat sent used a version inside the advertised range.
            var names = new Dictionary<string, int> { ["Produce"] = 0, ["Fetch"] = 1, ["ListOffsets"] = 2, ["Metadata"] = 3, ["ApiVersion"] = 18 };
            foreach (Match m in SentLine().Matches(run.Err))
            {
                if (!names.TryGetValue(m.Groups[1].Value, out int key)) continue;
                int v = int.Parse(m.Groups[2].Value);
                Assert.True(v >= advertised[key].Min && v <= advertised[key].Max, $"{m.Value} outside {advertised[key]}");
            }
        }
        Assert.Matches(@"Sent ProduceRequest \(v([3-9]|1\d),", produce.Err);
        Assert.Matches(@"Sent FetchRequest \(v([4-9]|1\d),", consume.Err);
        Assert.Matches(@"Sent MetadataRequest \(v\d+,", consume.Err);
    }
}
