using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using static Fjord.Controller.Tests.ReplicationControlTests;

namespace Fjord.Controller.Tests;

/// <summary>Non-atomic results (broker lifecycle changes, elections, reassignments) are appended in
/// bounded batches; atomic ones (CreateTopics…) stay one batch.</summary>
public sealed class BatchSplitTests
{
    private const int Partitions = 600;

    /// <summary>Per batch in the node's log: its data records and the bytes of their framed values.</summary>
    private static List<(List<object> Records, long Bytes)> DataBatches(HarnessNode node)
    {
        var batches = new List<(List<object>, long)>();
        foreach (var (_, _, _, bytes) in node.Log.Batches)
        {
            var reader = new RecordBatchReader(bytes);
            var values = new List<object>();
            long size = 0;
            while (reader.MoveNext())
            {
                if (reader.Current.IsControl) continue;
                using var records = reader.Current.OpenRecords(1 << 24);
                foreach (var record in records)
                {
                    values.Add(MetadataRecordFrame.Decode(record.Value).Message);
                    size += record.Value.Length;
                }
            }
            if (values.Count > 0) batches.Add((values, size));
        }
        return batches;
    }

    [Theory]
    [InlineData(100, 4 * 1024 * 1024)] // bounded by record count
    [InlineData(10_000, 6_000)]        // bounded by bytes
    public void Controlled_shutdown_of_a_broker_leading_many_partitions_writes_bounded_batches(int maxRecords, int maxBytes)
    {
        var (cluster, active, epochs) = WithBrokers(3, c => c with { MaxRecordsPerBatch = maxRecords, MaxBatchBytes = maxBytes }, voters: 3);
        // Broker 1 leads every partition and is in every ISR.
        var topic = Manual("wide", [.. Enumerable.Range(0, Partitions).Select(_ => new[] { 1, 2, 3 })]);
        Assert.Equal(0, Create(cluster, active, topic).Topics[0].ErrorCode);
        int before = DataBatches(cluster.Raft[active.NodeId]).Count;
        long offsetBefore = active.LastCommittedOffset;

        var first = cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(1, epochs[1], offsetBefore, wantShutDown: true)));
        Assert.Equal(0, first.ErrorCode);
        Assert.False(first.ShouldShutDown);
        // Answered only once every batch of the operation committed.
        var written = DataBatches(cluster.Raft[active.NodeId]).Skip(before).ToList();
        long lastOffset = cluster.Raft[active.NodeId].Log.Batches.Last().LastOffset;
        Assert.True(active.LastCommittedOffset >= lastOffset);
        Assert.True(written.Count > 1, $"expected several batches, got {written.Count}");
        Assert.All(written, b => Assert.True(b.Records.Count <= maxRecords, $"{b.Records.Count} records in one batch"));
        Assert.All(written, b => Assert.True(b.Bytes <= maxBytes || b.Records.Count == 1, $"{b.Bytes} bytes in one batch"));
        // The lifecycle record comes first, then one self-contained change per partition.
        Assert.IsType<BrokerRegistrationChangeRecord>(written[0].Records[0]);
        Assert.Equal(Partitions, written.SelectMany(b => b.Records).OfType<PartitionChangeRecord>().Count());

        var partitions = cluster.Committed(active, s => s.TopicByName("wide")!.Partitions.Values.ToList());
        Assert.All(partitions, p =>
        {
            Assert.Equal(2, p.Leader);
            Assert.Equal([2, 3], p.Isr.ToArray());
        });
        Assert.False(cluster.Committed(active, s => ReplicationControlManager.LeadsPartitions(s, 1)));

        // Standbys replayed the same batches into the same state.
        Assert.True(cluster.Raft.RunUntil(() => cluster.Controllers.Values.All(c => c.LastCommittedOffset >= active.LastCommittedOffset)));
        var expected = Describe(cluster.Committed(active, s => s));
        foreach (var c in cluster.Controllers.Values) Assert.Equal(expected, Describe(cluster.Committed(c, s => s)));

        var second = cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(1, epochs[1], active.LastCommittedOffset, wantShutDown: true)));
        Assert.True(second.ShouldShutDown);
        Assert.True(second.IsFenced);
    }

    [Fact]
    public void Fencing_by_session_timeout_is_split_too_and_atomic_results_never_are()
    {
        var cluster = NewCluster(configure: c => c with { BrokerSessionTimeoutMs = 9000, MaxRecordsPerBatch = 50 });
        var active = cluster.ElectActive();
        var epochs = Enumerable.Range(1, 2).ToDictionary(id => id, id => cluster.RegisterUnfenced(active, id));
        var topic = Manual("wide", [.. Enumerable.Range(0, 120).Select(_ => new[] { 1, 2 })]);
        int before = DataBatches(cluster.Raft[1]).Count;
        Assert.Equal(0, Create(cluster, active, topic).Topics[0].ErrorCode);
        var create = Assert.Single(DataBatches(cluster.Raft[1]).Skip(before)); // 121 records, atomic: one batch
        Assert.Equal(121, create.Records.Count);

        before = DataBatches(cluster.Raft[1]).Count;
        for (int i = 0; i < 6; i++)
        {
            cluster.Raft.Advance(2000);
            cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(2, epochs[2], active.LastCommittedOffset)));
        }
        Assert.True(cluster.Committed(active, s => s.Brokers[1].Fenced));
        var fence = DataBatches(cluster.Raft[1]).Skip(before).Where(b => b.Records.Any(r => r is FenceBrokerRecord or PartitionChangeRecord)).ToList();
        Assert.Equal([50, 50, 21], fence.Select(b => b.Records.Count));
        Assert.All(cluster.Committed(active, s => s.TopicByName("wide")!.Partitions.Values), p => Assert.Equal(2, p.Leader));
    }
}
