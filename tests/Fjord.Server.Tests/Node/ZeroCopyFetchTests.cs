using System.Collections.Concurrent;
using Fjord.Broker.Replication;
using Fjord.Cli.Perf;
using Fjord.Common;
using Fjord.Network;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using Fjord.Server.Node;
using Fjord.Server.Tests.Controller;
using Fjord.Storage;

namespace Fjord.Server.Tests.Node;

/// <summary>
/// The broker's zero-copy fetch: the body built from segments (memory + file regions) is byte for
/// byte the generated encoding of the same response with its records copied in, and a consumer over
/// the network gets exactly the bytes the log holds.
/// </summary>
public sealed class ZeroCopyFetchTests
{
    private static byte[] RandomBytes(int n, int seed)
    {
        var bytes = new byte[n];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static byte[] Concatenate(IReadOnlyList<ResponseSegment> segments)
    {
        var all = new List<byte>();
        foreach (var s in segments)
        {
            if (!s.IsFile) { all.AddRange(s.Memory.ToArray()); continue; }
            var bytes = new byte[s.Length];
            Assert.Equal(s.Length, RandomAccess.Read(s.File!, bytes, s.Position));
            all.AddRange(bytes);
        }
        return [.. all];
    }

    [Theory]
    [InlineData(4)]
    [InlineData(7)]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(16)]
    [InlineData(18)]
    public void Segments_equal_the_generated_encoding_with_the_records_copied_in(short version)
    {
        using var dir = new TempDirectory();
        var path = dir.Sub("00000000000000000000.log");
        var file = RandomBytes(400_000, version);
        File.WriteAllBytes(path, file);
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.Asynchronous);

        // Sizes around the varint boundaries of the compact length prefix (127/128, 16383/16384) and one
        // read of two regions (two segments).
        var reads = new[]
        {
            new LogReadResult([new FileRegion(handle, 0, 126)], 0, 0, 10),
            new LogReadResult([new FileRegion(handle, 1000, 127)], 0, 0, 10),
            new LogReadResult([new FileRegion(handle, 2000, 16383)], 0, 0, 10),
            new LogReadResult([new FileRegion(handle, 20000, 100_000), new FileRegion(handle, 150_000, 200_000)], 0, 0, 10),
        };
        var response = new FetchResponse { ThrottleTimeMs = 3, SessionId = version >= 7 ? 77 : 0 };
        var map = new Dictionary<FetchResponse.PartitionData, LogReadResult>(ReferenceEqualityComparer.Instance);
        var expected = new FetchResponse { ThrottleTimeMs = 3, SessionId = response.SessionId };
        for (int t = 0; t < 2; t++)
        {
            var topic = new FetchResponse.FetchableTopicResponse { Topic = version <= 12 ? $"topic-{t}" : "", TopicId = version >= 13 ? new Uuid(1, t + 1) : Uuid.Zero };
            var copy = new FetchResponse.FetchableTopicResponse { Topic = topic.Topic, TopicId = topic.TopicId };
            for (int p = 0; p < 4; p++)
            {
                FetchResponse.PartitionData Make() => new()
                {
                    PartitionIndex = p,
                    HighWatermark = 1000 + p,
                    LastStableOffset = version >= 4 ? 1000 + p : -1,
                    LogStartOffset = version >= 5 ? p : -1,
                    AbortedTransactions = version >= 4 ? (p == 1 ? [new FetchResponse.AbortedTransaction { ProducerId = 9, FirstOffset = 4 }] : []) : null,
                    PreferredReadReplica = version >= 11 ? -1 : -1,
                    CurrentLeader = version >= 12 && p == 2 ? new FetchResponse.LeaderIdAndEpoch { LeaderId = 1, LeaderEpoch = 5 } : new(),
                    DivergingEpoch = version >= 12 && p == 3 ? new FetchResponse.EpochEndOffset { Epoch = 2, EndOffset = 50 } : new(),
                    Records = ReadOnlyMemory<byte>.Empty,
                };
                var data = Make();
                var twin = Make();
                // topic 0: every partition has data; topic 1: only partitions 1 and 3 (the others stay empty)
                if (t == 0 || p % 2 == 1)
                {
                    var read = reads[(p + t) % reads.Length];
                    data.Records = RecordsPlaceholder.Of(read.TotalBytes);
                    map[data] = read;
                    twin.Records = read.ToArray();
                }
                topic.Partitions.Add(data);
                copy.Partitions.Add(twin);
            }
            response.Responses.Add(topic);
            expected.Responses.Add(copy);
        }
        if (version >= 16)
        {
            response.NodeEndpoints = [new FetchResponse.NodeEndpoint { NodeId = 1, Host = "localhost", Port = 9092 }];
            expected.NodeEndpoints = [new FetchResponse.NodeEndpoint { NodeId = 1, Host = "localhost", Port = 9092 }];
        }

        var segments = FetchResponseSegments.Build(response, version, map);

        var want = new byte[expected.ComputeSize(version)];
        var writer = new KafkaWriter(want);
        expected.Write(ref writer, version);
        Assert.Equal(want, Concatenate(segments));
        Assert.Equal(map.Values.Sum(r => r.Regions.Count), segments.Count(s => s.IsFile));
    }

    [Fact]
    public void A_response_without_data_is_one_memory_segment()
    {
        var response = new FetchResponse { Responses = [new FetchResponse.FetchableTopicResponse { Topic = "t", Partitions = [new FetchResponse.PartitionData { Records = ReadOnlyMemory<byte>.Empty }] }] };
        var segments = FetchResponseSegments.Build(response, 12, new Dictionary<FetchResponse.PartitionData, LogReadResult>());
        var single = Assert.Single(segments);
        Assert.False(single.IsFile);
        Assert.Equal(response.ComputeSize(12), single.Length);
    }

    [Fact]
    public async Task A_consumer_gets_the_bytes_the_log_holds_through_the_zero_copy_path()
    {
        using var dir = new TempDirectory();
        int controllerPort = ControllerFixture.FreePort();
        var configPath = dir.WriteFile("server.properties", $"""
            process.roles=broker,controller
            node.id=1
            controller.quorum.voters=1@127.0.0.1:{controllerPort}
            listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{controllerPort}
            listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
            controller.listener.names=CONTROLLER
            inter.broker.listener.name=PLAINTEXT
            log.dirs={dir.Sub("logs")}
            num.partitions=1
            default.replication.factor=1
            min.insync.replicas=1
            log.segment.bytes=1048576
            """ + "\n");
        var config = ControllerFixture.Format(configPath);
        var lines = new ConcurrentQueue<string>();
        await using var server = BrokerServer.Start(config, lines.Enqueue);
        var endpoint = server.BoundEndpoint("PLAINTEXT");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        // The broker serves clients once unfenced (registered, caught up); then the topic, then its leadership.
        await ControllerFixture.WaitUntil(() => lines.Any(l => l.Contains("unfenced", StringComparison.Ordinal)), () => string.Join("\n", lines));
        await using var client = await KafkaClientConnection.ConnectAsync("127.0.0.1", endpoint.Port, "zero-copy-test", cts.Token);
        var create = await client.SendAsync<CreateTopicsResponse>(new CreateTopicsRequest
        {
            Topics = [new CreateTopicsRequest.CreatableTopic { Name = "zc", NumPartitions = 2, ReplicationFactor = 1 }],
            TimeoutMs = 30_000,
        }, 7, cts.Token);
        Assert.Equal(0, create.Topics[0].ErrorCode);
        await ControllerFixture.WaitUntil(() => server.Replicas.GetPartition(new TopicPartition("zc", 0))?.State.Role == ReplicaRole.Leader
                && server.Replicas.GetPartition(new TopicPartition("zc", 1))?.State.Role == ReplicaRole.Leader,
            () => string.Join("\n", lines));
        var topicId = create.Topics[0].TopicId;

        // 1.5 MiB per partition in 300 batches of 5 KiB: more than one segment (1 MiB).
        var produced = new[] { new List<byte[]>(), new List<byte[]>() };
        var value = RandomBytes(1000, 5);
        for (int b = 0; b < 300; b++)
        {
            for (int p = 0; p < 2; p++)
            {
                using var builder = new RecordBatchBuilder(new RecordBatchOptions());
                for (int r = 0; r < 5; r++) builder.Append(1_700_000_000_000 + b, (byte[]?)null, value.Select(x => (byte)(x ^ b ^ r ^ p)).ToArray());
                var batch = builder.ToArray();
                produced[p].Add(batch);
                var response = await client.SendAsync<ProduceResponse>(new ProduceRequest
                {
                    Acks = 1,
                    TimeoutMs = 10_000,
                    TopicData = [new ProduceRequest.TopicProduceData { Name = "zc", PartitionData = [new ProduceRequest.PartitionProduceData { Index = p, Records = batch }] }],
                }, 9, cts.Token);
                Assert.Equal(0, response.Responses[0].PartitionResponses[0].ErrorCode);
            }
        }

        // What the log holds, through the copying path; its handles are open for asynchronous I/O (sendfile).
        var regions = await server.Replicas.FetchWithRegionsAsync(new FetchRequest
        {
            MaxBytes = int.MaxValue,
            Topics = [new FetchRequest.FetchTopic { Topic = "zc", Partitions = [new FetchRequest.FetchPartition { Partition = 0, PartitionMaxBytes = 4096 }] }],
        }, 12, cts.Token);
        Assert.All(regions.Partitions.SelectMany(p => p.Read!.Regions), r => Assert.True(r.Handle.IsAsync));

        foreach (short version in new short[] { 4, 11, 12, 13, 16 })
        {
            var got = new[] { new List<byte>(), new List<byte>() };
            var offsets = new long[2];
            int sessionId = 0, epoch = version >= 7 ? 0 : -1;
            for (int round = 0; round < 200 && (offsets[0] < 1500 || offsets[1] < 1500); round++)
            {
                var topic = new FetchRequest.FetchTopic { Topic = version < 13 ? "zc" : "", TopicId = version >= 13 ? topicId : Uuid.Zero };
                for (int p = 0; p < 2; p++)
                    topic.Partitions.Add(new FetchRequest.FetchPartition { Partition = p, FetchOffset = offsets[p], PartitionMaxBytes = 300_000 });
                var request = new FetchRequest { MaxWaitMs = 100, MinBytes = 1, MaxBytes = 500_000, SessionId = sessionId, SessionEpoch = epoch, Topics = [topic] };
                var response = await client.SendAsync<FetchResponse>(request, version, cts.Token);
                Assert.Equal(0, response.ErrorCode);
                if (version >= 7)
                {
                    // a fetch session (KIP-227): full, then incremental ones that resend every partition
                    sessionId = response.SessionId;
                    epoch = sessionId == 0 ? -1 : epoch + 1;
                }
                foreach (var p in response.Responses.SelectMany(t => t.Partitions))
                {
                    Assert.Equal(0, p.ErrorCode);
                    if (p.Records is not { Length: > 0 } records) continue;
                    got[p.PartitionIndex].AddRange(records.ToArray());
                    offsets[p.PartitionIndex] = LastOffset(records.Span) + 1;
                }
            }
            for (int p = 0; p < 2; p++)
            {
                var expected = ExpectedLog(produced[p], got[p].ToArray());
                Assert.Equal(expected.Length, got[p].Count);
                Assert.True(expected.AsSpan().SequenceEqual(got[p].ToArray()), $"v{version} partition {p}: bytes differ");
            }
        }

        // And through the perf consumer (v16 at most): every record, whole batches only.
        var seen = new long[2];
        var result = await PerfConsumer.RunAsync(new ConsumerPerfOptions
        {
            BootstrapServers = $"127.0.0.1:{endpoint.Port}",
            Topic = "zc",
            NumRecords = 3000,
            TimeoutMs = 10_000,
            OnRecords = (p, bytes) => Interlocked.Add(ref seen[p], bytes.Length),
        }, TextWriter.Null, cts.Token);
        Assert.Equal(3000, result.Records);
        Assert.Equal(produced[0].Sum(b => b.Length), seen[0]);
        Assert.Equal(produced[1].Sum(b => b.Length), seen[1]);
        await server.StopAsync();
    }

    private static long LastOffset(ReadOnlySpan<byte> records)
    {
        long last = -1;
        int at = 0;
        while (records.Length - at >= RecordBatchLayout.HeaderSize)
        {
            var batch = records[at..];
            int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatchLayout.BatchLength..]) + RecordBatchLayout.LogOverhead;
            if (length > batch.Length) break;
            last = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(batch) + System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatchLayout.LastOffsetDelta..]);
            at += length;
        }
        return last;
    }

    /// <summary>The produced batches as the log stores them: base offset and partition leader epoch set
    /// by the broker (neither is covered by the CRC), taken from what was fetched; everything else as produced.</summary>
    private static byte[] ExpectedLog(List<byte[]> produced, byte[] fetched)
    {
        var expected = produced.SelectMany(b => b).ToArray();
        int at = 0;
        long offset = 0;
        foreach (var batch in produced)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(expected.AsSpan(at), offset);
            if (at + 16 <= fetched.Length) fetched.AsSpan(at + RecordBatchLayout.PartitionLeaderEpoch, 4).CopyTo(expected.AsSpan(at + RecordBatchLayout.PartitionLeaderEpoch));
            offset += 5;
            at += batch.Length;
        }
        return expected;
    }
}
