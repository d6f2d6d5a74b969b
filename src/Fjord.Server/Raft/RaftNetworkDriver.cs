using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;
using Fjord.Raft;

namespace Fjord.Server.Raft;

/// <summary>
/// Runs one <see cref="RaftNode"/> over real TCP with Kafka framing. The node is single-threaded:
/// only the driver's own thread touches it; sockets, proposals and readers of the snapshots talk to
/// that thread through one bounded channel. The driver is the only place that reads a clock
/// (<see cref="Environment.TickCount64"/>) for the node.
/// </summary>
/// <remarks>
/// Wire conventions:
/// <list type="bullet">
/// <item>Every request carries a Kafka <see cref="RequestHeader"/> whose <c>ClientId</c> is
/// <c>raft-&lt;sender node id&gt;</c> (e.g. <c>raft-2</c>); that is how the receiver learns the
/// RaftMessage's <c>Source</c>. A request with another client id closes its connection.</item>
/// <item>Requests go out at the highest version of their API (<c>KafkaApis.Find(key).Versions.Highest</c>);
/// responses come back on the connection the request arrived on, at the request's version.</item>
/// <item>Outbound connections are opened lazily per destination; on any failure the connection is
/// closed, its in-flight requests are forgotten (Raft retries on its own timers), and the next
/// send opens a new one. Frames above 100 MiB or that do not decode close the connection.</item>
/// </list>
/// Usage: construct (binds the listener, so <see cref="BoundPort"/> is known), then
/// <see cref="Start"/> with the voters' endpoints; <see cref="Dispose"/> stops everything.
/// </remarks>
public sealed class RaftNetworkDriver : IDisposable
{
    private const int ChannelCapacity = 4096;
    private const int MaxWaitMs = 500;

    private readonly int _nodeId;
    private readonly RaftConfig _config;
    private readonly IRaftLog _log;
    private readonly IQuorumStateStore _store;
    private readonly string _clusterId;
    private readonly Action<CommittedBatch> _onCommitted;
    private readonly Action<string> _logLine;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<object> _inbox = Channel.CreateBounded<object>(new BoundedChannelOptions(ChannelCapacity)
    { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    // Wakes the node thread without a thread-pool hop (a starved pool must not delay Raft's timers).
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly List<RaftConnection> _inbound = [];
    private readonly Dictionary<int, RaftConnection> _outbound = []; // this and the next: node thread only
    private readonly Dictionary<(int Peer, int CorrelationId), (RaftConnection Connection, short Version)> _awaitingResponse = [];
    private IReadOnlyDictionary<int, IPEndPoint> _voters = new Dictionary<int, IPEndPoint>();
    private RaftNode? _node;
    private Thread? _thread;
    private int _disposed;

    private volatile int _role = (int)RaftRole.Unattached;
    private volatile int _epoch;
    private volatile int _leaderId = -1;
    private long _highWatermark;
    private volatile Exception? _fault;

    public RaftNetworkDriver(int nodeId, IPEndPoint listenOn, RaftConfig config, IRaftLog log, IQuorumStateStore store,
        string clusterId, Action<CommittedBatch> onCommitted, Action<string>? logLine = null)
    {
        ArgumentNullException.ThrowIfNull(listenOn);
        _nodeId = nodeId;
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _clusterId = clusterId ?? throw new ArgumentNullException(nameof(clusterId));
        _onCommitted = onCommitted ?? throw new ArgumentNullException(nameof(onCommitted));
        _logLine = logLine ?? (_ => { });
        _listener = new TcpListener(listenOn);
        _listener.Start();
        BoundPort = ((IPEndPoint)_listener.LocalEndpoint).Port;
    }

    public int NodeId => _nodeId;
    public int BoundPort { get; }
    public RaftRole Role => (RaftRole)_role;
    public int Epoch => _epoch;
    public int? LeaderId => _leaderId < 0 ? null : _leaderId;
    public long HighWatermark => Interlocked.Read(ref _highWatermark);
    /// <summary>The exception that stopped the node loop (a Raft invariant violation), if any.</summary>
    public Exception? Fault => _fault;

    /// <summary>Creates the node (with the voters' ids) and starts the accept loop and the node thread.</summary>
    public void Start(IReadOnlyDictionary<int, IPEndPoint> voters)
    {
        ArgumentNullException.ThrowIfNull(voters);
        if (_thread is not null) throw new InvalidOperationException("already started");
        _voters = new Dictionary<int, IPEndPoint>(voters);
        _node = new RaftNode(_config, _nodeId, [.. voters.Keys], _log, _store, new Random(), _clusterId, Environment.TickCount64,
            line => _logLine(line));
        _ = Task.Run(AcceptLoopAsync);
        _thread = new Thread(NodeLoop) { IsBackground = true, Name = $"raft-node-{_nodeId}" };
        _thread.Start();
    }

    /// <summary>Proposes records; completes with the offset of the last one, or null when this node is not the leader.</summary>
    public async Task<long?> ProposeAsync(IReadOnlyList<byte[]> records, CancellationToken cancellationToken = default)
    {
        var proposal = new Proposal(records, new TaskCompletionSource<long?>(TaskCreationOptions.RunContinuationsAsynchronously));
        await PostAsync(proposal, cancellationToken).ConfigureAwait(false);
        return await proposal.Result.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask PostAsync(object item, CancellationToken cancellationToken)
    {
        await _inbox.Writer.WriteAsync(item, cancellationToken).ConfigureAwait(false);
        _wake.Set();
    }

    private sealed record Proposal(IReadOnlyList<byte[]> Records, TaskCompletionSource<long?> Result);
    private sealed record InboundRequest(RaftMessage Message, RaftConnection Connection, short Version);

    // ---- sockets -> inbox ----

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (Exception e) { _logLine($"raft {_nodeId}: accept failed: {e.Message}"); continue; }
            var connection = RaftConnection.Start($"{_nodeId}<-{client.Client.RemoteEndPoint}",
                _ => ValueTask.FromResult(client), OnInboundFrameAsync, _logLine, _stop.Token);
            lock (_inbound)
            {
                _inbound.RemoveAll(c => c.IsClosed);
                _inbound.Add(connection);
            }
        }
    }

    private ValueTask OnInboundFrameAsync(RaftConnection connection, byte[] frame)
    {
        var request = Frames.DecodeRequest(frame); // throws on a malformed frame: the connection closes
        var clientId = request.Header.ClientId;
        if (clientId is null || !clientId.StartsWith("raft-", StringComparison.Ordinal)
            || !int.TryParse(clientId.AsSpan(5), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int peer))
            throw new InvalidDataException($"client id '{clientId}' is not raft-<node id>");
        var message = new RaftMessage(peer, _nodeId, request.CorrelationId, true, request.Body);
        return PostAsync(new InboundRequest(message, connection, request.ApiVersion), _stop.Token);
    }

    private ValueTask OnResponseFrameAsync(int peer, RaftConnection connection, byte[] frame)
    {
        if (frame.Length < 4) throw new InvalidDataException("response frame shorter than its correlation id");
        int correlationId = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(frame);
        if (!connection.InFlight.TryRemove(correlationId, out var api))
            throw new InvalidDataException($"response with unknown correlation id {correlationId}");
        var (_, body) = Frames.DecodeResponse(api.ApiKey, api.ApiVersion, frame);
        return PostAsync(new RaftMessage(peer, _nodeId, correlationId, false, body), _stop.Token);
    }

    // ---- the node thread ----

    private void NodeLoop()
    {
        var node = _node!;
        var reader = _inbox.Reader;
        try
        {
            Publish(node);
            while (!_stop.IsCancellationRequested)
            {
                long now = Environment.TickCount64;
                if (node.NextDeadline <= now) node.Poll(now);
                Publish(node);

                long waitMs = Math.Clamp(node.NextDeadline - Environment.TickCount64, 0, MaxWaitMs);
                if (waitMs > 0) _wake.Wait((int)waitMs);
                _wake.Reset(); // before draining: an item posted after this sets it again
                while (!_stop.IsCancellationRequested && reader.TryRead(out var item))
                {
                    Process(node, item, Environment.TickCount64);
                    Publish(node);
                }
            }
        }
        catch (Exception e) when (!_stop.IsCancellationRequested)
        {
            _fault = e;
            _logLine($"raft {_nodeId}: node loop stopped: {e}");
        }
        finally
        {
            while (reader.TryRead(out var item))
                if (item is Proposal p) p.Result.TrySetCanceled(); // never answered: stopping
        }
    }

    private void Process(RaftNode node, object item, long now)
    {
        switch (item)
        {
            case InboundRequest request:
                _awaitingResponse[(request.Message.Source, request.Message.CorrelationId)] = (request.Connection, request.Version);
                node.Handle(request.Message, now);
                break;
            case RaftMessage response:
                node.Handle(response, now);
                break;
            case Proposal proposal:
                try { proposal.Result.TrySetResult(node.Propose(proposal.Records, now)); }
                catch (Exception e) { proposal.Result.TrySetException(e); }
                break;
        }
    }

    /// <summary>Sends what the node wants sent, hands committed batches to the callback, refreshes the snapshots.</summary>
    private void Publish(RaftNode node)
    {
        foreach (var message in node.DrainOutbound())
        {
            try
            {
                if (message.IsRequest) SendRequest(message);
                else SendResponse(message);
            }
            catch (Exception e) when (e is ProtocolEncodeException or InvalidOperationException or SocketException)
            {
                _logLine($"raft {_nodeId}: could not send {message}: {e.Message}");
            }
        }
        foreach (var batch in node.DrainCommitted())
        {
            try { _onCommitted(batch); }
            catch (Exception e) { _logLine($"raft {_nodeId}: commit callback failed: {e.Message}"); }
        }
        _role = (int)node.Role;
        _epoch = node.Epoch;
        _leaderId = node.LeaderId ?? -1;
        Interlocked.Exchange(ref _highWatermark, node.HighWatermark);
    }

    private void SendRequest(RaftMessage message)
    {
        if (!_voters.TryGetValue(message.Destination, out var endpoint))
        {
            _logLine($"raft {_nodeId}: no endpoint for node {message.Destination}; dropped {message}");
            return;
        }
        if (!_outbound.TryGetValue(message.Destination, out var connection) || connection.IsClosed)
        {
            int peer = message.Destination;
            connection = RaftConnection.Start($"{_nodeId}->{peer}", async ct =>
            {
                var client = new TcpClient(endpoint.AddressFamily);
                try { await client.ConnectAsync(endpoint, ct).ConfigureAwait(false); }
                catch { client.Dispose(); throw; }
                return client;
            }, (c, frame) => OnResponseFrameAsync(peer, c, frame), _logLine, _stop.Token);
            _outbound[peer] = connection;
        }
        var api = KafkaApis.Find(message.ApiKey) ?? throw new InvalidOperationException($"unknown API key {message.ApiKey}");
        short version = api.Versions.Highest;
        var header = new RequestHeader
        {
            RequestApiKey = message.ApiKey,
            RequestApiVersion = version,
            CorrelationId = message.CorrelationId,
            ClientId = $"raft-{_nodeId}",
        };
        var frame = Frames.EncodeRequest(header, message.Body);
        connection.InFlight[message.CorrelationId] = (message.ApiKey, version);
        if (!connection.Send(frame)) connection.InFlight.TryRemove(message.CorrelationId, out _);
    }

    private void SendResponse(RaftMessage message)
    {
        if (!_awaitingResponse.Remove((message.Destination, message.CorrelationId), out var target))
        {
            _logLine($"raft {_nodeId}: no connection awaits {message}; dropped");
            return;
        }
        if (target.Connection.IsClosed) return;
        target.Connection.Send(Frames.EncodeResponse(message.CorrelationId, message.ApiKey, target.Version, message.Body));
        if (_awaitingResponse.Count > 1024)
            foreach (var key in _awaitingResponse.Where(kv => kv.Value.Connection.IsClosed).Select(kv => kv.Key).ToList())
                _awaitingResponse.Remove(key);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        _inbox.Writer.TryComplete();
        _wake.Set();
        try { _listener.Stop(); } catch (SocketException) { }
        _thread?.Join();
        foreach (var connection in _outbound.Values) connection.Close();
        lock (_inbound) foreach (var connection in _inbound) connection.Close();
    }
}
