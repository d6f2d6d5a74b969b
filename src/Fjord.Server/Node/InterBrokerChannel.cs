using Fjord.Broker.Replication;
using Fjord.Metadata;
using Fjord.Network;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Server.Node;

/// <summary>
/// Requests from this broker to another broker's <c>inter.broker.listener.name</c> endpoint (as the
/// metadata image registers it), one connection per broker, reconnecting after a failure (to a new
/// address if the broker re-registered with one). Every call is bounded by <paramref name="timeout"/>.
/// Used twice, each instance with connections of its own: by the replica fetchers (as their
/// <see cref="IReplicaFetchClient"/>) and by the transaction coordinator for WriteTxnMarkers — so a
/// marker never waits behind a follower's long-polling fetch on the same pipelined connection.
/// </summary>
public sealed class InterBrokerChannel(int nodeId, string interBrokerListener, Func<MetadataImage> image, string clientIdPrefix,
    TimeSpan? timeout = null, Action<string>? log = null) : IReplicaFetchClient, IAsyncDisposable
{
    private readonly Dictionary<int, (string Host, int Port, Task<KafkaClientConnection> Connection)> _connections = [];
    private readonly Action<string> _log = log ?? (_ => { });
    private readonly TimeSpan _timeout = timeout ?? TimeSpan.FromSeconds(30);

    /// <summary>A follower's fetch from the leader <paramref name="leaderId"/>.</summary>
    public Task<FetchResponse> FetchAsync(int leaderId, FetchRequest request, short version, CancellationToken cancellationToken) =>
        SendAsync<FetchResponse>(leaderId, request, version, cancellationToken);

    /// <summary>WriteTxnMarkers v1 to <paramref name="brokerId"/>.</summary>
    public Task<WriteTxnMarkersResponse> WriteTxnMarkersAsync(int brokerId, WriteTxnMarkersRequest request, CancellationToken cancellationToken) =>
        SendAsync<WriteTxnMarkersResponse>(brokerId, request, 1, cancellationToken);

    public async Task<TResponse> SendAsync<TResponse>(int brokerId, IKafkaMessage request, short version, CancellationToken cancellationToken)
        where TResponse : class, IKafkaMessage<TResponse>
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(_timeout);
        var connection = ConnectionTo(brokerId);
        try
        {
            var open = await connection.WaitAsync(bounded.Token).ConfigureAwait(false);
            return await open.SendAsync<TResponse>(request, version, bounded.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KafkaConnectionException or System.Net.Sockets.SocketException or IOException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            Drop(brokerId, connection);
            throw;
        }
    }

    private Task<KafkaClientConnection> ConnectionTo(int brokerId)
    {
        var endpoint = image().Cluster.Broker(brokerId)?.Listener(interBrokerListener)
            ?? throw new KafkaConnectionException($"broker {brokerId} has no registered {interBrokerListener} endpoint");
        lock (_connections)
        {
            if (_connections.TryGetValue(brokerId, out var known) && known.Host == endpoint.Host && known.Port == endpoint.Port
                && !known.Connection.IsFaulted && !known.Connection.IsCanceled
                && !(known.Connection.IsCompletedSuccessfully && !known.Connection.Result.IsConnected))
                return known.Connection;
            if (_connections.Remove(brokerId, out var stale)) Dispose(stale.Connection);
            _log($"{clientIdPrefix}: connecting to broker {brokerId} at {endpoint.Host}:{endpoint.Port}");
            var connecting = KafkaClientConnection.ConnectAsync(endpoint.Host, endpoint.Port, $"{clientIdPrefix}-{nodeId}", CancellationToken.None);
            _connections[brokerId] = (endpoint.Host, endpoint.Port, connecting);
            return connecting;
        }
    }

    private void Drop(int brokerId, Task<KafkaClientConnection> connection)
    {
        lock (_connections)
        {
            if (_connections.TryGetValue(brokerId, out var known) && known.Connection == connection)
                _connections.Remove(brokerId);
        }
        Dispose(connection);
    }

    private static void Dispose(Task<KafkaClientConnection> connection) =>
        _ = connection.ContinueWith(t => { if (t.IsCompletedSuccessfully) _ = t.Result.DisposeAsync(); }, TaskScheduler.Default);

    public async ValueTask DisposeAsync()
    {
        List<Task<KafkaClientConnection>> all;
        lock (_connections)
        {
            all = [.. _connections.Values.Select(c => c.Connection)];
            _connections.Clear();
        }
        foreach (var task in all)
        {
            try { await (await task.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false); }
            catch (Exception e) when (e is KafkaConnectionException or System.Net.Sockets.SocketException or IOException or OperationCanceledException) { }
        }
    }
}
