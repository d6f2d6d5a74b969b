using Fjord.Broker;
using Fjord.Common;
using Fjord.Network;
using Fjord.Protocol;

namespace Fjord.Server.Node;

/// <summary>
/// <see cref="IControllerChannel"/> over the controller listener: requests go to the controller
/// <paramref name="activeController"/> names (this node's view of the Raft leader and its endpoint),
/// on one pipelined connection per controller. A request answered NOT_CONTROLLER anywhere in its
/// response, or lost with its connection, is sent again — to the controller known then — after
/// <paramref name="retryBackoffMs"/>, until the caller's timeout; then <see cref="TimeoutException"/>.
/// </summary>
/// <remarks>
/// Resending is safe for what brokers send (registrations and heartbeats carry epochs and
/// incarnation ids; admin requests are validated against the state they reach; a CreateTopics
/// resent after a lost answer reports TOPIC_ALREADY_EXISTS, as with Kafka).
/// </remarks>
public sealed class NetworkControllerChannel(
    Func<(int Id, string Host, int Port)?> activeController,
    string clientId,
    int retryBackoffMs,
    Action<string>? log = null) : IControllerChannel, IAsyncDisposable
{
    private readonly Dictionary<(string Host, int Port), Task<KafkaClientConnection>> _connections = [];
    private readonly Action<string> _log = log ?? (_ => { });
    private int _disposed;

    public async Task<TResponse> SendAsync<TResponse>(IKafkaMessage request, short apiVersion, TimeSpan timeout, CancellationToken cancellationToken = default)
        where TResponse : IKafkaMessage
    {
        ArgumentNullException.ThrowIfNull(request);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        string? lastProblem = null;
        try
        {
            while (true)
            {
                ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
                if (activeController() is { } controller)
                {
                    var address = (controller.Host, controller.Port);
                    try
                    {
                        var connection = await ConnectionTo(address, deadline.Token).ConfigureAwait(false);
                        var response = (TResponse)await connection.SendAsync<IKafkaMessage>(request, apiVersion, deadline.Token).ConfigureAwait(false);
                        if (!ResponseErrors.Contains(response, apiVersion, ErrorCode.NotController)) return response;
                        lastProblem = $"controller {controller.Id} answered NOT_CONTROLLER";
                    }
                    catch (Exception e) when (e is KafkaConnectionException or System.Net.Sockets.SocketException or IOException)
                    {
                        lastProblem = $"controller {controller.Id} at {controller.Host}:{controller.Port}: {e.Message}";
                        Forget(address);
                    }
                }
                else
                {
                    lastProblem = "no active controller known";
                }
                await Task.Delay(retryBackoffMs, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{request.GetType().Name} got no answer from an active controller within {timeout.TotalMilliseconds:0} ms ({lastProblem ?? "no attempt"})");
        }
    }

    private Task<KafkaClientConnection> ConnectionTo((string Host, int Port) address, CancellationToken token)
    {
        lock (_connections)
        {
            if (_connections.TryGetValue(address, out var existing)
                && !(existing.IsCompletedSuccessfully && !existing.Result.IsConnected) && !existing.IsFaulted && !existing.IsCanceled)
                return existing;
            var connecting = KafkaClientConnection.ConnectAsync(address.Host, address.Port, clientId, CancellationToken.None);
            _connections[address] = connecting;
            _log($"controller channel: connecting to {address.Host}:{address.Port}");
            return connecting.WaitAsync(token);
        }
    }

    private void Forget((string Host, int Port) address)
    {
        Task<KafkaClientConnection>? dropped;
        lock (_connections)
            if (_connections.Remove(address, out dropped) is false) return;
        _ = dropped!.ContinueWith(t => { if (t.IsCompletedSuccessfully) _ = t.Result.DisposeAsync(); }, TaskScheduler.Default);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        List<Task<KafkaClientConnection>> all;
        lock (_connections)
        {
            all = [.. _connections.Values];
            _connections.Clear();
        }
        foreach (var task in all)
        {
            try { await (await task.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false); }
            catch (Exception e) when (e is KafkaConnectionException or System.Net.Sockets.SocketException or IOException or OperationCanceledException) { }
        }
    }
}
