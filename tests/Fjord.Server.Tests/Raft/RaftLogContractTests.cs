using Fjord.Protocol.Records;
using Fjord.Raft;
using Fjord.Server.Raft;

namespace Fjord.Server.Tests.Raft;

/// <summary>The <see cref="IRaftLog"/> contract, run against every implementation.</summary>
public abstract class RaftLogContractTests : IDisposable
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
    private void AppendEpochs113(IRaftLog log)
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
