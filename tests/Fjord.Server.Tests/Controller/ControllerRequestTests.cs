using Fjord.Testing;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Raft;
using Fjord.Server.Controller;
using Xunit.Abstractions;
using static Fjord.Server.Tests.Controller.ControllerFixture;
using MetadataVersion = Fjord.Metadata.MetadataVersion;

namespace Fjord.Server.Tests.Controller;

/// <summary>
/// The controller listener answering the QuorumController's RPCs over a real socket: requests
/// pipelined on one connection (answers at commit, in request order, interleaved with requests the
/// listener answers itself), NOT_CONTROLLER from a standby, a malformed request closing only its connection.
/// </summary>
public sealed class ControllerRequestTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly TempDirectory _dir = new();
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly List<ControllerServer> _servers = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers) await server.StopAsync();
        foreach (var line in _lines.Where(l => !l.StartsWith("trace:", StringComparison.Ordinal)).Take(100)) output.WriteLine(line);
        _dir.Dispose();
    }

    private async Task<ControllerServer> StartActiveSingleVoter()
    {
        var server = Start(Format(WriteSingleVoterConfig(_dir, FreePort(), "broker.session.timeout.ms=60000")), _lines);
        _servers.Add(server);
        await WaitUntil(() => server.Controller.IsActive, server.ToString);
        return server;
    }

    internal static BrokerRegistrationRequest Registration(int brokerId) => new()
    {
        BrokerId = brokerId,
        ClusterId = ClusterId,
        IncarnationId = Uuid.NewRandom(),
        Listeners = [new BrokerRegistrationRequest.Listener { Name = "PLAINTEXT", Host = "localhost", Port = (ushort)(9092 + brokerId), SecurityProtocol = 0 }],
        Features =
        [
            new BrokerRegistrationRequest.Feature
            {
                Name = MetadataVersion.FeatureName,
                MinSupportedVersion = 1,
                MaxSupportedVersion = MetadataVersion.LatestTesting.FeatureLevel,
            },
        ],
    };

    private static CreateTopicsRequest CreateTopic(string name, int partitions, short replicationFactor) => new()
    {
        Topics = [new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = partitions, ReplicationFactor = replicationFactor }],
        TimeoutMs = 10_000,
    };

    [Fact]
    public async Task Pipelined_broker_and_admin_requests_are_answered_at_commit_in_request_order()
    {
        var server = await StartActiveSingleVoter();
        using var client = await PipelinedClient.ConnectAsync(server.BoundPort);
        short registrationVersion = KafkaApis.Find(BrokerRegistrationRequest.ApiKey)!.Versions.Highest;

        // 1. Three registrations in flight, with requests the listener answers at once between them:
        //    those answers must wait for the registrations before them (which wait for a commit).
        var registrations = new List<Task<IKafkaMessage>>();
        var interleaved = new List<Task<IKafkaMessage>>();
        for (int broker = 1; broker <= 3; broker++)
        {
            registrations.Add(client.SendAsync(Registration(broker), registrationVersion));
            interleaved.Add(client.SendAsync(new ApiVersionsRequest(), 0));
            interleaved.Add(client.SendAsync(new DescribeClusterRequest { EndpointType = 2 }, 1));
        }
        var registered = (await Task.WhenAll(registrations)).Cast<BrokerRegistrationResponse>().ToList();
        await Task.WhenAll(interleaved);
        Assert.All(registered, r => Assert.Equal(0, r.ErrorCode));
        Assert.Equal(registered.Select(r => r.BrokerEpoch).Order(), registered.Select(r => r.BrokerEpoch)); // epochs = record offsets, in order
        var versions = (ApiVersionsResponse)await interleaved[0];
        Assert.Contains(versions.ApiKeys, k => k.ApiKey == CreateTopicsRequest.ApiKey);
        Assert.Equal(1, ((DescribeClusterResponse)await interleaved[1]).ControllerId);

        // 2. Heartbeats unfence the three brokers.
        var beats = await Task.WhenAll(registered.Select((r, i) => client.SendAsync<BrokerHeartbeatResponse>(new BrokerHeartbeatRequest
        { BrokerId = i + 1, BrokerEpoch = r.BrokerEpoch, CurrentMetadataOffset = r.BrokerEpoch }, 1)));
        Assert.All(beats, b => Assert.Equal((0, false), (b.ErrorCode, b.IsFenced)));

        // 3. Topics and producer id blocks, all in flight at once; a duplicate topic is refused in its place.
        var topics = Enumerable.Range(0, 12).Select(i => client.SendAsync<CreateTopicsResponse>(CreateTopic($"t{i}", 3, 3), 7)).ToList();
        var blocks = Enumerable.Range(0, 4).Select(i => client.SendAsync<AllocateProducerIdsResponse>(
            new AllocateProducerIdsRequest { BrokerId = i % 3 + 1, BrokerEpoch = registered[i % 3].BrokerEpoch }, 0)).ToList();
        var duplicate = client.SendAsync<CreateTopicsResponse>(CreateTopic("t3", 3, 3), 7);
        var ping = client.SendAsync(new ApiVersionsRequest(), 3);
        foreach (var answer in await Task.WhenAll(topics))
        {
            var result = Assert.Single(answer.Topics);
            Assert.True(result.ErrorCode == 0, $"{result.Name}: {result.ErrorCode} {result.ErrorMessage}");
            Assert.Equal((3, (short)3), (result.NumPartitions, result.ReplicationFactor));
            Assert.NotEqual(Uuid.Zero, result.TopicId);
        }
        var allocated = await Task.WhenAll(blocks);
        Assert.All(allocated, b => Assert.Equal((0, 1000), (b.ErrorCode, b.ProducerIdLen)));
        Assert.Equal(allocated.Select(b => b.ProducerIdStart).Order(), allocated.Select(b => b.ProducerIdStart));
        Assert.Equal(4, allocated.Select(b => b.ProducerIdStart).Distinct().Count());
        Assert.Equal((short)ErrorCode.TopicAlreadyExists, Assert.Single((await duplicate).Topics).ErrorCode);
        await ping;
        Assert.False(client.OutOfOrder);

        // Every acknowledged topic is committed, with its three partitions of three replicas.
        var committed = await server.Controller.ReadCommitted(s => Enumerable.Range(0, 12).Select(i => s.TopicByName($"t{i}")).ToList());
        Assert.All(committed, t => Assert.True(t is { Partitions.Count: 3 } && t.Partitions.Values.All(p => p.Replicas.Length == 3), t?.ToString()));
    }

    [Fact]
    public async Task A_request_the_controller_rejects_is_answered_with_its_error_and_the_connection_stays_open()
    {
        var server = await StartActiveSingleVoter();
        using var client = await PipelinedClient.ConnectAsync(server.BoundPort);
        // No broker registered: replication factor 1 cannot be met; an unknown broker's heartbeat is refused.
        var topic = await client.SendAsync<CreateTopicsResponse>(CreateTopic("lonely", 1, 1), 7);
        Assert.Equal((short)ErrorCode.InvalidReplicationFactor, Assert.Single(topic.Topics).ErrorCode);
        var beat = await client.SendAsync<BrokerHeartbeatResponse>(new BrokerHeartbeatRequest { BrokerId = 9, BrokerEpoch = 5 }, 1);
        Assert.Equal((short)ErrorCode.BrokerIdNotRegistered, beat.ErrorCode);
        var quotas = await client.SendAsync<DescribeClientQuotasResponse>(new DescribeClientQuotasRequest(), 1);
        Assert.Equal(0, quotas.ErrorCode);
        Assert.Empty(quotas.Entries!);
    }

    [Fact]
    public async Task A_malformed_controller_request_closes_only_its_connection()
    {
        var server = await StartActiveSingleVoter();
        using var bystander = await PipelinedClient.ConnectAsync(server.BoundPort);
        using var offender = await PipelinedClient.ConnectAsync(server.BoundPort);
        var pending = offender.SendAsync(new ApiVersionsRequest(), 0);
        await pending;

        // CreateTopics v7 whose body is cut short after the header.
        var header = new RequestHeader { RequestApiKey = CreateTopicsRequest.ApiKey, RequestApiVersion = 7, CorrelationId = 99, ClientId = "admin" }.Serialize(2);
        var frame = new byte[4 + header.Length + 2];
        BinaryPrimitives.WriteInt32BigEndian(frame, header.Length + 2);
        header.CopyTo(frame, 4);
        frame[^2] = 0x05; // a compact array of 4 topics, then nothing
        await offender.SendRawAsync(frame);
        await Assert.ThrowsAsync<IOException>(() => offender.SendAsync(new ApiVersionsRequest(), 0).WaitAsync(Bound));

        var answer = await bystander.SendAsync<AllocateProducerIdsResponse>(new AllocateProducerIdsRequest { BrokerId = 1, BrokerEpoch = 1 }, 0);
        Assert.Equal((short)ErrorCode.StaleBrokerEpoch, answer.ErrorCode);
        Assert.True(server.Controller.IsActive);
    }

    [Fact]
    public async Task A_standby_controller_answers_NOT_CONTROLLER_and_keeps_the_connection()
    {
        int[] ports = [FreePort(), FreePort()];
        var servers = new List<ControllerServer>();
        for (int id = 1; id <= 2; id++)
        {
            var config = _dir.WriteFile($"controller-{id}.properties", $"""
                process.roles=controller
                node.id={id}
                controller.quorum.voters=1@127.0.0.1:{ports[0]},2@127.0.0.1:{ports[1]}
                listeners=CONTROLLER://127.0.0.1:{ports[id - 1]}
                controller.listener.names=CONTROLLER
                log.dirs={_dir.Sub($"meta-{id}")}
                controller.quorum.election.timeout.ms=300
                controller.quorum.fetch.timeout.ms=600
                metadata.max.idle.interval.ms=50
                """);
            var server = Start(Format(config), _lines);
            _servers.Add(server);
            servers.Add(server);
        }
        await WaitUntil(() => servers.Any(s => s.Controller.IsActive) && servers.All(s => s.LeaderId is not null && s.LeaderId == servers[0].LeaderId),
            () => string.Join("; ", servers));
        var active = servers.Single(s => s.Controller.IsActive);
        var standby = servers.Single(s => !s.Controller.IsActive);

        using var client = await PipelinedClient.ConnectAsync(standby.BoundPort);
        var topic = client.SendAsync<CreateTopicsResponse>(CreateTopic("t", 1, 1), 7);
        var registration = client.SendAsync<BrokerRegistrationResponse>(Registration(1), 4);
        var ids = client.SendAsync<AllocateProducerIdsResponse>(new AllocateProducerIdsRequest { BrokerId = 1, BrokerEpoch = 1 }, 0);
        var cluster = client.SendAsync<DescribeClusterResponse>(new DescribeClusterRequest { EndpointType = 2 }, 1);
        Assert.Equal((short)ErrorCode.NotController, Assert.Single((await topic).Topics).ErrorCode);
        Assert.Equal((short)ErrorCode.NotController, (await registration).ErrorCode);
        Assert.Equal((short)ErrorCode.NotController, (await ids).ErrorCode);
        Assert.Equal(active.NodeId, (await cluster).ControllerId); // where to go instead
        Assert.False(client.OutOfOrder);

        // The active one accepts the same registration.
        using var toActive = await PipelinedClient.ConnectAsync(active.BoundPort);
        Assert.Equal(0, (await toActive.SendAsync<BrokerRegistrationResponse>(Registration(1), 4)).ErrorCode);
        Assert.Equal(RaftRole.Follower, standby.Role);
    }
}
