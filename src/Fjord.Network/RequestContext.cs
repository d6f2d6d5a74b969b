using System.Net;
using Fjord.Protocol.Messages;

namespace Fjord.Network;

/// <summary>
/// Everything a handler knows about one request besides its body: which connection and listener it
/// came on, its decoded header, and a token that fires when that connection closes (a handler waiting
/// on something, a long-poll Fetch for instance, can stop early: its answer would go nowhere).
/// </summary>
public sealed class RequestContext
{
    public RequestContext(long connectionId, string listenerName, IPEndPoint clientAddress, RequestHeader header,
        long receivedAtMs, int requestSize, CancellationToken connectionClosed)
    {
        ArgumentNullException.ThrowIfNull(listenerName);
        ArgumentNullException.ThrowIfNull(clientAddress);
        ArgumentNullException.ThrowIfNull(header);
        ConnectionId = connectionId;
        ListenerName = listenerName;
        ClientAddress = clientAddress;
        Header = header;
        ReceivedAtMs = receivedAtMs;
        RequestSize = requestSize;
        ConnectionClosed = connectionClosed;
    }

    /// <summary>Unique per server instance, increasing in accept order.</summary>
    public long ConnectionId { get; }
    public string ListenerName { get; }
    public IPEndPoint ClientAddress { get; }
    public RequestHeader Header { get; }
    public short ApiKey => Header.RequestApiKey;
    public short ApiVersion => Header.RequestApiVersion;
    public int CorrelationId => Header.CorrelationId;
    public string? ClientId => Header.ClientId;
    /// <summary>Wall-clock Unix milliseconds (<see cref="NetworkOptions.Clock"/>) when the whole frame had arrived.</summary>
    public long ReceivedAtMs { get; }
    /// <summary>The frame's size in bytes, size prefix excluded.</summary>
    public int RequestSize { get; }
    /// <summary>Fires when the connection closes (either side, idle reaping, server stop).</summary>
    public CancellationToken ConnectionClosed { get; }

    public override string ToString() =>
        $"connection {ConnectionId} ({ListenerName}, {ClientAddress}, client id '{ClientId}') api {ApiKey} v{ApiVersion} correlation {CorrelationId}";
}
