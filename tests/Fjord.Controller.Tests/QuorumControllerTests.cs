using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;

namespace Fjord.Controller.Tests;

public sealed class QuorumControllerTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void First_active_controller_writes_the_bootstrap_records_once(int voters)
    {
        var cluster = new ControllerCluster(voters, MetadataVersion.FromFeatureLevel(17));
        var active = cluster.ElectActive();
        // Standbys learn the high watermark on their next fetch.
        Assert.True(cluster.Raft.RunUntil(() => cluster.Controllers.Values.All(c => c.LastCommittedOffset >= active.LastCommittedOffset)));
        foreach (var controller in cluster.Controllers.Values)
            Assert.Equal((short)17, cluster.Committed(controller, s => s.MetadataVersion?.FeatureLevel));
        var values = LogValues(cluster.Raft[active.NodeId]);
        Assert.Single(values, v => v is FeatureLevelRecord { Name: MetadataVersion.FeatureName });
    }

    [Fact]
    public void A_standby_answers_NOT_CONTROLLER()
    {
        var cluster = new ControllerCluster(3);
        var active = cluster.ElectActive();
        var standby = cluster.Controllers.Values.First(c => c != active);
        Assert.Equal((short)ErrorCode.NotController, cluster.Done(standby.RegisterBroker(ControllerCluster.Registration(1), 4)).ErrorCode);
        Assert.Equal((short)ErrorCode.NotController, cluster.Done(standby.AllocateProducerIds(new AllocateProducerIdsRequest { BrokerId = 1 })).ErrorCode);
    }

    [Fact]
    public void Single_voter_answers_only_once_the_records_are_flushed_and_committed()
    {
        var cluster = new ControllerCluster(1);
        var active = cluster.ElectActive();
        cluster.Raft[1].FlushEnabled = false;
        var pending = active.RegisterBroker(ControllerCluster.Registration(7), 4);
        cluster.Raft.Advance(1000);
        Assert.False(pending.IsCompleted);
        // Replayed before the append: the current state has it, the committed one not yet.
        Assert.True(cluster.Current(active, s => s.Brokers.ContainsKey(7)));
        Assert.False(cluster.Committed(active, s => s.Brokers.ContainsKey(7)));

        cluster.Raft[1].FlushEnabled = true;
        var response = cluster.Done(pending);
        Assert.Equal(0, response.ErrorCode);
        Assert.True(cluster.Committed(active, s => s.Brokers.ContainsKey(7)));
    }

    [Fact]
    public void Three_voters_answer_only_after_a_follower_has_the_records()
    {
        var cluster = new ControllerCluster(3);
        var active = cluster.ElectActive();
        cluster.Raft.HoldFrom(active.NodeId);
        var pending = active.RegisterBroker(ControllerCluster.Registration(1), 4);
        cluster.Raft.Settle();
        Assert.False(pending.IsCompleted);
        Assert.True(cluster.Raft.HeldMessages > 0);
        foreach (var standby in cluster.Controllers.Values.Where(c => c != active))
            Assert.False(cluster.Committed(standby, s => s.Brokers.ContainsKey(1)));

        cluster.Raft.Release();
        var response = cluster.Done(pending);
        Assert.Equal(0, response.ErrorCode);
        Assert.Equal(response.BrokerEpoch, cluster.Committed(active, s => s.Brokers[1].Epoch));
    }

    [Fact]
    public void Pipelined_operations_are_all_in_flight_and_answered_in_commit_order()
    {
        const int n = 20;
        var cluster = new ControllerCluster(3);
        var active = cluster.ElectActive();
        cluster.Raft.HoldFrom(active.NodeId);
        var tasks = Enumerable.Range(1, n).Select(id => active.RegisterBroker(ControllerCluster.Registration(id), 4)).ToList();
        cluster.Raft.Settle();
        Assert.All(tasks, t => Assert.False(t.IsCompleted));
        // Every operation saw the ones before it: n registrations in the current state.
        Assert.Equal(n, cluster.Current(active, s => s.Brokers.Count));

        cluster.Raft.Release();
        int steps = 0;
        while (!tasks.All(t => t.IsCompleted))
        {
            Assert.True(cluster.Raft.Step() || tasks.All(t => t.IsCompleted), "stalled");
            Assert.True(++steps < 10_000);
            // Completed operations are always a prefix of the submitted ones.
            int done = tasks.TakeWhile(t => t.IsCompleted).Count();
            Assert.All(tasks.Skip(done), t => Assert.False(t.IsCompleted));
        }
        var epochs = tasks.Select(t => t.GetAwaiter().GetResult()).Select(r => r.BrokerEpoch).ToList();
        Assert.Equal(epochs.OrderBy(e => e), epochs);
        Assert.Equal(n, epochs.Distinct().Count());
    }

    [Fact]
    public void Losing_leadership_fails_in_flight_operations_and_reverts_uncommitted_state()
    {
        var cluster = new ControllerCluster(3);
        var old = cluster.ElectActive();
        long committedBefore = old.LastCommittedOffset;
        cluster.Raft.HoldFrom(old.NodeId);
        var pending = old.RegisterBroker(ControllerCluster.Registration(5), 4);
        var pendingIds = old.AllocateProducerIds(new AllocateProducerIdsRequest { BrokerId = 5, BrokerEpoch = 0 });
        cluster.Raft.Settle();
        Assert.False(pending.IsCompleted);
        Assert.True(cluster.Current(old, s => s.Brokers.ContainsKey(5)));

        // The leader is cut off: its held appends never reach anyone; another controller takes over.
        cluster.Raft.Release(drop: true);
        cluster.Raft.Isolate(old.NodeId);
        var successor = cluster.ElectActive(except: old.NodeId);
        Assert.True(cluster.Raft.RunUntil(() => pending.IsCompleted && !old.IsActive));
        Assert.Equal((short)ErrorCode.NotController, cluster.Done(pending).ErrorCode);
        Assert.True(pendingIds.IsCompleted);
        Assert.Equal((short)ErrorCode.NotController, cluster.Done(pendingIds).ErrorCode);
        Assert.False(cluster.Current(old, s => s.Brokers.ContainsKey(5)));
        Assert.True(old.LastCommittedOffset >= committedBefore);

        // Back in the quorum, the old leader follows the new one and never sees the lost write.
        cluster.Raft.Heal();
        var registered = cluster.Done(successor.RegisterBroker(ControllerCluster.Registration(6), 4));
        Assert.Equal(0, registered.ErrorCode);
        Assert.True(cluster.Raft.RunUntil(() => old.LastCommittedOffset >= successor.LastCommittedOffset));
        Assert.False(cluster.Committed(old, s => s.Brokers.ContainsKey(5)));
        Assert.True(cluster.Committed(old, s => s.Brokers.ContainsKey(6)));
        Assert.False(cluster.Committed(successor, s => s.Brokers.ContainsKey(5)));
    }

    [Fact]
    public void A_standby_takes_over_with_every_committed_registration()
    {
        var cluster = new ControllerCluster(3);
        var old = cluster.ElectActive();
        var epochs = new Dictionary<int, long>();
        for (int id = 1; id <= 3; id++) epochs[id] = cluster.RegisterUnfenced(old, id);
        var controllerReg = cluster.Done(old.RegisterController(new ControllerRegistrationRequest
        {
            ControllerId = old.NodeId,
            IncarnationId = Uuid.NewRandom(),
            Features = [new ControllerRegistrationRequest.Feature { Name = MetadataVersion.FeatureName, MinSupportedVersion = 1, MaxSupportedVersion = 25 }],
        }));
        Assert.Equal(0, controllerReg.ErrorCode);

        cluster.Raft.Isolate(old.NodeId);
        var successor = cluster.ElectActive(except: old.NodeId);
        var brokers = cluster.Committed(successor, s => s.Brokers);
        Assert.Equal([1, 2, 3], brokers.Keys);
        foreach (var (id, epoch) in epochs)
        {
            Assert.Equal(epoch, brokers[id].Epoch);
            Assert.False(brokers[id].Fenced);
        }
        Assert.True(cluster.Committed(successor, s => s.Controllers.ContainsKey(old.NodeId)));
        // The new active controller serves the brokers it learned by replay.
        var beat = cluster.Done(successor.BrokerHeartbeat(ControllerCluster.Heartbeat(2, epochs[2], successor.LastCommittedOffset)));
        Assert.Equal(0, beat.ErrorCode);
        Assert.False(beat.IsFenced);
    }

    [Fact]
    public void The_active_controller_writes_NoOp_records_while_idle()
    {
        var cluster = new ControllerCluster(1, configure: c => c with { MaxIdleIntervalMs = 500 });
        var active = cluster.ElectActive();
        int before = LogValues(cluster.Raft[active.NodeId]).Count(v => v is NoOpRecord);
        cluster.Raft.Advance(3000);
        int after = LogValues(cluster.Raft[active.NodeId]).Count(v => v is NoOpRecord);
        Assert.InRange(after - before, 4, 7);
    }

    internal static List<object> LogValues(HarnessNode node)
    {
        var values = new List<object>();
        foreach (var (_, _, _, bytes) in node.Log.Batches)
        {
            var reader = new RecordBatchReader(bytes);
            while (reader.MoveNext())
            {
                if (reader.Current.IsControl) continue;
                using var records = reader.Current.OpenRecords(1 << 20);
                foreach (var record in records) values.Add(MetadataRecordFrame.Decode(record.Value).Message);
            }
        }
        return values;
    }
}
