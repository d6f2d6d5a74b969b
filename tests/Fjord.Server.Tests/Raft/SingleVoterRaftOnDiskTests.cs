using System.Text;
using Fjord.Protocol;
using Fjord.Protocol.Records;
using Fjord.Raft;
using Fjord.Server.Raft;
using Fjord.Storage;

namespace Fjord.Server.Tests.Raft;

/// <summary>A single-voter RaftNode over the on-disk adapters, across a restart.</summary>
public sealed class SingleVoterRaftOnDiskTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    private string MetadataDir => _dir.Sub("__cluster_metadata-0");

    private static RaftNode BecomeLeader(PartitionLogRaftLog log, FileQuorumStateStore store, ref long now)
    {
        var node = new RaftNode(new RaftConfig(), nodeId: 1, voterIds: [1], log, store, new Random(1), "cluster", now);
        for (int i = 0; i < 1000 && node.Role != RaftRole.Leader; i++)
        {
            now += 50;
            node.Poll(now);
        }
        Assert.Equal(RaftRole.Leader, node.Role);
        return node;
    }

    private static List<string> DataValues(IEnumerable<CommittedBatch> batches)
    {
        var values = new List<string>();
        foreach (var committed in batches.Where(b => !b.IsControl))
        {
            var reader = new RecordBatchReader(committed.Bytes);
            while (reader.MoveNext())
            {
                using var records = reader.Current.OpenRecords(1 << 20);
                foreach (var record in records) values.Add(Encoding.UTF8.GetString(record.ValueSpan));
            }
        }
        return values;
    }

    private static List<CommittedBatch> Commit(RaftNode node, ref long now, params string[] values)
    {
        var last = node.Propose(values.Select(Encoding.UTF8.GetBytes).ToList(), now);
        Assert.NotNull(last);
        node.Flush(now); // as a driver does once it has sent what Propose queued
        var committed = new List<CommittedBatch>();
        for (int i = 0; i < 100 && node.HighWatermark <= last; i++)
        {
            now += 10;
            node.Poll(now);
            committed.AddRange(node.DrainCommitted().Cast<CommittedBatch>());
        }
        Assert.True(node.HighWatermark > last, $"offset {last} not committed (high watermark {node.HighWatermark})");
        committed.AddRange(node.DrainCommitted().Cast<CommittedBatch>());
        return committed;
    }

    [Fact]
    public void Committed_records_survive_a_restart_and_new_proposals_follow_them()
    {
        long now = 1_000;
        var log = PartitionLogRaftLog.Open(MetadataDir);
        var store = new FileQuorumStateStore(MetadataDir);
        var node = BecomeLeader(log, store, ref now);
        int firstEpoch = node.Epoch;
        Assert.Equal(firstEpoch, store.Read()!.Epoch);

        var committed = Commit(node, ref now, "a", "b");
        committed.AddRange(Commit(node, ref now, "c"));
        Assert.Equal(["a", "b", "c"], DataValues(committed));
        long endBefore = log.EndOffset;
        Assert.Equal(endBefore, log.FlushedOffset);
        log.Close();

        // Restart: everything reopened from the same directory.
        now += 10_000;
        var log2 = PartitionLogRaftLog.Open(MetadataDir);
        var store2 = new FileQuorumStateStore(MetadataDir);
        Assert.Equal(endBefore, log2.EndOffset);
        Assert.True(store2.Read()!.Epoch >= firstEpoch);
        try
        {
            var node2 = BecomeLeader(log2, store2, ref now);
            Assert.True(node2.Epoch >= firstEpoch);
            Assert.Equal(node2.Epoch, log2.LastEpoch);

            var again = new List<CommittedBatch>(node2.DrainCommitted().Cast<CommittedBatch>());
            again.AddRange(Commit(node2, ref now, "d"));
            Assert.Equal(0, again[0].BaseOffset); // delivered again from the log start
            for (int i = 1; i < again.Count; i++) Assert.Equal(again[i - 1].LastOffset + 1, again[i].BaseOffset);
            Assert.Equal(["a", "b", "c", "d"], DataValues(again));
            var d = again.Last(b => !b.IsControl);
            Assert.True(d.BaseOffset >= endBefore);
            Assert.Equal(node2.Epoch, d.Epoch);
        }
        finally
        {
            log2.Close();
        }
    }

    [Fact]
    public void A_restart_loads_the_latest_snapshot_then_the_batches_after_it()
    {
        long now = 1_000;
        // `storage format` leaves a bootstrap snapshot (end offset 0, epoch 0) holding KRaftVersion.
        using (var bootstrap = SnapshotWriter.Create(MetadataDir, new SnapshotId(0, 0), 0, Fjord.Common.SystemClock.Instance,
                   headerControlRecords: [(ControlRecordType.KRaftVersion, new Fjord.Protocol.Messages.KRaftVersionRecord { KRaftVersion = 0 }.Serialize(0))]))
            bootstrap.Freeze();
        var log = PartitionLogRaftLog.Open(MetadataDir);
        var store = new FileQuorumStateStore(MetadataDir);
        long snapshotEnd;
        OffsetAndEpoch id;
        try
        {
            var node = BecomeLeader(log, store, ref now);
            var load = Assert.IsType<SnapshotLoad>(Assert.Single(node.DrainCommitted()));
            Assert.Equal((new OffsetAndEpoch(0, 0), 0), (load.Id, load.ReadValues().Count));

            var committed = Commit(node, ref now, "a");
            committed.AddRange(Commit(node, ref now, "b"));
            Assert.Equal(["a", "b"], DataValues(committed));
            snapshotEnd = node.HighWatermark;
            using (var writer = node.CreateSnapshot(snapshotEnd, now))
            {
                writer.Append([Encoding.UTF8.GetBytes("image:a,b")]);
                id = writer.Freeze();
            }
            Assert.Equal(snapshotEnd, log.StartOffset);
            Assert.Equal([new SnapshotId(id.Offset, id.Epoch)], SnapshotFiles.List(MetadataDir)); // the bootstrap one is gone
            Assert.Equal(["c"], DataValues(Commit(node, ref now, "c")));
        }
        finally
        {
            log.Close();
        }

        now += 10_000;
        var log2 = PartitionLogRaftLog.Open(MetadataDir);
        try
        {
            Assert.Equal(snapshotEnd, log2.StartOffset);
            var node2 = BecomeLeader(log2, new FileQuorumStateStore(MetadataDir), ref now);
            var load = Assert.IsType<SnapshotLoad>(Assert.Single(node2.DrainCommitted()));
            Assert.Equal(id, load.Id);
            Assert.Equal(["image:a,b"], load.ReadValues().Select(v => Encoding.UTF8.GetString(v)));
            var after = Commit(node2, ref now, "d");
            Assert.Equal(snapshotEnd, after[0].BaseOffset);                // the batches after the snapshot, nothing before
            for (int i = 1; i < after.Count; i++) Assert.Equal(after[i - 1].LastOffset + 1, after[i].BaseOffset);
            Assert.Equal(["c", "d"], DataValues(after));
        }
        finally
        {
            log2.Close();
        }
    }
}
