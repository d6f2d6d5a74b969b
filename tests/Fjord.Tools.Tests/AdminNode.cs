using System.Text.Json;
using Fjord.Cli;
using Fjord.Cluster.Tests;

namespace Fjord.Tools.Tests;

/// <summary>
/// Class fixture of the admin-command tests: one combined node (<c>process.roles=broker,controller</c>,
/// node 1) started as a real <c>fjord server start --config</c> process in its own temp directory, on
/// ports that were free a moment ago; ready once the broker is unfenced; stopped by SIGTERM (its own
/// PID) when the class is done. Commands run in-process through <see cref="CommandLine.Run"/>.
/// <c>group.initial.rebalance.delay.ms=0</c> so external consumers join a new group at once.
/// A subclass may format the storage with other flags, e.g. an older <c>--release-version</c>, and append
/// server properties (a later line of the same key wins) through <see cref="AdminNode(string[], string)"/>.
/// </summary>
public class AdminNode : IAsyncLifetime
{
    private readonly ClusterDirectory _dir = new();
    private readonly string[] _formatFlags;
    private readonly string _extraConfig;
    private FjordProcess? _process;

    public AdminNode() : this([])
    {
    }

    /// <summary>A node whose storage is formatted with <c>fjord storage format … <paramref name="formatFlags"/></c>,
    /// with <paramref name="extraConfig"/> appended to its server.properties.</summary>
    protected AdminNode(string[] formatFlags, string extraConfig = "")
    {
        _formatFlags = formatFlags;
        _extraConfig = extraConfig;
    }

    /// <summary>This node's temp directory.</summary>
    public string Dir => _dir.Path;

    /// <summary>A directory of this node's temp directory for the tests' own files (scripts).</summary>
    public string ScratchDir => Directory.CreateDirectory(_dir.Sub("scratch")).FullName;

    public string Bootstrap { get; private set; } = "";
    public string Transcript => _process?.Transcript() ?? "(not started)";

    public async Task InitializeAsync()
    {
        var ports = ClusterDirectory.FreePorts(2);
        Bootstrap = $"127.0.0.1:{ports[0]}";
        var config = _dir.Sub("server.properties");
        File.WriteAllText(config, ClusterDirectory.SingleNodeConfig(ports[0], ports[1], _dir.Path, "group.initial.rebalance.delay.ms=0\n" + _extraConfig));
        ClusterDirectory.Format(config, _formatFlags);
        _process = FjordProcess.Start("fjord admin node", "server", "start", "--config", config);
        await _process.WaitForLineAsync(l => l.Contains("unfenced at metadata offset"), TimeSpan.FromSeconds(60), "that the broker is unfenced");
    }

    /// <summary>Runs <c>fjord ARGS</c> in-process (no bootstrap added): exit code, stdout, stderr.</summary>
    public static (int Code, string Out, string Err) Raw(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>
    /// <see cref="Raw"/> on a thread of its own, for a command that runs for seconds (a consumer) while
    /// the test goes on. Not on a thread-pool thread: a command blocks its thread until it exits, and
    /// two such blocked pool threads on a 2-core machine starved the async work of tests running beside them
    /// (a 1.5 s request timeout expired while the ApiVersions answer waited for a pool thread).
    /// </summary>
    public static Task<(int Code, string Out, string Err)> RawOnOwnThread(params string[] args) =>
        Task.Factory.StartNew(() => Raw(args), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Runs <c>fjord ARGS --bootstrap-server this-node</c> in-process: exit code, stdout, stderr.</summary>
    public (int Code, string Out, string Err) Fjord(params string[] args) => Raw([.. args, "--bootstrap-server", Bootstrap]);

    /// <summary>As <see cref="Fjord"/>, asserting exit 0; returns stdout.</summary>
    public string Ok(params string[] args)
    {
        var (code, o, e) = Fjord(args);
        Assert.True(code == 0, $"fjord {string.Join(' ', args)} exited {code}\nstdout: {o}\nstderr: {e}");
        return o;
    }

    /// <summary>As <see cref="Ok"/> with <c>--output json</c>, parsed.</summary>
    public JsonElement Json(params string[] args) => JsonDocument.Parse(Ok([.. args, "--output", "json"])).RootElement.Clone();

    public async Task DisposeAsync()
    {
        if (_process is not null)
        {
            try
            {
                if (!_process.HasExited) _process.Terminate();
                await _process.WaitForExitAsync(TimeSpan.FromSeconds(20));
            }
            catch (TimeoutException)
            {
                // Dispose kills it.
            }
            _process.Dispose();
        }
        _dir.Dispose();
    }
}
