using Fjord.Broker.Replication;
using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Storage;

namespace Fjord.Broker.Tests.Replication;

/// <summary>Three replica managers replicating through an in-process fetch client and a fake controller.</summary>
public sealed class ReplicationTests
{
    private static readonly TopicPartition Tp = new("rep", 0);

    private static ErrorCode Code(ProduceResponse r) => (ErrorCode)r.Responses[0].PartitionResponses[0].ErrorCode;

    private static byte[] AllBytes(PartitionLog log) => log.LogEndOffset == log.LogStartOffset
        ? []
        : log.Read(log.LogStartOffset, int.MaxValue, long.MaxValue).ToArray();

    [Fact]
    public async Task High_watermark_advances_only_when_every_isr_member_has_the_data()
    {
        await using var cluster = new TestCluster(3);
        cluster.FetchClients[3].Blocked = true;
        cluster.CreateTopic("rep", [[1, 2, 3]]);
        var leader = cluster[1].GetPartition(Tp)!;
        var follower2 = cluster[2].GetPartition(Tp)!;
        Assert.Equal(ReplicaRole.Leader, leader.Role);
        Assert.Equal(ReplicaRole.Follower, follower2.Role);

        var produced = await cluster[1].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("a", "b", "c"), acks: 1), 9, default);
        Assert.Equal(ErrorCode.None, Code(produced));
        await Wait.Until(() => follower2.Log.LogEndOffset == 3 && leader.FollowerLogEndOffset(2) == 3, "broker 2 to replicate and report offset 3");
        Assert.Equal(0, leader.HighWatermark); // broker 3, in the ISR, has nothing yet

        // acks=all waits for broker 3 too.
        var acksAll = cluster[1].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("d"), acks: -1, timeoutMs: 20_000), 9, default);
        Assert.False(acksAll.IsCompleted);
        cluster.FetchClients[3].Blocked = false;
        Assert.Equal(ErrorCode.None, Code(await acksAll.WaitAsync(TimeSpan.FromSeconds(20))));
        Assert.True(leader.HighWatermark >= 4);
        await Wait.Until(() => cluster[3].GetPartition(Tp)!.HighWatermark == 4 && follower2.HighWatermark == 4, "followers to learn HW 4");
        Assert.Equal(AllBytes(leader.Log), AllBytes(cluster[3].GetPartition(Tp)!.Log));
        Assert.Equal(AllBytes(leader.Log), AllBytes(follower2.Log));
        Assert.Equal(0, cluster.Controller.AlterPartitionCount); // nothing left the ISR

        // acks=all times out while a follower is cut off (lag time is long here: no shrink).
        cluster.FetchClients[3].Blocked = true;
        var timedOut = await cluster[1].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("e"), acks: -1, timeoutMs: 300), 9, default);
        Assert.Equal(ErrorCode.RequestTimedOut, Code(timedOut));
        Assert.Equal(4, timedOut.Responses[0].PartitionResponses[0].BaseOffset); // appended, not acknowledged

        // A follower is not a leader: produce and consumer fetch are refused with the current leader.
        var refused = await cluster[2].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("x")), 10, default);
        Assert.Equal(ErrorCode.NotLeaderOrFollower, Code(refused));
        Assert.Equal(1, refused.Responses[0].PartitionResponses[0].CurrentLeader.LeaderId);
        var fetch = await cluster[2].FetchAsync(Batches.Fetch("rep", 0, 0), 12, default);
        Assert.Equal(ErrorCode.NotLeaderOrFollower, (ErrorCode)fetch.Responses[0].Partitions[0].ErrorCode);
        Assert.Equal(1, fetch.Responses[0].Partitions[0].CurrentLeader.LeaderId);
    }

    [Fact]
    public async Task Isr_shrinks_after_the_lag_time_and_expands_when_the_follower_catches_up()
    {
        // Lag time short enough for a quick test, long enough that a follower fetching normally on a loaded machine stays in.
        var options = new ReplicaManagerOptions { ReplicaLagTimeMaxMs = 1500, ReplicaFetchBackoffMs = 50, ReplicaFetchWaitMaxMs = 100 };
        await using var cluster = new TestCluster(3, options);
        cluster.CreateTopic("rep", [[1, 2, 3]], new() { ["min.insync.replicas"] = "2" });
        var leader = cluster[1].GetPartition(Tp)!;
        Assert.Equal(ErrorCode.None, Code(await cluster[1].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("a"), acks: -1), 9, default)));

        cluster.FetchClients[3].Blocked = true;
        var produced = await cluster[1].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("b", "c"), acks: -1, timeoutMs: 20_000), 9, default);
        Assert.Equal(ErrorCode.None, Code(produced)); // completes once 3 is out of the ISR
        await Wait.Until(() => cluster.Registration("rep", 0).Isr.ToArray() is [1, 2], "the ISR to shrink to [1,2] in the image");
        Assert.Equal([1, 2], leader.State.Isr);
        Assert.Equal(3, leader.HighWatermark);
        int epochAfterShrink = leader.State.PartitionEpoch;
        Assert.Equal(cluster.Registration("rep", 0).PartitionEpoch, epochAfterShrink);

        // min.insync.replicas=2 still holds with [1,2]; cutting off 2 as well brings the ISR to [1].
        cluster.FetchClients[2].Blocked = true;
        var lonely = await cluster[1].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("d"), acks: -1, timeoutMs: 20_000), 9, default);
        Assert.Equal(ErrorCode.NotEnoughReplicasAfterAppend, Code(lonely));
        await Wait.Until(() => cluster.Registration("rep", 0).Isr.ToArray() is [1], "the ISR to shrink to [1]");
        Assert.Equal(ErrorCode.NotEnoughReplicas, Code(await cluster[1].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("e"), acks: -1), 9, default)));

        cluster.FetchClients[2].Blocked = false;
        cluster.FetchClients[3].Blocked = false;
        await Wait.Until(() => cluster.Registration("rep", 0).Isr.Length == 3, "both followers to rejoin the ISR");
        await Wait.Until(() => leader.State.Isr.Count == 3, "the leader to adopt the ISR");
        Assert.Equal(leader.Log.LogEndOffset, cluster[3].GetPartition(Tp)!.Log.LogEndOffset);
        Assert.Equal(ErrorCode.None, Code(await cluster[1].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("f"), acks: -1, timeoutMs: 20_000), 9, default)));
    }

    [Fact]
    public async Task A_diverged_follower_truncates_after_a_leader_change()
    {
        await using var cluster = new TestCluster(3);
        var topicId = cluster.CreateTopic("rep", [[1, 2, 3]]);
        Assert.Equal(ErrorCode.None, Code(await cluster[1].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("a0", "a1", "a2"), acks: -1), 9, default)));

        // Broker 1 takes writes nobody else gets, then loses leadership to broker 2.
        cluster.FetchClients[2].Blocked = true;
        cluster.FetchClients[3].Blocked = true;
        Assert.Equal(ErrorCode.None, Code(await cluster[1].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("x3", "x4", "x5"), acks: 1), 9, default)));
        Assert.Equal(6, cluster[1].GetPartition(Tp)!.Log.LogEndOffset);
        Assert.Equal(3, cluster[1].GetPartition(Tp)!.HighWatermark);
        cluster.FetchClients[1].Blocked = true;
        cluster.Publish(new PartitionChangeRecord { TopicId = topicId, PartitionId = 0, Leader = 2, Isr = [2, 3] });
        cluster.FetchClients[3].Blocked = false;
        var newLeader = cluster[2].GetPartition(Tp)!;
        Assert.Equal(ReplicaRole.Leader, newLeader.Role);
        Assert.Equal(1, newLeader.State.LeaderEpoch);

        Assert.Equal(ErrorCode.None, Code(await cluster[2].ProduceAsync(Batches.Produce("rep", 0, Batches.Of("y3", "y4"), acks: -1, timeoutMs: 20_000), 9, default)));

        // The old leader now follows; its fetch reveals the divergence; it truncates and catches up.
        cluster.FetchClients[1].Blocked = false;
        var old = cluster[1].GetPartition(Tp)!;
        Assert.Equal(ReplicaRole.Follower, old.Role);
        await Wait.Until(() => old.Log.LogEndOffset == newLeader.Log.LogEndOffset && AllBytes(old.Log).SequenceEqual(AllBytes(newLeader.Log)),
            "broker 1's log to equal the new leader's");
        var records = Batches.Records(AllBytes(old.Log));
        Assert.Equal(["a0", "a1", "a2", "y3", "y4"], records.Select(r => r.Value));
        Assert.Equal([(0, 0L), (1, 3L)], old.Log.LeaderEpochs.Entries.Select(e => (e.Epoch, e.StartOffset)));
        Assert.Contains(cluster.LogLines, l => l.Contains("diverging epoch", StringComparison.Ordinal));
        await Wait.Until(() => cluster.Registration("rep", 0).Isr.Length == 3, "broker 1 to rejoin the ISR");

        // The consumer view from the new leader.
        var fetched = await cluster[2].FetchAsync(Batches.Fetch("rep", 0, 0), 12, default);
        Assert.Equal(["a0", "a1", "a2", "y3", "y4"], Batches.Records(fetched.Responses[0].Partitions[0].Records!.Value).Select(r => r.Value));
    }

    [Fact]
    public async Task Deleting_a_topic_stops_replicas_and_deletes_their_logs()
    {
        await using var cluster = new TestCluster(2);
        var topicId = cluster.CreateTopic("gone", [[1, 2]]);
        Assert.Equal(ErrorCode.None, Code(await cluster[1].ProduceAsync(Batches.Produce("gone", 0, Batches.Of("a"), acks: -1), 9, default)));
        var tp = new TopicPartition("gone", 0);
        Assert.NotNull(cluster.LogManagers[2].Get(tp));
        cluster.Publish(new RemoveTopicRecord { TopicId = topicId });
        Assert.Null(cluster[1].GetPartition(tp));
        Assert.Null(cluster[2].GetPartition(tp));
        Assert.Null(cluster.LogManagers[1].Get(tp));
        Assert.Null(cluster.LogManagers[2].Get(tp));
        Assert.Empty(cluster[2].FetcherLeaders);
    }
}
