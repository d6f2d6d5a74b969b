using System.Net.Sockets;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;
using Fjord.Raft;

namespace Fjord.Server.Raft;

/// <summary>The driver's wire side: accepting connections, turning inbound frames into work for the
/// node (or answering them beside it), and sending what the node wants sent to the right peer.
/// The conventions are in the remarks on <see cref="RaftNetworkDriver"/>.</summary>
public sealed partial class RaftNetworkDriver
{
    // ---- sockets -> inbox ----

    private async Task AcceptLoopAsync(TcpListener listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (Exception e) { _logLine($"raft {_nodeId}: accept failed: {e.Message}"); continue; }
            int clientSource = Interlocked.Decrement(ref _lastClientSource);
            var connection = RaftConnection.Start($"{_nodeId}<-{socket.RemoteEndPoint}",
                _ => socket, (c, frame) => OnInboundFrame(c, frame, clientSource), _logLine, _stop.Token);
            lock (_inbound)
            {
                _inbound.RemoveAll(c => c.IsClosed);
                _inbound.Add(connection);
            }
        }
    }

    /// <summary>
    /// One request frame from an inbound connection; throwing closes that connection (malformed
    /// bytes, an API not served here, a Raft RPC without a raft-&lt;id&gt; client id).
    /// <paramref name="clientSource"/> is the connection's pseudo source id for non-Raft requests.
    /// Every request but a Raft RPC takes its place in the connection's answer order here, as it is
    /// read (<see cref="RaftConnection.ReserveAnswer"/>), so answers leave in request order whenever
    /// they are ready: ApiVersions at once, the node's and the listener's in a round of the node,
    /// the <see cref="RequestHandler"/>'s when its task completes (a controller write: at commit).
    /// </summary>
    private void OnInboundFrame(RaftConnection connection, byte[] frame, int clientSource)
    {
        var (apiKey, _) = Frames.PeekApi(frame);
        var handler = RequestHandler;
        var kind = ControllerListenerApis.Classify(apiKey, handler);
        if (kind == ControllerListenerApi.ApiVersions)
        {
            var answer = ControllerListenerApis.AnswerApiVersions(frame, handler); // also answers versions newer than ours
            connection.CompleteAnswer(connection.ReserveAnswer(), answer);
            return;
        }
        var request = Frames.DecodeRequest(frame); // throws on a malformed frame: the connection closes
        switch (kind)
        {
            case ControllerListenerApi.Raft:
                var clientId = request.Header.ClientId;
                if (clientId is null || !clientId.StartsWith("raft-", StringComparison.Ordinal)
                    || !int.TryParse(clientId.AsSpan(5), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int peer)
                    || peer < 0)
                    throw new InvalidDataException($"{request.Api.Name} from client id '{clientId}': Raft RPCs are accepted only from raft-<node id>");
                Submit(new InboundRequest(new RaftMessage(peer, _nodeId, request.CorrelationId, true, request.Body), connection, request.ApiVersion, null));
                return;
            case ControllerListenerApi.DescribeQuorum:
            case ControllerListenerApi.VoterChange:
                Submit(new InboundRequest(new RaftMessage(clientSource, _nodeId, request.CorrelationId, true, request.Body), connection, request.ApiVersion,
                    connection.ReserveAnswer()));
                return;
            case ControllerListenerApi.DescribeCluster:
                var describe = (DescribeClusterRequest)request.Body;
                Submit(new ListenerRequest(connection, connection.ReserveAnswer(), () => Frames.EncodeResponse(request.CorrelationId, request.Api.ApiKey, request.ApiVersion,
                    ControllerListenerApis.DescribeCluster(describe, _clusterId, _node?.LeaderId, DescribedControllers()))));
                return;
            case ControllerListenerApi.Application:
                AnswerApplication(connection, request, handler!);
                return;
            default:
                throw new InvalidDataException($"{request.Api.Name} (API key {apiKey}) from client id '{request.Header.ClientId}' is not served on the controller listener");
        }
    }

    /// <summary>
    /// On the connection's thread: hands a request of the <see cref="RequestHandler"/>'s APIs over
    /// (not through the node: the application does its own ordering) and, when its task completes,
    /// puts the encoded answer in the place the request took. A task that fails or yields nothing,
    /// or an answer that cannot be encoded, closes the connection (logged); nothing reaches the node.
    /// </summary>
    private void AnswerApplication(RaftConnection connection, DecodedRequest request, IControllerRequestHandler handler)
    {
        var place = connection.ReserveAnswer();
        Task<IKafkaMessage> task;
        try
        {
            task = handler.HandleAsync(request.Body, new ControllerRequestContext(request.Header.ClientId, request.ApiVersion, request.CorrelationId, connection.Name));
        }
#pragma warning disable CA1031 // the application's failure closes this connection, never the listener
        catch (Exception e)
#pragma warning restore CA1031
        {
            task = Task.FromException<IKafkaMessage>(e);
        }
        if (task.IsCompleted) CompleteApplicationAnswer(connection, place, request, task);
        else task.ContinueWith(t => CompleteApplicationAnswer(connection, place, request, t), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void CompleteApplicationAnswer(RaftConnection connection, RaftConnection.PendingAnswer place, DecodedRequest request, Task<IKafkaMessage> task)
    {
        string? failure = null;
        byte[]? frame = null;
        if (task.IsCompletedSuccessfully && task.Result is { } body)
        {
            try { frame = Frames.EncodeResponse(request.CorrelationId, request.Api.ApiKey, request.ApiVersion, body); }
            catch (Exception e) when (e is ProtocolEncodeException or InvalidOperationException or ArgumentException or InvalidCastException) { failure = e.Message; }
        }
        else failure = task.IsCanceled ? "cancelled" : task.Exception?.GetBaseException().Message ?? "no answer";
        if (failure is not null)
        {
            // Closed first, so that no later answer leaves in place of this one.
            if (!connection.IsClosed) _logLine($"raft {_nodeId}: closing {connection.Name}: {request.Api.Name} v{request.ApiVersion} (correlation id {request.CorrelationId}) got no answer: {failure}");
            connection.Close();
        }
        connection.CompleteAnswer(place, frame);
    }

    private void OnResponseFrame(int peer, RaftConnection connection, byte[] frame)
    {
        if (frame.Length < 4) throw new InvalidDataException("response frame shorter than its correlation id");
        int correlationId = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(frame);
        if (!connection.InFlight.TryRemove(correlationId, out var api))
            throw new InvalidDataException($"response with unknown correlation id {correlationId}");
        var (_, body) = Frames.DecodeResponse(api.ApiKey, api.ApiVersion, frame);
        Submit(new RaftMessage(peer, _nodeId, correlationId, false, body));
    }

    // ---- node -> sockets ----

    /// <summary>
    /// In a round of the node: the controllers DescribeCluster lists. Static quorum: <c>controller.quorum.voters</c>.
    /// Dynamic quorum: the voter set in force here, each voter at its endpoint on our listener name
    /// (else its first), and the leader too when it is not in the set (it may have removed itself
    /// and still lead until that commits) and its endpoint is known, so clients can find it.
    /// </summary>
    private ControllerListenerInfo DescribedControllers()
    {
        if (_membership is null || _node is not { } node) return _listenerInfo;
        var voters = new List<QuorumVoter>();
        foreach (var voter in node.Voters.Voters)
        {
            if (voter.Endpoints.Count == 0) continue;
            var e = voter.Endpoints.FirstOrDefault(x => x.Name == _listenerInfo.ListenerName) ?? voter.Endpoints[0];
            voters.Add(new QuorumVoter(voter.Id, new HostPort(e.Host, e.Port)));
        }
        if (node.LeaderId is { } leader && voters.All(v => v.NodeId != leader))
        {
            if (leader == _nodeId && _membership.LocalEndpoints is [var own, ..]) voters.Add(new QuorumVoter(leader, new HostPort(own.Host, own.Port)));
            else if (_learned.TryGetValue(leader, out var learned)) voters.Add(new QuorumVoter(leader, new HostPort(learned.Host, learned.Port)));
        }
        return _listenerInfo with { Voters = voters };
    }

    /// <summary>Endpoints announced by other nodes: the leader's in Fetch answers and BeginQuorumEpoch.</summary>
    private void Learn(RaftMessage message)
    {
        switch (message.Body)
        {
            case FetchResponse fetch:
                foreach (var e in fetch.NodeEndpoints) _learned[e.NodeId] = (e.Host, e.Port);
                break;
            case BeginQuorumEpochRequest begin when begin.LeaderEndpoints.Count > 0 && begin.Topics is [{ Partitions: [var p] }]:
                var endpoint = begin.LeaderEndpoints.FirstOrDefault(e => e.Name == _listenerInfo.ListenerName) ?? begin.LeaderEndpoints[0];
                _learned[p.LeaderId] = (endpoint.Host, endpoint.Port);
                break;
            case VoteResponse vote:
                foreach (var e in vote.NodeEndpoints) _learned[e.NodeId] = (e.Host, e.Port);
                break;
        }
    }

    /// <summary>Where a destination is: static voters, bootstrap servers, the voter set's endpoints, learned endpoints.</summary>
    private (string Host, int Port)? Resolve(int destination)
    {
        if (_voters.TryGetValue(destination, out var fixedEndpoint)) return (fixedEndpoint.Address.ToString(), fixedEndpoint.Port);
        if (_bootstrap.TryGetValue(destination, out var bootstrap)) return bootstrap;
        if (_node?.Voters.Find(destination) is { Endpoints.Count: > 0 } voter)
        {
            var e = voter.Endpoints.FirstOrDefault(x => x.Name == _listenerInfo.ListenerName) ?? voter.Endpoints[0];
            return (e.Host, e.Port);
        }
        return _learned.TryGetValue(destination, out var learned) ? learned : null;
    }

    private void SendRequest(RaftMessage message)
    {
        if (Resolve(message.Destination) is not { } endpoint)
        {
            _logLine($"raft {_nodeId}: no endpoint for node {message.Destination}; dropped {message}");
            return;
        }
        if (!_outbound.TryGetValue(message.Destination, out var connection) || connection.IsClosed)
        {
            int peer = message.Destination;
            connection = RaftConnection.Start($"{_nodeId}->{peer}", c => c.Connect(endpoint.Host, endpoint.Port),
                (c, frame) => OnResponseFrame(peer, c, frame), _logLine, _stop.Token);
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
        if (message.Body is DescribeQuorumResponse describeQuorum)
            ControllerListenerApis.Complete(describeQuorum, target.Version, _listenerInfo);
        if (target.Answer is not { } place)
        {
            target.Connection.Send(Frames.EncodeResponse(message.CorrelationId, message.ApiKey, target.Version, message.Body));
            return;
        }
        byte[]? frame = null;
        try
        {
            frame = Frames.EncodeResponse(message.CorrelationId, message.ApiKey, target.Version, message.Body);
        }
        finally
        {
            if (frame is null) target.Connection.Close(); // the caller logs why; no later answer may take this one's place
            target.Connection.CompleteAnswer(place, frame);
        }
        if (_awaitingResponse.Count > 1024)
            foreach (var key in _awaitingResponse.Where(kv => kv.Value.Connection.IsClosed).Select(kv => kv.Key).ToList())
                _awaitingResponse.Remove(key);
    }
}
