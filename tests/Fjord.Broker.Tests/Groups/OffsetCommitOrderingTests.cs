using Fjord.Broker.Coordinator;
using Fjord.Broker.Groups;
using Fjord.Common;

namespace Fjord.Broker.Tests.Groups;

/// <summary>
/// A plain OffsetCommit against a pending TxnOffsetCommit of the same group and partition (Kafka's
/// rule): when the COMMIT marker arrives, the transactional offset replaces the committed one only
/// if its record is later in <c>__consumer_offsets</c> than the committed offset's record. Checked
/// live and after the partition's log is replayed into a new shard (a reload), whose positions are
/// the records' log offsets.
/// </summary>
public sealed class OffsetCommitOrderingTests
{
    private const long Producer = 7;
    private readonly ManualCoordinatorTimer _timer = new();

    /// <summary>The partition log as the shard wrote it: records (with their batch's producer) and the markers the test "wrote".</summary>
    private readonly List<Entry> _log = [];

    /// <summary>When set, the next plain append completes only when the test says so (a commit still waiting for the HW).</summary>
    private TaskCompletionSource<ErrorCode>? _heldPlainAppend;

    private sealed record Entry(CoordinatorRecord? Record, CoordinatorBatchProducer? Producer, long MarkerProducer = -1, bool Commit = false);

    private GroupShard NewShard()
    {
        var shard = new GroupShard(new GroupCoordinatorConfig { GroupInitialRebalanceDelayMs = 0 }, _timer, () => 1_000_000 + _timer.NowMs,
            (records, producer) =>
            {
                _log.AddRange(records.Select(r => new Entry(r, producer)));
                if (producer is null && _heldPlainAppend is { } held)
                {
                    _heldPlainAppend = null;
                    return held.Task;
                }
                return Task.FromResult(ErrorCode.None);
            });
        shard.OnLoaded();
        return shard;
    }

    /// <summary>Writes the transaction's marker to the log and hands it to the shard (as the transaction machinery does).</summary>
    private void Marker(GroupShard shard, bool commit)
    {
        _log.Add(new Entry(null, null, Producer, commit));
        shard.CompleteTransaction(Producer, commit);
    }

    /// <summary>A new shard loaded from the log written so far (each entry at its index as log offset).</summary>
    private GroupShard Reload()
    {
        var shard = new GroupShard(new GroupCoordinatorConfig(), _timer, () => 1_000_000 + _timer.NowMs, (_, _) => Task.FromResult(ErrorCode.None));
        for (int offset = 0; offset < _log.Count; offset++)
        {
            var e = _log[offset];
            if (e.Record is { } r)
            {
                bool transactional = e.Producer is { IsTransactional: true };
                shard.Replay(offset, transactional ? e.Producer!.Value.ProducerId : -1, transactional ? e.Producer!.Value.ProducerEpoch : (short)-1,
                    r.Key, r.Value is null ? null : (ReadOnlyMemory<byte>?)r.Value);
            }
            else shard.ReplayEndTransaction(e.MarkerProducer, e.Commit);
        }
        shard.OnLoaded();
        return shard;
    }

    private static Task<Dictionary<(string Topic, int Partition), ErrorCode>> Plain(GroupShard shard, long offset) =>
        shard.CommitOffsetsAsync("g", -1, "", null, -1, [new OffsetToCommit("t", 0, offset, 1, "plain")]);

    private static Task<Dictionary<(string Topic, int Partition), ErrorCode>> Transactional(GroupShard shard, long offset) =>
        shard.CommitTransactionalOffsetsAsync("g", Producer, 0, -1, "", null, [new OffsetToCommit("t", 0, offset, 1, "txn")]);

    /// <summary>The committed offset of t-0; with <paramref name="requireStable"/> (the default) no transactional commit may be pending.</summary>
    private static (long Offset, string Metadata) Committed(GroupShard shard, bool requireStable = true)
    {
        var (error, offsets) = shard.FetchOffsets("g", [("t", [0])], requireStable);
        Assert.Equal(ErrorCode.None, error);
        var o = Assert.Single(offsets);
        Assert.Equal(ErrorCode.None, o.Error);
        return (o.Offset, o.Metadata);
    }

    private static void AllNone(Dictionary<(string Topic, int Partition), ErrorCode> results) => Assert.All(results.Values, e => Assert.Equal(ErrorCode.None, e));

    [Fact]
    public async Task A_plain_commit_written_after_the_transactional_one_stays_when_the_transaction_commits()
    {
        var shard = NewShard();
        AllNone(await Transactional(shard, 10));
        AllNone(await Plain(shard, 20));
        Assert.Equal((20L, "plain"), Committed(shard, requireStable: false));
        Marker(shard, commit: true);
        Assert.Equal(0, shard.PendingTransactionalOffsets);
        Assert.Equal((20L, "plain"), Committed(shard));

        // Reloaded from the log: the same answer, from the records' log offsets.
        Assert.Equal((20L, "plain"), Committed(Reload()));
    }

    [Fact]
    public async Task A_transactional_commit_written_after_the_plain_one_wins_when_the_transaction_commits()
    {
        var shard = NewShard();
        AllNone(await Plain(shard, 20));
        AllNone(await Transactional(shard, 10));
        Assert.Equal((20L, "plain"), Committed(shard, requireStable: false));
        Marker(shard, commit: true);
        Assert.Equal((10L, "txn"), Committed(shard));
        Assert.Equal((10L, "txn"), Committed(Reload()));

        // An aborted later transaction changes nothing, live or reloaded.
        AllNone(await Transactional(shard, 30));
        Marker(shard, commit: false);
        Assert.Equal((10L, "txn"), Committed(shard));
        Assert.Equal((10L, "txn"), Committed(Reload()));
    }

    [Fact]
    public async Task Replayed_with_the_transaction_still_open_the_marker_applied_after_the_load_follows_the_same_rule()
    {
        // (a) txn, then plain; the marker comes after the reload.
        var shard = NewShard();
        AllNone(await Transactional(shard, 10));
        AllNone(await Plain(shard, 20));
        var reloaded = Reload();
        Assert.Equal(1, reloaded.PendingTransactionalOffsets);
        Marker(reloaded, commit: true);
        Assert.Equal((20L, "plain"), Committed(reloaded));

        // (b) plain, then txn, in a fresh log; the marker comes after the reload. Then a plain commit
        // made live on the reloaded shard is later than everything replayed: a further transaction
        // whose record came before it does not override it.
        _log.Clear();
        shard = NewShard();
        AllNone(await Plain(shard, 20));
        AllNone(await Transactional(shard, 10));
        reloaded = Reload();
        Marker(reloaded, commit: true);
        Assert.Equal((10L, "txn"), Committed(reloaded));
        AllNone(await Transactional(reloaded, 40));
        AllNone(await Plain(reloaded, 50));
        Marker(reloaded, commit: true);
        Assert.Equal((50L, "plain"), Committed(reloaded));
    }

    [Fact]
    public async Task A_plain_commit_completing_after_a_later_transactional_offset_was_applied_does_not_overwrite_it()
    {
        // plain (append not yet committed) → txn → COMMIT marker applies the txn offset → the plain
        // commit's write completes: its record is earlier in the log, so the txn offset stays.
        var shard = NewShard();
        var held = new TaskCompletionSource<ErrorCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        _heldPlainAppend = held;
        var plain = Plain(shard, 20);
        Assert.False(plain.IsCompleted);
        AllNone(await Transactional(shard, 10));
        Marker(shard, commit: true);
        Assert.Equal((10L, "txn"), Committed(shard));
        held.SetResult(ErrorCode.None);
        AllNone(await plain.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal((10L, "txn"), Committed(shard));
        Assert.Equal((10L, "txn"), Committed(Reload()));
    }
}
