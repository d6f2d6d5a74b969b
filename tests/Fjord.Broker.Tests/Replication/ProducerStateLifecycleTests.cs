using Fjord.Broker.Replication;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Broker.Tests.Replication;

/// <summary>
/// Producer state through the replica manager: producer-id expiration (manual clock, dynamic config,
/// the periodic check), snapshots written on segment rolls and on clean shutdown, and restarts that load
/// them instead of scanning the log.
/// </summary>
public sealed class ProducerStateLifecycleTests
{
    private const long T0 = 1_700_000_000_000;

    private static byte[] Idempotent(long producerId, short epoch, int sequence, long timestamp, params string[] values) =>
        Batches.Build(new RecordBatchOptions { ProducerId = producerId, ProducerEpoch = epoch, BaseSequence = sequence }, values, timestamp);

    private static byte[] Transactional(long producerId, short epoch, int sequence, long timestamp, params string[] values) =>
        Batches.Build(new RecordBatchOptions { ProducerId = producerId, ProducerEpoch = epoch, BaseSequence = sequence, IsTransactional = true }, values, timestamp);

    private static List<long> ProducerIds(Partition p) => p.ActiveProducers().Select(s => s.ProducerId).ToList();

    // ------------------------------------------------------------------ expiration

    [Fact]
    public async Task Producers_idle_for_the_expiration_are_forgotten_unless_a_transaction_is_open()
    {
        var clock = new ManualClock(T0);
        await using var node = new SingleNode(new ReplicaManagerOptions { ProducerIdExpirationMs = 60_000 }, clock);
        node.CreateTopic("exp");
        var partition = node.Partition("exp");

        // Record timestamps are timestamp + index: this batch's max timestamp (what expiration looks at) is T0.
        Assert.Equal(0, (await node.ProduceAsync("exp", Idempotent(7, 0, 0, T0 - 2, "a", "b", "c"))).BaseOffset);
        Assert.Equal(3, (await node.ProduceAsync("exp", Transactional(8, 0, 0, T0, "t"))).BaseOffset);
        var retried = Idempotent(9, 0, 0, T0, "r");
        Assert.Equal(4, (await node.ProduceAsync("exp", retried)).BaseOffset);
        // Known producers: a gap is refused, a retry is a duplicate answered with the original offset.
        Assert.Equal(ErrorCode.OutOfOrderSequenceNumber, (ErrorCode)(await node.ProduceAsync("exp", Idempotent(7, 0, 5, T0, "x"))).ErrorCode);
        Assert.Equal(4, (await node.ProduceAsync("exp", retried)).BaseOffset);
        Assert.Equal(5, partition.Log.LogEndOffset);

        clock.Advance(59_999);
        Assert.Equal(0, node.Replicas.RemoveExpiredProducers());
        clock.Advance(1);
        Assert.Equal(2, node.Replicas.RemoveExpiredProducers()); // 7 and 9; 8 has a transaction open
        Assert.Equal([8L], ProducerIds(partition));
        Assert.Contains(node.LogLines, l => l.Contains("2 producer id(s) expired", StringComparison.Ordinal));

        // An expired producer is an unknown one again (Kafka 2.5+, KIP-360): accepted at any sequence, and
        // at sequence 0 of course; an old retry is no longer recognised and is appended again.
        long now = clock.UnixTimeMs;
        var gap = await node.ProduceAsync("exp", Idempotent(7, 0, 5, now, "late"));
        Assert.Equal(ErrorCode.None, (ErrorCode)gap.ErrorCode);
        Assert.Equal(5, gap.BaseOffset);
        Assert.Equal(ErrorCode.None, (ErrorCode)(await node.ProduceAsync("exp", Idempotent(7, 0, 6, now, "next"))).ErrorCode);
        Assert.Equal(ErrorCode.OutOfOrderSequenceNumber, (ErrorCode)(await node.ProduceAsync("exp", Idempotent(7, 0, 9, now, "gap"))).ErrorCode);
        Assert.Equal(7, (await node.ProduceAsync("exp", retried)).BaseOffset);
        Assert.Equal(ErrorCode.None, (ErrorCode)(await node.ProduceAsync("exp", Idempotent(10, 0, 0, now, "fresh"))).ErrorCode);

        // The open transaction keeps its producer however long it takes; once it ends, the marker's time counts.
        clock.Advance(10 * 60_000);
        Assert.Equal(ErrorCode.None, await node.MarkerAsync("exp", 8, 0, commit: false));
        Assert.Equal(3, node.Replicas.RemoveExpiredProducers()); // 7, 9, 10
        Assert.Equal([8L], ProducerIds(partition));
        clock.Advance(60_000);
        Assert.Equal(1, node.Replicas.RemoveExpiredProducers());
        Assert.Empty(ProducerIds(partition));
        // Expiration does not touch the aborted index.
        Assert.Equal([(8L, 3L, 9L)], partition.AbortedTransactions(0, long.MaxValue));
    }

    [Fact]
    public async Task The_dynamic_broker_config_overrides_the_static_expiration()
    {
        var clock = new ManualClock(T0);
        await using var node = new SingleNode(new ReplicaManagerOptions { ProducerIdExpirationMs = 3_600_000 }, clock);
        node.CreateTopic("dyn");
        Assert.Equal(3_600_000, node.Replicas.ProducerIdExpirationMsFor(node.Replicas.Image));
        await node.ProduceAsync("dyn", Idempotent(1, 0, 0, T0, "a"));

        // The cluster-wide default, then this broker's own value, as Kafka's dynamic broker configs.
        node.Publish(new ConfigRecord { ResourceType = ConfigResourceTypes.Broker, ResourceName = "", Name = "producer.id.expiration.ms", Value = "5000" });
        Assert.Equal(5_000, node.Replicas.ProducerIdExpirationMsFor(node.Replicas.Image));
        node.Publish(new ConfigRecord { ResourceType = ConfigResourceTypes.Broker, ResourceName = "1", Name = "producer.id.expiration.ms", Value = "2000" });
        Assert.Equal(2_000, node.Replicas.ProducerIdExpirationMsFor(node.Replicas.Image));
        clock.Advance(1_999);
        Assert.Equal(0, node.Replicas.RemoveExpiredProducers());
        clock.Advance(1);
        Assert.Equal(1, node.Replicas.RemoveExpiredProducers());
    }

    [Fact]
    public async Task The_replica_manager_checks_periodically()
    {
        var clock = new ManualClock(T0);
        await using var node = new SingleNode(new ReplicaManagerOptions { ProducerIdExpirationMs = 1_000, ProducerIdExpirationCheckIntervalMs = 20 }, clock);
        node.CreateTopic("loop");
        var partition = node.Partition("loop");
        await node.ProduceAsync("loop", Idempotent(1, 0, 0, T0, "a"));
        Assert.Single(ProducerIds(partition));
        clock.Advance(1_000);
        await Wait.Until(() => ProducerIds(partition).Count == 0, "the periodic check to expire the producer");
    }

    [Fact]
    public void Server_properties_reach_the_options()
    {
        var options = new ReplicaManagerOptions().WithServerProperties(new Dictionary<string, string>
        {
            ["producer.id.expiration.ms"] = "1234",
            ["producer.id.expiration.check.interval.ms"] = " 99 ",
            ["unrelated"] = "x",
        });
        Assert.Equal(1234, options.ProducerIdExpirationMs);
        Assert.Equal(99, options.ProducerIdExpirationCheckIntervalMs);
        var defaults = new ReplicaManagerOptions().WithServerProperties(new Dictionary<string, string>());
        Assert.Equal(86_400_000, defaults.ProducerIdExpirationMs);
        Assert.Equal(600_000, defaults.ProducerIdExpirationCheckIntervalMs);
        var bad = Assert.Throws<InvalidBrokerPropertyException>(() => new ReplicaManagerOptions().WithServerProperties(new Dictionary<string, string> { ["producer.id.expiration.ms"] = "0" }));
        Assert.Contains("producer.id.expiration.ms", bad.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new ReplicaManagerOptions { ProducerIdExpirationCheckIntervalMs = 0 }.Validate());
    }

    [Fact]
    public void Expiration_in_the_table_uses_the_last_timestamp_and_skips_open_transactions()
    {
        var table = new ProducerStateTable();
        table.Record(1, 0, 0, 0, 0, 0, timestamp: 100);
        table.Record(2, 0, 0, 0, 1, 1, timestamp: 100, isTransactional: true);
        table.RecordControl(3, 0); // no timestamp yet (-1): expires at once
        table.Record(4, 0, 0, 0, 2, 2, timestamp: 150);
        Assert.Equal(1, table.RemoveExpired(nowMs: 149, expirationMs: 50)); // 3 only
        Assert.Equal(1, table.RemoveExpired(nowMs: 150, expirationMs: 50)); // 1
        Assert.Equal([2L, 4L], table.Snapshot().Select(p => p.ProducerId));
        Assert.Equal(1, table.LastStableOffset(10, 0));                     // 2's transaction still holds the LSO
    }

    // ------------------------------------------------------------------ snapshots across restarts

    /// <summary>Runs <paramref name="count"/> workload batches through Produce / WriteTxnMarkers (markers are not client batches).</summary>
    private static Task RunWorkload(SingleNode node, string topic, ProducerWorkload workload, int count) =>
        RunWorkload(node.Replicas, topic, workload, count);

    private static async Task RunWorkload(ReplicaManager rm, string topic, ProducerWorkload workload, int count)
    {
        for (int i = 0; i < count; i++)
        {
            var batch = workload.Next();
            var reader = new RecordBatchReader(batch);
            Assert.True(reader.MoveNext());
            var header = reader.Current;
            if (header.IsControl)
            {
                var marker = ProducerStateTable.ReadMarker(header)!.Value;
                Assert.Equal(ErrorCode.None, await SingleNode.MarkerAsync(rm, topic, header.ProducerId, header.ProducerEpoch, marker.IsCommit, marker.CoordinatorEpoch));
            }
            else
            {
                var response = await rm.ProduceAsync(Batches.Produce(topic, 0, batch), 9, default);
                Assert.Equal(ErrorCode.None, (ErrorCode)response.Responses[0].PartitionResponses[0].ErrorCode);
            }
        }
    }

    private static string[] SnapshotFiles(Partition p) => Directory.GetFiles(p.Log.Directory, "*.snapshot").Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public async Task Rolls_and_clean_shutdown_write_snapshots_and_a_restart_loads_them_instead_of_scanning()
    {
        await using var node = new SingleNode();
        node.CreateTopic("rs", configs: new() { ["segment.bytes"] = "1024" });
        var workload = new ProducerWorkload(7, producers: 8);
        await RunWorkload(node, "rs", workload, 300);
        var partition = node.Partition("rs");
        Assert.True(partition.Log.SegmentCount > 5);
        // Rolls wrote snapshots; only the newest two stay.
        Assert.Equal(2, SnapshotFiles(partition).Length);
        var last = Idempotent(42, 0, 0, T0, "last");
        long lastOffset = (await node.ProduceAsync("rs", last)).BaseOffset;
        string before = ProducerStateAssert.WithoutUnreplicated(partition.Producers.Describe());
        long end = partition.Log.LogEndOffset;

        await node.RestartAsync();
        partition = node.Partition("rs");
        Assert.Contains(ProducerStateSnapshot.FileName(end), SnapshotFiles(partition)); // the shutdown snapshot
        Assert.Contains(node.LogLines, l => l.Contains($"from the snapshot at {end} and 0 batch(es)", StringComparison.Ordinal));
        string after = ProducerStateAssert.WithoutUnreplicated(partition.Producers.Describe());
        Assert.Equal(before, after);
        Assert.Equal(ProducerStateAssert.WithoutUnreplicated(ProducerStateAssert.FullScan(partition.Log)), after);
        // Idempotence survives: a retry of the last batch is a duplicate.
        Assert.Equal(lastOffset, (await node.ProduceAsync("rs", last)).BaseOffset);
        Assert.Equal(end, partition.Log.LogEndOffset);

        // Without the shutdown snapshot (as after a crash), the newest roll snapshot and the log after it give the same table.
        await RunWorkload(node, "rs", workload, 150);
        before = ProducerStateAssert.WithoutUnreplicated(partition.Producers.Describe());
        end = partition.Log.LogEndOffset;
        await node.StopAsync();
        File.Delete(Path.Combine(partition.Log.Directory, ProducerStateSnapshot.FileName(end)));
        var lines = node.LogLines.Count;
        node.Start();
        partition = node.Partition("rs");
        var loadLine = node.LogLines.Skip(lines).Single(l => l.Contains("replica loaded", StringComparison.Ordinal));
        Assert.Matches(@"from the snapshot at \d+ and [1-9]\d* batch\(es\)", loadLine);
        Assert.Equal(before, ProducerStateAssert.WithoutUnreplicated(partition.Producers.Describe()));
        Assert.Equal(ProducerStateAssert.WithoutUnreplicated(ProducerStateAssert.FullScan(partition.Log)),
            ProducerStateAssert.WithoutUnreplicated(partition.Producers.Describe()));

        // The last stable offset is the same as a full scan gives (open transactions restored from the snapshot).
        var scanned = new ProducerStateTable();
        scanned.Rebuild(partition.Log);
        Assert.Equal(scanned.LastStableOffset(partition.HighWatermark, partition.Log.LogStartOffset), partition.LastStableOffset);
    }

    [Fact]
    public async Task DeleteRecords_past_the_snapshots_removes_them_at_the_next_maintenance()
    {
        await using var node = new SingleNode();
        node.CreateTopic("dr", configs: new() { ["segment.bytes"] = "1024" });
        await RunWorkload(node, "dr", new ProducerWorkload(3, producers: 4), 200);
        var partition = node.Partition("dr");
        Assert.Equal(2, SnapshotFiles(partition).Length);
        Assert.True(partition.Log.AdvanceLogStartOffset(partition.Log.LogEndOffset));
        node.Replicas.RunIsrMaintenance();
        Assert.Empty(SnapshotFiles(partition));
        Assert.Empty(partition.Snapshots.Offsets);
    }

    [Fact]
    public async Task A_follower_truncation_below_its_newest_snapshot_reloads_from_an_older_one()
    {
        var options = new ReplicaManagerOptions { ReplicaFetchBackoffMs = 20, ReplicaFetchWaitMaxMs = 100 };
        await using var cluster = new TestCluster(2, options);
        cluster.CreateTopic("ft", [[1, 2]], new() { ["segment.bytes"] = "1024" });
        var tp = new TopicPartition("ft", 0);
        var leader = cluster[1].GetPartition(tp)!;
        var follower = cluster[2].GetPartition(tp)!;
        await RunWorkload(cluster[1], "ft", new ProducerWorkload(17, producers: 6), 200);
        await Wait.Until(() => follower.Log.LogEndOffset == leader.Log.LogEndOffset, "the follower to replicate");
        // The follower rolled its own segments and wrote its own snapshots.
        var offsets = follower.Snapshots.Offsets;
        Assert.Equal(2, offsets.Count);

        cluster.FetchClients[2].Blocked = true;
        int epoch = cluster.Registration("ft", 0).LeaderEpoch;
        long target = follower.TruncateOnDivergence(1, epoch, epoch, offsets[1] - 1)!.Value;
        Assert.True(target < offsets[1]);
        Assert.DoesNotContain(offsets[1], follower.Snapshots.Offsets);
        Assert.False(File.Exists(follower.Snapshots.PathOf(offsets[1])));
        Assert.Equal(ProducerStateAssert.FullScan(follower.Log), follower.Producers.Describe());

        cluster.FetchClients[2].Blocked = false;
        await Wait.Until(() => follower.Log.LogEndOffset == leader.Log.LogEndOffset, "the follower to catch up again");
        Assert.Equal(ProducerStateAssert.WithoutUnreplicated(leader.Producers.Describe()),
            ProducerStateAssert.WithoutUnreplicated(follower.Producers.Describe()));
    }
}
