using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Fjord.Cluster.Tests;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Tools.Tests;

/// <summary>
/// <c>fjord metadata-shell --bootstrap-server</c> when it cannot work: the broker unreachable, a broker
/// (or controller) older than KIP-853 whose DescribeQuorum names no controller endpoints, endpoints
/// nobody listens on. The brokers here are fakes (<see cref="FakeBroker"/>) that answer ApiVersions
/// and DescribeQuorum as told. The working path is compared with the other sources in
/// <see cref="MetadataShellTests"/> and <see cref="MetadataShellSnapshotTests"/>.
/// </summary>
public sealed class MetadataShellViaBrokerTests
{
    private static (int Code, string Out, string Err) Shell(params string[] args) => MetadataToolsNode.Cli(["metadata-shell", .. args]);

    [Fact]
    public void Usage_of_bootstrap_server()
    {
        var missing = Shell("--bootstrap-server");
        Assert.Equal(2, missing.Code);
        Assert.Contains("--bootstrap-server needs HOST:PORT", missing.Err, StringComparison.Ordinal);
        var both = Shell("--bootstrap-server", "127.0.0.1:1", "--bootstrap-controller", "127.0.0.1:2", "--", "ls");
        Assert.Equal(2, both.Code);
        Assert.Contains("exclude each other", both.Err, StringComparison.Ordinal);
        var bad = Shell("--bootstrap-server", "nohostport", "--", "ls");
        Assert.Equal(2, bad.Code);
        Assert.Contains("--bootstrap-server: 'nohostport' is not HOST:PORT", bad.Err, StringComparison.Ordinal);
        Assert.Contains("--bootstrap-server", Shell("--help").Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Broker_unreachable()
    {
        var ports = ClusterDirectory.FreePorts(2);
        var one = Shell("--bootstrap-server", $"127.0.0.1:{ports[0]}", "--", "ls");
        Assert.Equal(1, one.Code);
        Assert.StartsWith($"fjord: broker unreachable: cannot connect to 127.0.0.1:{ports[0]}", one.Err, StringComparison.Ordinal);
        var two = Shell("--bootstrap-server", $"127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}", "--", "ls");
        Assert.Equal(1, two.Code);
        Assert.Contains("no bootstrap broker answered", two.Err, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{ports[1]}", two.Err, StringComparison.Ordinal);
        Assert.Single(two.Err.Trim().Split('\n'));
    }

    [Fact]
    public void Broker_serving_DescribeQuorum_below_v2()
    {
        using var broker = new FakeBroker(describeQuorumMax: 1, _ => Quorum(nodes: []));
        var result = Shell("--bootstrap-server", $"127.0.0.1:{broker.Port}", "--", "ls");
        Assert.Equal(1, result.Code);
        Assert.Contains("serves DescribeQuorum only up to v1", result.Err, StringComparison.Ordinal);
        Assert.Contains("use --bootstrap-controller", result.Err, StringComparison.Ordinal);
        Assert.Equal(0, broker.DescribeQuorumRequests); // not even asked: its answer could not name the controllers
    }

    [Fact]
    public void Answer_without_nodes_from_an_older_controller()
    {
        using var broker = new FakeBroker(describeQuorumMax: 2, _ => Quorum(nodes: []));
        var result = Shell("--bootstrap-server", $"127.0.0.1:{broker.Port}", "--", "ls");
        Assert.Equal(1, result.Code);
        Assert.Contains("names no controller endpoints (no Nodes", result.Err, StringComparison.Ordinal);
        Assert.Contains("use --bootstrap-controller", result.Err, StringComparison.Ordinal);
        Assert.Equal(1, broker.DescribeQuorumRequests);
        Assert.Equal(2, broker.LastDescribeQuorumVersion);
    }

    [Fact]
    public void No_reachable_controller_endpoint()
    {
        var dead = ClusterDirectory.FreePorts(2);
        using var broker = new FakeBroker(describeQuorumMax: 2, _ => Quorum(nodes: [(1, dead[0]), (2, dead[1])]));
        var result = Shell("--bootstrap-server", $"127.0.0.1:{broker.Port}", "--", "ls");
        Assert.Equal(1, result.Code);
        Assert.Contains($"none of the controller endpoints broker 127.0.0.1:{broker.Port} named (127.0.0.1:{dead[0]}, 127.0.0.1:{dead[1]}) accepts a connection",
            result.Err, StringComparison.Ordinal);
        Assert.Single(result.Err.Trim().Split('\n'));
    }

    [Fact]
    public void Error_code_in_the_answer()
    {
        using var broker = new FakeBroker(describeQuorumMax: 2, _ => new DescribeQuorumResponse { ErrorCode = (short)Fjord.Common.ErrorCode.ClusterAuthorizationFailed });
        var result = Shell("--bootstrap-server", $"127.0.0.1:{broker.Port}", "--", "ls");
        Assert.Equal(1, result.Code);
        Assert.Contains($"DescribeQuorum through 127.0.0.1:{broker.Port} failed: CLUSTER_AUTHORIZATION_FAILED", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Bootstrap_controller_pointed_at_a_broker_is_one_line()
    {
        // The fake serves neither DescribeCluster nor Fetch: the controller path refuses it without a crash.
        using var broker = new FakeBroker(describeQuorumMax: 2, _ => Quorum(nodes: []));
        var result = Shell("--bootstrap-controller", $"127.0.0.1:{broker.Port}", "--", "ls");
        Assert.Equal(1, result.Code);
        Assert.Contains("does not serve DescribeCluster", result.Err, StringComparison.Ordinal);
        Assert.Single(result.Err.Trim().Split('\n'));
    }

    /// <summary>A DescribeQuorum answer: leader 1 of voters 1 and 2, and the given nodes (id, controller port on 127.0.0.1).</summary>
    private static DescribeQuorumResponse Quorum(IReadOnlyList<(int Id, int Port)> nodes)
    {
        var response = new DescribeQuorumResponse();
        response.Topics.Add(new DescribeQuorumResponse.TopicData
        {
            TopicName = "__cluster_metadata",
            Partitions =
            [
                new DescribeQuorumResponse.PartitionData
                {
                    LeaderId = 1, LeaderEpoch = 3, HighWatermark = 10,
                    CurrentVoters = [new DescribeQuorumResponse.ReplicaState { ReplicaId = 1 }, new DescribeQuorumResponse.ReplicaState { ReplicaId = 2 }],
                },
            ],
        });
        // Listed with the leader last: the shell must put it first.
        foreach (var (id, port) in nodes.OrderByDescending(n => n.Id == 1 ? 0 : 1))
            response.Nodes.Add(new DescribeQuorumResponse.Node
            {
                NodeId = id,
                Listeners = [new DescribeQuorumResponse.Listener { Name = "CONTROLLER", Host = "127.0.0.1", Port = (ushort)port }],
            });
        return response;
    }
}

/// <summary>
/// A fake broker on 127.0.0.1 (port 0): answers ApiVersions (ApiVersions v0-3, DescribeQuorum
/// v0-<c>describeQuorumMax</c>) and DescribeQuorum (with what <c>answer</c> returns for the request's
/// version); any other request closes the connection. Stopped (listener and connections) on Dispose.
/// </summary>
internal sealed class FakeBroker : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly short _describeQuorumMax;
    private readonly Func<short, DescribeQuorumResponse> _answer;
    private readonly List<TcpClient> _clients = [];
    private int _describeQuorumRequests;
    private int _lastVersion = -1;

    public FakeBroker(short describeQuorumMax, Func<short, DescribeQuorumResponse> answer)
    {
        _describeQuorumMax = describeQuorumMax;
        _answer = answer;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = AcceptAsync();
    }

    public int Port { get; }
    public int DescribeQuorumRequests => Volatile.Read(ref _describeQuorumRequests);
    public int LastDescribeQuorumVersion => Volatile.Read(ref _lastVersion);

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                lock (_clients) _clients.Add(client);
                _ = ServeAsync(client);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // stopped
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        try
        {
            var stream = client.GetStream();
            var prefix = new byte[4];
            while (true)
            {
                if (await stream.ReadAtLeastAsync(prefix, 4, throwOnEndOfStream: false, _stop.Token) < 4) return;
                int size = BinaryPrimitives.ReadInt32BigEndian(prefix);
                if (size is < 0 or > 1 << 20) return;
                var frame = new byte[size];
                await stream.ReadExactlyAsync(frame, _stop.Token);
                var request = Frames.DecodeRequest(frame);
                IKafkaMessage response;
                if (request.Body is ApiVersionsRequest)
                    response = new ApiVersionsResponse
                    {
                        ApiKeys =
                        [
                            new ApiVersionsResponse.ApiVersion { ApiKey = ApiVersionsRequest.ApiKey, MinVersion = 0, MaxVersion = 3 },
                            new ApiVersionsResponse.ApiVersion { ApiKey = DescribeQuorumRequest.ApiKey, MinVersion = 0, MaxVersion = _describeQuorumMax },
                        ],
                    };
                else if (request.Body is DescribeQuorumRequest)
                {
                    Interlocked.Increment(ref _describeQuorumRequests);
                    Volatile.Write(ref _lastVersion, request.ApiVersion);
                    response = _answer(request.ApiVersion);
                }
                else return;
                await stream.WriteAsync(Frames.EncodeResponse(request.CorrelationId, request.Header.RequestApiKey, request.ApiVersion, response), _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException or SocketException or ProtocolDecodeException)
        {
            // the client went away, or the fake stopped
        }
        finally
        {
            client.Dispose();
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_clients)
            foreach (var client in _clients) client.Dispose();
        _stop.Dispose();
    }
}
