using Fjord.Broker.Apis;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using static Fjord.Broker.Tests.Apis.ApiTestSupport;

namespace Fjord.Broker.Tests.Apis;

public sealed class ClusterApiTests
{
    private static BrokerMetadataApis Apis(MetadataImage image) => new(Options(), () => image);

    // ---- DescribeCluster ----

    [Fact]
    public void Describe_cluster_lists_brokers_with_the_listeners_endpoint()
    {
        var image = Image(Mv(), BrokerRecord(1, rack: "r1"), BrokerRecord(2, ssl: false), BrokerRecord(3, fenced: true));
        var apis = Apis(image);
        var plain = RoundTrip(apis.DescribeCluster(new DescribeClusterRequest(), 1, Plain), 1);
        Assert.Equal(0, plain.ErrorCode);
        Assert.Equal("fjord-test-cluster", plain.ClusterId);
        Assert.Equal(1, plain.EndpointType);
        Assert.Equal([(1, "b1.plain", 9093, "r1"), (2, "b2.plain", 9094, null)],
            plain.Brokers.Select(b => (b.BrokerId, b.Host, b.Port, b.Rack)));
        Assert.Contains(plain.ControllerId, new[] { 1, 2 });
        Assert.Equal(int.MinValue, plain.ClusterAuthorizedOperations);

        var ssl = apis.DescribeCluster(new DescribeClusterRequest { IncludeClusterAuthorizedOperations = true }, 0, Ssl);
        Assert.Equal([(1, "b1.ssl", 9193)], ssl.Brokers.Select(b => (b.BrokerId, b.Host, b.Port)));
        Assert.Equal(1, ssl.ControllerId);
        Assert.Equal(AuthorizedOperations.Cluster, ssl.ClusterAuthorizedOperations);
        RoundTrip(ssl, 0);
    }

    [Fact]
    public void Describe_cluster_v2_includes_fenced_brokers_when_asked()
    {
        var image = Image(Mv(), BrokerRecord(1), BrokerRecord(3, fenced: true));
        var apis = Apis(image);
        var without = apis.DescribeCluster(new DescribeClusterRequest { IncludeFencedBrokers = false }, 2, Plain);
        Assert.Equal([1], without.Brokers.Select(b => b.BrokerId));
        var with = RoundTrip(apis.DescribeCluster(new DescribeClusterRequest { IncludeFencedBrokers = true }, 2, Plain), 2);
        Assert.Equal([(1, false), (3, true)], with.Brokers.Select(b => (b.BrokerId, b.IsFenced)));
        Assert.Equal(1, with.ControllerId); // never a fenced broker
    }

    [Fact]
    public void Describe_cluster_for_controllers_on_a_broker_is_a_mismatch()
    {
        var apis = Apis(Image(Mv(), BrokerRecord(1)));
        var controllers = apis.DescribeCluster(new DescribeClusterRequest { EndpointType = 2 }, 1, Plain);
        Assert.Equal((short)ErrorCode.MismatchedEndpointType, controllers.ErrorCode);
        Assert.Empty(controllers.Brokers);
        var unknown = apis.DescribeCluster(new DescribeClusterRequest { EndpointType = 9 }, 1, Plain);
        Assert.Equal((short)ErrorCode.UnsupportedEndpointType, unknown.ErrorCode);
        RoundTrip(unknown, 1);
    }

    // ---- DescribeTopicPartitions ----

    private static readonly Uuid A = Id(11), B = Id(12), C = Id(13);

    /// <summary>alpha: 3 partitions, beta: 2, gamma: 1 (leaderless, with ELR).</summary>
    private static MetadataImage Topics() => Image(
        Mv(), BrokerRecord(1), BrokerRecord(2),
        Topic("alpha", A), Partition(A, 0, [1, 2]), Partition(A, 1, [2, 1]), Partition(A, 2, [1]),
        Topic("beta", B), Partition(B, 0, [1]), Partition(B, 1, [2]),
        Topic("gamma", C), new PartitionRecord { TopicId = C, PartitionId = 0, Replicas = [1, 2], Isr = [2], Leader = -1, LeaderEpoch = 4, EligibleLeaderReplicas = [1], LastKnownElr = [] });

    private static DescribeTopicPartitionsRequest Dtp(int limit, string[]? names = null, (string Topic, int Partition)? cursor = null) => new()
    {
        Topics = [.. (names ?? []).Select(n => new DescribeTopicPartitionsRequest.TopicRequest { Name = n })],
        ResponsePartitionLimit = limit,
        Cursor = cursor is { } c ? new DescribeTopicPartitionsRequest.CursorData { TopicName = c.Topic, PartitionIndex = c.Partition } : null,
    };

    private static List<(string, int)> Listed(DescribeTopicPartitionsResponse r) =>
        [.. r.Topics.SelectMany(t => t.Partitions.Select(p => (t.Name!, p.PartitionIndex)))];

    [Fact]
    public void All_topics_paginated_by_partition_limit_with_cursors()
    {
        var apis = Apis(Topics());
        var page1 = RoundTrip(apis.DescribeTopicPartitions(Dtp(2), 0, Plain), 0);
        Assert.Equal([("alpha", 0), ("alpha", 1)], Listed(page1));
        Assert.Equal(("alpha", 2), (page1.NextCursor!.TopicName, page1.NextCursor.PartitionIndex));

        var page2 = apis.DescribeTopicPartitions(Dtp(2, cursor: ("alpha", 2)), 0, Plain);
        Assert.Equal([("alpha", 2), ("beta", 0)], Listed(page2));
        Assert.Equal(("beta", 1), (page2.NextCursor!.TopicName, page2.NextCursor.PartitionIndex));

        var page3 = apis.DescribeTopicPartitions(Dtp(1, cursor: ("beta", 1)), 0, Plain);
        Assert.Equal([("beta", 1)], Listed(page3));
        // The limit ended exactly at beta's end: the cursor points at the next topic's start.
        Assert.Equal(("gamma", 0), (page3.NextCursor!.TopicName, page3.NextCursor.PartitionIndex));

        var last = apis.DescribeTopicPartitions(Dtp(10, cursor: ("gamma", 0)), 0, Plain);
        Assert.Equal([("gamma", 0)], Listed(last));
        Assert.Null(last.NextCursor);

        var whole = apis.DescribeTopicPartitions(Dtp(2000), 0, Plain);
        Assert.Equal(6, Listed(whole).Count);
        Assert.Null(whole.NextCursor);
    }

    [Fact]
    public void Partition_details_and_topic_fields()
    {
        var response = Apis(Topics()).DescribeTopicPartitions(Dtp(100, ["gamma", "alpha"]), 0, Plain);
        Assert.Equal(["alpha", "gamma"], response.Topics.Select(t => t.Name)); // sorted
        var gamma = response.Topics[1];
        Assert.Equal((C, false, AuthorizedOperations.Topic), (gamma.TopicId, gamma.IsInternal, gamma.TopicAuthorizedOperations));
        var p = Assert.Single(gamma.Partitions);
        Assert.Equal(((short)ErrorCode.LeaderNotAvailable, -1, 4), (p.ErrorCode, p.LeaderId, p.LeaderEpoch));
        Assert.Equal([1, 2], p.ReplicaNodes);
        Assert.Equal([2], p.IsrNodes);
        Assert.Equal([1], p.EligibleLeaderReplicas!);
        Assert.Empty(p.LastKnownElr!);
        Assert.Equal([], response.Topics[0].Partitions[0].EligibleLeaderReplicas!); // never carried: empty
    }

    [Fact]
    public void Unknown_and_invalid_requested_topics_are_answered_in_order()
    {
        var response = Apis(Topics()).DescribeTopicPartitions(Dtp(100, ["zzz", "beta", "bad/name"]), 0, Plain);
        Assert.Equal(["bad/name", "beta", "zzz"], response.Topics.Select(t => t.Name));
        Assert.Equal((short)ErrorCode.InvalidTopicException, response.Topics[0].ErrorCode);
        Assert.Equal(0, response.Topics[1].ErrorCode);
        Assert.Equal((short)ErrorCode.UnknownTopicOrPartition, response.Topics[2].ErrorCode);
        Assert.Equal(Uuid.Zero, response.Topics[2].TopicId);
    }

    [Fact]
    public void Cursor_outside_the_requested_topics_is_invalid()
    {
        var apis = Apis(Topics());
        var response = apis.DescribeTopicPartitions(Dtp(100, ["alpha", "beta"], cursor: ("gamma", 0)), 0, Plain);
        Assert.All(response.Topics, t => Assert.Equal((short)ErrorCode.InvalidRequest, t.ErrorCode));
        Assert.Equal(2, response.Topics.Count);
        var negative = apis.DescribeTopicPartitions(Dtp(100, ["alpha"], cursor: ("alpha", -1)), 0, Plain);
        Assert.Equal((short)ErrorCode.InvalidRequest, Assert.Single(negative.Topics).ErrorCode);
    }

    [Fact]
    public void Broker_limit_caps_the_clients_limit()
    {
        var options = Options() with { MaxRequestPartitionSizeLimit = 4 };
        var image = Topics();
        var response = new BrokerMetadataApis(options, () => image).DescribeTopicPartitions(Dtp(2000), 0, Plain);
        Assert.Equal(4, Listed(response).Count);
        Assert.Equal(("beta", 1), (response.NextCursor!.TopicName, response.NextCursor.PartitionIndex));
    }

    // ---- ApiVersions features ----

    [Fact]
    public void Features_supported_and_finalized_with_epoch()
    {
        var image = Image(Mv(21), new FeatureLevelRecord { Name = "kraft.version", FeatureLevel = 1 }, BrokerRecord(1));
        var apis = Apis(image);
        var v4 = apis.Features(4);
        Assert.Equal([("kraft.version", (short)0, (short)1), ("metadata.version", (short)1, (short)25)],
            v4.Supported.Select(f => (f.Name, f.MinVersion, f.MaxVersion)));
        Assert.Equal([("kraft.version", (short)1, (short)1), ("metadata.version", (short)21, (short)21)],
            v4.Finalized.Select(f => (f.Name, f.MinVersionLevel, f.MaxVersionLevel)));
        Assert.Equal(image.Provenance.LastContainedOffset, v4.FinalizedEpoch);
        Assert.Equal(2, v4.FinalizedEpoch);

        // Before v4 a feature whose lowest level is 0 is not advertised.
        var response = new ApiVersionsResponse();
        apis.ApplyFeatures(response, 3);
        Assert.Equal(["metadata.version"], response.SupportedFeatures.Select(f => f.Name));
        Assert.Equal(2, response.FinalizedFeatures.Count);
        Assert.Equal(2, response.FinalizedFeaturesEpoch);
        RoundTrip(response, 3);
    }
}
