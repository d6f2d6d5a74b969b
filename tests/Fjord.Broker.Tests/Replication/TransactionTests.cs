using Fjord.Broker.Replication;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Broker.Tests.Replication;

/// <summary>
/// The partition side of transactions with real record batches: transactional produces, markers through
/// WriteTxnMarkers, the last stable offset, the aborted index, READ_COMMITTED fetches (filtered as a
/// Kafka consumer does), DescribeProducers, restart and truncation.
/// </summary>
public sealed class TransactionTests
{
    private const string Topic = "tx";
    private static readonly TopicPartition Tp = new(Topic, 0);

    private static ErrorCode Code(ProduceResponse r) => (ErrorCode)r.Responses[0].PartitionResponses[0].ErrorCode;
    private static FetchResponse.PartitionData Data(FetchResponse r) => r.Responses[0].Partitions[0];
    private static ErrorCode Code(WriteTxnMarkersResponse r) => (ErrorCode)r.Markers[0].Topics[0].Partitions[0].ErrorCode;

    private static byte[] Txn(long producerId, short epoch, int sequence, params string[] values) =>
        Batches.Build(new RecordBatchOptions { ProducerId = producerId, ProducerEpoch = epoch, BaseSequence = sequence, IsTransactional = true }, values);

    private static async Task<long> Produce(ReplicaManager rm, byte[] batch, short acks = 1)
    {
        var response = await rm.ProduceAsync(Batches.Produce(Topic, 0, batch, acks), 9, default);
        Assert.Equal(ErrorCode.None, Code(response));
        return response.Responses[0].PartitionResponses[0].BaseOffset;
    }

    private static WriteTxnMarkersRequest Marker(long producerId, short epoch, bool commit, int coordinatorEpoch = 0, string topic = Topic, int partition = 0) => new()
    {
        Markers =
        [
            new WriteTxnMarkersRequest.WritableTxnMarker
            {
                ProducerId = producerId, ProducerEpoch = epoch, TransactionResult = commit, CoordinatorEpoch = coordinatorEpoch,
                Topics = [new WriteTxnMarkersRequest.WritableTxnMarkerTopic { Name = topic, PartitionIndexes = [partition] }],
            },
        ],
    };

    private static async Task<FetchResponse.PartitionData> Fetch(ReplicaManager rm, long offset, sbyte isolation, short version = 12)
    {
        var request = Batches.Fetch(Topic, 0, offset, isolation: isolation);
        // A real wire round trip, so the answer is what a client decodes.
        var decoded = KafkaMessages.Deserialize<FetchRequest>(request.Serialize(version), version);
        var response = await rm.FetchAsync(decoded, version, default);
        return Data(KafkaMessages.Deserialize<FetchResponse>(response.Serialize(version), version));
    }

    private static long ListLatest(ReplicaManager rm, sbyte isolation)
    {
        var request = new ListOffsetsRequest
        {
            ReplicaId = -1,
            IsolationLevel = isolation,
            Topics = [new ListOffsetsRequest.ListOffsetsTopic { Name = Topic, Partitions = [new() { PartitionIndex = 0, Timestamp = -1, CurrentLeaderEpoch = -1 }] }],
        };
        var answer = rm.ListOffsets(request, 7).Topics[0].Partitions[0];
        Assert.Equal(ErrorCode.None, (ErrorCode)answer.ErrorCode);
        return answer.Offset;
    }

    /// <summary>What a READ_COMMITTED Kafka consumer makes of a fetch answer: aborted transactional batches and control batches skipped.</summary>
    private static List<(long Offset, string Value)> ConsumeCommitted(FetchResponse.PartitionData data, long fetchOffset)
    {
        var aborted = new PriorityQueue<long, long>();
        foreach (var a in data.AbortedTransactions ?? []) aborted.Enqueue(a.ProducerId, a.FirstOffset);
        var abortedProducers = new HashSet<long>();
        var result = new List<(long, string)>();
        var reader = new RecordBatchReader(data.Records ?? ReadOnlyMemory<byte>.Empty);
        while (reader.MoveNext())
        {
            var batch = reader.Current;
            if (batch.ProducerId >= 0)
            {
                while (aborted.TryPeek(out long pid, out long first) && first <= batch.LastOffset)
                {
                    aborted.Dequeue();
                    abortedProducers.Add(pid);
                }
            }
            if (batch.IsControl)
            {
                if (ProducerStateTable.ReadMarker(batch) is { IsCommit: false }) abortedProducers.Remove(batch.ProducerId);
                continue;
            }
            if (batch.IsTransactional && abortedProducers.Contains(batch.ProducerId)) continue;
            using var records = batch.OpenRecords(1 << 20);
            foreach (var record in records)
            {
                long offset = batch.BaseOffset + record.OffsetDelta;
                if (offset >= fetchOffset) result.Add((offset, System.Text.Encoding.UTF8.GetString(record.ValueSpan)));
            }
        }
        return result;
    }

    [Fact]
    public async Task Commit_moves_the_last_stable_offset_and_makes_the_transaction_visible()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic(Topic, [[1]]);
        var rm = cluster[1];
        var partition = rm.GetPartition(Tp)!;

        Assert.Equal(0, await Produce(rm, Batches.Of("plain")));
        Assert.Equal(1, await Produce(rm, Txn(7, 0, 0, "t1", "t2")));
        Assert.Equal(3, await Produce(rm, Batches.Of("after")));
        Assert.Equal(4, partition.HighWatermark);
        Assert.Equal(1, partition.LastStableOffset);
        Assert.Equal([(7L, 1L)], partition.OngoingTransactions);

        var committed = await Fetch(rm, 0, isolation: 1);
        Assert.Equal(4, committed.HighWatermark);
        Assert.Equal(1, committed.LastStableOffset);
        Assert.Equal([(0L, "plain")], Batches.Records(committed.Records!.Value));
        Assert.Empty(committed.AbortedTransactions!);
        // At the LSO a READ_COMMITTED fetch has nothing yet.
        Assert.Equal(0, (await Fetch(rm, 1, isolation: 1)).Records!.Value.Length);
        var uncommitted = await Fetch(rm, 0, isolation: 0);
        Assert.Equal(1, uncommitted.LastStableOffset);
        Assert.Equal(4, Batches.Records(uncommitted.Records!.Value).Count);
        Assert.Null(uncommitted.AbortedTransactions);
        Assert.Equal(1, ListLatest(rm, isolation: 1));
        Assert.Equal(4, ListLatest(rm, isolation: 0));

        var marker = await rm.WriteTxnMarkersAsync(Marker(7, 0, commit: true, coordinatorEpoch: 3), 1, default);
        Assert.Equal(ErrorCode.None, Code(marker));
        Assert.Equal(7, marker.Markers[0].ProducerId);
        Assert.Equal(5, partition.Log.LogEndOffset);
        Assert.Equal(5, partition.HighWatermark);
        Assert.Equal(5, partition.LastStableOffset);
        Assert.Empty(partition.OngoingTransactions);
        Assert.Equal(5, ListLatest(rm, isolation: 1));

        var after = await Fetch(rm, 0, isolation: 1);
        Assert.Equal(5, after.LastStableOffset);
        Assert.Empty(after.AbortedTransactions!);
        Assert.Equal([(0L, "plain"), (1L, "t1"), (2L, "t2"), (3L, "after")], ConsumeCommitted(after, 0));

        // The marker is a real control batch: transactional + control, the producer's id and epoch, COMMIT with the coordinator epoch.
        var reader = new RecordBatchReader(after.Records!.Value);
        RecordBatch last = default;
        while (reader.MoveNext()) last = reader.Current;
        Assert.True(last.IsControl && last.IsTransactional);
        Assert.Equal(4, last.BaseOffset);
        Assert.Equal(7, last.ProducerId);
        Assert.Equal(new EndTransactionMarker(ControlRecordType.Commit, 3), ProducerStateTable.ReadMarker(last));

        // The producer's next transaction (same epoch, next sequence) opens at its first offset.
        Assert.Equal(5, await Produce(rm, Txn(7, 0, 2, "t3")));
        Assert.Equal(5, partition.LastStableOffset);
        Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(7, 0, commit: true, coordinatorEpoch: 3), 0, default)));
        Assert.Equal(7, partition.LastStableOffset);
    }

    [Fact]
    public async Task Aborted_transactions_are_listed_for_read_committed_fetches_and_skipped_by_consumers()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic(Topic, [[1]]);
        var rm = cluster[1];
        var partition = rm.GetPartition(Tp)!;

        await Produce(rm, Txn(1, 0, 0, "a1", "a2"));         // 0-1 producer 1 (to be aborted)
        await Produce(rm, Txn(2, 0, 0, "c1"));               // 2   producer 2 (to be committed)
        await Produce(rm, Batches.Of("plain"));              // 3
        await Produce(rm, Txn(1, 0, 2, "a3"));               // 4
        Assert.Equal(0, partition.LastStableOffset);
        Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(1, 0, commit: false), 1, default))); // 5
        Assert.Equal(2, partition.LastStableOffset);
        Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(2, 0, commit: true), 1, default)));  // 6
        Assert.Equal(7, partition.LastStableOffset);
        await Produce(rm, Batches.Of("tail"));               // 7

        var data = await Fetch(rm, 0, isolation: 1);
        Assert.Equal(8, data.LastStableOffset);
        var aborted = Assert.Single(data.AbortedTransactions!);
        Assert.Equal((1L, 0L), (aborted.ProducerId, aborted.FirstOffset));
        Assert.Equal([(2L, "c1"), (3L, "plain"), (7L, "tail")], ConsumeCommitted(data, 0));
        Assert.Equal([(1L, 0L, 5L)], partition.AbortedTransactions(0, long.MaxValue));

        // From the middle of the aborted transaction it is still listed; after its marker, not any more.
        var middle = await Fetch(rm, 4, isolation: 1);
        Assert.Equal(1, Assert.Single(middle.AbortedTransactions!).ProducerId);
        Assert.Equal([(7L, "tail")], ConsumeCommitted(middle, 4));
        var past = await Fetch(rm, 6, isolation: 1);
        Assert.Empty(past.AbortedTransactions!);
        // Fetch v4 (the first with isolation) carries them too.
        Assert.Single((await Fetch(rm, 0, isolation: 1, version: 4)).AbortedTransactions!);

        // An aborted transaction's producer may go on; its next batches are visible once committed.
        await Produce(rm, Txn(1, 0, 3, "b1"));               // 8
        Assert.Equal(8, partition.LastStableOffset);
        Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(1, 0, commit: true), 1, default))); // 9
        Assert.Equal([(2L, "c1"), (3L, "plain"), (7L, "tail"), (8L, "b1")], ConsumeCommitted(await Fetch(rm, 0, isolation: 1), 0));
    }

    [Fact]
    public async Task Many_aborted_transactions_are_trimmed_to_the_data_returned()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic(Topic, [[1]]);
        var rm = cluster[1];
        for (int i = 0; i < 20; i++)
        {
            await Produce(rm, Txn(100 + i, 0, 0, $"x{i}"));
            Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(100 + i, 0, commit: false), 1, default)));
        }
        await Produce(rm, Batches.Of("visible"));
        var partition = rm.GetPartition(Tp)!;
        Assert.Equal(20, partition.AbortedTransactions(0, long.MaxValue).Count);
        var all = await Fetch(rm, 0, isolation: 1);
        Assert.Equal(20, all.AbortedTransactions!.Count);
        Assert.Equal([(40L, "visible")], ConsumeCommitted(all, 0));

        // A small partition limit returns one batch: only the transactions that can overlap it are sent.
        var request = Batches.Fetch(Topic, 0, 0, isolation: 1);
        request.Topics[0].Partitions[0].PartitionMaxBytes = 1;
        var one = Data(await rm.FetchAsync(request, 12, default));
        Assert.Equal(0, Assert.Single(one.AbortedTransactions!).FirstOffset);
        Assert.Empty(ConsumeCommitted(one, 0));
        Assert.Equal(1, ReplicaManager.NextOffsetAfter(rm.GetPartition(Tp)!.Log.Read(0, 1, long.MaxValue)));
    }

    [Fact]
    public async Task Producer_and_marker_epochs_are_checked()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic(Topic, [[1]]);
        var rm = cluster[1];
        var partition = rm.GetPartition(Tp)!;

        await Produce(rm, Txn(5, 1, 0, "t"));
        // A non-transactional batch of a producer with an open transaction.
        var plain = await rm.ProduceAsync(Batches.Produce(Topic, 0, Batches.Idempotent(5, 1, 1, "p")), 9, default);
        Assert.Equal(ErrorCode.InvalidTxnState, Code(plain));
        // An older epoch, transactional or not, at old and new versions alike.
        foreach (short version in new short[] { 3, 9 })
        {
            var old = await rm.ProduceAsync(Batches.Produce(Topic, 0, Txn(5, 0, 0, "old")), version, default);
            Assert.Equal(ErrorCode.InvalidProducerEpoch, Code(old));
        }
        // Transactional batches need a producer id and a sequence.
        var anonymous = Batches.Build(new RecordBatchOptions { IsTransactional = true }, ["x"]);
        Assert.Equal(ErrorCode.InvalidRecord, Code(await rm.ProduceAsync(Batches.Produce(Topic, 0, anonymous), 9, default)));
        Assert.Equal(1, partition.Log.LogEndOffset);

        // Markers: an older producer epoch or coordinator epoch is refused and appends nothing.
        Assert.Equal(ErrorCode.InvalidProducerEpoch, Code(await rm.WriteTxnMarkersAsync(Marker(5, 0, commit: false, coordinatorEpoch: 2), 1, default)));
        Assert.Equal(1, partition.Log.LogEndOffset);
        Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(5, 1, commit: false, coordinatorEpoch: 2), 1, default)));
        Assert.Equal(ErrorCode.TransactionCoordinatorFenced,
            Code(await rm.WriteTxnMarkersAsync(Marker(5, 1, commit: true, coordinatorEpoch: 1), 1, default)));
        Assert.Equal(2, partition.Log.LogEndOffset);

        // The coordinator aborts with a bumped epoch (a timed-out transaction): the old epoch is fenced from then on.
        await Produce(rm, Txn(5, 1, 1, "t2"));
        Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(5, 2, commit: false, coordinatorEpoch: 2), 1, default)));
        Assert.Equal(ErrorCode.InvalidProducerEpoch, Code(await rm.ProduceAsync(Batches.Produce(Topic, 0, Txn(5, 1, 2, "late")), 9, default)));
        Assert.Equal(4, partition.LastStableOffset);
        // The new epoch starts at sequence 0; after the abort a non-transactional write is allowed again.
        Assert.Equal(4, await Produce(rm, Batches.Idempotent(5, 2, 0, "fresh")));

        // Unknown partitions and partitions led elsewhere.
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, Code(await rm.WriteTxnMarkersAsync(Marker(5, 2, true, topic: "nope"), 1, default)));
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, Code(await rm.WriteTxnMarkersAsync(Marker(5, 2, true, partition: 3), 1, default)));
        Assert.Equal(ErrorCode.InvalidRequest, Code(await rm.WriteTxnMarkersAsync(Marker(-1, 0, true), 1, default)));
    }

    [Fact]
    public async Task Markers_only_go_to_leaders_and_several_markers_and_partitions_are_answered_each()
    {
        await using var cluster = new TestCluster(2);
        cluster.CreateTopic(Topic, [[1], [2]]);
        var rm = cluster[1];
        await Produce(rm, Txn(1, 0, 0, "x"));
        var request = Marker(1, 0, commit: true);
        request.Markers[0].Topics[0].PartitionIndexes = [0, 1];
        request.Markers.Add(Marker(2, 0, commit: false).Markers[0]);
        var written = new List<(long, bool, IReadOnlyList<TopicPartition>)>();
        rm.TransactionMarkersWritten = (pid, commit, tps) => written.Add((pid, commit, tps));
        var response = await rm.WriteTxnMarkersAsync(request, 1, default);
        Assert.Equal(2, response.Markers.Count);
        var first = response.Markers[0].Topics[0].Partitions;
        Assert.Equal([(0, ErrorCode.None), (1, ErrorCode.NotLeaderOrFollower)], first.Select(p => (p.PartitionIndex, (ErrorCode)p.ErrorCode)));
        Assert.Equal(2, response.Markers[1].ProducerId);
        Assert.Equal(ErrorCode.None, (ErrorCode)response.Markers[1].Topics[0].Partitions[0].ErrorCode);
        Assert.Equal(2, written.Count);
        Assert.Equal((1L, true), (written[0].Item1, written[0].Item2));
        Assert.Equal([Tp], written[0].Item3);
        Assert.Equal((2L, false), (written[1].Item1, written[1].Item2));
        // A marker without an open transaction is written anyway (the partition was added but never produced to).
        Assert.Equal([(2L, 2L, 2L)], rm.GetPartition(Tp)!.AbortedTransactions(0, long.MaxValue));
    }

    [Fact]
    public async Task Describe_producers_reports_epochs_sequences_and_open_transactions()
    {
        await using var cluster = new TestCluster(2);
        cluster.CreateTopic(Topic, [[1], [2]]);
        var rm = cluster[1];
        long before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await Produce(rm, Batches.Idempotent(10, 0, 0, "a", "b"));
        await Produce(rm, Txn(11, 3, 0, "t"));
        await Produce(rm, Txn(12, 0, 0, "u"));
        Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(12, 0, commit: true, coordinatorEpoch: 9), 1, default)));

        var response = rm.DescribeProducers(new DescribeProducersRequest
        {
            Topics = [new DescribeProducersRequest.TopicRequest { Name = Topic, PartitionIndexes = [0, 1, 5] }],
        }, 0);
        var partitions = response.Topics[0].Partitions;
        Assert.Equal(ErrorCode.None, (ErrorCode)partitions[0].ErrorCode);
        Assert.Equal(ErrorCode.NotLeaderOrFollower, (ErrorCode)partitions[1].ErrorCode);
        Assert.Equal(ErrorCode.UnknownTopicOrPartition, (ErrorCode)partitions[2].ErrorCode);
        var producers = partitions[0].ActiveProducers;
        Assert.Equal([10L, 11L, 12L], producers.Select(p => p.ProducerId));
        Assert.Equal((0, 1, -1, -1L), (producers[0].ProducerEpoch, producers[0].LastSequence, producers[0].CoordinatorEpoch, producers[0].CurrentTxnStartOffset));
        Assert.Equal((3, 0, -1, 2L), (producers[1].ProducerEpoch, producers[1].LastSequence, producers[1].CoordinatorEpoch, producers[1].CurrentTxnStartOffset));
        Assert.Equal((0, 0, 9, -1L), (producers[2].ProducerEpoch, producers[2].LastSequence, producers[2].CoordinatorEpoch, producers[2].CurrentTxnStartOffset));
        Assert.All(producers, p => Assert.InRange(p.LastTimestamp, 1_700_000_000_000, before + 60_000));
        // Round trip through the wire format.
        var decoded = KafkaMessages.Deserialize<DescribeProducersResponse>(response.Serialize(0), 0);
        Assert.Equal(3, decoded.Topics[0].Partitions[0].ActiveProducers.Count);
    }

    [Fact]
    public async Task A_restart_rebuilds_ongoing_and_aborted_transactions_from_the_log()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic(Topic, [[1]]);
        var rm = cluster[1];
        await Produce(rm, Txn(1, 0, 0, "a"));              // 0 aborted below
        await Produce(rm, Batches.Of("plain"));            // 1
        Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(1, 0, commit: false, coordinatorEpoch: 4), 1, default))); // 2
        await Produce(rm, Txn(2, 0, 0, "open"));           // 3 still open at the restart
        await Produce(rm, Batches.Of("later"));            // 4
        Assert.Equal(3, rm.GetPartition(Tp)!.LastStableOffset);

        await cluster.StopAsync(1);
        rm = cluster.Start(1);
        var partition = rm.GetPartition(Tp)!;
        await Wait.Until(() => partition.HighWatermark == 5, "the HW after the restart");
        Assert.Equal(3, partition.LastStableOffset);
        Assert.Equal([(2L, 3L)], partition.OngoingTransactions);
        Assert.Equal([(1L, 0L, 2L)], partition.AbortedTransactions(0, long.MaxValue));
        var data = await Fetch(rm, 0, isolation: 1);
        Assert.Equal(1, Assert.Single(data.AbortedTransactions!).ProducerId);
        Assert.Equal([(1L, "plain")], ConsumeCommitted(data, 0));
        // Fencing survives too: producer 1's coordinator epoch 4 and producer 2's open transaction.
        Assert.Equal(ErrorCode.TransactionCoordinatorFenced, Code(await rm.WriteTxnMarkersAsync(Marker(1, 0, commit: false, coordinatorEpoch: 3), 1, default)));
        Assert.Equal(ErrorCode.InvalidTxnState, Code(await rm.ProduceAsync(Batches.Produce(Topic, 0, Batches.Idempotent(2, 0, 1, "x")), 9, default)));
        Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(2, 0, commit: true), 1, default)));
        Assert.Equal(6, partition.LastStableOffset);
        Assert.Equal([(1L, "plain"), (3L, "open"), (4L, "later")], ConsumeCommitted(await Fetch(rm, 0, isolation: 1), 0));
    }

    [Fact]
    public async Task Deleting_records_past_an_aborted_transaction_drops_it_from_the_index_also_after_a_restart()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic(Topic, [[1]]);
        var rm = cluster[1];
        await Produce(rm, Txn(1, 0, 0, "a"));               // 0
        Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(1, 0, commit: false), 1, default))); // 1
        await Produce(rm, Txn(2, 0, 0, "b"));               // 2
        Assert.Equal(ErrorCode.None, Code(await rm.WriteTxnMarkersAsync(Marker(2, 0, commit: false), 1, default))); // 3
        await Produce(rm, Batches.Of("c"));                 // 4
        var partition = rm.GetPartition(Tp)!;
        Assert.Equal(2, partition.AbortedTransactions(0, long.MaxValue).Count);

        var delete = await rm.DeleteRecordsAsync(new DeleteRecordsRequest
        {
            TimeoutMs = 5_000,
            Topics = [new DeleteRecordsRequest.DeleteRecordsTopic { Name = Topic, Partitions = [new() { PartitionIndex = 0, Offset = 2 }] }],
        }, 2, default);
        Assert.Equal(ErrorCode.None, (ErrorCode)delete.Topics[0].Partitions[0].ErrorCode);
        rm.RunIsrMaintenance();
        Assert.Equal([(2L, 2L, 3L)], partition.AbortedTransactions(0, long.MaxValue));
        Assert.Equal(5, partition.LastStableOffset);

        await cluster.StopAsync(1);
        rm = cluster.Start(1);
        partition = rm.GetPartition(Tp)!;
        Assert.Equal(2, partition.Log.LogStartOffset);
        Assert.Equal([(2L, 2L, 3L)], partition.AbortedTransactions(0, long.MaxValue));
        await Wait.Until(() => partition.LastStableOffset == 5, "the LSO after the restart");
        Assert.Equal([(4L, "c")], ConsumeCommitted(await Fetch(rm, 2, isolation: 1), 2));
    }

    [Fact]
    public async Task Markers_wait_for_replication_and_the_lso_waits_for_the_marker_to_be_replicated()
    {
        var options = new ReplicaManagerOptions { ReplicaFetchBackoffMs = 20, ReplicaFetchWaitMaxMs = 100, TxnMarkerTimeoutMs = 300 };
        await using var cluster = new TestCluster(2, options);
        cluster.CreateTopic(Topic, [[1, 2]]);
        var leader = cluster[1];
        var partition = leader.GetPartition(Tp)!;
        await Produce(leader, Txn(3, 0, 0, "t1", "t2"), acks: -1);
        Assert.Equal(2, partition.HighWatermark);
        Assert.Equal(0, partition.LastStableOffset);
        var follower = cluster[2].GetPartition(Tp)!;
        await Wait.Until(() => follower.Log.LogEndOffset == 2, "the follower to replicate the data");

        cluster.FetchClients[2].Blocked = true;
        var timedOut = await leader.WriteTxnMarkersAsync(Marker(3, 0, commit: true), 1, default);
        Assert.Equal(ErrorCode.RequestTimedOut, Code(timedOut));
        // The marker is in the leader's log, but not below the HW: its transaction is still unstable.
        Assert.Equal(3, partition.Log.LogEndOffset);
        Assert.Equal(2, partition.HighWatermark);
        Assert.Empty(partition.OngoingTransactions);
        Assert.Equal(0, partition.LastStableOffset);
        Assert.Empty(ConsumeCommitted(await Fetch(leader, 0, isolation: 1), 0));

        cluster.FetchClients[2].Blocked = false;
        await Wait.Until(() => partition.HighWatermark == 3, "the marker to be replicated");
        Assert.Equal(3, partition.LastStableOffset);
        Assert.Equal([(0L, "t1"), (1L, "t2")], ConsumeCommitted(await Fetch(leader, 0, isolation: 1), 0));
        // The follower built the same state from what it replicated.
        await Wait.Until(() => follower.HighWatermark == 3, "the follower's HW");
        Assert.Equal(3, follower.LastStableOffset);

        // A marker on a replicated partition is answered once the follower has it.
        await Produce(leader, Txn(3, 0, 2, "t3"), acks: -1);
        Assert.Equal(ErrorCode.None, Code(await leader.WriteTxnMarkersAsync(Marker(3, 0, commit: false), 1, default)));
        Assert.Equal(5, partition.HighWatermark);
        Assert.Equal(5, partition.LastStableOffset);
        await Wait.Until(() => follower.Log.LogEndOffset == 5, "the follower to replicate the abort marker");
        Assert.Equal([(3L, 3L, 4L)], follower.AbortedTransactions(0, long.MaxValue));
    }

    [Fact]
    public async Task A_follower_truncation_rebuilds_its_transaction_state()
    {
        var options = new ReplicaManagerOptions { ReplicaFetchBackoffMs = 20, ReplicaFetchWaitMaxMs = 100 };
        await using var cluster = new TestCluster(2, options);
        cluster.CreateTopic(Topic, [[1, 2]]);
        var leader = cluster[1];
        await Produce(leader, Txn(1, 0, 0, "a"));                                                           // 0
        Assert.Equal(ErrorCode.None, Code(await leader.WriteTxnMarkersAsync(Marker(1, 0, commit: false), 1, default))); // 1
        await Produce(leader, Txn(2, 0, 0, "b"));                                                           // 2
        Assert.Equal(ErrorCode.None, Code(await leader.WriteTxnMarkersAsync(Marker(2, 0, commit: false), 1, default))); // 3
        await Produce(leader, Txn(3, 0, 0, "c"));                                                           // 4 open
        var follower = cluster[2].GetPartition(Tp)!;
        await Wait.Until(() => follower.Log.LogEndOffset == 5, "the follower to replicate");
        Assert.Equal(2, follower.AbortedTransactions(0, long.MaxValue).Count);
        Assert.Equal([(3L, 4L)], follower.OngoingTransactions);

        // Cut the follower off and truncate it in the middle of producer 2's transaction (as a diverging epoch would).
        cluster.FetchClients[2].Blocked = true;
        int epoch = cluster.Registration(Topic, 0).LeaderEpoch;
        Assert.Equal(3, follower.TruncateOnDivergence(1, epoch, epoch, 3));
        Assert.Equal(3, follower.Log.LogEndOffset);
        Assert.Equal([(1L, 0L, 1L)], follower.AbortedTransactions(0, long.MaxValue));
        Assert.Equal([(2L, 2L)], follower.OngoingTransactions);

        // Fetching again brings back the marker and the open transaction.
        cluster.FetchClients[2].Blocked = false;
        await Wait.Until(() => follower.Log.LogEndOffset == 5, "the follower to catch up again");
        Assert.Equal([(1L, 0L, 1L), (2L, 2L, 3L)], follower.AbortedTransactions(0, long.MaxValue));
        Assert.Equal([(3L, 4L)], follower.OngoingTransactions);
    }
}
