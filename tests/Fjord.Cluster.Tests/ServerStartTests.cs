using Xunit.Abstractions;

namespace Fjord.Cluster.Tests;

/// <summary><c>fjord server start</c> as a real process: refusals (exit 1 / 2 with one clear line), warnings, SIGTERM.</summary>
public sealed class ServerStartTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly ClusterDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var result = await FjordProcess.RunAsync(Bound, args);
        output.WriteLine($"exit {result.Code}\nstdout:\n{result.Out}\nstderr:\n{result.Err}");
        return result;
    }

    [Fact]
    public async Task An_unformatted_metadata_log_dir_exits_1_naming_the_dir_and_the_format_command()
    {
        var config = _dir.WriteControllerConfig(1, new Dictionary<int, int> { [1] = ClusterDirectory.FreePorts(1)[0] });
        var (code, stdout, stderr) = await Run("server", "start", "--config", config);
        Assert.Equal(1, code);
        Assert.Empty(stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("fjord: ", line);
        Assert.Contains(_dir.MetadataDir(1), line);
        Assert.Contains($"fjord storage format --config {config} --cluster-id <id>", line);
        Assert.False(Directory.Exists(_dir.MetadataDir(1)));
    }

    [Fact]
    public async Task A_directory_formatted_for_another_cluster_node_exits_1()
    {
        var ports = new Dictionary<int, int> { [1] = ClusterDirectory.FreePorts(1)[0] };
        ClusterDirectory.Format(_dir.WriteControllerConfig(1, ports));
        // Node 2 pointed at node 1's directory.
        var config = _dir.WriteControllerConfig(2, new Dictionary<int, int> { [2] = ports[1] }, extra: $"metadata.log.dir={_dir.MetadataDir(1)}\nlog.dirs={_dir.MetadataDir(1)}");
        var (code, _, stderr) = await Run("server", "start", "--config", config);
        Assert.Equal(1, code);
        Assert.Contains($"log directory {_dir.MetadataDir(1)} belongs to node.id 1, but the configuration says node.id=2", stderr);
    }

    [Fact]
    public async Task An_invalid_value_exits_1_naming_the_key()
    {
        var config = _dir.WriteControllerConfig(1, new Dictionary<int, int> { [1] = ClusterDirectory.FreePorts(1)[0] },
            extra: "controller.quorum.election.timeout.ms=soon");
        var (code, stdout, stderr) = await Run("server", "start", "--config", config);
        Assert.Equal(1, code);
        Assert.Empty(stdout);
        Assert.StartsWith("fjord: Invalid value 'soon' for configuration controller.quorum.election.timeout.ms", stderr);
    }

    [Fact]
    public async Task A_broker_with_an_unformatted_log_dir_exits_1_naming_the_directory_and_the_fix()
    {
        var path = System.IO.Path.Combine(_dir.Path, "broker.properties");
        var logDir = _dir.Sub("broker");
        File.WriteAllText(path, $"""
            process.roles=broker
            node.id=4
            controller.quorum.voters=1@127.0.0.1:19093
            listeners=PLAINTEXT://127.0.0.1:19092
            controller.listener.names=CONTROLLER
            listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
            log.dirs={logDir}
            """);
        var (code, _, stderr) = await Run("server", "start", "--config", path);
        Assert.Equal(1, code);
        Assert.Contains(logDir, stderr);
        Assert.Contains("storage format", stderr);
    }

    [Fact]
    public async Task Unknown_keys_are_warned_about_and_SIGTERM_stops_the_controller_cleanly_with_exit_0()
    {
        var ports = new Dictionary<int, int> { [1] = ClusterDirectory.FreePorts(1)[0] };
        var config = _dir.WriteControllerConfig(1, ports, extra: "no.such.key=1\ncontroller.quorum.election.timeout.ms=500\nmetadata.max.idle.interval.ms=50");
        ClusterDirectory.Format(config);
        using var server = FjordProcess.Start("controller-1", "server", "start", "--config", config);
        try
        {
            await server.WaitForLineAsync(l => l.StartsWith("raft: leader 1 epoch ", StringComparison.Ordinal) && l.EndsWith("(node 1 is Leader)", StringComparison.Ordinal),
                Bound, "its election as leader");
            Assert.Contains($"fjord: warning: {config}: unknown configuration 'no.such.key' is ignored", server.Lines("err"));
            Assert.Equal($"fjord controller 1: listening on CONTROLLER://127.0.0.1:{ports[1]} (cluster {ClusterDirectory.ClusterId}; voters 1@127.0.0.1:{ports[1]})",
                server.Lines("out")[0]);
            server.Terminate();
            Assert.Equal(0, await server.WaitForExitAsync(Bound));
            Assert.Equal("fjord controller 1: stopped", server.Lines("out")[^1]);
        }
        finally
        {
            output.WriteLine(server.Transcript());
        }
    }
}
