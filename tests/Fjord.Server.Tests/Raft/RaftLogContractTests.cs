using Fjord.Protocol;
using Fjord.Protocol.Records;
using Fjord.Raft;
using Fjord.Server.Raft;

namespace Fjord.Server.Tests.Raft;

/// <summary>The <see cref="IRaftLog"/> contract, run against every implementation.</summary>
public abstract partial class RaftLogContractTests : IDisposable
{
    protected abstract IRaftLog Log { get; }

    /// <summary>Simulates a restart: what was flushed must survive (unflushed data may or may not).</summary>
    protected abstract IRaftLog Reopen();

    /// <summary>A fresh, empty log of the same kind (for follower appends).</summary>
    protected abstract IRaftLog NewEmpty();

    public virtual void Dispose() { }

    internal static byte[] Batch(int records, int epoch = 0, long baseOffset = 0, string prefix = "r")
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = baseOffset, PartitionLeaderEpoch = epoch });
        for (int i = 0; i < records; i++) builder.Append(1_000 + i, null, System.Text.Encoding.UTF8.GetBytes($"{prefix}{i}"));
        return builder.ToArray();
    }

    internal static List<(long Base, long Last, int Epoch)> Batches(ReadOnlyMemory<byte> bytes)
    {
        var result = new List<(long, long, int)>();
        var reader = new RecordBatchReader(bytes);
        while (reader.MoveNext()) result.Add((reader.Current.BaseOffset, reader.Current.LastOffset, reader.Current.PartitionLeaderEpoch));
        return result;
    }

    /// <summary>Batches [0,1] and [2,4] in epoch 1, [5] in epoch 3.</summary>
    private static void AppendEpochs113(IRaftLog log)
    {
        log.AppendAsLeader(Batch(2), 1);
        log.AppendAsLeader(Batch(3), 1);
        log.AppendAsLeader(Batch(1), 3);
    }

    [Fact]
    public void Empty_log()
    {
        Assert.Equal(0, Log.StartOffset);
        Assert.Equal(0, Log.EndOffset);
        Assert.Equal(0, Log.FlushedOffset);
        Assert.Equal(0, Log.LastEpoch);
        Assert.Equal(new OffsetAndEpoch(-1, -1), Log.EndOffsetForEpoch(0));
        Assert.Equal(new OffsetAndEpoch(-1, -1), Log.EndOffsetForEpoch(5));
        Assert.True(Log.Read(0, 1000, long.MaxValue).IsEmpty);
    }

    [Fact]
    public void Appends_as_leader_assign_offsets_and_epochs()
    {
        AppendEpochs113(Log);
        Assert.Equal(6, Log.EndOffset);
        Assert.Equal(3, Log.LastEpoch);
        Assert.Equal([(0L, 1L, 1), (2L, 4L, 1), (5L, 5L, 3)], Batches(Log.Read(0, int.MaxValue, long.MaxValue)));
    }

    [Theory]
    [InlineData(0, -1, -1)]
    [InlineData(1, 5, 1)]
    [InlineData(2, 5, 1)]
    [InlineData(3, 6, 3)]
    [InlineData(4, 6, 3)]
    public void EndOffsetForEpoch_follows_the_raft_contract(int epoch, long offset, int answeredEpoch)
    {
        AppendEpochs113(Log);
        Assert.Equal(new OffsetAndEpoch(offset, answeredEpoch), Log.EndOffsetForEpoch(epoch));
    }

    [Fact]
    public void Reads_respect_budget_and_bound()
    {
        AppendEpochs113(Log);
        var all = Log.Read(0, int.MaxValue, long.MaxValue);
        int first = FirstBatchSize(all);
        int second = FirstBatchSize(all[first..]);

        Assert.Equal([(0L, 1L, 1)], Batches(Log.Read(0, 1, long.MaxValue)));          // at least one batch
        Assert.Equal([(0L, 1L, 1)], Batches(Log.Read(0, 0, long.MaxValue)));
        Assert.Equal([(0L, 1L, 1)], Batches(Log.Read(0, first + second - 1, long.MaxValue)));
        Assert.Equal([(0L, 1L, 1), (2L, 4L, 1)], Batches(Log.Read(0, first + second, long.MaxValue)));
        Assert.Equal([(2L, 4L, 1), (5L, 5L, 3)], Batches(Log.Read(3, int.MaxValue, long.MaxValue))); // from the batch holding 3
        Assert.Equal([(0L, 1L, 1), (2L, 4L, 1)], Batches(Log.Read(0, int.MaxValue, 5)));
        Assert.Equal([(0L, 1L, 1)], Batches(Log.Read(0, int.MaxValue, 4)));          // [2,4] ends at the bound
        Assert.Empty(Batches(Log.Read(0, int.MaxValue, 1)));                         // even the first batch ends past it
        Assert.Empty(Batches(Log.Read(6, int.MaxValue, long.MaxValue)));             // at the end
        Assert.Equal(all.ToArray(), Log.Read(0, int.MaxValue, 6).ToArray());
    }

    private static int FirstBatchSize(ReadOnlyMemory<byte> bytes)
    {
        var reader = new RecordBatchReader(bytes);
        Assert.True(reader.MoveNext());
        return reader.Current.Bytes.Length;
    }

    [Fact]
    public void Truncation_drops_whole_batches_and_epochs()
    {
        AppendEpochs113(Log);
        Log.Flush();
        Log.TruncateTo(5);
        Assert.Equal(5, Log.EndOffset);
        Assert.Equal(5, Log.FlushedOffset);
        Assert.Equal(1, Log.LastEpoch);
        Assert.Equal(new OffsetAndEpoch(5, 1), Log.EndOffsetForEpoch(3));

        Log.AppendAsLeader(Batch(2), 4);
        Assert.Equal(7, Log.EndOffset);
        Assert.Equal(new OffsetAndEpoch(5, 1), Log.EndOffsetForEpoch(3));
        Assert.Equal(new OffsetAndEpoch(7, 4), Log.EndOffsetForEpoch(4));

        Log.TruncateTo(2);
        Assert.Equal(2, Log.EndOffset);
        Assert.Equal(2, Log.FlushedOffset);
        Assert.Equal([(0L, 1L, 1)], Batches(Log.Read(0, int.MaxValue, long.MaxValue)));
        Assert.Equal(new OffsetAndEpoch(2, 1), Log.EndOffsetForEpoch(4));

        Log.TruncateTo(10); // past the end: nothing happens
        Assert.Equal(2, Log.EndOffset);
    }

    [Fact]
    public void Flush_makes_everything_appended_durable()
    {
        Log.AppendAsLeader(Batch(2), 1);
        Assert.Equal(0, Log.FlushedOffset);
        Log.Flush();
        Assert.Equal(2, Log.FlushedOffset);
        Log.AppendAsLeader(Batch(3), 2);
        Assert.Equal(2, Log.FlushedOffset);
        Log.Flush();
        Assert.Equal(5, Log.FlushedOffset);
    }

    [Fact]
    public void Reopen_keeps_flushed_data()
    {
        AppendEpochs113(Log);
        Log.Flush();
        var flushed = Log.Read(0, int.MaxValue, long.MaxValue).ToArray();
        Log.AppendAsLeader(Batch(2), 3);

        var reopened = Reopen();
        Assert.True(reopened.EndOffset >= 6);
        Assert.True(reopened.FlushedOffset >= 6 || reopened.EndOffset == reopened.FlushedOffset);
        Assert.Equal(flushed, reopened.Read(0, int.MaxValue, 6).ToArray());
        Assert.Equal(3, reopened.LastEpoch);
        Assert.Equal(new OffsetAndEpoch(5, 1), reopened.EndOffsetForEpoch(2));
        Assert.Equal(new OffsetAndEpoch(-1, -1), reopened.EndOffsetForEpoch(0));

        reopened.AppendAsLeader(Batch(1), 5);
        Assert.Equal(5, reopened.LastEpoch);
        Assert.Equal(reopened.EndOffset - 1, Batches(reopened.Read(0, int.MaxValue, long.MaxValue))[^1].Last);
    }

    [Fact]
    public void Follower_appends_keep_offsets_and_epochs()
    {
        AppendEpochs113(Log);
        var bytes = Log.Read(0, int.MaxValue, long.MaxValue);
        var follower = NewEmpty();
        follower.AppendAsFollower(bytes);
        Assert.Equal(6, follower.EndOffset);
        Assert.Equal(3, follower.LastEpoch);
        for (int epoch = 0; epoch <= 4; epoch++) Assert.Equal(Log.EndOffsetForEpoch(epoch), follower.EndOffsetForEpoch(epoch));
        Assert.Equal(bytes.ToArray(), follower.Read(0, int.MaxValue, long.MaxValue).ToArray());

        Assert.Throws<InvalidOperationException>(() => follower.AppendAsFollower(Batch(1, epoch: 3, baseOffset: 7)));  // a gap
        Assert.Throws<InvalidOperationException>(() => follower.AppendAsFollower(Batch(1, epoch: 3, baseOffset: 4)));  // an overlap
        Assert.Throws<InvalidOperationException>(() => follower.AppendAsFollower(Batch(1, epoch: 2, baseOffset: 6)));  // epoch going back
        Assert.Equal(6, follower.EndOffset);
        follower.AppendAsFollower(Batch(1, epoch: 4, baseOffset: 6));
        Assert.Equal(7, follower.EndOffset);
        Assert.Equal(new OffsetAndEpoch(7, 4), follower.EndOffsetForEpoch(4));
    }
}

/// <summary>The snapshot part of the <see cref="IRaftLog"/> contract (KIP-630), run against every implementation.</summary>
public abstract partial class RaftLogContractTests
{
    /// <summary>A snapshot as Kafka lays it out: SNAPSHOT_HEADER batch, one data batch, SNAPSHOT_FOOTER batch.</summary>
    internal static byte[] SnapshotBytes(int epoch, params string[] values)
    {
        using var header = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = 0, PartitionLeaderEpoch = epoch, IsControl = true });
        header.Append(0, new ControlRecordKey(ControlRecordType.SnapshotHeader).ToArray(),
            new Fjord.Protocol.Messages.SnapshotHeaderRecord { LastContainedLogTimestamp = 7 }.Serialize(0));
        using var data = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = 1, PartitionLeaderEpoch = epoch });
        foreach (var value in values) data.Append(0, null, System.Text.Encoding.UTF8.GetBytes(value));
        using var footer = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = 1 + values.Length, PartitionLeaderEpoch = epoch, IsControl = true });
        footer.Append(0, new ControlRecordKey(ControlRecordType.SnapshotFooter).ToArray(), new Fjord.Protocol.Messages.SnapshotFooterRecord().Serialize(0));
        return [.. header.ToArray(), .. values.Length > 0 ? data.ToArray() : [], .. footer.ToArray()];
    }

    internal static byte[] Freeze(IRaftLog log, OffsetAndEpoch id, params string[] values)
    {
        var bytes = SnapshotBytes(id.Epoch, values);
        using var writer = log.CreateSnapshot(id);
        writer.Append(bytes);
        writer.Freeze();
        return bytes;
    }

    [Fact]
    public void A_snapshot_is_visible_only_once_frozen_and_is_read_in_chunks()
    {
        var id = new OffsetAndEpoch(5, 1);
        Assert.Null(Log.LatestSnapshotId);
        Assert.Null(Log.ReadSnapshot(id, 0, 100));

        var bytes = SnapshotBytes(1, "a", "b", "c");
        var writer = Log.CreateSnapshot(id);
        writer.Append(bytes.AsSpan(0, 30));
        writer.Append(bytes.AsSpan(30));
        Assert.Equal((id, (long)bytes.Length), (writer.Id, writer.Size));
        Assert.Null(Log.LatestSnapshotId);
        Assert.Null(Log.ReadSnapshot(id, 0, 100));
        writer.Freeze();
        writer.Dispose();

        Assert.Equal(id, Log.LatestSnapshotId);
        var chunk = Log.ReadSnapshot(id, 10, 20)!.Value;
        Assert.Equal((long)bytes.Length, chunk.Size);
        Assert.Equal(bytes[10..30], chunk.Bytes.ToArray());
        Assert.Equal(bytes[^5..], Log.ReadSnapshot(id, bytes.Length - 5, 100)!.Value.Bytes.ToArray());
        Assert.True(Log.ReadSnapshot(id, bytes.Length, 100)!.Value.Bytes.IsEmpty);
        Assert.Equal(bytes, Log.ReadSnapshot(id, 0, int.MaxValue)!.Value.Bytes.ToArray());
        Assert.Null(Log.ReadSnapshot(new OffsetAndEpoch(5, 2), 0, 100));
        Assert.Throws<InvalidOperationException>(() => Log.CreateSnapshot(id));
        Assert.Equal(0, Log.StartOffset);                 // a snapshot alone does not move the log start

        var reopened = Reopen();
        Assert.Equal(id, reopened.LatestSnapshotId);
        Assert.Equal(bytes, reopened.ReadSnapshot(id, 0, int.MaxValue)!.Value.Bytes.ToArray());
    }

    [Fact]
    public void A_snapshot_never_frozen_is_not_visible_and_leaves_nothing_after_a_restart()
    {
        var disposed = Log.CreateSnapshot(new OffsetAndEpoch(3, 1));
        disposed.Append(SnapshotBytes(1, "x"));
        disposed.Dispose();
        Assert.Null(Log.LatestSnapshotId);

        var interrupted = Log.CreateSnapshot(new OffsetAndEpoch(4, 1));
        interrupted.Append(SnapshotBytes(1, "y").AsSpan(0, 20));
        var reopened = Reopen();
        Assert.Null(reopened.LatestSnapshotId);
        Assert.Null(reopened.ReadSnapshot(new OffsetAndEpoch(4, 1), 0, 100));
        interrupted.Dispose();
        Freeze(reopened, new OffsetAndEpoch(4, 1), "z");       // the same id can be written again
        Assert.Equal(new OffsetAndEpoch(4, 1), reopened.LatestSnapshotId);
    }

    [Fact]
    public void Advancing_the_start_to_a_snapshot_drops_the_prefix_and_older_snapshots()
    {
        AppendEpochs113(Log);                                  // [e1 0-1][e1 2-4][e3 5]
        Log.Flush();
        Freeze(Log, new OffsetAndEpoch(2, 1), "old");
        Freeze(Log, new OffsetAndEpoch(5, 1), "new");
        Log.AdvanceStartToSnapshot(new OffsetAndEpoch(5, 1));

        Assert.Equal((5L, 6L, 3), (Log.StartOffset, Log.EndOffset, Log.LastEpoch));
        Assert.True(Log.FlushedOffset >= 5);
        Assert.Equal([(5L, 5L, 3)], Batches(Log.Read(5, int.MaxValue, long.MaxValue)));
        Assert.Null(Log.ReadSnapshot(new OffsetAndEpoch(2, 1), 0, 100));
        Assert.Equal(new OffsetAndEpoch(5, 1), Log.LatestSnapshotId);
        Assert.Equal(new OffsetAndEpoch(-1, -1), Log.EndOffsetForEpoch(0));
        Assert.Equal(new OffsetAndEpoch(5, 1), Log.EndOffsetForEpoch(1));   // the epoch of the start point ends at the log start
        Assert.Equal(new OffsetAndEpoch(5, 1), Log.EndOffsetForEpoch(2));
        Assert.Equal(new OffsetAndEpoch(6, 3), Log.EndOffsetForEpoch(3));
        Log.AdvanceStartToSnapshot(new OffsetAndEpoch(5, 1));   // not above the start: nothing happens
        Assert.Equal(5, Log.StartOffset);

        var reopened = Reopen();                               // the start survives a restart
        Assert.Equal((5L, 6L, 3), (reopened.StartOffset, reopened.EndOffset, reopened.LastEpoch));
        Assert.Equal(new OffsetAndEpoch(5, 1), reopened.EndOffsetForEpoch(2));

        // Up to the log end: an empty log that still knows the epoch it starts after.
        Freeze(reopened, new OffsetAndEpoch(6, 3), "all");
        reopened.AdvanceStartToSnapshot(new OffsetAndEpoch(6, 3));
        Assert.Equal((6L, 6L, 3), (reopened.StartOffset, reopened.EndOffset, reopened.LastEpoch));
        Assert.Equal(new OffsetAndEpoch(6, 3), reopened.EndOffsetForEpoch(3));
        Assert.Equal(new OffsetAndEpoch(6, 3), reopened.EndOffsetForEpoch(9));
        Assert.Equal(new OffsetAndEpoch(-1, -1), reopened.EndOffsetForEpoch(2));
        Assert.True(reopened.Read(6, int.MaxValue, long.MaxValue).IsEmpty);
        reopened.AppendAsLeader(Batch(2), 4);
        Assert.Equal((6L, 8L, 4), (reopened.StartOffset, reopened.EndOffset, reopened.LastEpoch));
        Assert.Equal(new OffsetAndEpoch(6, 3), reopened.EndOffsetForEpoch(3));
        Assert.Equal([(6L, 7L, 4)], Batches(reopened.Read(6, int.MaxValue, long.MaxValue)));
    }

    [Theory]
    [InlineData(9, 4)]   // the log is behind the snapshot
    [InlineData(3, 2)]   // the log diverges before the snapshot's end
    public void Resetting_to_a_snapshot_restarts_an_empty_log_after_it(long end, int epoch)
    {
        AppendEpochs113(Log);
        Log.Flush();
        Freeze(Log, new OffsetAndEpoch(1, 0), "older");
        var id = new OffsetAndEpoch(end, epoch);
        Freeze(Log, id, "state");
        Log.ResetToSnapshot(id);

        Assert.Equal((end, end, end, epoch), (Log.StartOffset, Log.EndOffset, Log.FlushedOffset, Log.LastEpoch));
        Assert.True(Log.Read(end, int.MaxValue, long.MaxValue).IsEmpty);
        Assert.Equal(new OffsetAndEpoch(end, epoch), Log.EndOffsetForEpoch(epoch));
        Assert.Equal(new OffsetAndEpoch(-1, -1), Log.EndOffsetForEpoch(epoch - 1));
        Assert.Equal(id, Log.LatestSnapshotId);
        Assert.Null(Log.ReadSnapshot(new OffsetAndEpoch(1, 0), 0, 100));

        Log.AppendAsFollower(Batch(2, epoch: epoch + 1, baseOffset: end));
        Log.Flush();
        var reopened = Reopen();
        Assert.Equal((end, end + 2, epoch + 1), (reopened.StartOffset, reopened.EndOffset, reopened.LastEpoch));
        Assert.Equal(new OffsetAndEpoch(end, epoch), reopened.EndOffsetForEpoch(epoch));
        Assert.Equal(id, reopened.LatestSnapshotId);
    }

    [Fact]
    public void A_bootstrap_snapshot_at_offset_zero_changes_nothing_in_the_log()
    {
        var bootstrap = new OffsetAndEpoch(0, 0);
        Freeze(Log, bootstrap);
        Assert.Equal(bootstrap, Log.LatestSnapshotId);
        Assert.Equal((0L, 0L, 0), (Log.StartOffset, Log.EndOffset, Log.LastEpoch));
        Assert.Equal(new OffsetAndEpoch(-1, -1), Log.EndOffsetForEpoch(0));
        AppendEpochs113(Log);
        Assert.Equal(new OffsetAndEpoch(5, 1), Log.EndOffsetForEpoch(2));
        Log.Flush();
        var reopened = Reopen();
        Assert.Equal((0L, 6L, bootstrap), (reopened.StartOffset, reopened.EndOffset, reopened.LatestSnapshotId!.Value));
    }
}

public sealed class InMemoryRaftLogContractTests : RaftLogContractTests
{
    private readonly InMemoryRaftLog _log = new();
    protected override IRaftLog Log => _log;

    protected override IRaftLog Reopen()
    {
        _log.Crash();
        return _log;
    }

    protected override IRaftLog NewEmpty() => new InMemoryRaftLog();
}

public sealed class PartitionLogRaftLogContractTests : RaftLogContractTests
{
    private readonly TempDirectory _dir = new();
    private readonly List<PartitionLogRaftLog> _opened = [];
    private PartitionLogRaftLog _log;

    public PartitionLogRaftLogContractTests() => _log = Open("metadata");

    private PartitionLogRaftLog Open(string name)
    {
        var log = PartitionLogRaftLog.Open(_dir.Sub(name));
        _opened.Add(log);
        return log;
    }

    protected override IRaftLog Log => _log;

    protected override IRaftLog Reopen()
    {
        _log.Close();
        _log = Open("metadata");
        return _log;
    }

    protected override IRaftLog NewEmpty() => Open($"follower-{_opened.Count}");

    public override void Dispose()
    {
        foreach (var log in _opened) log.Close();
        _dir.Dispose();
    }
}
