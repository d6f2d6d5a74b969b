using System.Text;
using Fjord.Protocol.Compression;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Protocol.Tests.Golden;

/// <summary>
/// Request frames captured from real clients (kcat / librdkafka 2.0.2 and kafka-python 2.0.2, by
/// Golden/capture.sh against tools/Fjord.Capture). Each .bin is one frame without its size prefix.
/// Our codec must decode every one and re-encode it byte for byte; the decoded fields must hold what
/// the script made the clients send; Produce vectors must carry valid, decompressible record batches
/// with exactly the records the script produced.
/// </summary>
public sealed class GoldenVectorTests
{
    public static readonly string[] Clients = ["kcat", "kafka-python"];
    private const string Topic = "golden";
    private const string Group = "somegroup";

    internal static string GoldenDirectory => Path.Combine(AppContext.BaseDirectory, "Golden");

    /// <summary>Every vector, as "client/file.bin".</summary>
    private static IEnumerable<string> VectorNames() =>
        from client in Clients
        let dir = Path.Combine(GoldenDirectory, client)
        where Directory.Exists(dir)
        from file in Directory.GetFiles(dir, "*.bin").Order(StringComparer.Ordinal)
        select $"{client}/{Path.GetFileName(file)}";

    public static TheoryData<string> Vectors() => new(VectorNames());

    public static TheoryData<string> ProduceVectors() =>
        new(VectorNames().Where(v => Path.GetFileName(v).StartsWith("Produce-", StringComparison.Ordinal)));

    internal static byte[] Load(string vector) => File.ReadAllBytes(Path.Combine(GoldenDirectory, vector));

    private static IEnumerable<(string File, DecodedRequest Request)> DecodedVectorsOf(string client) =>
        Directory.GetFiles(Path.Combine(GoldenDirectory, client), "*.bin").Order(StringComparer.Ordinal)
            .Select(f => (Path.GetFileName(f), Frames.DecodeRequest(File.ReadAllBytes(f))));

    // ---------------------------------------------------------------------------------------------
    // Byte-identical round trip

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Decodes_and_re_encodes_byte_identically(string vector)
    {
        var frame = Load(vector);
        var request = Frames.DecodeRequest(frame);

        // The file name says what the frame is: <Api>-v<version>[-variant].bin.
        Assert.StartsWith($"{request.Api.Name}-v{request.ApiVersion}", Path.GetFileName(vector), StringComparison.Ordinal);

        var encoded = Frames.EncodeRequest(request.Header, request.Body);
        Assert.Equal(frame.Length, encoded.Length - Frames.SizePrefixBytes);
        Assert.Equal(frame.Length, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(encoded));
        var reencoded = encoded.AsSpan(Frames.SizePrefixBytes);
        int same = frame.AsSpan().CommonPrefixLength(reencoded);
        Assert.True(same == frame.Length,
            $"{vector}: re-encoding differs from byte {same}: expected {Hex(frame, same)}, got {Hex(reencoded, same)}");

        // Header and body also re-encode separately to the same size the decoder consumed.
        Assert.Equal(frame.Length, request.Header.ComputeSize(request.HeaderVersion) + request.Body.ComputeSize(request.ApiVersion));
    }

    private static string Hex(ReadOnlySpan<byte> bytes, int at) =>
        Convert.ToHexString(bytes.Slice(at, Math.Min(16, bytes.Length - at))).ToLowerInvariant();

    // ---------------------------------------------------------------------------------------------
    // Coverage: the set must hold the required APIs for both clients

    public static TheoryData<string, string> RequiredApis()
    {
        var data = new TheoryData<string, string>();
        foreach (var api in new[] { "ApiVersions", "Metadata", "Produce", "Fetch", "ListOffsets", "FindCoordinator",
                                    "JoinGroup", "SyncGroup", "Heartbeat", "OffsetCommit", "LeaveGroup" })
            foreach (var client in Clients) data.Add(client, api);
        data.Add("kcat", "InitProducerId");            // kcat -X enable.idempotence=true
        data.Add("kafka-python", "CreateTopics");      // kcat cannot create topics
        data.Add("kafka-python", "OffsetFetch");       // kcat -G -o beginning does not fetch offsets
        return data;
    }

    [Theory]
    [MemberData(nameof(RequiredApis))]
    public void The_set_holds_a_vector_of_every_required_api(string client, string api)
    {
        Assert.True(Directory.Exists(Path.Combine(GoldenDirectory, client)), $"Golden/{client}/ is missing; run Golden/capture.sh");
        var apis = DecodedVectorsOf(client).Select(v => v.Request.Api.Name).ToHashSet();
        Assert.True(apis.Contains(api), $"no {api} vector from {client} (have: {string.Join(", ", apis.Order())}); run Golden/capture.sh");
    }

    [Theory]
    [InlineData("kcat", CompressionType.None)]
    [InlineData("kcat", CompressionType.Gzip)]
    [InlineData("kcat", CompressionType.Snappy)]
    [InlineData("kcat", CompressionType.Lz4)]
    [InlineData("kcat", CompressionType.Zstd)]
    [InlineData("kafka-python", CompressionType.None)]
    [InlineData("kafka-python", CompressionType.Gzip)]
    [InlineData("kafka-python", CompressionType.Snappy)]
    [InlineData("kafka-python", CompressionType.Lz4)]
    [InlineData("kafka-python", CompressionType.Zstd)]
    public void The_set_holds_a_produce_vector_of_every_codec(string client, CompressionType codec)
    {
        // The codec is read from the batches themselves, not trusted from the file name.
        var codecs = DecodedVectorsOf(client)
            .Where(v => v.Request.Body is ProduceRequest)
            .SelectMany(v => BatchesOf((ProduceRequest)v.Request.Body))
            .Select(b => b.Compression)
            .ToHashSet();
        Assert.Contains(codec, codecs);
    }

    // ---------------------------------------------------------------------------------------------
    // What the clients sent (capture.sh): the decoded fields must make sense, not just round-trip

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Decoded_fields_hold_what_the_client_sent(string vector)
    {
        string client = vector[..vector.IndexOf('/')];
        var request = Frames.DecodeRequest(Load(vector));
        var header = request.Header;
        Assert.True(header.CorrelationId > 0, "correlation ids start at 1 for both clients");
        string[] clientIds = client == "kcat" ? ["rdkafka", "fjord-golden"] : ["fjord-golden"];
        Assert.Contains(header.ClientId, clientIds);

        switch (request.Body)
        {
            case ApiVersionsRequest r when request.ApiVersion >= 3:
                Assert.Equal("librdkafka", r.ClientSoftwareName);
                Assert.Equal("2.0.2", r.ClientSoftwareVersion);
                break;
            case MetadataRequest r:
                if (vector.EndsWith("-all.bin", StringComparison.Ordinal))
                    Assert.True(r.Topics is null || (request.ApiVersion == 0 && r.Topics.Count == 0));
                else if (vector.EndsWith("-none.bin", StringComparison.Ordinal))
                    Assert.Empty(r.Topics!);
                else
                    Assert.Equal(Topic, Assert.Single(r.Topics!).Name);
                break;
            case ProduceRequest r:
                Assert.Null(r.TransactionalId);
                Assert.Equal(client == "kcat" ? (short)-1 : (short)1, r.Acks);
                Assert.Equal(30000, r.TimeoutMs);
                var topic = Assert.Single(r.TopicData);
                Assert.Equal(Topic, topic.Name);
                Assert.Equal(0, Assert.Single(topic.PartitionData).Index);
                break;
            case FetchRequest r:
                Assert.Equal(-1, r.ReplicaId);
                Assert.Equal(500, r.MaxWaitMs);
                var fetchTopic = Assert.Single(r.Topics);
                Assert.Equal(Topic, fetchTopic.Topic);
                var fetchPartition = Assert.Single(fetchTopic.Partitions);
                Assert.Equal(0, fetchPartition.Partition);
                Assert.Equal(0, fetchPartition.FetchOffset);
                Assert.Equal(1048576, fetchPartition.PartitionMaxBytes);
                break;
            case ListOffsetsRequest r:
                Assert.Equal(-1, r.ReplicaId);
                var listTopic = Assert.Single(r.Topics);
                Assert.Equal(Topic, listTopic.Name);
                Assert.Equal(-2, Assert.Single(listTopic.Partitions).Timestamp); // earliest: -o beginning / auto_offset_reset=earliest
                break;
            case FindCoordinatorRequest r:
                Assert.Equal(Group, r.Key);
                Assert.Equal(0, r.KeyType);
                break;
            case JoinGroupRequest r:
                Assert.Equal(Group, r.GroupId);
                Assert.Equal("consumer", r.ProtocolType);
                Assert.Equal(new[] { "range", "roundrobin" }, r.Protocols.Select(p => p.Name));
                Assert.Equal(vector.EndsWith("-new.bin", StringComparison.Ordinal), r.MemberId.Length == 0);
                foreach (var protocol in r.Protocols)
                    Assert.Contains(Topic, Encoding.UTF8.GetString(protocol.Metadata)); // the subscription names the topic
                break;
            case SyncGroupRequest r:
                Assert.Equal(Group, r.GroupId);
                Assert.Equal(r.MemberId, Assert.Single(r.Assignments).MemberId); // the leader assigns itself
                break;
            case HeartbeatRequest r:
                Assert.Equal(Group, r.GroupId);
                Assert.StartsWith("member-", r.MemberId, StringComparison.Ordinal); // the capture broker's member ids
                break;
            case OffsetCommitRequest r:
                Assert.Equal(Group, r.GroupId);
                var commitTopic = Assert.Single(r.Topics);
                Assert.Equal(Topic, commitTopic.Name);
                Assert.Equal(1, Assert.Single(commitTopic.Partitions).CommittedOffset); // after the one fetched record
                break;
            case OffsetFetchRequest r:
                Assert.Equal(Group, r.GroupId);
                Assert.Equal(Topic, Assert.Single(r.Topics!).Name);
                break;
            case LeaveGroupRequest r:
                Assert.Equal(Group, r.GroupId);
                Assert.StartsWith("member-", r.MemberId, StringComparison.Ordinal);
                break;
            case CreateTopicsRequest r:
                var created = Assert.Single(r.Topics);
                Assert.Equal("golden-created", created.Name);
                Assert.Equal(3, created.NumPartitions);
                Assert.Equal(1, created.ReplicationFactor);
                Assert.Empty(created.Assignments);
                var config = Assert.Single(created.Configs);
                Assert.Equal("retention.ms", config.Name);
                Assert.Equal("60000", config.Value);
                Assert.Equal(5000, r.TimeoutMs);
                Assert.False(r.ValidateOnly);
                break;
            case InitProducerIdRequest r:
                Assert.Null(r.TransactionalId);
                Assert.Equal(-1L, r.ProducerId);
                break;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Produce: the records field holds valid batches with exactly the records capture.sh sent

    /// <summary>What every producer in capture.sh sends: three records, each with two headers.</summary>
    internal static readonly (string Key, string Value, (string, string)[] Headers)[] ExpectedRecords =
        [.. Enumerable.Range(1, 3).Select(i => ($"key-{i}", $"value-{i} " + string.Concat(Enumerable.Repeat("fjord-golden-", 10)),
                                               new[] { ("hdr-a", "A"), ("hdr-b", "B") }))];

    private static CompressionType ExpectedCodec(string vector)
    {
        string variant = Path.GetFileNameWithoutExtension(vector);
        variant = variant[(variant.LastIndexOf('-') + 1)..];
        return variant switch
        {
            "none" or "idempotent" => CompressionType.None,
            "gzip" => CompressionType.Gzip,
            "snappy" => CompressionType.Snappy,
            "lz4" => CompressionType.Lz4,
            "zstd" => CompressionType.Zstd,
            _ => throw new InvalidOperationException($"unknown produce variant in {vector}"),
        };
    }

    internal static List<RecordBatch> BatchesOf(ProduceRequest request)
    {
        var batches = new List<RecordBatch>();
        foreach (var topic in request.TopicData)
            foreach (var partition in topic.PartitionData)
            {
                Assert.True(partition.Records.HasValue, "a produce partition without records");
                foreach (var batch in new RecordBatchReader(partition.Records.Value))
                    batches.Add(batch);
            }
        return batches;
    }

    [Theory]
    [MemberData(nameof(ProduceVectors))]
    public void Produce_records_are_valid_batches_holding_what_the_client_sent(string vector)
    {
        var request = Frames.DecodeRequest(Load(vector));
        var produce = Assert.IsType<ProduceRequest>(request.Body);
        var batches = BatchesOf(produce);
        Assert.NotEmpty(batches);
        AssertRecords(batches, ExpectedCodec(vector), ExpectedRecords);

        if (vector.EndsWith("-idempotent.bin", StringComparison.Ordinal))
        {
            var batch = Assert.Single(batches);
            Assert.Equal(4242L, batch.ProducerId); // what tools/Fjord.Capture's InitProducerId answered
            Assert.Equal(0, batch.ProducerEpoch);
            Assert.Equal(0, batch.BaseSequence);
        }
        else
        {
            Assert.All(batches, b => Assert.Equal(-1L, b.ProducerId));
        }
    }

    internal static void AssertRecords(IReadOnlyList<RecordBatch> batches, CompressionType codec,
        IReadOnlyList<(string Key, string Value, (string, string)[] Headers)> expected)
    {
        var actual = new List<(string Key, string Value, (string, string)[] Headers)>();
        foreach (var batch in batches)
        {
            batch.Validate(); // length, magic 2, CRC32C, known codec
            Assert.Equal(2, batch.Magic);
            Assert.Equal(codec, batch.Compression);
            Assert.Equal(TimestampType.CreateTime, batch.TimestampType);
            Assert.False(batch.IsTransactional);
            Assert.False(batch.IsControl);
            using var records = batch.OpenRecords(maxDecompressedBytes: 1 << 20);
            Assert.Equal(codec != CompressionType.None, records.IsDecompressed);
            int count = 0;
            foreach (var record in records)
            {
                Assert.Equal(count, record.OffsetDelta);
                Assert.True(record.HasKey && record.HasValue);
                var headers = new List<(string, string)>();
                foreach (var header in record.Headers)
                {
                    Assert.True(header.HasValue);
                    headers.Add((header.KeyString, Encoding.UTF8.GetString(header.Value.Span)));
                }
                actual.Add((Encoding.UTF8.GetString(record.KeySpan), Encoding.UTF8.GetString(record.ValueSpan), headers.ToArray()));
                count++;
            }
            Assert.Equal(batch.RecordCount, count);
            Assert.Equal(batch.LastOffsetDelta, count - 1);
        }
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Key, actual[i].Key);
            Assert.Equal(expected[i].Value, actual[i].Value);
            Assert.Equal(expected[i].Headers, actual[i].Headers);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The checks above must be able to fail

    [Fact]
    public void A_changed_client_id_byte_is_decoded_and_re_encoded_as_changed()
    {
        var original = Load("kcat/Metadata-v4-all.bin");
        var decoded = Frames.DecodeRequest(original);
        Assert.Equal("rdkafka", decoded.Header.ClientId);

        // The client id is a classic string right after apiKey, apiVersion and correlationId: int16 length at 8, bytes at 10.
        var mutated = (byte[])original.Clone();
        mutated[10] ^= 0x20; // 'r' -> 'R'
        var request = Frames.DecodeRequest(mutated);
        Assert.Equal("Rdkafka", request.Header.ClientId);
        var reencoded = Frames.EncodeRequest(request.Header, request.Body).AsSpan(Frames.SizePrefixBytes);
        Assert.False(reencoded.SequenceEqual(original), "a changed client id must not re-encode to the original frame");
        Assert.True(reencoded.SequenceEqual(mutated));
    }

    [Fact]
    public void A_client_id_length_that_overruns_the_frame_is_refused()
    {
        var mutated = Load("kafka-python/ApiVersions-v0.bin");
        mutated[9] = 0x7F; // client id length 127: longer than the frame
        var e = Assert.Throws<ProtocolDecodeException>(() => Frames.DecodeRequest(mutated));
        Assert.Contains("ClientId", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_client_id_length_that_shifts_the_body_is_noticed()
    {
        // One byte shorter: the last client id byte is taken for the body, which then no longer parses
        // or ends early, or re-encodes differently — it must never pass as the original.
        var original = Load("kcat/Produce-v7-gzip.bin");
        var mutated = (byte[])original.Clone();
        mutated[9]--;
        try
        {
            var request = Frames.DecodeRequest(mutated);
            var reencoded = Frames.EncodeRequest(request.Header, request.Body).AsSpan(Frames.SizePrefixBytes);
            Assert.NotEqual("fjord-golden", request.Header.ClientId);
            Assert.False(reencoded.SequenceEqual(original));
        }
        catch (ProtocolDecodeException)
        {
            // noticed by the decoder
        }
    }

    [Fact]
    public void A_trailing_byte_or_a_missing_byte_is_refused()
    {
        var original = Load("kcat/JoinGroup-v5-new.bin");
        Assert.Throws<ProtocolDecodeException>(() => Frames.DecodeRequest(original.Append((byte)0).ToArray()));
        Assert.Throws<ProtocolDecodeException>(() => Frames.DecodeRequest(original[..^1]));
    }

    [Fact]
    public void A_corrupted_record_byte_fails_the_crc()
    {
        var frame = Load("kafka-python/Produce-v7-none.bin");
        var request = Frames.DecodeRequest(frame);
        var batch = Assert.Single(BatchesOf((ProduceRequest)request.Body));
        batch.Validate();
        int at = frame.Length - 1;   // the last header value byte of the last record
        var mutated = (byte[])frame.Clone();
        mutated[at] ^= 0x01;
        var corrupted = Assert.Single(BatchesOf((ProduceRequest)Frames.DecodeRequest(mutated).Body));
        Assert.False(corrupted.IsCrcValid);
        Assert.Throws<ProtocolDecodeException>(() => corrupted.Validate());
    }
}
