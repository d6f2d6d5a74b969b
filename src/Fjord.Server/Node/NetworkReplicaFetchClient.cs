using Fjord.Broker.Replication;
using Fjord.Metadata;
using Fjord.Network;
using Fjord.Protocol.Messages;

namespace Fjord.Server.Node;

/// <summary>
/// <see cref="IReplicaFetchClient"/> over the network: a follower's fetches go to the leader
/// broker's <c>inter.broker.listener.name</c> endpoint as the metadata image registers it, on one
/// connection per leader (the replica fetcher sends one fetch at a time to each). A failed
/// connection is dropped and the error thrown; the fetcher backs off and asks again, which
/// reconnects (to a new address if the broker re-registered with one).
/// </summary>
public sealed class NetworkReplicaFetchClient(int nodeId, string interBrokerListener, Func<MetadataImage> image, Action<string>? log = null)
    : IReplicaFetchClient, IAsyncDisposable
{
    private readonly Dictionary<int, (string Host, int Port, Task<KafkaClientConnection> Connection)> _connections = [];
    private readonly Action<string> _log = log ?? (_ => { });

    public async Task<FetchResponse> FetchAsync(int leaderId, FetchRequest request, short version, CancellationToken cancellationToken)
    {
        var connection = ConnectionTo(leaderId);
        try
        {
            var open = await connection.WaitAsync(cancellationToken).ConfigureAwait(false);
            return await open.SendAsync<FetchResponse>(request, version, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KafkaConnectionException or System.Net.Sockets.SocketException or IOException)
        {
            Drop(leaderId, connection);
            throw;
        }
    }

    private Task<KafkaClientConnection> ConnectionTo(int leaderId)
    {
        var endpoint = image().Cluster.Broker(leaderId)?.Listener(interBrokerListener)
            ?? throw new KafkaConnectionException($"broker {leaderId} has no registered {interBrokerListener} endpoint");
        lock (_connections)
        {
            if (_connections.TryGetValue(leaderId, out var known) && known.Host == endpoint.Host && known.Port == endpoint.Port
                && !known.Connection.IsFaulted && !known.Connection.IsCanceled
                && !(known.Connection.IsCompletedSuccessfully && !known.Connection.Result.IsConnected))
                return known.Connection;
            if (_connections.Remove(leaderId, out var stale)) Dispose(stale.Connection);
            _log($"replica fetcher: connecting to broker {leaderId} at {endpoint.Host}:{endpoint.Port}");
            var connecting = KafkaClientConnection.ConnectAsync(endpoint.Host, endpoint.Port, $"fjord-replica-fetcher-{nodeId}", CancellationToken.None);
            _connections[leaderId] = (endpoint.Host, endpoint.Port, connecting);
            return connecting;
        }
    }

    private void Drop(int leaderId, Task<KafkaClientConnection> connection)
    {
        lock (_connections)
        {
            if (_connections.TryGetValue(leaderId, out var known) && known.Connection == connection)
                _connections.Remove(leaderId);
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
