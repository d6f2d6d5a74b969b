using System.Collections.Concurrent;
using System.Diagnostics;
using Fjord.Cli;
using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Raft;
using Fjord.Server.Controller;
using Xunit.Abstractions;
using static Fjord.Server.Tests.Controller.ControllerFixture;

namespace Fjord.Server.Tests.Controller;

/// <summary>
/// <c>metadata-quorum add-controller / remove-controller</c> through <see cref="CommandLine.Run"/>:
/// usage errors (exit 2), configurations that cannot name a controller and the leader's refusals
/// (exit 1, one line on stderr), and a dynamic quorum of in-process controllers growing from one
/// voter to two and back; DescribeCluster of a dynamic quorum lists its voters.
/// </summary>
public sealed class VoterChangeCommandTests(ITestOutputHelper output) : IDisposable
{
    private const string OtherClusterId = "Pb2aNRVJRNeZbxQ_CTyCiA";
    private readonly TempDirectory _dir = new();
    private readonly ConcurrentQueue<string> _lines = new();

    public void Dispose()
    {
        foreach (var line in _lines.Where(l => !l.Contains("answered parked fetch", StringComparison.Ordinal)).Take(300)) output.WriteLine(line);
        _dir.Dispose();
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>A controller of a dynamic quorum (no controller.quorum.voters) on <paramref name="port"/>.</summary>
    private string DynamicConfig(int id, int port, int bootstrapPort) =>
        _dir.WriteFile($"dynamic-{id}.properties", $"""
            process.roles=controller
            node.id={id}
            controller.quorum.bootstrap.servers=127.0.0.1:{bootstrapPort}
            listeners=CONTROLLER://127.0.0.1:{port}
            controller.listener.names=CONTROLLER
            log.dirs={_dir.Sub($"dynamic-{id}")}
            controller.quorum.election.timeout.ms=300
            controller.quorum.fetch.timeout.ms=600
            metadata.max.idle.interval.ms=50
            """);

    /// <summary><c>storage format --standalone</c> or <c>--no-initial-controllers</c>; returns the config and the metadata directory id.</summary>
    private static (ServerConfig Config, Uuid DirectoryId) FormatDynamic(string path, bool standalone, string clusterId = ClusterId)
    {
        var config = ServerConfig.Load(path);
        new StorageFormatter(config, TextWriter.Null).Format(new FormatOptions { ClusterId = clusterId, Standalone = standalone, NoInitialControllers = !standalone });
        return (config, MetaProperties.ReadFrom(config.MetadataLogDir)!.DirectoryId!.Value);
    }

    private static void AssertOneLineFailure((int Code, string Out, string Err) result, string expectedStart)
    {
        Assert.True(result.Code == 1, $"exit {result.Code}: {result.Out}{result.Err}");
        Assert.Empty(result.Out);
        Assert.StartsWith(expectedStart, result.Err);
        Assert.Single(result.Err.TrimEnd('\n').Split('\n'));
    }

    [Theory]
    [InlineData("add-controller", "You must supply the configuration file of the controller you are adding when using add-controller")]
    [InlineData("add-controller --command-config", "--command-config needs a FILE")]
    [InlineData("add-controller --command-config c.properties --status", "--status, --replication and --human-readable go with describe, not add-controller")]
    [InlineData("add-controller --command-config c.properties --controller-id 2", "--controller-id and --controller-directory-id go with remove-controller, not add-controller")]
    [InlineData("remove-controller", "remove-controller needs --controller-id ID")]
    [InlineData("remove-controller --controller-id 2", "remove-controller needs --controller-directory-id UUID")]
    [InlineData("remove-controller --controller-directory-id b-DwmhtOheTqZzPoh52kfA", "remove-controller needs --controller-id ID")]
    [InlineData("remove-controller --controller-id two --controller-directory-id b-DwmhtOheTqZzPoh52kfA", "--controller-id: 'two' is not a node id")]
    [InlineData("remove-controller --controller-id -1 --controller-directory-id b-DwmhtOheTqZzPoh52kfA", "--controller-id: '-1' is not a node id")]
    [InlineData("remove-controller --controller-id 2 --controller-directory-id nope", "--controller-directory-id: 'nope' is not a directory id")]
    [InlineData("remove-controller --controller-id 2 --controller-directory-id AAAAAAAAAAAAAAAAAAAAAA", "--controller-directory-id: 'AAAAAAAAAAAAAAAAAAAAAA' is not a directory id")]
    [InlineData("remove-controller --controller-id=2 --controller-directory-id=b-DwmhtOheTqZzPoh52kfA extra", "unexpected argument 'extra'")]
    [InlineData("describe --status --controller-id 2", "--controller-id and --controller-directory-id go with remove-controller, not describe")]
    [InlineData("grow-controller", "unknown command 'grow-controller' (describe, add-controller or remove-controller)")]
    public void Usage_errors_exit_2_before_connecting(string arguments, string message)
    {
        // Port 1 is never a controller: a usage error must be found before any connection is tried.
        var result = Run(["metadata-quorum", "--bootstrap-controller", "127.0.0.1:1", .. arguments.Split(' ')]);
        Assert.True(result.Code == 2, $"exit {result.Code}: {result.Out}{result.Err}");
        Assert.Empty(result.Out);
        Assert.StartsWith($"fjord metadata-quorum: {message}", result.Err.Split('\n')[0]);
        Assert.Contains("Run 'fjord metadata-quorum --help' for usage.", result.Err);
    }

    [Fact]
    public void Help_describes_add_controller_and_remove_controller()
    {
        var help = Run("metadata-quorum", "--help");
        Assert.Equal(0, help.Code);
        Assert.Contains("add-controller --command-config FILE", help.Out);
        Assert.Contains("remove-controller --controller-id ID --controller-directory-id UUID", help.Out);
        var top = Run("--help");
        Assert.Contains(top.Out.Split('\n'), l => l.TrimStart().StartsWith("metadata-quorum", StringComparison.Ordinal) && l.Contains("add-controller", StringComparison.Ordinal));
    }

    [Fact]
    public void Add_controller_with_a_configuration_that_names_no_usable_controller_fails_with_one_line()
    {
        string[] Add(string config) => ["metadata-quorum", "--bootstrap-controller", "127.0.0.1:1", "add-controller", "--command-config", config];

        var missing = _dir.Sub("missing.properties");
        AssertOneLineFailure(Run(Add(missing)), $"fjord: cannot read the controller's configuration {missing}: ");

        var unformatted = DynamicConfig(2, FreePort(), FreePort());
        var result = Run(Add(unformatted));
        AssertOneLineFailure(result, $"fjord: the metadata log directory {_dir.Sub("dynamic-2")} of {unformatted} is not formatted");
        Assert.Contains("--no-initial-controllers", result.Err);

        // node 3's configuration pointing at node 2's directory.
        FormatDynamic(unformatted, standalone: false);
        var foreign = _dir.WriteFile("dynamic-3.properties", File.ReadAllText(unformatted).Replace("node.id=2", "node.id=3", StringComparison.Ordinal));
        AssertOneLineFailure(Run(Add(foreign)), $"fjord: {MetaProperties.PathIn(_dir.Sub("dynamic-2"))} belongs to node 2, but {foreign} says node.id=3");
    }

    [Fact]
    public void The_controller_to_add_is_named_by_its_advertised_controller_listener_and_meta_properties()
    {
        var path = _dir.WriteFile("advertised-4.properties", $"""
            process.roles=controller
            node.id=4
            controller.quorum.bootstrap.servers=127.0.0.1:19093
            listeners=CONTROLLER://0.0.0.0:19094
            advertised.listeners=CONTROLLER://ctl-4.example:29094
            controller.listener.names=CONTROLLER
            log.dirs={_dir.Sub("advertised-4")}
            """);
        var (_, directoryId) = FormatDynamic(path, standalone: false);
        var controller = ControllerToAdd.Read(path);
        Assert.Equal((4, directoryId, ClusterId), (controller.NodeId, controller.DirectoryId, controller.ClusterId));
        Assert.Equal([new RaftEndpoint("CONTROLLER", "ctl-4.example", 29094)], controller.Endpoints);

        // Not advertised, bound to every address: reached as localhost (as storage format --standalone writes it).
        File.WriteAllText(path, File.ReadAllText(path).Replace("advertised.listeners=CONTROLLER://ctl-4.example:29094", "", StringComparison.Ordinal));
        Assert.Equal([new RaftEndpoint("CONTROLLER", "localhost", 19094)], ControllerToAdd.Read(path).Endpoints);
    }

    [Fact]
    public async Task Voter_changes_in_a_static_quorum_are_refused_with_the_leaders_error()
    {
        await using var server = Start(Format(WriteSingleVoterConfig(_dir, FreePort())), _lines);
        await WaitUntil(() => server.Role == RaftRole.Leader && server.HighWatermark > 0, server.ToString);
        var (_, directoryId) = FormatDynamic(DynamicConfig(2, FreePort(), server.BoundPort), standalone: false);

        var sw = Stopwatch.StartNew();
        AssertOneLineFailure(Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{server.BoundPort}", "add-controller", "--command-config", _dir.Sub("dynamic-2.properties")),
            $"fjord: AddRaftVoter at 127.0.0.1:{server.BoundPort} failed: UNSUPPORTED_VERSION: Cluster doesn't support adding voters because the kraft.version feature is 0");
        AssertOneLineFailure(Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{server.BoundPort}", "remove-controller", "--controller-id", "1", "--controller-directory-id", $"{directoryId}"),
            $"fjord: RemoveRaftVoter at 127.0.0.1:{server.BoundPort} failed: UNSUPPORTED_VERSION: Cluster doesn't support removing voters because the kraft.version feature is 0");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"an error that is not retriable is reported at once, not after retries ({sw.Elapsed})");

        int closed = FreePort();
        AssertOneLineFailure(Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{closed}", "add-controller", "--command-config", _dir.Sub("dynamic-2.properties")),
            $"fjord: cannot connect to 127.0.0.1:{closed}: ");
    }

    [Fact]
    public async Task A_dynamic_quorum_grows_with_add_controller_and_shrinks_with_remove_controller()
    {
        int port1 = FreePort(), port2 = FreePort();
        var config1 = DynamicConfig(1, port1, port1);
        var config2 = DynamicConfig(2, port2, port1);
        var (c1, dir1) = FormatDynamic(config1, standalone: true);
        var (c2, dir2) = FormatDynamic(config2, standalone: false);
        string bootstrap = $"127.0.0.1:{port1}";

        await using var server1 = Start(c1, _lines);
        await WaitUntil(() => server1.Role == RaftRole.Leader && server1.HighWatermark > 0, server1.ToString);
        // DescribeCluster of a dynamic quorum lists the voters from the log (the only source of their endpoints).
        await AssertDescribeCluster(port1, leader: 1, [(1, port1)]);

        await using var server2 = Start(c2, _lines);
        await WaitUntil(() => server2.LeaderId == 1 && server2.Voters is { Count: 1 }, server2.ToString);
        Assert.NotEqual(RaftRole.Leader, server2.Role);

        // The leader's refusals: one line with Kafka's error name and the leader's message, exit 1.
        AssertOneLineFailure(Run("metadata-quorum", "--bootstrap-controller", bootstrap, "remove-controller", "--controller-id", "2", "--controller-directory-id", $"{dir2}"),
            $"fjord: RemoveRaftVoter at {bootstrap} failed: VOTER_NOT_FOUND: Cannot remove voter 2:{dir2} from the set of voters [1:{dir1}]");
        AssertOneLineFailure(Run("metadata-quorum", "--bootstrap-controller", bootstrap, "add-controller", "--command-config", config1),
            $"fjord: AddRaftVoter at {bootstrap} failed: DUPLICATE_VOTER: The voter id for 1:{dir1} is already part of the set of voters [1:{dir1}]");
        var stranger = DynamicConfig(3, FreePort(), port1);
        FormatDynamic(stranger, standalone: false, clusterId: OtherClusterId);
        AssertOneLineFailure(Run("metadata-quorum", "--bootstrap-controller", bootstrap, "add-controller", "--command-config", stranger),
            $"fjord: AddRaftVoter at {bootstrap} failed: INCONSISTENT_CLUSTER_ID: ");

        // Asked at the observer: it names the leader, which adds node 2 once it has caught up.
        var added = Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{port2}", "add-controller", "--command-config", config2);
        Assert.True(added.Code == 0, added.Err);
        Assert.Equal($"Added controller 2 with directory id {dir2} and endpoints: CONTROLLER://127.0.0.1:{port2}\n", added.Out);
        Assert.Empty(added.Err);
        Assert.Equal([1, 2], server1.Voters!.Ids);
        Assert.Equal(new ReplicaKey(2, dir2), server1.Voters.Find(2)!.Key);
        await WaitUntil(() => server2.Voters is { Count: 2 }, server2.ToString);
        await AssertDescribeCluster(port2, leader: 1, [(1, port1), (2, port2)]);
        var status = Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{port2}", "describe", "--status");
        Assert.True(status.Code == 0, status.Err);
        Assert.Contains($"CurrentVoters:          [{{\"id\": 1, \"directoryId\": \"{dir1}\", \"endpoints\": [\"CONTROLLER://127.0.0.1:{port1}\"]}}, " +
                        $"{{\"id\": 2, \"directoryId\": \"{dir2}\", \"endpoints\": [\"CONTROLLER://127.0.0.1:{port2}\"]}}]\n", status.Out);
        Assert.Contains("CurrentObservers:       []\n", status.Out);

        var removed = Run("metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{port2}", "remove-controller", "--controller-id", "2", "--controller-directory-id", $"{dir2}");
        Assert.True(removed.Code == 0, removed.Err);
        Assert.Equal($"Removed KRaft controller 2 with directory id {dir2}\n", removed.Out);
        Assert.Equal([1], server1.Voters!.Ids);
        await WaitUntil(() => server2.Voters is { Count: 1 }, server2.ToString);
        await AssertDescribeCluster(port2, leader: 1, [(1, port1)]);
        Assert.Equal(RaftRole.Leader, server1.Role);
    }

    private static async Task AssertDescribeCluster(int port, int leader, (int Id, int Port)[] controllers)
    {
        using var client = await KafkaClient.ConnectAsync("127.0.0.1", port, "admin", Bound);
        var answer = await client.SendAsync<DescribeClusterResponse>(new DescribeClusterRequest { EndpointType = 2 }, 1);
        Assert.Equal(0, answer.ErrorCode);
        Assert.Equal(ClusterId, answer.ClusterId);
        Assert.Equal(leader, answer.ControllerId);
        Assert.Equal(controllers, answer.Brokers.Select(b => (b.BrokerId, b.Port)).OrderBy(b => b.BrokerId).ToArray());
        Assert.All(answer.Brokers, b => Assert.Equal("127.0.0.1", b.Host));
    }
}
