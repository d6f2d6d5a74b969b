using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;

namespace Fjord.Controller.Tests;

public sealed class FeatureAndProducerIdTests
{
    private static UpdateFeaturesRequest Update(string feature, short level, FeatureUpgradeType type = FeatureUpgradeType.Upgrade, bool validateOnly = false) => new()
    {
        FeatureUpdates = [new UpdateFeaturesRequest.FeatureUpdateKey { Feature = feature, MaxVersionLevel = level, UpgradeType = (sbyte)type }],
        ValidateOnly = validateOnly,
    };

    private static short Level(ControllerCluster cluster, QuorumController controller) =>
        cluster.Committed(controller, s => s.FinalizedFeatures[MetadataVersion.FeatureName]);

    [Fact]
    public void Upgrade_is_refused_while_a_registered_broker_lacks_support()
    {
        var cluster = new ControllerCluster(1, MetadataVersion.FromFeatureLevel(17));
        var active = cluster.ElectActive();
        Assert.Equal(0, cluster.Done(active.RegisterBroker(ControllerCluster.Registration(1, maxMetadataVersion: 20), 4)).ErrorCode);

        var refused = cluster.Done(active.UpdateFeatures(Update(MetadataVersion.FeatureName, 21), 1));
        var result = Assert.Single(refused.Results);
        Assert.Equal((short)ErrorCode.InvalidUpdateVersion, result.ErrorCode);
        Assert.Contains("broker 1", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(17, Level(cluster, active));

        // v2 reports the failure at the top level.
        var refusedV2 = cluster.Done(active.UpdateFeatures(Update(MetadataVersion.FeatureName, 21), 2));
        Assert.Equal((short)ErrorCode.InvalidUpdateVersion, refusedV2.ErrorCode);

        var ok = cluster.Done(active.UpdateFeatures(Update(MetadataVersion.FeatureName, 20), 1));
        Assert.Equal(0, Assert.Single(ok.Results).ErrorCode);
        Assert.Equal(20, Level(cluster, active));
    }

    [Fact]
    public void Validate_only_changes_nothing()
    {
        var cluster = new ControllerCluster(1, MetadataVersion.FromFeatureLevel(17));
        var active = cluster.ElectActive();
        var response = cluster.Done(active.UpdateFeatures(Update(MetadataVersion.FeatureName, 20, validateOnly: true), 1));
        Assert.Equal(0, Assert.Single(response.Results).ErrorCode);
        Assert.Equal(17, Level(cluster, active));
    }

    [Fact]
    public void Metadata_version_downgrades_are_safe_only_across_levels_without_format_changes()
    {
        var cluster = new ControllerCluster(1, MetadataVersion.FromFeatureLevel(20));
        var active = cluster.ElectActive();

        // A lower level needs a downgrade type.
        Assert.Equal((short)ErrorCode.InvalidUpdateVersion, Assert.Single(cluster.Done(active.UpdateFeatures(Update(MetadataVersion.FeatureName, 19), 1)).Results).ErrorCode);
        // 20 → 17: levels 18, 19 and 20 changed no record format.
        Assert.Equal(0, Assert.Single(cluster.Done(active.UpdateFeatures(Update(MetadataVersion.FeatureName, 17, FeatureUpgradeType.SafeDowngrade), 1)).Results).ErrorCode);
        Assert.Equal(17, Level(cluster, active));
        // 17 → 14: 15 and 17 did; neither a safe nor an unsafe downgrade is accepted.
        Assert.Equal((short)ErrorCode.InvalidUpdateVersion, Assert.Single(cluster.Done(active.UpdateFeatures(Update(MetadataVersion.FeatureName, 14, FeatureUpgradeType.SafeDowngrade), 1)).Results).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidUpdateVersion, Assert.Single(cluster.Done(active.UpdateFeatures(Update(MetadataVersion.FeatureName, 14, FeatureUpgradeType.UnsafeDowngrade), 1)).Results).ErrorCode);
        // metadata.version cannot be removed; unknown features and levels are refused.
        Assert.Equal((short)ErrorCode.InvalidUpdateVersion, Assert.Single(cluster.Done(active.UpdateFeatures(Update(MetadataVersion.FeatureName, 0, FeatureUpgradeType.UnsafeDowngrade), 1)).Results).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidUpdateVersion, Assert.Single(cluster.Done(active.UpdateFeatures(Update("no.such.feature", 1), 1)).Results).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidUpdateVersion, Assert.Single(cluster.Done(active.UpdateFeatures(Update(MetadataVersion.FeatureName, 99), 1)).Results).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest, Assert.Single(cluster.Done(active.UpdateFeatures(Update(MetadataVersion.FeatureName, 18, (FeatureUpgradeType)9), 1)).Results).ErrorCode);
        Assert.Equal(17, Level(cluster, active));
    }

    [Fact]
    public void Other_features_can_be_finalized_and_removed_with_a_downgrade()
    {
        var cluster = new ControllerCluster(1);
        var active = cluster.ElectActive();
        Assert.Equal(0, Assert.Single(cluster.Done(active.UpdateFeatures(Update("group.version", 1), 1)).Results).ErrorCode);
        Assert.Equal(1, cluster.Committed(active, s => s.FinalizedFeatures["group.version"]));
        // v0: AllowDowngrade stands for a safe downgrade.
        var remove = new UpdateFeaturesRequest { FeatureUpdates = [new UpdateFeaturesRequest.FeatureUpdateKey { Feature = "group.version", MaxVersionLevel = 0, AllowDowngrade = true }] };
        Assert.Equal(0, Assert.Single(cluster.Done(active.UpdateFeatures(remove, 0)).Results).ErrorCode);
        Assert.False(cluster.Committed(active, s => s.FinalizedFeatures.ContainsKey("group.version")));
    }

    [Fact]
    public void Producer_id_blocks_need_the_current_broker_epoch()
    {
        var cluster = new ControllerCluster(1);
        var active = cluster.ElectActive();
        long epoch = cluster.RegisterUnfenced(active, 1);
        Assert.Equal((short)ErrorCode.StaleBrokerEpoch, cluster.Done(active.AllocateProducerIds(new AllocateProducerIdsRequest { BrokerId = 1, BrokerEpoch = epoch + 1 })).ErrorCode);
        Assert.Equal((short)ErrorCode.StaleBrokerEpoch, cluster.Done(active.AllocateProducerIds(new AllocateProducerIdsRequest { BrokerId = 2, BrokerEpoch = epoch })).ErrorCode);
        var block = cluster.Done(active.AllocateProducerIds(new AllocateProducerIdsRequest { BrokerId = 1, BrokerEpoch = epoch }));
        Assert.Equal(0, block.ErrorCode);
        Assert.Equal(0, block.ProducerIdStart);
        Assert.Equal(1000, block.ProducerIdLen);
    }

    [Fact]
    public void Producer_id_blocks_are_unique_and_increasing_across_a_failover()
    {
        var cluster = new ControllerCluster(3);
        var old = cluster.ElectActive();
        var epochs = new Dictionary<int, long> { [1] = cluster.RegisterUnfenced(old, 1), [2] = cluster.RegisterUnfenced(old, 2) };
        var starts = new List<long>();
        // Pipelined: several blocks in flight at once.
        var inFlight = Enumerable.Range(0, 4).Select(i => old.AllocateProducerIds(new AllocateProducerIdsRequest { BrokerId = 1 + i % 2, BrokerEpoch = epochs[1 + i % 2] })).ToList();
        foreach (var task in inFlight) starts.Add(cluster.Done(task).ProducerIdStart);

        cluster.Raft.Isolate(old.NodeId);
        var successor = cluster.ElectActive(except: old.NodeId);
        for (int i = 0; i < 3; i++)
        {
            var block = cluster.Done(successor.AllocateProducerIds(new AllocateProducerIdsRequest { BrokerId = 2, BrokerEpoch = epochs[2] }));
            Assert.Equal(0, block.ErrorCode);
            starts.Add(block.ProducerIdStart);
        }
        Assert.Equal(starts.OrderBy(s => s), starts);
        Assert.Equal(starts.Count, starts.Distinct().Count());
        Assert.All(starts.Zip(starts.Skip(1)), pair => Assert.True(pair.Second - pair.First >= 1000));
    }
}
