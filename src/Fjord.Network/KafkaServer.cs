using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Fjord.Protocol;

namespace Fjord.Network;

/// <summary>A listener: its name (as in <c>listeners</c>, e.g. PLAINTEXT) and the address to bind (port 0: any free port).</summary>
public sealed record ListenerEndpoint(string Name, IPEndPoint Endpoint);

/// <summary>
/// The Kafka-protocol TCP server: accepts on every listener, frames, decodes and dispatches requests to
/// the handlers of an <see cref="ApiHandlerRegistry"/>, answers ApiVersions itself, and writes responses
/// in request order per connection. Threads: none of its own; an accept loop per listener, a read loop
/// and a write loop per connection and the idle reaper are async loops on the thread pool.
/// </summary>
public sealed class KafkaServer : IAsyncDisposable
{
    private readonly IReadOnlyList<ListenerEndpoint> _listeners;
    private readonly NetworkOptions _options;
    private readonly Dictionary<string, Socket> _bound = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, ServerConnection> _connections = new();
    private readonly ConcurrentDictionary<Task, byte> _handlers = new();
    private readonly ConcurrentDictionary<Task, byte> _connectionLoops = new();
    private readonly List<Task> _loops = [];
    private readonly CancellationTokenSource _stopping = new();
    private long _nextConnectionId;
    private int _state; // 0 new, 1 bound (accepting once _accepting), 2 stopped
    private bool _accepting; // under _loops

    public KafkaServer(IEnumerable<ListenerEndpoint> listeners, ApiHandlerRegistry registry, NetworkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(listeners);
        ArgumentNullException.ThrowIfNull(registry);
        _listeners = listeners.ToList();
        if (_listeners.Count == 0) throw new ArgumentException("at least one listener is needed", nameof(listeners));
        var duplicate = _listeners.GroupBy(l => l.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"listener {duplicate.Key} is named twice", nameof(listeners));
        Registry = registry;
        _options = options ?? new NetworkOptions();
        _options.Validate();
    }

    public ApiHandlerRegistry Registry { get; }
    public NetworkOptions Options => _options;
    internal NetworkCounters Counters { get; } = new();

    /// <summary>The counters now.</summary>
    public NetworkStats Stats() => Counters.Snapshot();

    /// <summary>Handlers started and not yet finished, across all connections.</summary>
    public int HandlersInFlight => _handlers.Count;

    /// <summary>Binds every listener and starts accepting (<see cref="Bind"/>, then <see cref="StartAccepting"/>).</summary>
    public void Start()
    {
        Bind();
        StartAccepting();
    }

    /// <summary>
    /// Binds every listener's address (so <see cref="BoundEndpoint"/> knows a port asked as 0) without
    /// listening: until <see cref="StartAccepting"/>, a client's connect is refused, as if the server were
    /// not up yet — a broker binds early (its registration needs the port) but serves clients only once its
    /// metadata has caught up, so no client is ever answered from a stale image. A bind failure closes what
    /// was bound and throws.
    /// </summary>
    public void Bind()
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0) throw new InvalidOperationException("the server was already started");
        try
        {
            foreach (var listener in _listeners)
            {
                var socket = new Socket(listener.Endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    if (!OperatingSystem.IsWindows()) socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                    socket.Bind(listener.Endpoint);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
                lock (_bound) _bound[listener.Name] = socket;
                Log($"listener {listener.Name} bound to {socket.LocalEndPoint}");
            }
        }
        catch
        {
            lock (_bound)
            {
                foreach (var s in _bound.Values) s.Dispose();
                _bound.Clear();
            }
            Volatile.Write(ref _state, 2);
            throw;
        }
    }

    /// <summary>Listens on every bound listener and starts accepting (once; after <see cref="Bind"/>; nothing after a stop).</summary>
    public void StartAccepting()
    {
        lock (_loops)
        {
            if (Volatile.Read(ref _state) != 1 || _accepting) return;
            _accepting = true;
            foreach (var listener in _listeners)
            {
                var socket = _bound[listener.Name];
                socket.Listen(_options.ListenBacklog);
                _loops.Add(Task.Run(() => AcceptLoopAsync(listener.Name, socket)));
            }
            _loops.Add(Task.Run(ReapLoopAsync));
        }
        Log("accepting connections");
    }

    /// <summary>Whether <see cref="StartAccepting"/> has run.</summary>
    public bool Accepting
    {
        get { lock (_loops) return _accepting; }
    }

    /// <summary>The address a listener is bound to (its real port when 0 was asked).</summary>
    public IPEndPoint BoundEndpoint(string listenerName)
    {
        lock (_bound)
        {
            if (!_bound.TryGetValue(listenerName, out var socket)) throw new ArgumentException($"no bound listener {listenerName}", nameof(listenerName));
            return (IPEndPoint)socket.LocalEndPoint!;
        }
    }

    /// <summary>
    /// Stops accepting, closes every connection (their <see cref="RequestContext.ConnectionClosed"/> tokens
    /// fire) and waits up to <see cref="NetworkOptions.ShutdownTimeout"/> for the handlers still running.
    /// Idempotent.
    /// </summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) != 1) return;
        _stopping.Cancel();
        lock (_bound)
        {
            foreach (var s in _bound.Values) s.Dispose();
        }
        foreach (var connection in _connections.Values) connection.Close(null);
        Task[] loops;
        lock (_loops) loops = [.. _loops];
        var handlers = _handlers.Keys.ToArray();
        var connectionLoops = _connectionLoops.Keys.ToArray();
        try
        {
            await Task.WhenAll(loops.Concat(handlers).Concat(connectionLoops)).WaitAsync(_options.ShutdownTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log($"stopped with {_handlers.Count} handler(s) still running after {_options.ShutdownTimeout.TotalMilliseconds} ms");
        }
        catch (Exception)
        {
            // handler failures were logged by their connections
        }
        Log("server stopped");
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    internal void Log(string line)
    {
        var log = _options.Log;
        if (log is null) return;
        try { log(line); } catch (Exception) { /* a broken logger must not break the network */ }
    }

    internal Task<ApiResponse> Invoke(ApiHandler handler, RequestContext context, IKafkaMessage request)
    {
        var task = InvokeCore(handler, context, request);
        if (!task.IsCompleted)
        {
            _handlers.TryAdd(task, 0);
            task.ContinueWith(t => _handlers.TryRemove(t, out _), CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return task;

        static async Task<ApiResponse> InvokeCore(ApiHandler handler, RequestContext context, IKafkaMessage request) =>
            await handler(context, request).ConfigureAwait(false) ?? throw new InvalidOperationException("the handler returned null");
    }

    internal void ConnectionClosed(ServerConnection connection)
    {
        if (_connections.TryRemove(connection.Id, out _)) Counters.Closed();
    }

    private async Task AcceptLoopAsync(string listenerName, Socket listenSocket)
    {
        var ct = _stopping.Token;
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listenSocket.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                Log($"listener {listenerName}: accept failed: {e.SocketErrorCode} {e.Message}");
                try { await Task.Delay(50, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
                continue;
            }
            try
            {
                if (_options.TcpNoDelay) socket.NoDelay = true;
            }
            catch (SocketException)
            {
                socket.Dispose();
                continue;
            }
            var connection = new ServerConnection(this, Interlocked.Increment(ref _nextConnectionId), listenerName, socket, _options);
            _connections[connection.Id] = connection;
            Counters.Opened();
            if (ct.IsCancellationRequested) connection.Close(null); // raced with StopAsync
            var run = Task.Run(connection.RunAsync);
            _connectionLoops.TryAdd(run, 0);
            _ = run.ContinueWith(t => _connectionLoops.TryRemove(t, out _), CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task ReapLoopAsync()
    {
        long idleMs = _options.ConnectionsMaxIdleMs;
        var period = TimeSpan.FromMilliseconds(Math.Clamp(idleMs / 10, 10, 5_000));
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                long now = Environment.TickCount64;
                foreach (var connection in _connections.Values)
                    if (connection.IsIdle(now, idleMs))
                        connection.Close($"idle for more than {idleMs} ms (connections.max.idle.ms)");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
