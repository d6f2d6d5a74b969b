using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Fjord.Controller;
using Fjord.Metadata;
using Fjord.Protocol.Metadata;
using Fjord.Raft;
using Fjord.Server.Raft;
using Fjord.Storage;
using K = Fjord.Server.ServerConfigKeys;

namespace Fjord.Server.Controller;

/// <summary>The configuration asks for something Fjord does not do yet (the broker role, a dynamic quorum).</summary>
public sealed class ServerNotSupportedException(string message) : Exception(message);

/// <summary>The server could not start for a reason other than its configuration or storage (a port in use, an unknown host, a locked directory).</summary>
public sealed class ServerStartException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A <c>process.roles=controller</c> node: the metadata log <c>__cluster_metadata-0</c> replicated by
/// a <see cref="RaftNode"/> over the controller listener, the <see cref="QuorumController"/> over it
/// (through <see cref="RaftDriverMetadataLog"/>, its events on a dedicated thread), and the
/// <see cref="ControllerStateMachine"/> fed with what the quorum commits on the driver's thread (what
/// snapshots are written from). Hosted by <c>fjord server start</c> or in-process by tests.
/// </summary>
/// <remarks>
/// <para>Start-up (<see cref="Start"/>): the roles must be just controller and the voters static
/// (<c>controller.quorum.voters</c>); <see cref="StorageCheck"/> must accept the directories; the
/// metadata log dir is locked (<c>.lock</c>) against a second process; the log opens (recovering)
/// in <c>&lt;metadata.log.dir&gt;/__cluster_metadata-0</c> with Kafka's <c>quorum-state</c> beside
/// it; the Raft driver binds the first <c>controller.listener.names</c> listener.</para>
/// <para>The controller is configured from the server config (<c>broker.session.timeout.ms</c>,
/// <c>metadata.max.idle.interval.ms</c>, <c>num.partitions</c>, <c>default.replication.factor</c>)
/// and the metadata log dir's <c>bootstrap.checkpoint</c> (else the default metadata.version), and
/// ticked every few milliseconds: while active it appends a NoOpRecord every
/// <c>metadata.max.idle.interval.ms</c> (0: never), as Kafka's controller does, so the high
/// watermark keeps moving, and fences brokers whose session expired. It reports through
/// <c>output</c> one line when listening, one per role / epoch / leader change
/// (<c>raft: leader 2 epoch 5 (node 1 is Follower)</c>) and one when stopped.</para>
/// <para>The controller listener answers the broker and admin RPCs through the controller
/// (<see cref="ControllerRequestHandler"/>): writes at commit, in request order per connection;
/// NOT_CONTROLLER from a controller that is not active.</para>
/// <para><see cref="StopAsync"/>: a leader with other voters resigns (EndQuorumEpoch to them) and
/// waits up to one election timeout for a successor to be known, then the driver stops and the log is flushed
/// and closed. A fault of the Raft loop stops the server the same way (without resigning) and is
/// kept in <see cref="Fault"/>. Thread-safe.</para>
/// </remarks>
public sealed class ControllerServer : IAsyncDisposable
{
    /// <summary>The file in the metadata log dir held locked while a server uses the directory.</summary>
    public const string LockFileName = ".lock";

    private const int WatchIntervalMs = 10;

    private readonly ServerConfig _config;
    private readonly FileStream _lock;
    private readonly PartitionLogRaftLog _log;
    private readonly RaftNetworkDriver _driver;
    private readonly Action<string> _output;
    private readonly RaftDriverMetadataLog _metadataLog;
    private readonly ThreadEventQueue _queue;
    private readonly CancellationTokenSource _stopWatching = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _watcher = Task.CompletedTask;
    private Task? _stopping;
    private volatile Exception? _fault;

    private ControllerServer(ServerConfig config, string clusterId, ListenerEndpoint listener, FileStream lockFile, PartitionLogRaftLog log,
        RaftNetworkDriver driver, ControllerStateMachine stateMachine, RaftDriverMetadataLog metadataLog, ThreadEventQueue queue,
        QuorumController controller, Action<string> output)
    {
        _metadataLog = metadataLog;
        _queue = queue;
        Controller = controller;
        _config = config;
        ClusterId = clusterId;
        _lock = lockFile;
        _log = log;
        _driver = driver;
        StateMachine = stateMachine;
        _output = output;
        Listener = listener with { Port = driver.BoundPort };
    }

    public int NodeId => _config.NodeId;
    public string ClusterId { get; }

    /// <summary>The controller listener as bound (the port is the real one when the config said 0).</summary>
    public ListenerEndpoint Listener { get; }

    public int BoundPort => _driver.BoundPort;
    public ControllerStateMachine StateMachine { get; }

    /// <summary>The controller (active while this node leads the quorum and has caught up).</summary>
    public QuorumController Controller { get; }
    public RaftRole Role => _driver.Role;
    public int Epoch => _driver.Epoch;
    public int? LeaderId => _driver.LeaderId;
    public long HighWatermark => _driver.HighWatermark;

    /// <summary>The voter set in force on this controller (KIP-853: from the log in a dynamic quorum).</summary>
    public VoterSet? Voters => _driver.Voters;

    /// <summary>Why the server stopped by itself (the Raft loop failed), if it did.</summary>
    public Exception? Fault => _fault;

    /// <summary>Completes when the server has stopped (<see cref="StopAsync"/>, or a fault).</summary>
    public Task Completion => _completion.Task;

    /// <summary>
    /// Checks, opens and starts a controller. Throws <see cref="ServerNotSupportedException"/> for a
    /// configuration Fjord cannot run yet, <see cref="ConfigException"/> for one that cannot work,
    /// <see cref="StorageCheckException"/> for unformatted or mismatched directories and
    /// <see cref="ServerStartException"/> for the rest; nothing is left open when it throws.
    /// </summary>
    /// <param name="output">Status lines (listening, role changes, stopped).</param>
    /// <param name="trace">Raft traces and connection events (verbose).</param>
    /// <param name="alsoCommitted">In a combined node, the broker's metadata loader: receives every
    /// committed item after the controller has (on the Raft driver's thread; must not block).</param>
    public static ControllerServer Start(ServerConfig config, Action<string>? output = null, Action<string>? trace = null,
        Action<CommittedItem>? alsoCommitted = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        output ??= _ => { };
        if (!config.IsController)
            throw new ServerNotSupportedException($"{K.ProcessRoles}={RolesText(config.ProcessRoles)} has no controller role");
        // No controller.quorum.voters: a dynamic quorum (KIP-853), the voters come from the metadata log
        // (the bootstrap snapshot of `storage format --standalone / --initial-controllers`, or the leader's log).
        bool dynamicQuorum = config.QuorumVoters.Count == 0;

        var storage = StorageCheck.Verify(config);
        var listener = config.Listeners.First(l => l.Name == config.ControllerListenerNames[0]);
        var listenOn = new IPEndPoint(ResolveListenAddress(listener), listener.Port);
        var voters = config.QuorumVoters.ToDictionary(v => v.NodeId, v => new IPEndPoint(Resolve(v.Address.Host, $"voter {v}"), v.Address.Port));
        var raftConfig = RaftConfigFor(config);

        var controllerConfig = ControllerConfigFor(config, storage.ClusterId);
        var lockFile = Lock(config.MetadataLogDir);
        PartitionLogRaftLog? log = null;
        RaftNetworkDriver? driver = null;
        RaftDriverMetadataLog? metadataLog = null;
        ThreadEventQueue? queue = null;
        QuorumController? controller = null;
        try
        {
            string partitionDir = MetadataPartitionDirectory(config);
            log = PartitionLogRaftLog.Open(partitionDir, MetadataLogConfig(config));
            var stateMachine = new ControllerStateMachine();
            metadataLog = new RaftDriverMetadataLog(config.NodeId);
            queue = new ThreadEventQueue($"controller-{config.NodeId}", e => output($"controller: event failed: {e.Message}"));
            controller = new QuorumController(controllerConfig, metadataLog, queue, () => Environment.TickCount64, trace);
            var committed = metadataLog;
            try
            {
                driver = new RaftNetworkDriver(config.NodeId, listenOn, raftConfig, log, new FileQuorumStateStore(partitionDir), storage.ClusterId,
                    item =>
                    {
                        stateMachine.Apply(item);
                        committed.OnCommitted(item);
                        alsoCommitted?.Invoke(item);
                        if (item is SnapshotLoad load) output($"metadata: loaded snapshot {load.Id.Offset}-{load.Id.Epoch} ({load.Bytes.Length} bytes)");
                    }, trace)
                {
                    ListenerInfo = new ControllerListenerInfo(listener.Name, dynamicQuorum ? [] : config.QuorumVoters),
                    RequestHandler = new ControllerRequestHandler(controller),
                };
            }
            catch (SocketException e)
            {
                throw new ServerStartException($"cannot listen on {listener} ({listenOn}): {e.Message}", e);
            }
            var server = new ControllerServer(config, storage.ClusterId, listener, lockFile, log, driver, stateMachine, metadataLog, queue, controller, output);
            if (dynamicQuorum)
            {
                var membership = new RaftMembership(config.NodeId)
                {
                    DirectoryId = storage.MetadataDirectoryId,
                    LocalEndpoints = [VoterEndpoint(config, driver.BoundPort)],
                };
                output($"fjord controller {config.NodeId}: listening on {server.Listener} (cluster {storage.ClusterId}; dynamic quorum, " +
                       $"directory {storage.MetadataDirectoryId}, bootstrap servers {string.Join(",", config.QuorumBootstrapServers)})");
                driver.StartDynamic(membership, [.. config.QuorumBootstrapServers.Select(b => (b.Host, b.Port))]);
            }
            else
            {
                output($"fjord controller {config.NodeId}: listening on {server.Listener} (cluster {storage.ClusterId}; voters {string.Join(",", config.QuorumVoters)})");
                driver.Start(voters);
            }
            metadataLog.Attach(driver);
            server._watcher = Task.Run(server.WatchAsync);
            return server;
        }
        catch
        {
            driver?.Dispose();
            metadataLog?.Dispose();
            controller?.Dispose();
            queue?.Dispose();
            log?.Close();
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Where other controllers reach this one (KIP-853: its endpoint in the voter set, what
    /// <c>metadata-quorum add-controller</c> sends and what the node keeps its entry at): the first
    /// <c>controller.listener.names</c> listener as advertised (<c>advertised.listeners</c>, else
    /// <c>listeners</c>); an empty or wildcard host becomes <c>localhost</c> (as <c>storage format
    /// --standalone</c> writes it), port 0 the bound port (null when not known yet: 0 stays).
    /// </summary>
    public static RaftEndpoint VoterEndpoint(ServerConfig config, int? boundPort = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var name = config.ControllerListenerNames[0];
        var listener = config.AdvertisedControllerListeners.FirstOrDefault(l => l.Name == name)
            ?? config.Listeners.FirstOrDefault(l => l.Name == name)
            ?? throw new ConfigException(K.ControllerListenerNames, name, "the controller listener is not among the listeners");
        string host = listener.Host is "" or "0.0.0.0" or "::" ? "localhost" : listener.Host;
        int port = listener.Port == 0 && boundPort is { } bound ? bound : listener.Port;
        return new RaftEndpoint(listener.Name, host, port);
    }

    /// <summary><c>&lt;metadata.log.dir&gt;/__cluster_metadata-0</c>: the metadata log and its <c>quorum-state</c>.</summary>
    public static string MetadataPartitionDirectory(ServerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Path.Combine(config.MetadataLogDir, PartitionLogRaftLog.MetadataPartition.DirectoryName);
    }

    /// <summary>Resigns if leader, stops the Raft driver, flushes and closes the log. Idempotent.</summary>
    public Task StopAsync()
    {
        lock (_completion)
            return _stopping ??= StopCoreAsync(resign: true, awaitWatcher: true);
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private async Task StopCoreAsync(bool resign, bool awaitWatcher)
    {
        try
        {
            await _stopWatching.CancelAsync().ConfigureAwait(false);
            if (awaitWatcher) await _watcher.ConfigureAwait(false);
            // A sole voter has nobody to hand over to (it would only elect itself again).
            if (resign && _fault is null && _driver.Role == RaftRole.Leader && (_driver.Voters?.Count ?? _config.QuorumVoters.Count) > 1)
                await ResignAsync().ConfigureAwait(false);
            _driver.Dispose();
            _metadataLog.Dispose();
            Controller.Dispose();
            _queue.Dispose();
            _log.Flush();
            _log.Close();
            _output($"fjord controller {NodeId}: stopped{(_fault is null ? "" : $" after a fault: {_fault.Message}")}");
        }
        finally
        {
            _lock.Dispose();
            _completion.TrySetResult();
        }
    }

    /// <summary>Graceful resignation: EndQuorumEpoch goes out, then up to one election timeout for
    /// a successor to be known (so the others do not wait for their fetch timeout).</summary>
    private async Task ResignAsync()
    {
        int epoch = _driver.Epoch;
        var bound = TimeSpan.FromMilliseconds(Math.Max(_config.QuorumElectionTimeoutMs, 100));
        try
        {
            await _driver.ResignAsync().WaitAsync(bound).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return;
        }
        _output($"raft: node {NodeId} resigned as leader of epoch {epoch}");
        long deadline = Environment.TickCount64 + (long)bound.TotalMilliseconds;
        while (Environment.TickCount64 < deadline && !(_driver.LeaderId is { } leader && leader != NodeId && _driver.Epoch > epoch))
            await Task.Delay(WatchIntervalMs).ConfigureAwait(false);
    }

    /// <summary>Reports role changes, notices a failed Raft loop, ticks the controller (NoOps, broker
    /// sessions), and snapshots the applied state (every voter does, as in Kafka) when due.</summary>
    private async Task WatchAsync()
    {
        var token = _stopWatching.Token;
        (RaftRole Role, int Epoch, int? Leader)? reported = null;
        long lastSnapshotAt = Environment.TickCount64;
        try
        {
            while (!token.IsCancellationRequested)
            {
                if (_driver.Fault is { } fault)
                {
                    _fault = fault;
                    _output($"raft: node {NodeId} stopped: {fault.Message}");
                    lock (_completion) _stopping ??= StopCoreAsync(resign: false, awaitWatcher: false);
                    return;
                }
                var now = (_driver.Role, _driver.Epoch, _driver.LeaderId);
                if (reported != now)
                {
                    _output(now.LeaderId is { } leader
                        ? $"raft: leader {leader} epoch {now.Epoch} (node {NodeId} is {now.Role})"
                        : $"raft: no leader in epoch {now.Epoch} (node {NodeId} is {now.Role})");
                    reported = now;
                }
                Controller.Tick();
                if (IsSnapshotDue(Environment.TickCount64 - lastSnapshotAt))
                {
                    await SnapshotAsync(token).ConfigureAwait(false);
                    lastSnapshotAt = Environment.TickCount64;
                }
                await Task.Delay(WatchIntervalMs, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // stopping
        }
    }

    /// <summary>Kafka's two triggers: <c>metadata.log.max.record.bytes.between.snapshots</c> committed
    /// since the last snapshot, or <c>metadata.log.max.snapshot.interval.ms</c> (0: off) with anything new.</summary>
    private bool IsSnapshotDue(long msSinceLastSnapshot)
    {
        long bytes = StateMachine.BytesSinceSnapshot;
        return bytes >= _config.MetadataSnapshotMaxNewRecordBytes
            || bytes > 0 && _config.MetadataSnapshotMaxIntervalMs > 0 && msSinceLastSnapshot >= _config.MetadataSnapshotMaxIntervalMs;
    }

    private async Task SnapshotAsync(CancellationToken token)
    {
        try
        {
            var id = await _driver.CreateSnapshotAsync(StateMachine.LastAppliedOffset + 1, StateMachine.WriteSnapshot, token).ConfigureAwait(false);
            _output($"metadata: wrote snapshot {id.Offset}-{id.Epoch}");
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or InvalidOperationException)
        {
            // The end offset is already a snapshot, or the applied state moved past it before the node
            // thread got to it (WriteSnapshot refuses to write newer state under an older id): next trigger.
            _output($"metadata: snapshot skipped: {e.Message}");
        }
    }

    /// <summary>The controller's settings: the server config's, and the bootstrap records of
    /// <c>bootstrap.checkpoint</c> in the metadata log dir (written by <c>storage format</c>), else
    /// those of the default metadata.version.</summary>
    public static ControllerConfig ControllerConfigFor(ServerConfig config, string clusterId)
    {
        ArgumentNullException.ThrowIfNull(config);
        string bootstrapPath = BootstrapMetadataFile.PathIn(config.MetadataLogDir);
        IReadOnlyList<MetadataRecord> bootstrap;
        try
        {
            bootstrap = File.Exists(bootstrapPath)
                ? BootstrapMetadataFile.Read(bootstrapPath)
                : ControllerConfig.BootstrapFor(config.UnstableFeatureVersionsEnable ? MetadataVersion.LatestTesting : MetadataVersion.LatestProduction);
        }
        catch (Exception e) when (e is StorageException or IOException or UnauthorizedAccessException)
        {
            throw new ServerStartException($"cannot read {bootstrapPath}: {e.Message}", e);
        }
        return new ControllerConfig
        {
            ClusterId = clusterId,
            BrokerSessionTimeoutMs = config.BrokerSessionTimeoutMs,
            MaxIdleIntervalMs = config.MetadataMaxIdleIntervalMs,
            DefaultNumPartitions = config.NumPartitions,
            DefaultReplicationFactor = checked((short)config.DefaultReplicationFactor),
            BootstrapRecords = bootstrap,
        };
    }

    /// <summary>The Raft timings of <c>controller.quorum.*</c>.</summary>
    internal static RaftConfig RaftConfigFor(ServerConfig config) => new()
    {
        ElectionTimeoutMs = config.QuorumElectionTimeoutMs,
        FetchTimeoutMs = config.QuorumFetchTimeoutMs,
        ElectionBackoffMaxMs = config.QuorumElectionBackoffMaxMs,
        RequestTimeoutMs = config.QuorumRequestTimeoutMs,
        AppendLingerMs = config.QuorumAppendLingerMs,
    };

    internal static LogConfig MetadataLogConfig(ServerConfig config) => LogConfig.Default with
    {
        SegmentBytes = config.MetadataLogSegmentBytes,
        SegmentMs = config.MetadataLogSegmentMs,
        MaxMessageBytes = 8 * 1024 * 1024, // Kafka's largest Raft batch
        RetentionMs = -1,                  // the metadata log is trimmed by snapshots, never by retention
        RetentionBytes = -1,
    };

    internal static FileStream Lock(string metadataLogDir)
    {
        var path = Path.Combine(metadataLogDir, LockFileName);
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new ServerStartException($"the metadata log directory {metadataLogDir} is in use by another process (cannot lock {path}: {e.Message})", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new ServerStartException($"cannot lock {path}: {e.Message}", e);
        }
    }

    internal static IPAddress ResolveListenAddress(ListenerEndpoint listener) => listener.Host switch
    {
        "" or "0.0.0.0" => IPAddress.Any,
        "::" => IPAddress.IPv6Any,
        _ => Resolve(listener.Host, $"listener {listener}"),
    };

    internal static IPAddress Resolve(string host, string what)
    {
        if (IPAddress.TryParse(host, out var address)) return address;
        try
        {
            var addresses = Dns.GetHostAddresses(host);
            return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
                ?? addresses.FirstOrDefault()
                ?? throw new ServerStartException($"the host of {what} ({host}) has no address");
        }
        catch (SocketException e)
        {
            throw new ServerStartException($"cannot resolve the host of {what} ({host}): {e.Message}", e);
        }
    }

    private static string RolesText(ProcessRoles roles) => roles switch
    {
        ProcessRoles.Broker => "broker",
        ProcessRoles.Controller => "controller",
        _ => "broker,controller",
    };

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"controller {NodeId} on {Listener}: {Role} epoch {Epoch} leader {LeaderId} hw {HighWatermark}");
}
