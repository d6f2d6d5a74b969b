using Fjord.Broker.Apis;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Tests.Apis;

public sealed class AdminForwardingTests
{
    private const short Timeout = (short)ErrorCode.RequestTimedOut;

    [Fact]
    public async Task The_same_request_and_version_go_to_the_controller_and_its_answer_comes_back()
    {
        var channel = new ScriptedControllerChannel();
        var answer = new CreateTopicsResponse { Topics = [new() { Name = "t", ErrorCode = (short)ErrorCode.TopicAlreadyExists, ErrorMessage = "exists" }] };
        channel.Answer((_, _) => answer);
        var forwarding = new AdminForwarding(channel, TimeSpan.FromSeconds(3));
        var request = new CreateTopicsRequest { Topics = [new() { Name = "t", NumPartitions = 1, ReplicationFactor = 1 }], TimeoutMs = 60_000 };

        var response = await forwarding.CreateTopicsAsync(request, 5);
        Assert.Same(answer, response);
        var sent = Assert.Single(channel.Sent);
        Assert.Same(request, sent.Request);
        Assert.Equal(5, sent.Version);
        Assert.Equal(TimeSpan.FromSeconds(60), sent.Timeout); // the request's own timeout is longer

        await forwarding.ForwardAsync(new IncrementalAlterConfigsRequest(), 1);
        Assert.Equal(TimeSpan.FromSeconds(3), channel.Sent[1].Timeout);
    }

    [Fact]
    public async Task Generic_dispatch_covers_every_forwarded_api_and_refuses_others()
    {
        var channel = new ScriptedControllerChannel();
        channel.Answer((r, _) => r switch
        {
            DeleteTopicsRequest => new DeleteTopicsResponse(),
            ElectLeadersRequest => new ElectLeadersResponse(),
            _ => new ListPartitionReassignmentsResponse(),
        });
        var forwarding = new AdminForwarding(channel);
        Assert.IsType<DeleteTopicsResponse>(await forwarding.ForwardAsync(new DeleteTopicsRequest(), 6));
        Assert.IsType<ElectLeadersResponse>(await forwarding.ForwardAsync(new ElectLeadersRequest(), 2));
        await Assert.ThrowsAsync<ArgumentException>(() => forwarding.ForwardAsync(new MetadataRequest(), 12));
        Assert.Equal(13, AdminForwarding.ApiKeys.Count);
        Assert.Equal(AdminForwarding.ApiKeys.Order(), AdminForwarding.ApiKeys);
    }

    public static TheoryData<string> Apis() => [.. Cases.Keys];

    /// <summary>For each API: a request, the version, and a check that every entry of the answer carries the code.</summary>
    private static readonly Dictionary<string, (IKafkaMessage Request, short Version, Action<IKafkaMessage, short> Check)> Cases = new()
    {
        ["CreateTopics"] = (new CreateTopicsRequest { Topics = [new() { Name = "a" }, new() { Name = "b" }] }, 7, (m, code) =>
        {
            var r = (CreateTopicsResponse)m;
            Assert.Equal([("a", code), ("b", code)], r.Topics.Select(t => (t.Name, t.ErrorCode)));
            RoundTrip(r, 7);
        }),
        ["DeleteTopics v6"] = (new DeleteTopicsRequest { Topics = [new() { Name = "a" }, new() { Name = null, TopicId = new Uuid(1, 2) }] }, 6, (m, code) =>
        {
            var r = RoundTrip((DeleteTopicsResponse)m, 6);
            Assert.Equal([("a", Uuid.Zero, code), (null, new Uuid(1, 2), code)], r.Responses.Select(t => (t.Name, t.TopicId, t.ErrorCode)));
        }),
        ["DeleteTopics v3"] = (new DeleteTopicsRequest { TopicNames = ["a", "b"] }, 3, (m, code) =>
        {
            var r = RoundTrip((DeleteTopicsResponse)m, 3);
            Assert.Equal([("a", code), ("b", code)], r.Responses.Select(t => (t.Name, t.ErrorCode)));
        }),
        ["CreatePartitions"] = (new CreatePartitionsRequest { Topics = [new() { Name = "a", Count = 3 }] }, 3, (m, code) =>
            Assert.Equal([("a", code)], RoundTrip((CreatePartitionsResponse)m, 3).Results.Select(t => (t.Name, t.ErrorCode)))),
        ["IncrementalAlterConfigs"] = (new IncrementalAlterConfigsRequest { Resources = [new() { ResourceType = 2, ResourceName = "a" }, new() { ResourceType = 4, ResourceName = "" }] }, 1, (m, code) =>
            Assert.Equal([((sbyte)2, "a", code), ((sbyte)4, "", code)], RoundTrip((IncrementalAlterConfigsResponse)m, 1).Responses.Select(r => (r.ResourceType, r.ResourceName, r.ErrorCode)))),
        ["AlterConfigs"] = (new AlterConfigsRequest { Resources = [new() { ResourceType = 2, ResourceName = "a" }] }, 0, (m, code) =>
            Assert.Equal([((sbyte)2, "a", code)], RoundTrip((AlterConfigsResponse)m, 0).Responses.Select(r => (r.ResourceType, r.ResourceName, r.ErrorCode)))),
        ["CreateAcls"] = (new CreateAclsRequest { Creations = [new(), new(), new()] }, 3, (m, code) =>
            Assert.Equal([code, code, code], RoundTrip((CreateAclsResponse)m, 3).Results.Select(r => r.ErrorCode))),
        ["DeleteAcls"] = (new DeleteAclsRequest { Filters = [new(), new()] }, 2, (m, code) =>
            Assert.Equal([code, code], RoundTrip((DeleteAclsResponse)m, 2).FilterResults.Select(r => r.ErrorCode))),
        ["AlterClientQuotas"] = (new AlterClientQuotasRequest { Entries = [new() { Entity = [new() { EntityType = "user", EntityName = null }] }] }, 1, (m, code) =>
        {
            var e = Assert.Single(RoundTrip((AlterClientQuotasResponse)m, 1).Entries);
            Assert.Equal((code, "user", (string?)null), (e.ErrorCode, e.Entity[0].EntityType, e.Entity[0].EntityName));
        }),
        ["AlterUserScramCredentials"] = (new AlterUserScramCredentialsRequest { Deletions = [new() { Name = "a" }], Upsertions = [new() { Name = "b" }, new() { Name = "a" }] }, 0, (m, code) =>
            Assert.Equal([("a", code), ("b", code)], RoundTrip((AlterUserScramCredentialsResponse)m, 0).Results.Select(r => (r.User, r.ErrorCode)))),
        ["UpdateFeatures v1"] = (new UpdateFeaturesRequest { FeatureUpdates = [new() { Feature = "metadata.version", MaxVersionLevel = 22 }] }, 1, (m, code) =>
        {
            var r = RoundTrip((UpdateFeaturesResponse)m, 1);
            Assert.Equal(code, r.ErrorCode);
            Assert.Equal([("metadata.version", code)], r.Results.Select(f => (f.Feature, f.ErrorCode)));
        }),
        ["UpdateFeatures v2"] = (new UpdateFeaturesRequest { FeatureUpdates = [new() { Feature = "metadata.version", MaxVersionLevel = 22 }] }, 2, (m, code) =>
        {
            var r = RoundTrip((UpdateFeaturesResponse)m, 2);
            Assert.Equal(code, r.ErrorCode);
            Assert.Empty(r.Results);
        }),
        ["ElectLeaders"] = (new ElectLeadersRequest { TopicPartitions = [new() { Topic = "a", Partitions = [0, 1] }] }, 2, (m, code) =>
        {
            var r = RoundTrip((ElectLeadersResponse)m, 2);
            Assert.Equal(code, r.ErrorCode);
            Assert.Equal([(0, code), (1, code)], r.ReplicaElectionResults.Single().PartitionResult.Select(p => (p.PartitionId, p.ErrorCode)));
        }),
        ["ElectLeaders v0"] = (new ElectLeadersRequest { TopicPartitions = [new() { Topic = "a", Partitions = [0] }] }, 0, (m, code) =>
            Assert.Equal(code, RoundTrip((ElectLeadersResponse)m, 0).ReplicaElectionResults.Single().PartitionResult.Single().ErrorCode)),
        ["AlterPartitionReassignments"] = (new AlterPartitionReassignmentsRequest { Topics = [new() { Name = "a", Partitions = [new() { PartitionIndex = 2 }] }] }, 0, (m, code) =>
        {
            var r = RoundTrip((AlterPartitionReassignmentsResponse)m, 0);
            Assert.Equal(code, r.ErrorCode);
            Assert.Equal((2, code), (r.Responses[0].Partitions[0].PartitionIndex, r.Responses[0].Partitions[0].ErrorCode));
        }),
        ["ListPartitionReassignments"] = (new ListPartitionReassignmentsRequest(), 0, (m, code) =>
            Assert.Equal(code, RoundTrip((ListPartitionReassignmentsResponse)m, 0).ErrorCode)),
    };

    private static T RoundTrip<T>(T message, short version) where T : IKafkaMessage<T> => ApiTestSupport.RoundTrip(message, version);

    [Theory]
    [MemberData(nameof(Apis))]
    public async Task Timeout_answers_request_timed_out_in_every_entry(string api)
    {
        var (request, version, check) = Cases[api];
        var channel = new ScriptedControllerChannel(); // throws TimeoutException
        var response = await new AdminForwarding(channel).ForwardAsync(request, version);
        check(response, Timeout);
        Assert.Single(channel.Sent);
    }

    [Theory]
    [MemberData(nameof(Apis))]
    public async Task Other_channel_failures_answer_unknown_server_error(string api)
    {
        var (request, version, check) = Cases[api];
        var channel = new ScriptedControllerChannel { Handler = (_, _) => Task.FromException<IKafkaMessage>(new IOException("connection reset")) };
        check(await new AdminForwarding(channel).ForwardAsync(request, version), (short)ErrorCode.UnknownServerError);
    }

    [Fact]
    public async Task Caller_cancellation_propagates()
    {
        var channel = new ScriptedControllerChannel { Handler = (_, _) => new TaskCompletionSource<IKafkaMessage>().Task };
        using var cts = new CancellationTokenSource();
        var pending = new AdminForwarding(channel).CreateAclsAsync(new CreateAclsRequest(), 3, cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
    }
}
