using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Fjord.Broker.Apis;
using Fjord.Broker.FetchSessions;
using Fjord.Broker.Coordinator;
using Fjord.Broker.Groups;
using Fjord.Broker.Transactions;
using Fjord.Broker.Lifecycle;
using Fjord.Broker.Replication;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Network;
using Fjord.Protocol.Messages;
using Fjord.Raft;
using Fjord.Server.Controller;
using Fjord.Storage;
using K = Fjord.Server.ServerConfigKeys;
using NetworkListener = Fjord.Network.ListenerEndpoint;

namespace Fjord.Server.Node;

/// <summary>
/// A node with the broker role (<c>process.roles=broker</c>, or <c>broker,controller</c>: combined):
/// the data plane (<see cref="ReplicaManager"/> over the log dirs), the answers from the metadata
/// image (<see cref="BrokerMetadataApis"/>), admin requests forwarded to the active controller,
/// registration and heartbeats (<see cref="BrokerLifecycleManager"/>), all behind the client
/// listeners (<see cref="KafkaServer"/>). Hosted by <c>fjord server start</c> or in-process by tests.
/// </summary>
/// <remarks>
/// <para>Metadata: a combined node's controller (<see cref="ControllerServer"/>) hands every
/// committed item to the broker too; a broker-only node is a Raft observer of the quorum
/// (<see cref="MetadataObserver"/>) keeping its own copy of the metadata log. Either way the items
/// go through <see cref="BrokerMetadataPump"/> to a <see cref="MetadataLoader"/> whose publishers are
/// the metadata cache and the replica manager.</para>
/// <para>Start-up order: storage check; controller (combined) or observer; log manager (recovery);
/// replica manager; client listeners bound (not yet listening: connects are refused); registration.
/// The broker is fenced until its metadata has caught up with the controller's at registration; then
/// the controller unfences it, the client listeners start accepting (as Kafka enables request
/// processing only after the initial catch-up: a restarted broker must not answer Metadata from the
/// image it recovered from disk, which may still name it leader of partitions that moved while it was
/// down), and stray logs (of topics deleted while it was away) are removed.</para>
/// <para>Stop (<see cref="StopAsync"/>, SIGTERM): controlled shutdown first (the controller moves
/// leadership away and answers when done, bounded by <c>broker.session.timeout.ms</c>), then the
/// listeners close, replication stops, the logs are flushed and closed, and last the controller
/// (combined) or the observer.</para>
/// </remarks>
public sealed class BrokerServer : IAsyncDisposable
{
    private readonly ServerConfig _config;
    private readonly Action<string> _output;
    private readonly ControllerServer? _controller;
    private readonly MetadataObserver? _observer;
    private readonly BrokerMetadataPump _pump;
    private readonly LogManager _logs;
    private readonly NetworkControllerChannel _controllerChannel;
    private readonly InterBrokerChannel _fetchClient;
    private readonly ReplicaManager _replicas;
    private readonly KafkaServer _network;
    private readonly BrokerLifecycleManager _lifecycle;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _stop;
    private Task _watcher = Task.CompletedTask;
    private GroupCoordinator? _groups;
    private TransactionCoordinator? _transactions;
    private CoordinatorRuntime<TransactionStateShard>? _transactionRuntime;
    private InterBrokerChannel? _interBroker;

    private BrokerServer(ServerConfig config, string clusterId, Action<string> output, ControllerServer? controller, MetadataObserver? observer,
        BrokerMetadataPump pump, LogManager logs, NetworkControllerChannel controllerChannel, InterBrokerChannel fetchClient,
        ReplicaManager replicas, KafkaServer network, BrokerLifecycleManager lifecycle, BrokerMetadataApis apis)
    {
        _config = config;
        ClusterId = clusterId;
        _output = output;
        _controller = controller;
        _observer = observer;
        _pump = pump;
        _logs = logs;
        _controllerChannel = controllerChannel;
        _fetchClient = fetchClient;
        _replicas = replicas;
        _network = network;
        _lifecycle = lifecycle;
        Apis = apis;
    }

    public int NodeId => _config.NodeId;
    public string ClusterId { get; }

    /// <summary>The controller of a combined node; null for a broker-only node.</summary>
    public ControllerServer? Controller => _controller;

    public ReplicaManager Replicas => _replicas;
    public BrokerMetadataApis Apis { get; }

    /// <summary>The classic group coordinator (<c>__consumer_offsets</c>).</summary>
    public GroupCoordinator? Groups => _groups;

    /// <summary>The transaction coordinator (its state: the <c>__transaction_state</c> partitions this broker leads).</summary>
    public TransactionCoordinator? Transactions => _transactions;
    public BrokerLifecycleManager Lifecycle => _lifecycle;

    /// <summary>The broker's current metadata image.</summary>
    public MetadataImage Image => _pump.Image;

    /// <summary>The offset of the last metadata record the broker has applied.</summary>
    public long AppliedMetadataOffset => _pump.AppliedOffset;

    /// <summary>Completes when the node has stopped (by <see cref="StopAsync"/> or a fault).</summary>
    public Task Completion => _completion.Task;

    /// <summary>Why the node stopped by itself, if it did.</summary>
    public Exception? Fault { get; private set; }

    /// <summary>Where a client listener is bound (its real port when the config said 0).</summary>
    public IPEndPoint BoundEndpoint(string listenerName) => _network.BoundEndpoint(listenerName);

    /// <summary>Checks, opens and starts a broker (or combined) node; throws as <see cref="ControllerServer.Start"/> does.</summary>
    public static BrokerServer Start(ServerConfig config, Action<string>? output = null, Action<string>? trace = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        output ??= _ => { };
        if (!config.IsBroker) throw new ServerNotSupportedException($"{K.ProcessRoles} has no broker role");
        var storage = StorageCheck.Verify(config);
        var disposables = new Stack<object>();
        try
        {
            var cache = new MetadataCache();
            var loader = new MetadataLoader([cache]);
            var pump = new BrokerMetadataPump(config.NodeId, loader, output);
            disposables.Push(pump);

            ControllerServer? controller = null;
            MetadataObserver? observer = null;
            Func<(int Id, string Host, int Port)?> activeController;
            if (config.IsController)
            {
                controller = ControllerServer.Start(config, output, trace, pump.Enqueue);
                disposables.Push(controller);
                var voters = config.QuorumVoters.ToDictionary(v => v.NodeId, v => (v.Address.Host, v.Address.Port));
                var self = ControllerServer.VoterEndpoint(config, controller.BoundPort);
                activeController = () => controller.LeaderId is not { } leader ? null
                    : leader == config.NodeId ? (leader, self.Host, self.Port)
                    : voters.TryGetValue(leader, out var a) ? (leader, a.Host, a.Port)
                    : controller.Voters?.Voters.FirstOrDefault(v => v.Id == leader)?.Endpoints.FirstOrDefault() is { } e ? (leader, e.Host, e.Port)
                    : null;
            }
            else
            {
                observer = MetadataObserver.Start(config, storage.ClusterId, pump.Enqueue, trace, output);
                disposables.Push(observer);
                output(observer.RecoveredEndOffset > 0
                    ? $"metadata: broker {config.NodeId} has the metadata log up to offset {observer.RecoveredEndOffset} on disk; fetching only what follows from the quorum"
                    : $"metadata: broker {config.NodeId} has no metadata log yet; fetching it from the quorum");
                activeController = observer.ActiveController;
            }

            var logs = new LogManager(config.LogDirs, config.LogDefaults, _ => null, SystemClock.Instance, trace);
            logs.Start();
            disposables.Push(logs);

            var channel = new NetworkControllerChannel(activeController, $"fjord-broker-{config.NodeId}", Math.Max(config.QuorumRetryBackoffMs, 20), trace);
            disposables.Push(channel);
            var fetchClient = new InterBrokerChannel(config.NodeId, config.InterBrokerListenerName, () => cache.Current, "fjord-replica-fetcher", log: trace);
            disposables.Push(fetchClient);
            var replicas = new ReplicaManager(config.NodeId, logs, channel, fetchClient, new ReplicaManagerOptions
            {
                ReplicaLagTimeMaxMs = config.ReplicaLagTimeMaxMs,
                ReplicaFetchBackoffMs = config.ReplicaFetchBackoffMs,
                ReplicaFetchWaitMaxMs = config.ReplicaFetchWaitMaxMs,
                ReplicaFetchMaxBytes = config.ReplicaFetchMaxBytes,
                DefaultMinInsyncReplicas = config.MinInSyncReplicas,
                DefaultLogConfig = config.LogDefaults,
            }.WithServerProperties(config.Originals), SystemClock.Instance, output);
            disposables.Push(replicas);
            // Not before the image is at least as new as this incarnation's registration: see
            // BrokerMetadataPump.InstallWhenCaughtUp (the lifecycle manager is created below).
            BrokerLifecycleManager? lifecycleForPump = null;
            // The group coordinator follows leadership of __consumer_offsets: after the replica manager.
            var groups = new GroupCoordinator(GroupCoordinatorConfig.FromProperties(config.Originals, config.OffsetsTopicReplicationFactor),
                replicas, channel, () => cache.Current, SystemClock.Instance, output);
            disposables.Push(groups);
            // The transaction coordinator follows leadership of __transaction_state the same way; its
            // markers go to partition leaders in process (this broker) or over the inter-broker listener.
            Func<CancellationToken, Task<long>>? nextProducerId = null;
            var interBroker = new InterBrokerChannel(config.NodeId, config.InterBrokerListenerName, () => cache.Current, "fjord-txn-markers", log: trace);
            disposables.Push(interBroker);
            CoordinatorRuntime<TransactionStateShard>? transactionRuntime = null;
            var transactions = new TransactionCoordinator(TransactionCoordinatorOptions.FromProperties(config.Originals),
                new RuntimeTransactionLogAppender(() => transactionRuntime),
                new TxnMarkerSender(config.NodeId, () => cache.Current, replicas, interBroker.WriteTxnMarkersAsync, output),
                ct => nextProducerId is null ? Task.FromResult(-1L) : nextProducerId(ct), SystemClock.Instance,
                tp => cache.Current.Topics.Topic(tp.Topic)?.Partition(tp.Partition) is not null, output);
            disposables.Push(transactions);
            transactionRuntime = new CoordinatorRuntime<TransactionStateShard>(
                TransactionStateShard.RuntimeOptions(transactions.Options.TransactionStateLogPartitions, config.TransactionStateLogReplicationFactor,
                    config.TransactionStateLogMinIsr),
                replicas, channel, () => cache.Current, (partition, epoch) => new TransactionStateShard(transactions, partition, epoch),
                SystemClock.Instance, output);
            disposables.Push(transactionRuntime);
            groups.TransactionLocator = transactionRuntime;
            pump.InstallWhenCaughtUp(new Fjord.Broker.Coordinator.ChainedPublisher(replicas, groups.Runtime, transactionRuntime),
                () => lifecycleForPump?.BrokerEpoch ?? -1);

            var apis = new BrokerMetadataApis(new BrokerApiOptions
            {
                NodeId = config.NodeId,
                ClusterId = storage.ClusterId,
                AutoCreateTopicsEnable = config.AutoCreateTopicsEnable,
                NumPartitions = config.NumPartitions,
                DefaultReplicationFactor = checked((short)config.DefaultReplicationFactor),
                StaticConfigs = config.Originals,
            }, () => cache.Current, channel);

            BrokerLifecycleManager? lifecycle = null;
            var producerIds = new ProducerIdManager(config.NodeId, () => lifecycle?.BrokerEpoch ?? -1, channel);
            nextProducerId = producerIds.NextProducerIdAsync;
            transactions.Start();
            var registry = BrokerApiRegistry.Create(replicas, apis, new AdminForwarding(channel), producerIds, channel,
                new FetchSessionCache(), () => cache.Current, groups, transactions);

            var clientListeners = config.Listeners.Where(l => !config.ControllerListenerNames.Contains(l.Name)).ToList();
            var network = new KafkaServer(
                clientListeners.Select(l => new NetworkListener(l.Name, new IPEndPoint(ControllerServer.ResolveListenAddress(l), l.Port))),
                registry, new NetworkOptions
                {
                    SocketRequestMaxBytes = config.SocketRequestMaxBytes,
                    ConnectionsMaxIdleMs = config.ConnectionsMaxIdleMs,
                    Log = line => output($"network: {line}"),
                });
            try
            {
                network.Bind(); // accepting starts once unfenced (WatchAsync): no client sees the image before it has caught up
            }
            catch (SocketException e)
            {
                throw new ServerStartException($"cannot listen on {string.Join(", ", clientListeners)}: {e.Message}", e);
            }
            disposables.Push(network);

            var advertised = config.AdvertisedBrokerListeners.Select(l =>
            {
                int port = l.Port == 0 ? network.BoundEndpoint(l.Name).Port : l.Port;
                string host = l.Host is "" or "0.0.0.0" or "::" ? "localhost" : l.Host;
                return new Endpoint(l.Name, host, checked((ushort)port), (short)l.SecurityProtocol);
            }).ToList();
            lifecycle = new BrokerLifecycleManager(new BrokerLifecycleOptions
            {
                NodeId = config.NodeId,
                ClusterId = storage.ClusterId,
                Listeners = advertised,
                LogDirs = [.. config.LogDirs.Select(d => storage.Directories[Path.TrimEndingDirectorySeparator(Path.GetFullPath(d))].DirectoryId!.Value)],
                HeartbeatIntervalMs = config.BrokerHeartbeatIntervalMs,
            }, channel, () => pump.DeferredPublisherInstalled ? pump.AppliedOffset : -1); // caught up only once the replicas follow the image
            disposables.Push(lifecycle);
            lifecycleForPump = lifecycle;

            var server = new BrokerServer(config, storage.ClusterId, output, controller, observer, pump, logs, channel, fetchClient, replicas,
                network, lifecycle, apis);
            output($"fjord broker {config.NodeId}: listening on {string.Join(", ", advertised.Select(a => $"{a.Name}://{a.Host}:{a.Port}"))} (cluster {storage.ClusterId})");
            lifecycle.Start();
            server._groups = groups;
            server._transactions = transactions;
            server._transactionRuntime = transactionRuntime;
            server._interBroker = interBroker;
            server._watcher = Task.Run(server.WatchAsync);
            return server;
        }
        catch
        {
            while (disposables.TryPop(out var d))
            {
                try
                {
                    switch (d)
                    {
                        case IAsyncDisposable a: a.DisposeAsync().AsTask().GetAwaiter().GetResult(); break;
                        case IDisposable s: s.Dispose(); break;
                    }
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    output($"fjord broker {config.NodeId}: cleaning up after a failed start: {e.Message}");
                }
            }
            throw;
        }
    }

    /// <summary>Reports unfencing, removes stray logs once caught up, and notices faults.</summary>
    private async Task WatchAsync()
    {
        var token = _stopping.Token;
        try
        {
            await _lifecycle.WaitForUnfencedAsync(token).ConfigureAwait(false);
            _network.StartAccepting();
            _output($"fjord broker {NodeId}: unfenced at metadata offset {_pump.AppliedOffset} (broker epoch {_lifecycle.BrokerEpoch}); serving clients");
            int strays = _replicas.DeleteStrayLogs();
            if (strays > 0) _output($"fjord broker {NodeId}: deleted {strays} stray logs (their topics are gone)");
            while (!token.IsCancellationRequested)
            {
                var fault = _pump.Fault ?? _observer?.Fault ?? _controller?.Fault ?? _lifecycle.FatalError;
                if (fault is not null)
                {
                    Fault = fault;
                    _output($"fjord broker {NodeId}: stopping after a fault: {fault.Message}");
                    _ = StopAsync();
                    return;
                }
                await Task.Delay(100, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (BrokerRegistrationException e)
        {
            Fault = e;
            _output($"fjord broker {NodeId}: registration failed: {e.Message}");
            _ = StopAsync();
        }
    }

    /// <summary>Controlled shutdown, then everything closes in reverse order. Idempotent.</summary>
    public Task StopAsync()
    {
        lock (_completion)
            return _stop ??= StopCoreAsync();
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    private async Task StopCoreAsync()
    {
        try
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
            if (_config.ControlledShutdownEnable && Fault is null && !_lifecycle.IsFenced)
            {
                bool agreed = await _lifecycle.ControlledShutdownAsync(TimeSpan.FromMilliseconds(_config.BrokerSessionTimeoutMs)).ConfigureAwait(false);
                _output(agreed
                    ? $"fjord broker {NodeId}: controlled shutdown done (leadership moved away)"
                    : $"fjord broker {NodeId}: controlled shutdown not confirmed in time; stopping anyway");
            }
            await _network.StopAsync().ConfigureAwait(false);
            _groups?.Dispose();
            _transactionRuntime?.Dispose();
            if (_transactions is not null) await _transactions.DisposeAsync().ConfigureAwait(false);
            if (_interBroker is not null) await _interBroker.DisposeAsync().ConfigureAwait(false);
            await _replicas.StopAsync().ConfigureAwait(false);
            await _lifecycle.DisposeAsync().ConfigureAwait(false);
            await _fetchClient.DisposeAsync().ConfigureAwait(false);
            await _controllerChannel.DisposeAsync().ConfigureAwait(false);
            _logs.Close();
            _pump.Dispose();
            _observer?.Dispose();
            if (_controller is not null) await _controller.StopAsync().ConfigureAwait(false);
            await _watcher.ConfigureAwait(false);
            _output($"fjord broker {NodeId}: stopped");
        }
        finally
        {
            _completion.TrySetResult();
        }
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"broker {NodeId}: {_lifecycle.State}, metadata offset {_pump.AppliedOffset}");
}
