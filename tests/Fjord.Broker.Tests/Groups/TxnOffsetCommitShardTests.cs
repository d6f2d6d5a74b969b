using Fjord.Broker.Coordinator;
using Fjord.Broker.Groups;
using Fjord.Common;

namespace Fjord.Broker.Tests.Groups;

/// <summary>
/// TxnOffsetCommit on the classic group shard: transactional records pending until the marker,
/// COMMIT applies and ABORT drops them, RequireStable answers UNSTABLE_OFFSET_COMMIT meanwhile,
/// member validation, a failed append takes its pending entries back, and the same after a replay.
/// </summary>
public sealed class TxnOffsetCommitShardTests
{
    private readonly ManualCoordinatorTimer _timer = new();
    private readonly List<(CoordinatorRecord Record, CoordinatorBatchProducer? Producer)> _log = [];
    private ErrorCode _appendError = ErrorCode.None;

    private GroupShard NewShard()
    {
        var shard = new GroupShard(new GroupCoordinatorConfig { GroupInitialRebalanceDelayMs = 0 }, _timer, () => 1_000_000 + _timer.NowMs,
            (records, producer) =>
            {
                if (_appendError == ErrorCode.None) _log.AddRange(records.Select(r => (r, producer)));
                return Task.FromResult(_appendError);
            });
        shard.OnLoaded();
        return shard;
    }

    private static OffsetToCommit Offset(int partition, long offset) => new("t", partition, offset, 3, "m");

    private static FetchedOffset Fetch(GroupShard shard, int partition, bool requireStable) =>
        shard.FetchOffsets("g", [("t", [partition])], requireStable).Offsets.Single();

    [Fact]
    public async Task Offsets_are_pending_until_the_commit_marker_and_dropped_by_an_abort()
    {
        var shard = NewShard();
        var results = await shard.CommitTransactionalOffsetsAsync("g", 7, 2, -1, "", null, [Offset(0, 10), Offset(1, 20)]);
        Assert.All(results.Values, e => Assert.Equal(ErrorCode.None, e));
        Assert.Equal(2, _log.Count);
        Assert.All(_log, l => Assert.Equal(new CoordinatorBatchProducer(7, 2, true), l.Producer));

        Assert.Equal(ErrorCode.UnstableOffsetCommit, Fetch(shard, 0, requireStable: true).Error);
        Assert.Equal(-1, Fetch(shard, 0, requireStable: true).Offset);
        Assert.Equal((ErrorCode.None, -1L), (Fetch(shard, 0, false).Error, Fetch(shard, 0, false).Offset));
        Assert.Equal(ErrorCode.None, Fetch(shard, 2, requireStable: true).Error); // no pending commit there

        shard.CompleteTransaction(7, commit: true);
        Assert.Equal(0, shard.PendingTransactionalOffsets);
        Assert.Equal((ErrorCode.None, 10L, 3), (Fetch(shard, 0, true).Error, Fetch(shard, 0, true).Offset, Fetch(shard, 0, true).LeaderEpoch));
        Assert.Equal(20, Fetch(shard, 1, true).Offset);

        await shard.CommitTransactionalOffsetsAsync("g", 7, 2, -1, "", null, [Offset(0, 99)]);
        Assert.Equal(ErrorCode.UnstableOffsetCommit, Fetch(shard, 0, true).Error);
        shard.CompleteTransaction(8, commit: true); // another producer's marker: nothing of ours
        Assert.Equal(1, shard.PendingTransactionalOffsets);
        shard.CompleteTransaction(7, commit: false);
        Assert.Equal((ErrorCode.None, 10L), (Fetch(shard, 0, true).Error, Fetch(shard, 0, true).Offset));
    }

    [Fact]
    public async Task A_failed_append_leaves_nothing_pending_and_answers_the_mapped_error()
    {
        var shard = NewShard();
        _appendError = ErrorCode.NotEnoughReplicas;
        var results = await shard.CommitTransactionalOffsetsAsync("g", 7, 2, -1, "", null, [Offset(0, 10)]);
        Assert.Equal(ErrorCode.CoordinatorNotAvailable, results[("t", 0)]);
        Assert.Equal(0, shard.PendingTransactionalOffsets);
        _appendError = ErrorCode.InvalidProducerEpoch;
        results = await shard.CommitTransactionalOffsetsAsync("g", 7, 2, -1, "", null, [Offset(0, 10)]);
        Assert.Equal(ErrorCode.InvalidProducerEpoch, results[("t", 0)]); // the producer's own error passes through
        Assert.Equal(ErrorCode.None, Fetch(shard, 0, true).Error);
    }

    [Fact]
    public async Task Member_checks_apply_when_a_generation_or_member_id_is_given()
    {
        var shard = NewShard();
        // Unknown group: only without a generation.
        Assert.Equal(ErrorCode.IllegalGeneration, (await shard.CommitTransactionalOffsetsAsync("g", 7, 0, 1, "m", null, [Offset(0, 1)]))[("t", 0)]);
        var join = await shard.JoinAsync(new JoinParams("g", "", null, "c", "/h", 10_000, 10_000, "consumer", [("range", [1])], RequireKnownMemberId: false));
        Assert.Equal(ErrorCode.None, join.Error);
        await shard.SyncAsync("g", join.Generation, join.MemberId, null, null, null, new Dictionary<string, byte[]> { [join.MemberId] = [] });

        Assert.Equal(ErrorCode.UnknownMemberId, (await shard.CommitTransactionalOffsetsAsync("g", 7, 0, join.Generation, "other", null, [Offset(0, 1)]))[("t", 0)]);
        Assert.Equal(ErrorCode.IllegalGeneration, (await shard.CommitTransactionalOffsetsAsync("g", 7, 0, join.Generation + 1, join.MemberId, null, [Offset(0, 1)]))[("t", 0)]);
        Assert.Equal(ErrorCode.None, (await shard.CommitTransactionalOffsetsAsync("g", 7, 0, join.Generation, join.MemberId, null, [Offset(0, 1)]))[("t", 0)]);
        // No member information (TxnOffsetCommit v0-2): accepted although the group is not Empty.
        Assert.Equal(ErrorCode.None, (await shard.CommitTransactionalOffsetsAsync("g", 7, 0, -1, "", null, [Offset(1, 1)]))[("t", 1)]);
        Assert.Equal(ErrorCode.InvalidGroupId, (await shard.CommitTransactionalOffsetsAsync("", 7, 0, -1, "", null, [Offset(1, 1)]))[("t", 1)]);
        Assert.Equal(ErrorCode.InvalidRequest, (await shard.CommitTransactionalOffsetsAsync("g", -1, 0, -1, "", null, [Offset(1, 1)]))[("t", 1)]);
    }

    [Fact]
    public async Task A_replayed_log_keeps_open_transactions_pending_and_applies_ended_ones()
    {
        var shard = NewShard();
        await shard.CommitTransactionalOffsetsAsync("g", 7, 0, -1, "", null, [Offset(0, 5)]);
        await shard.CommitTransactionalOffsetsAsync("g", 8, 0, -1, "", null, [Offset(1, 6)]);
        await shard.CommitTransactionalOffsetsAsync("g", 9, 0, -1, "", null, [Offset(2, 7)]);

        var reloaded = new GroupShard(new GroupCoordinatorConfig(), _timer, () => 0, (_, _) => Task.FromResult(ErrorCode.None));
        long offset = 0;
        foreach (var (r, p) in _log) reloaded.Replay(offset++, p?.ProducerId ?? -1, p?.ProducerEpoch ?? -1, r.Key, r.Value);
        reloaded.ReplayEndTransaction(7, commit: true);
        reloaded.ReplayEndTransaction(8, commit: false);
        reloaded.OnLoaded();
        Assert.Equal(5, Fetch(reloaded, 0, true).Offset);
        Assert.Equal((ErrorCode.None, -1L), (Fetch(reloaded, 1, true).Error, Fetch(reloaded, 1, true).Offset));
        Assert.Equal(ErrorCode.UnstableOffsetCommit, Fetch(reloaded, 2, true).Error);
        reloaded.CompleteTransaction(9, commit: true);
        Assert.Equal(7, Fetch(reloaded, 2, true).Offset);
    }
}
