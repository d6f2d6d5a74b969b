using System.Collections.Concurrent;
using System.Diagnostics;
using Fjord.Broker.Coordinator;
using Fjord.Broker.Groups;
using Fjord.Broker.Tests.Replication;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Storage;

namespace Fjord.Broker.Tests.Groups;

/// <summary>
/// The coordinator runtime's load path with a real partition log (<see cref="TestCluster"/>: one
/// broker leading a one-partition <c>__consumer_offsets</c>): tombstones written by the group
/// shard — a deleted group's offsets and metadata, an expired offset — are replayed as tombstones
/// when a new runtime loads the partition from its log, so what was deleted stays deleted. (A
/// tombstone once reached the shard as an empty value, which the shard skipped as unreadable: the
/// deleted group and the expired offset came back on every load.)
/// </summary>
public sealed class CoordinatorRuntimeReplayTests
{
    private static readonly GroupCoordinatorConfig Config = new()
    {
        OffsetsTopicPartitions = 1,
        OffsetsTopicReplicationFactor = 1,
        GroupInitialRebalanceDelayMs = 0,
        GroupMinSessionTimeoutMs = 1_000,
    };

    private readonly ConcurrentQueue<string> _lines = new();

    /// <summary>A group coordinator over broker 1 with its one partition loaded (bounded wait until Active).</summary>
    private async Task<(GroupCoordinator Coordinator, GroupShard Shard)> LoadAsync(TestCluster cluster)
    {
        var coordinator = new GroupCoordinator(Config, cluster[1], null, () => cluster.Image, SystemClock.Instance, _lines.Enqueue);
        var image = cluster.Image;
        coordinator.Runtime.OnMetadataUpdate(new MetadataDelta(image), image, new MetadataUpdate(MetadataUpdateKind.LogDelta, image.Provenance, 1, 0));
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var context = coordinator.Runtime.Context(0, out var error);
            if (context is not null) return (coordinator, context.Shard);
            if (clock.Elapsed > TimeSpan.FromSeconds(10))
                throw new TimeoutException($"__consumer_offsets-0 not loaded: {error}\n{string.Join('\n', _lines)}");
            await Task.Delay(10);
        }
    }

    // Leader epoch -1: a commit with a retention (OffsetCommit v2-4) carries none, and its record
    // (OffsetCommitValue v1) has no field for it.
    private static OffsetToCommit Offset(int partition, long offset) => new("t", partition, offset, -1, "");

    private static Dictionary<int, long> Committed(GroupShard shard, string group)
    {
        var (error, offsets) = shard.FetchOffsets(group, null);
        Assert.Equal(ErrorCode.None, error);
        return offsets.ToDictionary(o => o.Partition, o => o.Offset);
    }

    [Fact]
    public async Task A_deleted_group_and_an_expired_offset_stay_gone_after_the_partition_is_reloaded_from_its_log()
    {
        await using var cluster = new TestCluster(1);
        cluster.CreateTopic(GroupCoordinator.TopicName, [[1]]);
        var (coordinator, shard) = await LoadAsync(cluster);
        try
        {
            // "kept": a plain commit that nothing removes (the reload must bring it back).
            Assert.All((await shard.CommitOffsetsAsync("kept", -1, "", null, -1, [Offset(0, 3)])).Values, e => Assert.Equal(ErrorCode.None, e));

            // "deleted": a member joins and syncs (a GroupMetadata record), commits, leaves (the
            // group is written Empty), then the group is deleted (offset and group tombstones).
            var join = await shard.JoinAsync(new JoinParams("deleted", "", null, "c", "/127.0.0.1", 10_000, 10_000, "consumer",
                [("range", [1, 2, 3])], RequireKnownMemberId: false));
            Assert.Equal(ErrorCode.None, join.Error);
            var sync = await shard.SyncAsync("deleted", join.Generation, join.MemberId, null, "consumer", "range",
                new Dictionary<string, byte[]> { [join.MemberId] = [4, 5] });
            Assert.Equal(ErrorCode.None, sync.Error);
            Assert.All((await shard.CommitOffsetsAsync("deleted", join.Generation, join.MemberId, null, -1, [Offset(0, 7), Offset(1, 8)])).Values,
                e => Assert.Equal(ErrorCode.None, e));
            Assert.Equal(ErrorCode.None, shard.Leave("deleted", [(join.MemberId, null)]).Members.Single().Error);
            Assert.Equal(ErrorCode.None, await shard.DeleteGroupAsync("deleted"));
            Assert.Null(shard.Group("deleted"));

            // "expiring": partition 0 committed with an expire timestamp of now, partition 1 without;
            // the retention pass removes partition 0 only (an offset tombstone).
            Assert.All((await shard.CommitOffsetsAsync("expiring", -1, "", null, 0, [Offset(0, 11)])).Values, e => Assert.Equal(ErrorCode.None, e));
            Assert.All((await shard.CommitOffsetsAsync("expiring", -1, "", null, -1, [Offset(1, 12)])).Values, e => Assert.Equal(ErrorCode.None, e));
            Assert.Equal(1, shard.ExpireOffsets());
            Assert.Equal(new Dictionary<int, long> { [1] = 12 }, Committed(shard, "expiring"));
            // The retention pass writes without waiting; a later write committed means it is committed too.
            Assert.All((await shard.CommitOffsetsAsync("kept", -1, "", null, -1, [Offset(1, 4)])).Values, e => Assert.Equal(ErrorCode.None, e));
        }
        finally
        {
            coordinator.Dispose();
        }

        var log = cluster[1].GetPartition(new TopicPartition(GroupCoordinator.TopicName, 0))!;
        Assert.True(log.HighWatermark >= 10, $"HW {log.HighWatermark}");

        // A new runtime loads the partition from its log.
        (coordinator, shard) = await LoadAsync(cluster);
        using (coordinator)
        {
            Assert.Equal(new Dictionary<int, long> { [0] = 3, [1] = 4 }, Committed(shard, "kept"));
            Assert.Null(shard.Group("deleted"));
            Assert.Empty(Committed(shard, "deleted"));
            Assert.DoesNotContain(shard.List(), g => g.GroupId == "deleted");
            Assert.Equal("Dead", shard.Describe("deleted").Summary.State);
            Assert.Equal(new Dictionary<int, long> { [1] = 12 }, Committed(shard, "expiring"));
            Assert.DoesNotContain(_lines, l => l.Contains("skipped", StringComparison.Ordinal));
        }
    }
}
