using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Raft;

namespace Fjord.Controller.Tests;

/// <summary>A <see cref="QuorumController"/> on every node of a <see cref="RaftHarness"/>, each on a
/// <see cref="ManualEventQueue"/> the harness pumps.</summary>
internal sealed class ControllerCluster
{
    public const string ClusterId = "test-cluster";

    public ControllerCluster(int voters, MetadataVersion? bootstrap = null, Func<ControllerConfig, ControllerConfig>? configure = null, int seed = 1)
    {
        Raft = new RaftHarness(voters, seed);
        var config = new ControllerConfig
        {
            ClusterId = ClusterId,
            BootstrapRecords = ControllerConfig.BootstrapFor(bootstrap ?? MetadataVersion.LatestProduction),
        };
        if (configure is not null) config = configure(config);
        Config = config;
        foreach (var (id, node) in Raft.Nodes)
        {
            var queue = new ManualEventQueue();
            var controller = new QuorumController(config, node.Port, queue, () => Raft.Now);
            Controllers[id] = controller;
            int nodeId = id;
            Raft.Pumps.Add(() => Raft.IsCrashed(nodeId) ? 0 : queue.RunPending());
            Raft.Ticks.Add(() =>
            {
                if (!Raft.IsCrashed(nodeId)) controller.Tick();
            });
        }
    }

    public RaftHarness Raft { get; }
    public ControllerConfig Config { get; }
    public SortedDictionary<int, QuorumController> Controllers { get; } = [];

    public QuorumController? Active => Controllers.Values.SingleOrDefault(c => c.IsActive);

    /// <summary>Runs until one controller is active and its bootstrap (or everything it wrote) is committed.</summary>
    public QuorumController ElectActive(int? except = null)
    {
        Assert.True(Raft.RunUntil(() => Controllers.Values.Any(c => c.IsActive && c.NodeId != except && Committed(c, c2 => c2.MetadataVersion is not null))),
            "no controller became active");
        return Controllers.Values.Single(c => c.IsActive && c.NodeId != except);
    }

    public T Committed<T>(QuorumController controller, Func<ControllerState, T> read) => Done(controller.ReadCommitted(read));

    public T Current<T>(QuorumController controller, Func<ControllerState, T> read) => Done(controller.ReadCurrent(read));

    /// <summary>Settles the harness and returns the task's result; fails when it is still pending.</summary>
    public T Done<T>(Task<T> task)
    {
        Raft.Settle();
        Assert.True(task.IsCompleted, "the operation is still pending");
        return task.GetAwaiter().GetResult();
    }

    public static BrokerRegistrationRequest Registration(int brokerId, Uuid? incarnation = null, short maxMetadataVersion = -1, short minMetadataVersion = 1) => new()
    {
        BrokerId = brokerId,
        ClusterId = ClusterId,
        IncarnationId = incarnation ?? Uuid.NewRandom(),
        Listeners = [new BrokerRegistrationRequest.Listener { Name = "PLAINTEXT", Host = "localhost", Port = (ushort)(9092 + brokerId), SecurityProtocol = 0 }],
        Features =
        [
            new BrokerRegistrationRequest.Feature
            {
                Name = MetadataVersion.FeatureName,
                MinSupportedVersion = minMetadataVersion,
                MaxSupportedVersion = maxMetadataVersion < 0 ? MetadataVersion.LatestTesting.FeatureLevel : maxMetadataVersion,
            },
        ],
        Rack = null,
    };

    public static BrokerHeartbeatRequest Heartbeat(int brokerId, long epoch, long metadataOffset, bool wantFence = false, bool wantShutDown = false) => new()
    {
        BrokerId = brokerId,
        BrokerEpoch = epoch,
        CurrentMetadataOffset = metadataOffset,
        WantFence = wantFence,
        WantShutDown = wantShutDown,
    };

    /// <summary>Registers a broker and unfences it; returns its epoch.</summary>
    public long RegisterUnfenced(QuorumController controller, int brokerId)
    {
        var registered = Done(controller.RegisterBroker(Registration(brokerId), 4));
        Assert.Equal(0, registered.ErrorCode);
        var beat = Done(controller.BrokerHeartbeat(Heartbeat(brokerId, registered.BrokerEpoch, controller.LastCommittedOffset)));
        Assert.Equal(0, beat.ErrorCode);
        Assert.False(beat.IsFenced);
        return registered.BrokerEpoch;
    }

    public static RaftRole Role(HarnessNode node) => node.Raft.Role;
}
