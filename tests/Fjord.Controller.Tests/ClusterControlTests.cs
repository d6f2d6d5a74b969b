using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller.Tests;

public sealed class ClusterControlTests
{
    [Fact]
    public void Registration_gives_a_fenced_broker_whose_epoch_is_the_offset_of_its_record()
    {
        var cluster = new ControllerCluster(1);
        var active = cluster.ElectActive();
        var request = ControllerCluster.Registration(3);
        var response = cluster.Done(active.RegisterBroker(request, 4));
        Assert.Equal(0, response.ErrorCode);

        var broker = cluster.Committed(active, s => s.Brokers[3]);
        Assert.True(broker.Fenced);
        Assert.Equal(request.IncarnationId, broker.IncarnationId);
        Assert.Equal(response.BrokerEpoch, broker.Epoch);
        Assert.Equal("PLAINTEXT", Assert.Single(broker.Listeners).Name);
        // The record sits at the offset named by its epoch.
        var batch = cluster.Raft[1].Log.Batches.Single(b => b.BaseOffset <= response.BrokerEpoch && b.LastOffset >= response.BrokerEpoch);
        Assert.Equal(response.BrokerEpoch, batch.BaseOffset);
        Assert.Contains(QuorumControllerTests.LogValues(cluster.Raft[1]), v => v is RegisterBrokerRecord r && r.BrokerEpoch == response.BrokerEpoch);
    }

    [Fact]
    public void Registration_errors()
    {
        var cluster = new ControllerCluster(1);
        var active = cluster.ElectActive();

        var wrongCluster = ControllerCluster.Registration(1);
        wrongCluster.ClusterId = "another";
        Assert.Equal((short)ErrorCode.InconsistentClusterId, cluster.Done(active.RegisterBroker(wrongCluster, 4)).ErrorCode);

        var tooOld = ControllerCluster.Registration(1, maxMetadataVersion: (short)(MetadataVersion.LatestProduction.FeatureLevel - 1));
        var refused = cluster.Done(active.RegisterBroker(tooOld, 4));
        Assert.Equal((short)ErrorCode.UnsupportedVersion, refused.ErrorCode);
        Assert.Equal(-1, refused.BrokerEpoch);
        Assert.Empty(cluster.Committed(active, s => s.Brokers));
    }

    [Fact]
    public void Same_incarnation_reregisters_and_another_incarnation_is_refused_while_the_session_lives()
    {
        var cluster = new ControllerCluster(1, configure: c => c with { BrokerSessionTimeoutMs = 9000 });
        var active = cluster.ElectActive();
        var incarnation = Uuid.NewRandom();
        var first = cluster.Done(active.RegisterBroker(ControllerCluster.Registration(1, incarnation), 4));
        Assert.Equal(0, first.ErrorCode);

        var again = cluster.Done(active.RegisterBroker(ControllerCluster.Registration(1, incarnation), 4));
        Assert.Equal(0, again.ErrorCode);
        Assert.True(again.BrokerEpoch > first.BrokerEpoch);

        var other = Uuid.NewRandom();
        Assert.Equal((short)ErrorCode.DuplicateBrokerRegistration, cluster.Done(active.RegisterBroker(ControllerCluster.Registration(1, other), 4)).ErrorCode);
        Assert.Equal(incarnation, cluster.Committed(active, s => s.Brokers[1].IncarnationId));

        // Once the session has expired the new incarnation replaces the old one.
        cluster.Raft.Advance(9500);
        var replaced = cluster.Done(active.RegisterBroker(ControllerCluster.Registration(1, other), 4));
        Assert.Equal(0, replaced.ErrorCode);
        Assert.Equal(other, cluster.Committed(active, s => s.Brokers[1].IncarnationId));
    }

    [Fact]
    public void Heartbeat_errors()
    {
        var cluster = new ControllerCluster(1);
        var active = cluster.ElectActive();
        Assert.Equal((short)ErrorCode.BrokerIdNotRegistered, cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(9, 0, 0))).ErrorCode);
        var registered = cluster.Done(active.RegisterBroker(ControllerCluster.Registration(9), 4));
        var stale = cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(9, registered.BrokerEpoch - 1, 0)));
        Assert.Equal((short)ErrorCode.StaleBrokerEpoch, stale.ErrorCode);
    }

    [Fact]
    public void Broker_is_unfenced_once_it_has_caught_up_to_its_registration()
    {
        var cluster = new ControllerCluster(1);
        var active = cluster.ElectActive();
        long epoch = cluster.Done(active.RegisterBroker(ControllerCluster.Registration(2), 4)).BrokerEpoch;

        var behind = cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(2, epoch, epoch - 1)));
        Assert.Equal(0, behind.ErrorCode);
        Assert.False(behind.IsCaughtUp);
        Assert.True(behind.IsFenced);
        Assert.True(cluster.Committed(active, s => s.Brokers[2].Fenced));

        var wantsFence = cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(2, epoch, epoch, wantFence: true)));
        Assert.True(wantsFence.IsFenced);

        var caughtUp = cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(2, epoch, epoch)));
        Assert.True(caughtUp.IsCaughtUp);
        Assert.False(caughtUp.IsFenced);
        Assert.False(cluster.Committed(active, s => s.Brokers[2].Fenced));
        Assert.Contains(QuorumControllerTests.LogValues(cluster.Raft[1]), v => v is UnfenceBrokerRecord { Id: 2 } u && u.Epoch == epoch);

        var fenceAgain = cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(2, epoch, epoch, wantFence: true)));
        Assert.True(fenceAgain.IsFenced);
        Assert.True(cluster.Committed(active, s => s.Brokers[2].Fenced));
    }

    [Fact]
    public void Session_timeout_fences_a_silent_broker_but_not_one_that_heartbeats()
    {
        var cluster = new ControllerCluster(1, configure: c => c with { BrokerSessionTimeoutMs = 9000 });
        var active = cluster.ElectActive();
        long silent = cluster.RegisterUnfenced(active, 1);
        long chatty = cluster.RegisterUnfenced(active, 2);

        for (int i = 0; i < 6; i++)
        {
            cluster.Raft.Advance(2000);
            Assert.False(cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(2, chatty, active.LastCommittedOffset))).IsFenced);
        }
        Assert.True(cluster.Committed(active, s => s.Brokers[1].Fenced));
        Assert.False(cluster.Committed(active, s => s.Brokers[2].Fenced));
        Assert.Contains(QuorumControllerTests.LogValues(cluster.Raft[1]), v => v is FenceBrokerRecord { Id: 1 } f && f.Epoch == silent);
    }

    [Fact]
    public void Controlled_shutdown_fences_a_broker_that_leads_nothing_and_tells_it_to_shut_down()
    {
        var cluster = new ControllerCluster(1);
        var active = cluster.ElectActive();
        long epoch = cluster.RegisterUnfenced(active, 4);

        var shutdown = cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(4, epoch, active.LastCommittedOffset, wantShutDown: true)));
        Assert.Equal(0, shutdown.ErrorCode);
        Assert.True(shutdown.ShouldShutDown);
        Assert.True(shutdown.IsFenced);
        var broker = cluster.Committed(active, s => s.Brokers[4]);
        Assert.True(broker.Fenced);
        Assert.True(broker.InControlledShutdown);
        Assert.Contains(QuorumControllerTests.LogValues(cluster.Raft[1]), v => v is BrokerRegistrationChangeRecord { BrokerId: 4, InControlledShutdown: 1 });

        // Fenced and still wanting to shut down: told so at once.
        var again = cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(4, epoch, active.LastCommittedOffset, wantShutDown: true)));
        Assert.True(again.ShouldShutDown);
    }

    [Fact]
    public void Controlled_shutdown_waits_while_the_broker_leads_partitions()
    {
        var cluster = new ControllerCluster(1);
        var active = cluster.ElectActive();
        long epoch = cluster.RegisterUnfenced(active, 4);
        bool leads = true;
        active.Cluster.LeadsPartitions = (_, _) => leads;

        var first = cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(4, epoch, active.LastCommittedOffset, wantShutDown: true)));
        Assert.False(first.ShouldShutDown);
        Assert.False(first.IsFenced);
        Assert.True(cluster.Committed(active, s => s.Brokers[4].InControlledShutdown));

        leads = false;
        var second = cluster.Done(active.BrokerHeartbeat(ControllerCluster.Heartbeat(4, epoch, active.LastCommittedOffset, wantShutDown: true)));
        Assert.True(second.ShouldShutDown);
        Assert.True(second.IsFenced);
    }

    [Fact]
    public void Unregister_removes_the_registration()
    {
        var cluster = new ControllerCluster(1);
        var active = cluster.ElectActive();
        cluster.RegisterUnfenced(active, 5);
        var ok = cluster.Done(active.UnregisterBroker(new UnregisterBrokerRequest { BrokerId = 5 }));
        Assert.Equal(0, ok.ErrorCode);
        Assert.False(cluster.Committed(active, s => s.Brokers.ContainsKey(5)));
        var missing = cluster.Done(active.UnregisterBroker(new UnregisterBrokerRequest { BrokerId = 5 }));
        Assert.Equal((short)ErrorCode.BrokerIdNotRegistered, missing.ErrorCode);
    }

    [Fact]
    public void Controller_registration_needs_3_7_and_support_for_the_finalized_levels()
    {
        var old = new ControllerCluster(1, MetadataVersion.FromFeatureLevel(14));
        var oldActive = old.ElectActive();
        Assert.Equal((short)ErrorCode.UnsupportedVersion, old.Done(oldActive.RegisterController(ControllerRequest(1, 25))).ErrorCode);

        var cluster = new ControllerCluster(1, MetadataVersion.FromFeatureLevel(20));
        var active = cluster.ElectActive();
        Assert.Equal((short)ErrorCode.UnsupportedVersion, cluster.Done(active.RegisterController(ControllerRequest(1, 19))).ErrorCode);
        var ok = cluster.Done(active.RegisterController(ControllerRequest(1, 25)));
        Assert.Equal(0, ok.ErrorCode);
        var registered = cluster.Committed(active, s => s.Controllers[1]);
        Assert.Equal(new SupportedRange(1, 25), registered.SupportedFeatures[MetadataVersion.FeatureName]);
    }

    private static ControllerRegistrationRequest ControllerRequest(int id, short maxMetadataVersion) => new()
    {
        ControllerId = id,
        IncarnationId = Uuid.NewRandom(),
        Listeners = [new ControllerRegistrationRequest.Listener { Name = "CONTROLLER", Host = "localhost", Port = 9093 }],
        Features = [new ControllerRegistrationRequest.Feature { Name = MetadataVersion.FeatureName, MinSupportedVersion = 1, MaxSupportedVersion = maxMetadataVersion }],
    };
}
