using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller.Tests;

public sealed class StateAndQueueTests
{
    [Fact]
    public void State_to_records_and_back_is_identity()
    {
        var cluster = new ControllerCluster(1);
        var active = cluster.ElectActive();
        long epoch = cluster.RegisterUnfenced(active, 1);
        cluster.Done(active.RegisterBroker(ControllerCluster.Registration(2), 4));
        cluster.Done(active.AllocateProducerIds(new AllocateProducerIdsRequest { BrokerId = 1, BrokerEpoch = epoch }));
        var state = cluster.Committed(active, s => s);

        var rebuilt = ControllerState.Empty;
        foreach (var record in state.ToRecords()) rebuilt = rebuilt.Replay(record.Message);

        Assert.Equal(Encode(state), Encode(rebuilt));
        Assert.Equal(1000, rebuilt.NextProducerId);
        Assert.False(rebuilt.Brokers[1].Fenced);
        Assert.True(rebuilt.Brokers[2].Fenced);
    }

    [Fact]
    public void State_with_configs_quotas_acls_and_scram_to_records_and_back_is_identity()
    {
        var (cluster, active, _) = ReplicationControlTests.WithBrokers(1);
        cluster.Done(active.CreateTopics(new CreateTopicsRequest { Topics = [ReplicationControlTests.Topic("t", 1, 1, ("retention.ms", "5"))] }, 7));
        cluster.Done(active.IncrementalAlterConfigs(new IncrementalAlterConfigsRequest
        {
            Resources = [new() { ResourceType = ConfigResource.BrokerType, ResourceName = "", Configs = [new() { Name = "num.io.threads", ConfigOperation = 0, Value = "4" }] }],
        }));
        cluster.Done(active.AlterClientQuotas(new AlterClientQuotasRequest
        {
            Entries = [new() { Entity = [new() { EntityType = "user", EntityName = null }], Ops = [new() { Key = "producer_byte_rate", Value = 1e6 }] }],
        }));
        cluster.Done(active.CreateAcls(new CreateAclsRequest
        {
            Creations = [new() { ResourceType = 2, ResourceName = "t", ResourcePatternType = 4, Principal = "User:a", Host = "*", Operation = 3, PermissionType = 3 }],
        }));
        cluster.Done(active.AlterUserScramCredentials(new AlterUserScramCredentialsRequest
        {
            Upsertions = [new() { Name = "a", Mechanism = 1, Iterations = 4096, Salt = [1, 2], SaltedPassword = new byte[32] }],
        }));
        var state = cluster.Committed(active, s => s);
        Assert.Single(state.ClientQuotas);
        Assert.Single(state.Acls);
        Assert.Single(state.ScramCredentials);

        var rebuilt = state.ToRecords().Aggregate(ControllerState.Empty, (s, r) => s.Replay(r.Message));
        Assert.Equal(Encode(state), Encode(rebuilt));
        var types = state.ToRecords().Select(r => r.Message.GetType().Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "ConfigRecord", "ClientQuotaRecord", "AccessControlEntryRecord", "UserScramCredentialRecord" }, types);
    }

    [Fact]
    public void Replay_refuses_records_that_contradict_the_state()
    {
        var state = ControllerState.Empty.Replay(new RegisterBrokerRecord { BrokerId = 1, BrokerEpoch = 10 });
        Assert.Throws<InvalidOperationException>(() => state.Replay(new FenceBrokerRecord { Id = 1, Epoch = 9 }));
        Assert.Throws<InvalidOperationException>(() => state.Replay(new UnfenceBrokerRecord { Id = 2, Epoch = 10 }));
        var withIds = state.Replay(new ProducerIdsRecord { BrokerId = 1, BrokerEpoch = 10, NextProducerId = 2000 });
        Assert.Throws<InvalidOperationException>(() => withIds.Replay(new ProducerIdsRecord { BrokerId = 1, BrokerEpoch = 10, NextProducerId = 1000 }));
    }

    [Fact]
    public async Task Thread_queue_runs_events_one_at_a_time_in_order()
    {
        using var queue = new ThreadEventQueue("test-controller");
        var seen = new List<int>();
        int running = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        for (int i = 0; i < 1000; i++)
        {
            int n = i;
            queue.Post(() =>
            {
                Assert.Equal(1, Interlocked.Increment(ref running));
                seen.Add(n);
                Interlocked.Decrement(ref running);
                if (n == 999) done.SetResult();
            });
        }
        await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(Enumerable.Range(0, 1000), seen);
    }

    private static List<string> Encode(ControllerState state) =>
        [.. state.ToRecords().Select(r => Convert.ToHexString(MetadataRecordFrame.Encode(r)))];
}
