using System.Diagnostics;
using Fjord.Broker.Replication;
using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Storage;

namespace Fjord.Broker.Tests.Replication;

/// <summary>One broker leading single-replica partitions: produce, fetch, long polls, idempotence, offsets.</summary>
public sealed class SingleBrokerTests
{
    private static ErrorCode Code(ProduceResponse r) => (ErrorCode)r.Responses[0].PartitionResponses[0].ErrorCode;
    private static ProduceResponse.PartitionProduceResponse Answer(ProduceResponse r) => r.Responses[0].PartitionResponses[0];
    private static FetchResponse.PartitionData Data(FetchResponse r) => r.Responses[0].Partitions[0];

    [Fact]
    public async Task Produce_then_fetch_round_trips_real_batches()
    {
        await using var cluster = new TestCluster(1);
        var topicId = cluster.CreateTopic("orders", [[1]]);
        var rm = cluster[1];

        var first = await rm.ProduceAsync(Batches.Produce("orders", 0, Batches.Of("a", "b", "c")), 9, default);
        Assert.Equal(ErrorCode.None, Code(first));
        Assert.Equal(0, Answer(first).BaseOffset);
        Assert.Equal(0, Answer(first).LogStartOffset);
        Assert.Equal(-1, Answer(first).LogAppendTimeMs);

        // v13 addresses the topic by id.
        var byId = new ProduceRequest
        {
            Acks = 1, TimeoutMs = 1000,
            TopicData = [new ProduceRequest.TopicProduceData { TopicId = topicId, PartitionData = [new() { Index = 0, Records = Batches.Of("d", "e") }] }],
        };
        var second = await rm.ProduceAsync(byId, 13, default);
        Assert.Equal(ErrorCode.None, Code(second));
        Assert.Equal(3, Answer(second).BaseOffset);
        Assert.Equal(topicId, second.Responses[0].TopicId);

        var fetched = await rm.FetchAsync(Batches.Fetch("orders", 0, 0), 12, default);
        var data = Data(fetched);
        Assert.Equal(ErrorCode.None, (ErrorCode)data.ErrorCode);
        Assert.Equal(5, data.HighWatermark);
        Assert.Equal(5, data.LastStableOffset);
        Assert.Equal(0, data.LogStartOffset);
        Assert.Equal([(0L, "a"), (1L, "b"), (2L, "c"), (3L, "d"), (4L, "e")], Batches.Records(data.Records!.Value));

        // From the middle of a batch: the whole batch holding the offset comes back.
        var mid = Data(await rm.FetchAsync(Batches.Fetch("orders", 0, 4), 12, default));
        Assert.Equal([(3L, "d"), (4L, "e")], Batches.Records(mid.Records!.Value));

        // Errors per partition.
        Assert.Equal(ErrorCode.OffsetOutOfRange, (ErrorCode)Data(await rm.FetchAsync(Batches.Fetch("orders", 0, 6), 12, default)).ErrorCode);
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, (ErrorCode)Data(await rm.FetchAsync(Batches.Fetch("nope", 0, 0), 12, default)).ErrorCode);
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, Code(await rm.ProduceAsync(Batches.Produce("orders", 7, Batches.Of("x")), 9, default)));
        Assert.Equal(ErrorCode.InvalidRequiredAcks, Code(await rm.ProduceAsync(Batches.Produce("orders", 0, Batches.Of("x"), acks: 2), 9, default)));
        var corrupt = Batches.Of("x");
        corrupt[^1] ^= 0xFF;
        Assert.Equal(ErrorCode.CorruptMessage, Code(await rm.ProduceAsync(Batches.Produce("orders", 0, corrupt), 9, default)));
        var two = Batches.Of("x").Concat(Batches.Of("y")).ToArray();
        Assert.Equal(ErrorCode.InvalidRecord, Code(await rm.ProduceAsync(Batches.Produce("orders", 0, two), 9, default)));

        // Fenced / unknown leader epochs.
        var fenced = Batches.Fetch("orders", 0, 0);
        fenced.Topics[0].Partitions[0].CurrentLeaderEpoch = 5;
        Assert.Equal(ErrorCode.UnknownLeaderEpoch, (ErrorCode)Data(await rm.FetchAsync(fenced, 12, default)).ErrorCode);
    }

    [Fact]
    public async Task Message_max_bytes_and_log_append_time_follow_the_topic_config()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic("small", [[1]], new() { ["max.message.bytes"] = "200", ["message.timestamp.type"] = "LogAppendTime" });
        var rm = cluster[1];
        var big = Batches.Of(new string('x', 500));
        Assert.Equal(ErrorCode.MessageTooLarge, Code(await rm.ProduceAsync(Batches.Produce("small", 0, big), 9, default)));
        long before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var ok = await rm.ProduceAsync(Batches.Produce("small", 0, Batches.Of("tiny")), 9, default);
        Assert.Equal(ErrorCode.None, Code(ok));
        Assert.InRange(Answer(ok).LogAppendTimeMs, before, before + 60_000);
    }

    [Fact]
    public async Task Acks_all_on_a_single_replica_isr_and_min_insync_replicas()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic("one", [[1]]);
        cluster.CreateTopic("strict", [[1]], new() { ["min.insync.replicas"] = "2" });
        var rm = cluster[1];
        var ok = await rm.ProduceAsync(Batches.Produce("one", 0, Batches.Of("a", "b"), acks: -1), 9, default);
        Assert.Equal(ErrorCode.None, Code(ok));
        Assert.Equal(2, rm.GetPartition(new TopicPartition("one", 0))!.HighWatermark);
        var refused = await rm.ProduceAsync(Batches.Produce("strict", 0, Batches.Of("a"), acks: -1), 9, default);
        Assert.Equal(ErrorCode.NotEnoughReplicas, Code(refused));
        Assert.Equal(0, rm.GetPartition(new TopicPartition("strict", 0))!.Log.LogEndOffset);
        // acks=1 does not look at min.insync.replicas.
        Assert.Equal(ErrorCode.None, Code(await rm.ProduceAsync(Batches.Produce("strict", 0, Batches.Of("a"), acks: 1), 9, default)));

        // A refused produce is logged once per partition and error in a while, not once per request.
        for (int i = 0; i < 5; i++) await rm.ProduceAsync(Batches.Produce("strict", 0, Batches.Of("a"), acks: -1), 9, default);
        var lines = cluster.LogLines.Where(l => l.Contains("strict-0: produce answered NotEnoughReplicas", StringComparison.Ordinal)).ToList();
        Assert.Single(lines);
        Assert.Contains("min.insync.replicas", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Long_poll_is_woken_by_a_produce_and_times_out_at_max_wait()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic("poll", [[1]]);
        var rm = cluster[1];

        var waiting = rm.FetchAsync(Batches.Fetch("poll", 0, 0, maxWaitMs: 20_000, minBytes: 1), 12, default);
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted, "the fetch must wait for data");
        var clock = Stopwatch.StartNew();
        await rm.ProduceAsync(Batches.Produce("poll", 0, Batches.Of("wake")), 9, default);
        var woken = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(clock.ElapsedMilliseconds < 5_000);
        Assert.Equal([(0L, "wake")], Batches.Records(Data(woken).Records!.Value));

        clock.Restart();
        var empty = await rm.FetchAsync(Batches.Fetch("poll", 0, 1, maxWaitMs: 300, minBytes: 1), 12, default);
        Assert.InRange(clock.ElapsedMilliseconds, 250, 10_000);
        Assert.Equal(ErrorCode.None, (ErrorCode)Data(empty).ErrorCode);
        Assert.Equal(0, Data(empty).Records!.Value.Length);
    }

    [Fact]
    public async Task Idempotent_producer_duplicates_out_of_order_and_epochs()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic("idem", [[1]]);
        var rm = cluster[1];
        async Task<ProduceResponse.PartitionProduceResponse> Send(byte[] batch) =>
            Answer(await rm.ProduceAsync(Batches.Produce("idem", 0, batch, acks: -1), 9, default));
        var log = rm.GetPartition(new TopicPartition("idem", 0))!.Log;

        var a = await Send(Batches.Idempotent(1000, 0, 0, "a0", "a1", "a2"));
        Assert.Equal((0, 0L), (a.ErrorCode, a.BaseOffset));
        var dup = await Send(Batches.Idempotent(1000, 0, 0, "a0", "a1", "a2"));
        Assert.Equal((0, 0L), (dup.ErrorCode, dup.BaseOffset));
        Assert.Equal(3, log.LogEndOffset);

        Assert.Equal((short)ErrorCode.OutOfOrderSequenceNumber, (await Send(Batches.Idempotent(1000, 0, 5, "gap"))).ErrorCode);
        var next = await Send(Batches.Idempotent(1000, 0, 3, "b3"));
        Assert.Equal((0, 3L), (next.ErrorCode, next.BaseOffset));
        // An older batch still in the window of five is a duplicate too.
        Assert.Equal(0L, (await Send(Batches.Idempotent(1000, 0, 0, "a0", "a1", "a2"))).BaseOffset);

        // A bumped epoch must start at sequence 0; then the old epoch is fenced.
        Assert.Equal((short)ErrorCode.OutOfOrderSequenceNumber, (await Send(Batches.Idempotent(1000, 1, 4, "c"))).ErrorCode);
        Assert.Equal(0, (await Send(Batches.Idempotent(1000, 1, 0, "c0"))).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidProducerEpoch, (await Send(Batches.Idempotent(1000, 0, 4, "old"))).ErrorCode);

        // A producer id without state is accepted at any sequence (Kafka 2.5+).
        Assert.Equal(0, (await Send(Batches.Idempotent(2000, 3, 42, "x"))).ErrorCode);
        Assert.Equal((short)ErrorCode.OutOfOrderSequenceNumber, (await Send(Batches.Idempotent(2000, 3, 42, "again-but-different", "longer"))).ErrorCode);
        Assert.Equal(6, log.LogEndOffset);
    }

    [Fact]
    public async Task Producer_state_is_rebuilt_from_the_log_after_a_restart()
    {
        var root = Path.Combine(Path.GetTempPath(), "fjord-repl-" + Guid.NewGuid().ToString("N"));
        await using var cluster = new TestCluster(1, root: root);
        cluster.CreateTopic("durable", [[1]]);
        Assert.Equal(0, Answer(await cluster[1].ProduceAsync(Batches.Produce("durable", 0, Batches.Idempotent(77, 2, 0, "p", "q")), 9, default)).ErrorCode);
        Assert.Equal(0, Answer(await cluster[1].ProduceAsync(Batches.Produce("durable", 0, Batches.Idempotent(77, 2, 2, "r")), 9, default)).ErrorCode);
        await cluster.StopAsync(1);

        var rm = cluster.Start(1);
        var dup = Answer(await rm.ProduceAsync(Batches.Produce("durable", 0, Batches.Idempotent(77, 2, 2, "r")), 9, default));
        Assert.Equal((0, 2L), (dup.ErrorCode, dup.BaseOffset));
        Assert.Equal((short)ErrorCode.OutOfOrderSequenceNumber, Answer(await rm.ProduceAsync(Batches.Produce("durable", 0, Batches.Idempotent(77, 2, 9, "s")), 9, default)).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidProducerEpoch, Answer(await rm.ProduceAsync(Batches.Produce("durable", 0, Batches.Idempotent(77, 1, 0, "s")), 9, default)).ErrorCode);
        var next = Answer(await rm.ProduceAsync(Batches.Produce("durable", 0, Batches.Idempotent(77, 2, 3, "s")), 9, default));
        Assert.Equal((0, 3L), (next.ErrorCode, next.BaseOffset));
    }

    [Fact]
    public async Task ListOffsets_earliest_latest_timestamps_and_errors()
    {
        await using var cluster = new TestCluster(2);
        cluster.CreateTopic("lo", [[1], [2]]);
        var rm = cluster[1];
        var options = new Fjord.Protocol.Records.RecordBatchOptions();
        await rm.ProduceAsync(Batches.Produce("lo", 0, Batches.Build(options, ["t0", "t1", "t2"], timestamp: 1000)), 9, default);
        await rm.ProduceAsync(Batches.Produce("lo", 0, Batches.Build(options, ["u0", "u1"], timestamp: 5000)), 9, default);
        await rm.ProduceAsync(Batches.Produce("lo", 0, Batches.Build(options, ["v0"], timestamp: 3000)), 9, default);

        ListOffsetsResponse.ListOffsetsPartitionResponse Ask(long timestamp, int partition = 0, int currentEpoch = -1, short version = 8)
        {
            var request = new ListOffsetsRequest
            {
                ReplicaId = -1,
                Topics = [new() { Name = "lo", Partitions = [new() { PartitionIndex = partition, Timestamp = timestamp, CurrentLeaderEpoch = currentEpoch }] }],
            };
            return rm.ListOffsets(request, version).Topics[0].Partitions[0];
        }

        Assert.Equal((0, 0L, 0), (Ask(-2).ErrorCode, Ask(-2).Offset, Ask(-2).LeaderEpoch));
        Assert.Equal((0, 6L, 0), (Ask(-1).ErrorCode, Ask(-1).Offset, Ask(-1).LeaderEpoch));
        Assert.Equal((4L, 5001L), (Ask(-3).Offset, Ask(-3).Timestamp));
        Assert.Equal((1L, 1001L), (Ask(1001).Offset, Ask(1001).Timestamp));
        Assert.Equal((3L, 5000L), (Ask(4000).Offset, Ask(4000).Timestamp));
        Assert.Equal(-1L, Ask(9999).Offset);
        Assert.Equal((short)ErrorCode.NotLeaderOrFollower, Ask(-1, partition: 1).ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, Ask(-1, partition: 9).ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownLeaderEpoch, Ask(-1, currentEpoch: 3).ErrorCode);
        var v0 = Ask(-1, version: 0);
        Assert.Equal([6L], v0.OldStyleOffsets);

        var epochs = rm.OffsetForLeaderEpoch(new OffsetForLeaderEpochRequest
        {
            ReplicaId = -1,
            Topics = [new() { Topic = "lo", Partitions = [new() { Partition = 0, LeaderEpoch = 0, CurrentLeaderEpoch = 0 }, new() { Partition = 0, LeaderEpoch = 4 }] }],
        }, 4).Topics[0].Partitions;
        Assert.Equal((0, 0, 6L), (epochs[0].ErrorCode, epochs[0].LeaderEpoch, epochs[0].EndOffset));
        Assert.Equal((0, -1, -1L), (epochs[1].ErrorCode, epochs[1].LeaderEpoch, epochs[1].EndOffset));
    }

    [Fact]
    public async Task DeleteRecords_moves_the_log_start_and_refuses_offsets_beyond_the_high_watermark()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic("del", [[1]]);
        var rm = cluster[1];
        for (int i = 0; i < 5; i++) await rm.ProduceAsync(Batches.Produce("del", 0, Batches.Of($"a{i}", $"b{i}")), 9, default);

        async Task<DeleteRecordsResponse.DeleteRecordsPartitionResult> Delete(long offset) =>
            (await rm.DeleteRecordsAsync(new DeleteRecordsRequest
            {
                TimeoutMs = 2000,
                Topics = [new() { Name = "del", Partitions = [new() { PartitionIndex = 0, Offset = offset }] }],
            }, 2)).Topics[0].Partitions[0];

        var moved = await Delete(4);
        Assert.Equal((0, 4L), (moved.ErrorCode, moved.LowWatermark));
        Assert.Equal((short)ErrorCode.OffsetOutOfRange, (await Delete(11)).ErrorCode);
        Assert.Equal(4, rm.GetPartition(new TopicPartition("del", 0))!.Log.LogStartOffset);

        var below = Data(await rm.FetchAsync(Batches.Fetch("del", 0, 2), 12, default));
        Assert.Equal((ErrorCode.OffsetOutOfRange, 4L), ((ErrorCode)below.ErrorCode, below.LogStartOffset));
        var from = Data(await rm.FetchAsync(Batches.Fetch("del", 0, 4), 12, default));
        Assert.Equal((4L, "a2"), Batches.Records(from.Records!.Value)[0]);

        var toHw = await Delete(-1);
        Assert.Equal((0, 10L), (toHw.ErrorCode, toHw.LowWatermark));

        var dirs = rm.DescribeLogDirs(new DescribeLogDirsRequest { Topics = null }, 4);
        var result = Assert.Single(dirs.Results);
        var partition = Assert.Single(Assert.Single(result.Topics, t => t.Name == "del").Partitions);
        Assert.True(partition.PartitionSize >= 0);
        Assert.True(result.TotalBytes > 0 && result.UsableBytes >= 0);
    }
}
