using Fjord.Cluster.Tests;

// One node per test class already; clients are CPU-hungry, so the classes run one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Fjord.Clients.Tests;

/// <summary>
/// The class fixture: one combined node (<c>process.roles=broker,controller</c>, node 1) started as a
/// real <c>fjord server start --config</c> process in its own temp directory, its broker and
/// controller listeners on ports that were free a moment ago. Ready once the broker printed that it
/// is unfenced; stopped with SIGTERM (SIGKILL if that does not end it) when the class is done.
/// Subclasses append server properties (a later line of the same key wins); <see cref="RestartAsync"/>
/// stops the node with SIGTERM and starts it again on the same directories and ports.
/// </summary>
public class FjordNode : IAsyncLifetime
{
    private static readonly TimeSpan StartBound = TimeSpan.FromSeconds(60);
    private readonly ClusterDirectory _dir = new();
    private readonly string _extraConfig;
    private readonly List<string> _previousTranscripts = [];
    private FjordProcess? _process;
    private string? _configPath;

    public FjordNode() : this("")
    {
    }

    /// <param name="extraConfig">server.properties lines appended after the defaults.</param>
    protected FjordNode(string extraConfig) => _extraConfig = extraConfig;

    public int BrokerPort { get; private set; }

    /// <summary><c>host:port</c> of the broker listener, for <c>-b</c> / <c>bootstrap.servers</c>.</summary>
    public string Bootstrap => $"127.0.0.1:{BrokerPort}";

    /// <summary>The node's log dir (partition directories are <c>&lt;topic&gt;-&lt;partition&gt;</c> in it).</summary>
    public string LogDir => _dir.Sub("logs");

    /// <summary>A scratch directory for the tests of this class (scripts, payload files).</summary>
    public string ScratchDir => _dir.Path;

    /// <summary>The server's output so far, for failure messages.</summary>
    public string Transcript => string.Join('\n', [.. _previousTranscripts, _process?.Transcript() ?? "(not started)"]);

    public bool IsRunning => _process is { HasExited: false };

    public async Task InitializeAsync()
    {
        var ports = ClusterDirectory.FreePorts(2);
        BrokerPort = ports[0];
        var config = _dir.Sub("server.properties");
        File.WriteAllText(config, ClusterDirectory.SingleNodeConfig(ports[0], ports[1], _dir.Path, _extraConfig));
        ClusterDirectory.Format(config);
        _configPath = config;
        await StartProcessAsync();
    }

    private async Task StartProcessAsync()
    {
        _process = FjordProcess.Start("fjord node 1", "server", "start", "--config", _configPath!);
        await _process.WaitForLineAsync(l => l.Contains("unfenced at metadata offset"), StartBound, "that the broker is unfenced");
    }

    /// <summary>
    /// Stops the node with SIGTERM (bounded: 20 s, then the test fails) and starts it again with the
    /// same config, directories and ports; returns once the new process's broker is unfenced.
    /// </summary>
    public async Task RestartAsync()
    {
        var old = _process ?? throw new InvalidOperationException("the node was never started");
        if (!old.HasExited) old.Terminate();
        int code = await old.WaitForExitAsync(TimeSpan.FromSeconds(20));
        if (code != 0) throw new InvalidOperationException($"the node exited with {code} on SIGTERM\n{old.Transcript()}");
        _previousTranscripts.Add(old.Transcript());
        old.Dispose();
        _process = null;
        await StartProcessAsync();
    }

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
