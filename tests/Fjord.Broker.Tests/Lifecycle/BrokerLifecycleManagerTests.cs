using Fjord.Broker.Lifecycle;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Tests.Lifecycle;

public sealed class BrokerLifecycleManagerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    private static BrokerLifecycleOptions Options(short registrationVersion = 4) => new()
    {
        NodeId = 7,
        ClusterId = "cluster-A",
        Listeners = [new Endpoint("PLAINTEXT", "127.0.0.1", 19092, 0), new Endpoint("SSL", "127.0.0.1", 19093, 1)],
        Rack = "rack-1",
        LogDirs = [new Uuid(5, 6)],
        PreviousBrokerEpoch = 55,
        IncarnationId = new Uuid(9, 9),
        HeartbeatIntervalMs = 20,
        RetryBackoffMs = 5,
        RegistrationVersion = registrationVersion,
    };

    private sealed class Offset
    {
        private long _value = -1;
        public long Value { get => Interlocked.Read(ref _value); set => Interlocked.Exchange(ref _value, value); }
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + Deadline;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, $"timed out waiting for: {what}");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task Registers_then_stays_fenced_until_caught_up_then_runs()
    {
        var controller = new FakeLifecycleController();
        var offset = new Offset();
        var states = new List<BrokerState>();
        await using var manager = new BrokerLifecycleManager(Options(), controller, () => offset.Value);
        manager.StateChanged += s => { lock (states) states.Add(s); };
        Assert.Equal(BrokerState.NotRunning, manager.State);
        manager.Start();

        await WaitUntil(() => controller.Sent<BrokerHeartbeatRequest>().Length >= 3, "heartbeats while catching up");
        Assert.Equal(BrokerState.Recovery, manager.State);
        Assert.Equal(100, manager.BrokerEpoch);
        Assert.True(manager.IsFenced);
        Assert.False(manager.IsCaughtUp);
        var unfenced = manager.WaitForUnfencedAsync();
        Assert.False(unfenced.IsCompleted);
        Assert.All(controller.Sent<BrokerHeartbeatRequest>(), h =>
        {
            Assert.Equal((7, 100L, true, false), (h.BrokerId, h.BrokerEpoch, h.WantFence, h.WantShutDown));
            Assert.Equal(-1, h.CurrentMetadataOffset);
        });

        var registration = Assert.Single(controller.Sent<BrokerRegistrationRequest>());
        Assert.Equal((7, "cluster-A", new Uuid(9, 9), "rack-1", false, 55L), (registration.BrokerId, registration.ClusterId, registration.IncarnationId, registration.Rack, registration.IsMigratingZkBroker, registration.PreviousBrokerEpoch));
        Assert.Equal([("PLAINTEXT", "127.0.0.1", (ushort)19092, (short)0), ("SSL", "127.0.0.1", (ushort)19093, (short)1)],
            registration.Listeners.Select(l => (l.Name, l.Host, l.Port, l.SecurityProtocol)));
        Assert.Equal([("metadata.version", (short)1, MetadataVersion.LatestTesting.FeatureLevel), ("kraft.version", (short)0, (short)1)],
            registration.Features.Select(f => (f.Name, f.MinSupportedVersion, f.MaxSupportedVersion)));
        Assert.Equal([new Uuid(5, 6)], registration.LogDirs);
        Assert.Equal(4, controller.Versions[0]);

        offset.Value = 100; // replayed up to our own registration
        await unfenced.WaitAsync(Deadline);
        Assert.Equal(BrokerState.Running, manager.State);
        Assert.False(manager.IsFenced);
        Assert.True(manager.IsCaughtUp);
        Assert.False(controller.Broker(7).Fenced);
        await manager.WaitForUnfencedAsync().WaitAsync(Deadline); // completes at once while running
        await WaitUntil(() => { lock (states) return states.Count >= 3; }, "state events");
        lock (states) Assert.Equal([BrokerState.Starting, BrokerState.Recovery, BrokerState.Running], states);
    }

    [Fact]
    public async Task Registration_before_v4_leaves_out_features_starting_at_zero_and_is_retried_after_failures()
    {
        var controller = new FakeLifecycleController { FailNext = 3 };
        await using var manager = new BrokerLifecycleManager(Options(registrationVersion: 2), controller, () => 1000);
        manager.Start();
        await manager.WaitForUnfencedAsync().WaitAsync(Deadline);
        var registrations = controller.Sent<BrokerRegistrationRequest>();
        Assert.Equal(4, registrations.Length); // three timed out
        Assert.Equal(["metadata.version"], registrations[^1].Features.Select(f => f.Name));
        Assert.Equal(-1, registrations[^1].PreviousBrokerEpoch); // not in v2
        Assert.Equal(1, manager.Registrations);
    }

    [Fact]
    public async Task Readiness_gate_holds_unfencing_back()
    {
        var controller = new FakeLifecycleController();
        int ready = 0;
        await using var manager = new BrokerLifecycleManager(Options(), controller, () => 1000, readyToUnfence: () => Volatile.Read(ref ready) == 1);
        manager.Start();
        await WaitUntil(() => manager.IsCaughtUp && controller.Sent<BrokerHeartbeatRequest>().Length >= 4, "caught up");
        Assert.Equal(BrokerState.Recovery, manager.State);
        Assert.All(controller.Sent<BrokerHeartbeatRequest>(), h => Assert.True(h.WantFence));
        Volatile.Write(ref ready, 1);
        await manager.WaitForUnfencedAsync().WaitAsync(Deadline);
    }

    [Fact]
    public async Task Re_registers_when_the_controller_no_longer_knows_the_registration()
    {
        var controller = new FakeLifecycleController();
        await using var manager = new BrokerLifecycleManager(Options(), controller, () => 10_000);
        manager.Start();
        await manager.WaitForUnfencedAsync().WaitAsync(Deadline);
        Assert.Equal(100, manager.BrokerEpoch);

        controller.Unregister(7); // next heartbeat: BROKER_ID_NOT_REGISTERED
        await WaitUntil(() => manager.Registrations == 2 && manager.State == BrokerState.Running, "re-registration after unregister");
        Assert.Equal(101, manager.BrokerEpoch);

        controller.Broker(7).Epoch = 500; // someone else's registration: STALE_BROKER_EPOCH
        await WaitUntil(() => manager.Registrations == 3 && manager.State == BrokerState.Running, "re-registration after stale epoch");
        Assert.Equal(102, manager.BrokerEpoch);

        var registrations = controller.Sent<BrokerRegistrationRequest>();
        Assert.All(registrations, r => Assert.Equal(new Uuid(9, 9), r.IncarnationId)); // same process, same incarnation
        await manager.WaitForUnfencedAsync().WaitAsync(Deadline);
    }

    [Fact]
    public async Task A_running_broker_fenced_by_the_controller_gets_unfenced_again()
    {
        var controller = new FakeLifecycleController();
        await using var manager = new BrokerLifecycleManager(Options(), controller, () => 10_000);
        manager.Start();
        await manager.WaitForUnfencedAsync().WaitAsync(Deadline);
        controller.Fence(7); // as a session timeout would
        int before = controller.Sent<BrokerHeartbeatRequest>().Length;
        await WaitUntil(() => controller.Sent<BrokerHeartbeatRequest>().Length > before + 1 && !controller.Broker(7).Fenced, "unfenced again");
        Assert.Equal(BrokerState.Running, manager.State);
        Assert.Equal(1, manager.Registrations);
    }

    [Fact]
    public async Task Controlled_shutdown_waits_for_the_controller_then_stops()
    {
        var controller = new FakeLifecycleController { LedPartitionRounds = 2 };
        await using var manager = new BrokerLifecycleManager(Options(), controller, () => 10_000);
        manager.Start();
        await manager.WaitForUnfencedAsync().WaitAsync(Deadline);

        Assert.True(await manager.ControlledShutdownAsync(Deadline));
        Assert.Equal(BrokerState.ShuttingDown, manager.State);
        var heartbeats = controller.Sent<BrokerHeartbeatRequest>();
        var shutdownBeats = heartbeats.Where(h => h.WantShutDown).ToList();
        Assert.Equal(3, shutdownBeats.Count); // two rounds moving leadership, then fenced and told to stop
        Assert.True(controller.Broker(7).Fenced);
        Assert.True(controller.Broker(7).InControlledShutdown);

        int sent = controller.Requests.Count;
        await Task.Delay(100);
        Assert.Equal(sent, controller.Requests.Count); // nothing after the shutdown
    }

    [Fact]
    public async Task Controlled_shutdown_times_out_when_the_controller_is_unreachable()
    {
        var controller = new FakeLifecycleController();
        await using var manager = new BrokerLifecycleManager(Options(), controller, () => 10_000);
        manager.Start();
        await manager.WaitForUnfencedAsync().WaitAsync(Deadline);
        controller.FailNext = int.MaxValue;
        Assert.False(await manager.ControlledShutdownAsync(TimeSpan.FromMilliseconds(200)));
        Assert.Equal(BrokerState.ShuttingDown, manager.State);
    }

    [Fact]
    public async Task Controlled_shutdown_during_recovery_and_before_registration()
    {
        var controller = new FakeLifecycleController();
        await using var recovering = new BrokerLifecycleManager(Options(), controller, () => -1);
        recovering.Start();
        await WaitUntil(() => recovering.State == BrokerState.Recovery, "registered");
        var waiter = recovering.WaitForUnfencedAsync();
        Assert.True(await recovering.ControlledShutdownAsync(Deadline)); // fenced: the controller agrees at once
        Assert.Equal(BrokerState.ShuttingDown, recovering.State);
        await Assert.ThrowsAsync<InvalidOperationException>(() => waiter);

        var never = new FakeLifecycleController { FailNext = int.MaxValue };
        await using var starting = new BrokerLifecycleManager(Options(), never, () => -1);
        Assert.True(await starting.ControlledShutdownAsync(Deadline)); // never started
        Assert.Equal(BrokerState.ShuttingDown, starting.State);
    }

    [Fact]
    public async Task Inconsistent_cluster_id_is_fatal()
    {
        var controller = new FakeLifecycleController { ClusterId = "cluster-B" };
        await using var manager = new BrokerLifecycleManager(Options(), controller, () => 0);
        manager.Start();
        var error = await Assert.ThrowsAsync<BrokerRegistrationException>(() => manager.WaitForUnfencedAsync().WaitAsync(Deadline));
        Assert.Equal(ErrorCode.InconsistentClusterId, error.Error);
        Assert.Contains("meta.properties", error.Message);
        Assert.Same(error, manager.FatalError);
        await Task.Delay(50);
        Assert.Single(controller.Sent<BrokerRegistrationRequest>()); // not retried
    }

    [Fact]
    public async Task Start_twice_is_refused()
    {
        var manager = new BrokerLifecycleManager(Options(), new FakeLifecycleController { FailNext = int.MaxValue }, () => 0);
        manager.Start();
        Assert.Throws<InvalidOperationException>(manager.Start);
        await manager.DisposeAsync().AsTask().WaitAsync(Deadline);
    }
}
