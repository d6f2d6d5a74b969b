using System.Text.RegularExpressions;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Server.Raft;

/// <summary>
/// How the controller listener describes the quorum to clients: the listener name the voters are
/// reached on (the first of <c>controller.listener.names</c>) and each voter's host and port as
/// <c>controller.quorum.voters</c> writes them.
/// </summary>
public sealed record ControllerListenerInfo(string ListenerName, IReadOnlyList<QuorumVoter> Voters);

/// <summary>What the driver tells a <see cref="IControllerRequestHandler"/> about a request besides its body.</summary>
/// <param name="ClientId">The header's client id (may be null).</param>
/// <param name="ApiVersion">The version the request was sent at (the answer goes out at it).</param>
/// <param name="CorrelationId">The header's correlation id.</param>
/// <param name="Connection">The connection's name, for logs.</param>
public sealed record ControllerRequestContext(string? ClientId, short ApiVersion, int CorrelationId, string Connection);

/// <summary>
/// The application behind the controller listener (the <c>QuorumController</c>, see
/// <c>ControllerServer</c>): the APIs it answers and, for a decoded request of one of them, its
/// answer. <see cref="RaftNetworkDriver"/> calls <see cref="HandleAsync"/> on the connection's
/// thread, in the order requests are read, so it must return quickly (hand the work over, return a
/// task); the task may complete on any thread and at any time (a controller write completes at
/// commit) — the answers still leave each connection in request order. A rejection (NOT_CONTROLLER,
/// a validation error) is an answer holding its error code; a task that faults, is cancelled or
/// yields null, or an answer that cannot be encoded at the request's version, closes that
/// connection only (logged).
/// </summary>
public interface IControllerRequestHandler
{
    /// <summary>The API keys answered by <see cref="HandleAsync"/>; ApiVersions lists them with our schemas'
    /// version ranges. Keys the listener serves itself (ApiVersions, Raft, quorum APIs) are ignored.</summary>
    IReadOnlyCollection<short> ApiKeys { get; }

    /// <summary>Answers <paramref name="request"/> (of one of <see cref="ApiKeys"/>) at <see cref="ControllerRequestContext.ApiVersion"/>.</summary>
    Task<IKafkaMessage> HandleAsync(IKafkaMessage request, ControllerRequestContext context);
}

/// <summary>What the controller listener does with a request, by API key.</summary>
public enum ControllerListenerApi
{
    /// <summary>Not served here: the connection is closed (Kafka's behaviour for an API a listener does not expose).</summary>
    NotServed,
    /// <summary>A Raft RPC between voters (Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch, FetchSnapshot): the
    /// sender must identify itself with the client id <c>raft-&lt;node id&gt;</c>.</summary>
    Raft,
    /// <summary>ApiVersions: answered by the listener.</summary>
    ApiVersions,
    /// <summary>DescribeQuorum: answered by the Raft node (NOT_LEADER_OR_FOLLOWER unless it leads).</summary>
    DescribeQuorum,
    /// <summary>DescribeCluster: answered by the listener from the configuration and the known leader.</summary>
    DescribeCluster,
    /// <summary>AddRaftVoter / RemoveRaftVoter (KIP-853): answered by the Raft node (the leader, once the change commits).</summary>
    VoterChange,
    /// <summary>An API of the <see cref="IControllerRequestHandler"/> (broker and admin RPCs of the controller).</summary>
    Application,
}

/// <summary>
/// The requests a controller listener answers besides the Raft RPCs themselves: ApiVersions (the
/// APIs listed are exactly the ones this listener handles — its own and those of the
/// <see cref="IControllerRequestHandler"/> — with the version ranges of our schemas),
/// DescribeCluster (controllers, EndpointType 2) and the completion of the node's DescribeQuorum
/// answer with what only the server knows (voter endpoints, wall-clock timestamps). Stateless.
/// </summary>
public static class ControllerListenerApis
{
    /// <summary>DescribeCluster's EndpointType for brokers and for controllers.</summary>
    public const sbyte BrokerEndpointType = 1;
    public const sbyte ControllerEndpointType = 2;

    /// <summary>The APIs served on the controller listener, in key order.</summary>
    public static IReadOnlyList<short> ServedApiKeys { get; } =
    [
        FetchRequest.ApiKey,
        ApiVersionsRequest.ApiKey,
        VoteRequest.ApiKey,
        BeginQuorumEpochRequest.ApiKey,
        EndQuorumEpochRequest.ApiKey,
        DescribeQuorumRequest.ApiKey,
        FetchSnapshotRequest.ApiKey,
        DescribeClusterRequest.ApiKey,
        AddRaftVoterRequest.ApiKey,
        RemoveRaftVoterRequest.ApiKey,
        UpdateRaftVoterRequest.ApiKey,
    ];

    // Kafka's rule for ApiVersions v3+ client software names and versions.
    private static readonly Regex SoftwareNameOrVersion = new("^[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?$", RegexOptions.CultureInvariant);

    public static ControllerListenerApi Classify(short apiKey) => apiKey switch
    {
        ApiVersionsRequest.ApiKey => ControllerListenerApi.ApiVersions,
        DescribeQuorumRequest.ApiKey => ControllerListenerApi.DescribeQuorum,
        DescribeClusterRequest.ApiKey => ControllerListenerApi.DescribeCluster,
        AddRaftVoterRequest.ApiKey or RemoveRaftVoterRequest.ApiKey => ControllerListenerApi.VoterChange,
        VoteRequest.ApiKey or BeginQuorumEpochRequest.ApiKey or EndQuorumEpochRequest.ApiKey or FetchRequest.ApiKey
            or FetchSnapshotRequest.ApiKey or UpdateRaftVoterRequest.ApiKey => ControllerListenerApi.Raft,
        _ => ControllerListenerApi.NotServed,
    };

    /// <summary>
    /// Like <see cref="Classify(short)"/>, with the keys of <paramref name="application"/> (if any)
    /// as <see cref="ControllerListenerApi.Application"/> when the listener does not serve them itself.
    /// </summary>
    public static ControllerListenerApi Classify(short apiKey, IControllerRequestHandler? application)
    {
        var kind = Classify(apiKey);
        return kind == ControllerListenerApi.NotServed && application is not null && application.ApiKeys.Contains(apiKey)
            ? ControllerListenerApi.Application
            : kind;
    }

    /// <summary>The ApiVersions answer listing <see cref="ServedApiKeys"/> and the keys of
    /// <paramref name="application"/> (in key order, each with our schema's version range).</summary>
    public static ApiVersionsResponse ApiVersions(IControllerRequestHandler? application = null)
    {
        var response = new ApiVersionsResponse();
        var keys = application is null ? ServedApiKeys : [.. ServedApiKeys.Union(application.ApiKeys).Order()];
        foreach (var key in keys)
        {
            var api = KafkaApis.Find(key) ?? throw new InvalidOperationException($"no schema for API key {key}");
            response.ApiKeys.Add(new ApiVersionsResponse.ApiVersion { ApiKey = key, MinVersion = api.Versions.Lowest, MaxVersion = api.Versions.Highest });
        }
        return response;
    }

    /// <summary>
    /// Answers an ApiVersions request frame (size prefix stripped), encoded with its size prefix.
    /// A version newer than ours is answered as Kafka does: at v0, UNSUPPORTED_VERSION, listing only
    /// ApiVersions' own range so that the client can retry with a version we know. A v3+ request
    /// whose client software name or version breaks Kafka's pattern gets INVALID_REQUEST. Throws
    /// <see cref="ProtocolDecodeException"/> for a frame that cannot be read (the connection closes).
    /// </summary>
    public static byte[] AnswerApiVersions(ReadOnlyMemory<byte> frame, IControllerRequestHandler? application = null)
    {
        var reader = new KafkaReader(frame);
        var (header, _, api) = Frames.DecodeRequestHeader(ref reader, frame.Span);
        short version = header.RequestApiVersion;
        if (!api.Versions.Contains(version))
        {
            var unsupported = new ApiVersionsResponse { ErrorCode = (short)ErrorCode.UnsupportedVersion };
            unsupported.ApiKeys.Add(new ApiVersionsResponse.ApiVersion
            { ApiKey = ApiVersionsRequest.ApiKey, MinVersion = api.Versions.Lowest, MaxVersion = api.Versions.Highest });
            return Frames.EncodeResponse(header.CorrelationId, ApiVersionsRequest.ApiKey, 0, unsupported);
        }
        var request = (ApiVersionsRequest)api.Request.Read(ref reader, version);
        reader.EnsureAtEnd(nameof(ApiVersionsRequest));
        var response = version >= 3 && !(SoftwareNameOrVersion.IsMatch(request.ClientSoftwareName) && SoftwareNameOrVersion.IsMatch(request.ClientSoftwareVersion))
            ? new ApiVersionsResponse { ErrorCode = (short)ErrorCode.InvalidRequest }
            : ApiVersions(application);
        return Frames.EncodeResponse(header.CorrelationId, ApiVersionsRequest.ApiKey, version, response);
    }

    /// <summary>
    /// DescribeCluster on a controller (Kafka's rule: only EndpointType 2 is served here, anything
    /// else is UNSUPPORTED_ENDPOINT_TYPE): the cluster id, the active controller (the Raft leader, or
    /// -1) and every voter as a "broker" with its host and port (<paramref name="listener"/>: from
    /// <c>controller.quorum.voters</c>, or in a dynamic quorum from the voter set in force).
    /// </summary>
    public static DescribeClusterResponse DescribeCluster(DescribeClusterRequest request, string clusterId, int? leaderId, ControllerListenerInfo listener)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(listener);
        var response = new DescribeClusterResponse { ClusterId = clusterId, EndpointType = request.EndpointType };
        if (request.EndpointType != ControllerEndpointType)
        {
            response.ErrorCode = (short)ErrorCode.UnsupportedEndpointType;
            response.ErrorMessage = $"The request was sent to an endpoint of type {EndpointTypeName(ControllerEndpointType)}, " +
                                    $"but we wanted an endpoint of type {EndpointTypeName(request.EndpointType)}";
            return response;
        }
        response.ControllerId = leaderId ?? -1;
        foreach (var voter in listener.Voters)
            response.Brokers.Add(new DescribeClusterResponse.DescribeClusterBroker
            { BrokerId = voter.NodeId, Host = voter.Address.Host, Port = voter.Address.Port });
        return response;
    }

    private static string EndpointTypeName(sbyte type) => type switch
    {
        BrokerEndpointType => "BROKER",
        ControllerEndpointType => "CONTROLLER",
        _ => "UNKNOWN",
    };

    /// <summary>
    /// Completes the node's DescribeQuorum answer before it goes out at <paramref name="version"/>:
    /// from v2 on every voter of a static quorum is listed in <c>Nodes</c> with its controller
    /// endpoint. (The node's timestamps are already Unix milliseconds: the driver's clock is.)
    /// </summary>
    public static void Complete(DescribeQuorumResponse response, short version, ControllerListenerInfo listener)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(listener);
        if (version < 2 || response.ErrorCode != 0 || response.Nodes.Count > 0) return; // a dynamic quorum's node lists them itself
        foreach (var voter in listener.Voters)
        {
            var node = new DescribeQuorumResponse.Node { NodeId = voter.NodeId };
            node.Listeners.Add(new DescribeQuorumResponse.Listener { Name = listener.ListenerName, Host = voter.Address.Host, Port = (ushort)voter.Address.Port });
            response.Nodes.Add(node);
        }
    }
}
