using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Fjord.Cli;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;
using Fjord.Raft;
using Fjord.Server.Controller;
using Xunit.Abstractions;
using static Fjord.Server.Tests.Controller.ControllerFixture;

namespace Fjord.Server.Tests.Controller;

/// <summary>
/// The controller listener as a client that is not a Raft peer sees it (client id "admin"):
/// ApiVersions, DescribeCluster and DescribeQuorum are answered (the controller's own APIs: see
/// ControllerRequestTests); Raft RPCs without a raft-&lt;id&gt;
/// identity and APIs the listener does not serve close only that connection.
/// </summary>
public sealed class ControllerListenerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _dir = new();
    private readonly ConcurrentQueue<string> _lines = new();
    private ControllerServer _server = null!;

    private int Port => _server.BoundPort;

    public async Task InitializeAsync()
    {
        _server = Start(Format(WriteSingleVoterConfig(_dir, FreePort())), _lines);
        await WaitUntil(() => _server.Role == RaftRole.Leader && _server.HighWatermark > 2, _server.ToString);
    }

    public async Task DisposeAsync()
    {
        await _server.StopAsync();
        foreach (var line in _lines.Where(l => !l.Contains("answered parked fetch", StringComparison.Ordinal)).Take(200)) output.WriteLine(line);
        _dir.Dispose();
    }

    private Task<KafkaClient> Connect(string clientId = "admin") => KafkaClient.ConnectAsync("127.0.0.1", Port, clientId, RequestTimeout);

    private static DescribeQuorumRequest QuorumRequest()
    {
        var request = new DescribeQuorumRequest();
        var topic = new DescribeQuorumRequest.TopicData { TopicName = "__cluster_metadata" };
        topic.Partitions.Add(new DescribeQuorumRequest.PartitionData { PartitionIndex = 0 });
        request.Topics.Add(topic);
        return request;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task ApiVersions_lists_exactly_the_APIs_of_the_controller_listener(short version)
    {
        using var client = await Connect();
        var request = new ApiVersionsRequest { ClientSoftwareName = "fjord-test", ClientSoftwareVersion = "1.0" };
        var answer = await client.SendAsync<ApiVersionsResponse>(request, version);
        Assert.Equal(0, answer.ErrorCode);
        short[] listener = [FetchRequest.ApiKey, ApiVersionsRequest.ApiKey, VoteRequest.ApiKey, BeginQuorumEpochRequest.ApiKey,
            EndQuorumEpochRequest.ApiKey, DescribeQuorumRequest.ApiKey, FetchSnapshotRequest.ApiKey, DescribeClusterRequest.ApiKey,
            AddRaftVoterRequest.ApiKey, RemoveRaftVoterRequest.ApiKey, UpdateRaftVoterRequest.ApiKey];
        // The QuorumController's APIs (ControllerRequestHandler).
        short[] controller = [19, 20, 30, 31, 33, 37, 43, 44, 45, 46, 48, 49, 51, 56, 57, 62, 63, 64, 67, 70];
        short[] expected = [.. listener.Concat(controller).Order()];
        Assert.Equal(expected, answer.ApiKeys.Select(k => k.ApiKey));
        foreach (var key in answer.ApiKeys)
        {
            var api = KafkaApis.Find(key.ApiKey)!;
            Assert.Equal((api.Versions.Lowest, api.Versions.Highest), (key.MinVersion, key.MaxVersion));
        }
        Assert.Equal((0, 4), (answer.ApiKeys.Single(k => k.ApiKey == ApiVersionsRequest.ApiKey).MinVersion, answer.ApiKeys.Single(k => k.ApiKey == ApiVersionsRequest.ApiKey).MaxVersion));
    }

    [Fact]
    public async Task ApiVersions_newer_than_ours_is_answered_at_v0_with_UNSUPPORTED_VERSION_and_the_connection_stays_open()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, Port);
        var stream = tcp.GetStream();

        // ApiVersions v9 (flexible, so header v2): a body we cannot know; Kafka answers without reading it.
        var header = new RequestHeader { RequestApiKey = ApiVersionsRequest.ApiKey, RequestApiVersion = 9, CorrelationId = 77, ClientId = "admin" };
        var headerBytes = header.Serialize(2);
        byte[] body = [0x05, 0x61, 0x62, 0x63, 0x64, 0x00, 0x00];
        var frame = new byte[4 + headerBytes.Length + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, headerBytes.Length + body.Length);
        headerBytes.CopyTo(frame, 4);
        body.CopyTo(frame, 4 + headerBytes.Length);
        await stream.WriteAsync(frame);

        var (responseHeader, answer) = Frames.DecodeResponse(ApiVersionsRequest.ApiKey, 0, await ReadFrame(stream));
        Assert.Equal(77, responseHeader.CorrelationId);
        var versions = Assert.IsType<ApiVersionsResponse>(answer);
        Assert.Equal((short)ErrorCode.UnsupportedVersion, versions.ErrorCode);
        var only = Assert.Single(versions.ApiKeys);
        Assert.Equal((ApiVersionsRequest.ApiKey, (short)0, (short)4), (only.ApiKey, only.MinVersion, only.MaxVersion));

        // The client retries at a version we know, on the same connection.
        var retry = new RequestHeader { RequestApiKey = ApiVersionsRequest.ApiKey, RequestApiVersion = 4, CorrelationId = 78, ClientId = "admin" };
        await stream.WriteAsync(Frames.EncodeRequest(retry, new ApiVersionsRequest { ClientSoftwareName = "x", ClientSoftwareVersion = "1" }));
        var (h2, a2) = Frames.DecodeResponse(ApiVersionsRequest.ApiKey, 4, await ReadFrame(stream));
        Assert.Equal(78, h2.CorrelationId);
        Assert.Equal(0, ((ApiVersionsResponse)a2).ErrorCode);
    }

    [Fact]
    public async Task ApiVersions_v3_with_an_invalid_client_software_name_is_INVALID_REQUEST()
    {
        using var client = await Connect();
        var answer = await client.SendAsync<ApiVersionsResponse>(new ApiVersionsRequest { ClientSoftwareName = "bad name!", ClientSoftwareVersion = "1" }, 3);
        Assert.Equal((short)ErrorCode.InvalidRequest, answer.ErrorCode);
        Assert.Empty(answer.ApiKeys);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task DescribeCluster_for_controllers_names_the_cluster_the_leader_and_the_voters(short version)
    {
        using var client = await Connect();
        var answer = await client.SendAsync<DescribeClusterResponse>(new DescribeClusterRequest { EndpointType = 2 }, version);
        Assert.Equal(0, answer.ErrorCode);
        Assert.Equal(ClusterId, answer.ClusterId);
        Assert.Equal(2, answer.EndpointType);
        Assert.Equal(1, answer.ControllerId);
        var voter = Assert.Single(answer.Brokers);
        Assert.Equal((1, "127.0.0.1", Port, (string?)null, false), (voter.BrokerId, voter.Host, voter.Port, voter.Rack, voter.IsFenced));
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    public async Task DescribeCluster_for_brokers_is_UNSUPPORTED_ENDPOINT_TYPE(short version, sbyte endpointType)
    {
        using var client = await Connect();
        var answer = await client.SendAsync<DescribeClusterResponse>(new DescribeClusterRequest { EndpointType = endpointType }, version);
        Assert.Equal((short)ErrorCode.UnsupportedEndpointType, answer.ErrorCode);
        Assert.Contains("CONTROLLER", answer.ErrorMessage);
        Assert.Empty(answer.Brokers);
    }

    [Fact]
    public async Task DescribeQuorum_is_answered_by_the_leader_with_voters_endpoints_and_wall_clock_times()
    {
        using var client = await Connect();
        long before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var answer = await client.SendAsync<DescribeQuorumResponse>(QuorumRequest(), 2);
        long after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.Equal(0, answer.ErrorCode);
        var partition = Assert.Single(Assert.Single(answer.Topics).Partitions);
        Assert.Equal(0, partition.ErrorCode);
        Assert.Equal(1, partition.LeaderId);
        Assert.Equal(_server.Epoch, partition.LeaderEpoch);
        Assert.True(partition.HighWatermark > 2, $"hw {partition.HighWatermark}");
        var self = Assert.Single(partition.CurrentVoters);
        Assert.Equal(1, self.ReplicaId);
        Assert.True(self.LogEndOffset >= partition.HighWatermark);
        Assert.InRange(self.LastFetchTimestamp, before - 1000, after + 1000);
        Assert.InRange(self.LastCaughtUpTimestamp, before - 1000, after + 1000);
        Assert.Empty(partition.Observers);
        var node = Assert.Single(answer.Nodes);
        Assert.Equal(1, node.NodeId);
        var listener = Assert.Single(node.Listeners);
        Assert.Equal(("CONTROLLER", "127.0.0.1", (ushort)Port), (listener.Name, listener.Host, listener.Port));

        // v0 has neither Nodes nor timestamps; the same client keeps its connection.
        var v0 = await client.SendAsync<DescribeQuorumResponse>(QuorumRequest(), 0);
        Assert.Equal(1, v0.Topics[0].Partitions[0].LeaderId);
        Assert.Empty(v0.Nodes);
    }

    [Fact]
    public async Task Several_clients_using_the_same_correlation_ids_each_get_their_own_answers()
    {
        var clients = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Connect()));
        try
        {
            for (int round = 0; round < 5; round++)
            {
                // Every client's n-th request has correlation id n: only the connection tells them apart.
                var answers = await Task.WhenAll(clients.Select((c, i) => i % 2 == 0
                    ? c.SendAsync(QuorumRequest(), 2)
                    : c.SendAsync(new DescribeClusterRequest { EndpointType = 2 }, 2)));
                for (int i = 0; i < answers.Length; i++)
                    Assert.IsType(i % 2 == 0 ? typeof(DescribeQuorumResponse) : typeof(DescribeClusterResponse), answers[i]);
            }
        }
        finally
        {
            foreach (var c in clients) c.Dispose();
        }
    }

    public static TheoryData<string, string> ClosingRequests() => new()
    {
        { "Vote", "admin" },                // a Raft RPC without a raft-<id> identity
        { "Fetch", "admin" },
        { "Fetch", "raft-x" },
        { "Metadata", "admin" },            // APIs this listener does not serve
        { "Produce", "raft-2" },
        { "DescribeConfigs", "admin" },
    };

    [Theory]
    [MemberData(nameof(ClosingRequests))]
    public async Task A_request_the_listener_does_not_serve_closes_only_that_connection(string api, string clientId)
    {
        using var bystander = await Connect();
        Assert.Equal(0, (await bystander.SendAsync<ApiVersionsResponse>(new ApiVersionsRequest(), 0)).ErrorCode);

        using var offender = await Connect(clientId);
        var descriptor = KafkaApis.All.Single(a => a.Name == api);
        var request = descriptor.Request.Create();
        var e = await Assert.ThrowsAsync<KafkaClientException>(() => offender.SendAsync(request, descriptor.Versions.Highest));
        Assert.Contains("closed the connection", e.Message);

        // The other connection and the node carry on.
        long hw = _server.HighWatermark;
        var quorum = await bystander.SendAsync<DescribeQuorumResponse>(QuorumRequest(), 2);
        Assert.Equal(1, quorum.Topics[0].Partitions[0].LeaderId);
        await WaitUntil(() => _server.HighWatermark > hw, _server.ToString);
        Assert.Equal(RaftRole.Leader, _server.Role);
        Assert.Contains(_lines, l => l.Contains("is not served on the controller listener", StringComparison.Ordinal)
                                     || l.Contains("Raft RPCs are accepted only from raft-<node id>", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Metadata_quorum_describe_prints_Kafka_status_and_replication_for_one_controller()
    {
        var status = Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{Port}", "describe", "--status");
        Assert.True(status.Code == 0, status.Err);
        var lines = status.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["ClusterId:", "LeaderId:", "LeaderEpoch:", "HighWatermark:", "MaxFollowerLag:", "MaxFollowerLagTimeMs:", "CurrentVoters:", "CurrentObservers:"],
            lines.Select(l => l.Split(' ')[0]));
        Assert.All(lines, l => Assert.True(l.Length > 24 && l[23] == ' ' && l[24] != ' ', $"value not in column 25: '{l}'"));
        Assert.Equal($"ClusterId:              {ClusterId}", lines[0]);
        Assert.Equal("LeaderId:               1", lines[1]);
        Assert.Equal($"LeaderEpoch:            {_server.Epoch}", lines[2]);
        Assert.Equal("MaxFollowerLag:         0", lines[4]);
        Assert.Equal("MaxFollowerLagTimeMs:   0", lines[5]);
        Assert.Equal($"CurrentVoters:          [{{\"id\": 1, \"endpoints\": [\"CONTROLLER://127.0.0.1:{Port}\"]}}]", lines[6]);
        Assert.Equal("CurrentObservers:       []", lines[7]);

        var replication = Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{Port}", "describe", "--replication");
        Assert.True(replication.Code == 0, replication.Err);
        var rows = replication.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(["NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status", ""], rows[0].Select(c => c.Trim()));
        Assert.Equal("1", rows[1][0].Trim());
        Assert.Equal("AAAAAAAAAAAAAAAAAAAAAA", rows[1][1].Trim());
        Assert.Equal("0", rows[1][3].Trim());
        Assert.Equal("Leader", rows[1][6].Trim());

        var human = Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{Port}", "describe", "--replication", "--human-readable");
        Assert.True(human.Code == 0, human.Err);
        Assert.Matches(@"\t\d+ ms ago\s*\t\d+ ms ago\s*\tLeader", human.Out);
    }

    [Fact]
    public void Metadata_quorum_reports_a_controller_it_cannot_reach_and_bad_usage()
    {
        int closed = FreePort();
        var refused = Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{closed}", "describe", "--status");
        Assert.Equal(1, refused.Code);
        Assert.StartsWith($"fjord: cannot connect to 127.0.0.1:{closed}: ", refused.Err);
        Assert.Empty(refused.Out);

        var both = Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{Port}", "describe", "--status", "--replication");
        Assert.Equal(2, both.Code);
        Assert.Contains("Only one of --status or --replication should be specified with describe sub-command", both.Err);
        var neither = Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{Port}", "describe");
        Assert.Equal(2, neither.Code);
        Assert.Contains("One of --status or --replication must be specified with describe sub-command", neither.Err);
        var human = Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{Port}", "describe", "--status", "--human-readable");
        Assert.Equal(2, human.Code);
        Assert.Contains("The option --human-readable is only supported along with --replication", human.Err);
        var noBootstrap = Run("metadata-quorum", "describe", "--status");
        Assert.Equal(2, noBootstrap.Code);
        Assert.Contains("--bootstrap-controller", noBootstrap.Err);
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static async Task<byte[]> ReadFrame(NetworkStream stream)
    {
        var prefix = new byte[4];
        await stream.ReadExactlyAsync(prefix).AsTask().WaitAsync(RequestTimeout);
        var frame = new byte[BinaryPrimitives.ReadInt32BigEndian(prefix)];
        await stream.ReadExactlyAsync(frame).AsTask().WaitAsync(RequestTimeout);
        return frame;
    }
}
