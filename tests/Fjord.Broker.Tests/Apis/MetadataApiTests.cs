using Fjord.Broker.Apis;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using static Fjord.Broker.Tests.Apis.ApiTestSupport;

namespace Fjord.Broker.Tests.Apis;

public sealed class MetadataApiTests
{
    private static readonly Uuid Orders = Id(1), Events = Id(2), Offsets = Id(3);

    /// <summary>Brokers 1, 2 (unfenced, PLAINTEXT+SSL), 3 (fenced), 4 (PLAINTEXT only, rack r4);
    /// orders: p0 led by 1, p1 leaderless, p2 with a replica on fenced 3; events: p0 led by 4;
    /// __consumer_offsets: p0.</summary>
    private static MetadataImage Cluster() => Image(
        Mv(), BrokerRecord(1, rack: "r1"), BrokerRecord(2), BrokerRecord(3, fenced: true), BrokerRecord(4, ssl: false, rack: "r4"),
        Topic("orders", Orders),
        Partition(Orders, 0, [1, 2], leaderEpoch: 7),
        Partition(Orders, 1, [2, 1], leader: -1, isr: [2]),
        Partition(Orders, 2, [2, 3], isr: [2]),
        Topic("events", Events),
        Partition(Events, 0, [4, 1]),
        Topic("__consumer_offsets", Offsets),
        Partition(Offsets, 0, [1]));

    private static BrokerMetadataApis Apis(MetadataImage image, IControllerChannel? controller = null, bool autoCreate = true) =>
        new(Options(autoCreate: autoCreate), () => image, controller);

    private static MetadataRequest Named(params string[] names) =>
        new() { Topics = [.. names.Select(n => new MetadataRequest.MetadataRequestTopic { Name = n })] };

    [Fact]
    public async Task All_topics_when_null_with_unfenced_brokers_on_the_requests_listener()
    {
        var apis = Apis(Cluster());
        var response = await apis.MetadataAsync(new MetadataRequest { Topics = null }, 12, Plain);

        Assert.Equal("fjord-test-cluster", response.ClusterId);
        Assert.Equal([1, 2, 4], response.Brokers.Select(b => b.NodeId));
        var b1 = response.Brokers[0];
        Assert.Equal(("b1.plain", 9093, "r1"), (b1.Host, b1.Port, b1.Rack));
        Assert.Contains(response.ControllerId, new[] { 1, 2, 4 });
        Assert.Equal(["__consumer_offsets", "events", "orders"], response.Topics.Select(t => t.Name));
        Assert.True(response.Topics[0].IsInternal);
        Assert.False(response.Topics[2].IsInternal);
        Assert.Equal(Orders, response.Topics[2].TopicId);
        Assert.All(response.Topics, t => Assert.Equal(int.MinValue, t.TopicAuthorizedOperations));

        var ssl = await apis.MetadataAsync(new MetadataRequest { Topics = null }, 12, Ssl);
        Assert.Equal([1, 2], ssl.Brokers.Select(b => b.NodeId)); // broker 4 has no SSL listener
        Assert.Equal(9193, ssl.Brokers[0].Port);
        Assert.Contains(ssl.ControllerId, new[] { 1, 2 });
    }

    [Fact]
    public async Task Version_0_empty_list_means_all_topics_but_later_versions_none()
    {
        var apis = Apis(Cluster());
        Assert.Equal(3, (await apis.MetadataAsync(new MetadataRequest { Topics = [] }, 0, Plain)).Topics.Count);
        Assert.Empty((await apis.MetadataAsync(new MetadataRequest { Topics = [] }, 1, Plain)).Topics);
    }

    [Fact]
    public async Task Partitions_carry_leader_epoch_replicas_isr_and_offline_replicas()
    {
        var response = await Apis(Cluster()).MetadataAsync(Named("orders"), 12, Plain);
        var topic = Assert.Single(response.Topics);
        Assert.Equal(0, topic.ErrorCode);
        var p0 = topic.Partitions[0];
        Assert.Equal((0, 0, 1, 7), (p0.ErrorCode, p0.PartitionIndex, p0.LeaderId, p0.LeaderEpoch));
        Assert.Equal([1, 2], p0.ReplicaNodes);
        Assert.Equal([1, 2], p0.IsrNodes);
        Assert.Empty(p0.OfflineReplicas);

        var p1 = topic.Partitions[1];
        Assert.Equal((short)ErrorCode.LeaderNotAvailable, p1.ErrorCode);
        Assert.Equal(-1, p1.LeaderId);
        Assert.Equal([2], p1.IsrNodes);

        var p2 = topic.Partitions[2];
        Assert.Equal(0, p2.ErrorCode);
        Assert.Equal([3], p2.OfflineReplicas); // broker 3 is fenced
    }

    [Fact]
    public async Task Leader_without_the_listener_is_listener_not_found_from_v6()
    {
        var apis = Apis(Cluster());
        var v6 = (await apis.MetadataAsync(Named("events"), 6, Ssl)).Topics[0].Partitions[0];
        Assert.Equal(((short)ErrorCode.ListenerNotFound, -1), (v6.ErrorCode, v6.LeaderId));
        Assert.Equal([4], v6.OfflineReplicas);
        var v5 = (await apis.MetadataAsync(Named("events"), 5, Ssl)).Topics[0].Partitions[0];
        Assert.Equal((short)ErrorCode.LeaderNotAvailable, v5.ErrorCode);
    }

    [Fact]
    public async Task Unknown_and_invalid_names_without_auto_creation()
    {
        var channel = new ScriptedControllerChannel();
        var apis = Apis(Cluster(), channel, autoCreate: false);
        var response = await apis.MetadataAsync(Named("nope", "bad name!", "orders", "nope", new string('x', 250), ".."), 12, Plain);
        Assert.Equal(["nope", "bad name!", "orders", new string('x', 250), ".."], response.Topics.Select(t => t.Name));
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, response.Topics[0].ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidTopicException, response.Topics[1].ErrorCode);
        Assert.Equal(0, response.Topics[2].ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidTopicException, response.Topics[3].ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidTopicException, response.Topics[4].ErrorCode);
        Assert.Empty(response.Topics[0].Partitions);
        Assert.Empty(channel.Sent);
    }

    [Fact]
    public async Task Client_disallowing_auto_creation_gets_unknown_topic_and_nothing_is_sent()
    {
        var channel = new ScriptedControllerChannel();
        var request = Named("fresh");
        request.AllowAutoTopicCreation = false;
        var response = await Apis(Cluster(), channel).MetadataAsync(request, 12, Plain);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, response.Topics[0].ErrorCode);
        Assert.Empty(channel.Sent);
    }

    [Fact]
    public async Task Auto_creation_sends_create_topics_with_broker_defaults_and_answers_leader_not_available()
    {
        var channel = new ScriptedControllerChannel();
        channel.Answer((r, _) => new CreateTopicsResponse
        {
            Topics = [.. ((CreateTopicsRequest)r).Topics.Select(t => new CreateTopicsResponse.CreatableTopicResult
            {
                Name = t.Name,
                ErrorCode = t.Name == "exists" ? (short)ErrorCode.TopicAlreadyExists : t.Name == "toowide" ? (short)ErrorCode.InvalidReplicationFactor : (short)0,
            })],
        });
        var request = Named("fresh", "exists", "toowide", "orders", "__transaction_state");
        request.AllowAutoTopicCreation = true;
        var response = await Apis(Cluster(), channel).MetadataAsync(request, 12, Plain);

        var sent = Assert.Single(channel.Sent);
        var create = Assert.IsType<CreateTopicsRequest>(sent.Request);
        Assert.Equal(7, sent.Version);
        Assert.Equal(["fresh", "exists", "toowide"], create.Topics.Select(t => t.Name));
        Assert.All(create.Topics, t => Assert.Equal((3, (short)2), (t.NumPartitions, t.ReplicationFactor)));
        Assert.Equal((short)ErrorCode.LeaderNotAvailable, response.FindTopics("fresh")!.ErrorCode);
        Assert.Equal((short)ErrorCode.LeaderNotAvailable, response.FindTopics("exists")!.ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidReplicationFactor, response.FindTopics("toowide")!.ErrorCode);
        Assert.Equal(0, response.FindTopics("orders")!.ErrorCode);
        var internalTopic = response.FindTopics("__transaction_state")!; // internal topics are left to their coordinators
        Assert.Equal(((short)ErrorCode.UnknownTopicOrPartition, true), (internalTopic.ErrorCode, internalTopic.IsInternal));
    }

    [Fact]
    public async Task Auto_creation_before_v4_is_always_allowed_and_a_timeout_is_retriable()
    {
        var channel = new ScriptedControllerChannel(); // every request times out
        var response = await Apis(Cluster(), channel).MetadataAsync(Named("fresh"), 3, Plain);
        Assert.IsType<CreateTopicsRequest>(Assert.Single(channel.Sent).Request);
        Assert.Equal((short)ErrorCode.LeaderNotAvailable, response.Topics[0].ErrorCode);
    }

    [Fact]
    public async Task Concurrent_requests_for_the_same_missing_topic_share_one_creation()
    {
        var channel = new ScriptedControllerChannel();
        var release = new TaskCompletionSource<IKafkaMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        channel.Handler = (_, _) => release.Task;
        var apis = Apis(Cluster(), channel);
        var first = apis.MetadataAsync(Named("fresh"), 12, Plain);
        var second = apis.MetadataAsync(Named("fresh"), 12, Plain);
        Assert.False(first.IsCompleted);
        release.SetResult(new CreateTopicsResponse { Topics = [new() { Name = "fresh" }] });
        var answers = await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Single(channel.Sent);
        Assert.All(answers, a => Assert.Equal((short)ErrorCode.LeaderNotAvailable, a.Topics[0].ErrorCode));

        // Once answered, a later request sends again (the topic may have been deleted meanwhile).
        channel.Answer((_, _) => new CreateTopicsResponse { Topics = [new() { Name = "fresh", ErrorCode = (short)ErrorCode.TopicAlreadyExists }] });
        await apis.MetadataAsync(Named("fresh"), 12, Plain);
        Assert.Equal(2, channel.Sent.Count);
    }

    [Fact]
    public async Task Topics_by_id_from_v12_known_and_unknown()
    {
        var unknown = Id(99);
        var request = new MetadataRequest
        {
            Topics = [new() { Name = null, TopicId = Events }, new() { Name = null, TopicId = unknown }, new() { Name = null, TopicId = Events }],
            IncludeTopicAuthorizedOperations = true,
        };
        var response = RoundTrip(await Apis(Cluster()).MetadataAsync(request, 12, Plain), 12);
        Assert.Equal(2, response.Topics.Count);
        Assert.Equal(("events", Events, (short)0), (response.Topics[0].Name, response.Topics[0].TopicId, response.Topics[0].ErrorCode));
        Assert.Equal(AuthorizedOperations.Topic, response.Topics[0].TopicAuthorizedOperations);
        Assert.Equal((null, unknown, (short)ErrorCode.UnknownTopicId), (response.Topics[1].Name, response.Topics[1].TopicId, response.Topics[1].ErrorCode));
    }

    [Fact]
    public async Task Cluster_authorized_operations_only_v8_to_v10_when_asked()
    {
        var apis = Apis(Cluster());
        var v10 = await apis.MetadataAsync(new MetadataRequest { Topics = [], IncludeClusterAuthorizedOperations = true }, 10, Plain);
        Assert.Equal(AuthorizedOperations.Cluster, v10.ClusterAuthorizedOperations);
        var v11 = await apis.MetadataAsync(new MetadataRequest { Topics = [], IncludeClusterAuthorizedOperations = true }, 11, Plain);
        Assert.Equal(int.MinValue, v11.ClusterAuthorizedOperations);
        RoundTrip(v11, 11);
    }

    [Fact]
    public async Task Every_version_encodes()
    {
        var apis = Apis(Cluster());
        for (short v = 0; v <= MetadataResponse.HighestSupportedVersion; v++)
        {
            var request = new MetadataRequest { Topics = v == 0 ? [] : null };
            var decoded = RoundTrip(await apis.MetadataAsync(request, v, Plain), v);
            Assert.Equal(3, decoded.Topics.Count);
            Assert.Equal(3, decoded.Brokers.Count);
            if (v >= 1) Assert.Contains(decoded.ControllerId, new[] { 1, 2, 4 });
        }
    }

    [Fact]
    public async Task No_live_broker_means_controller_id_minus_one()
    {
        var image = Image(Mv(), BrokerRecord(1, fenced: true));
        var response = await Apis(image).MetadataAsync(new MetadataRequest { Topics = null }, 12, Plain);
        Assert.Empty(response.Brokers);
        Assert.Equal(-1, response.ControllerId);
    }

    [Fact]
    public void Topic_name_rules()
    {
        Assert.True(TopicNames.IsValid("a.b_c-D9"));
        Assert.True(TopicNames.IsValid(new string('x', 249)));
        Assert.False(TopicNames.IsValid(new string('x', 250)));
        Assert.False(TopicNames.IsValid(""));
        Assert.False(TopicNames.IsValid(null));
        Assert.False(TopicNames.IsValid("."));
        Assert.False(TopicNames.IsValid(".."));
        Assert.False(TopicNames.IsValid("a/b"));
        Assert.False(TopicNames.IsValid("é"));
        Assert.True(TopicNames.IsInternal("__consumer_offsets"));
        Assert.False(TopicNames.IsInternal("__consumer_offsets2"));
    }
}
