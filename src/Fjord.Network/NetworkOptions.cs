using Fjord.Common;

namespace Fjord.Network;

/// <summary>
/// Limits and knobs of the network layer. Names follow Kafka's configuration keys where one exists
/// (<c>socket.request.max.bytes</c>, <c>connections.max.idle.ms</c>).
/// </summary>
public sealed class NetworkOptions
{
    /// <summary><c>socket.request.max.bytes</c>: the largest request frame accepted (size prefix excluded).
    /// A larger or negative size closes the connection before anything of that size is allocated.</summary>
    public int SocketRequestMaxBytes { get; init; } = 104_857_600;

    /// <summary><c>connections.max.idle.ms</c>: a connection with no request in flight and no traffic for
    /// this long is closed by the reaper.</summary>
    public long ConnectionsMaxIdleMs { get; init; } = 600_000;

    /// <summary>How many requests of one connection may be decoded and not yet answered; when reached,
    /// the connection stops reading until the oldest response is written.</summary>
    public int MaxInFlightRequestsPerConnection { get; init; } = 64;

    /// <summary>How long <see cref="KafkaServer.StopAsync"/> waits for handlers still running.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Send file regions of pre-encoded responses with the kernel's sendfile (through
    /// <see cref="System.Net.Sockets.Socket.SendPacketsAsync"/>); when false, regions are read with
    /// pread into a pooled buffer and sent from there.</summary>
    public bool UseSendFile { get; init; } = true;

    /// <summary>TCP_NODELAY on accepted sockets (Kafka sets it).</summary>
    public bool TcpNoDelay { get; init; } = true;

    /// <summary>The listen backlog of each listener socket.</summary>
    public int ListenBacklog { get; init; } = 512;

    /// <summary>Where <see cref="RequestContext.ReceivedAtMs"/> comes from.</summary>
    public IClock Clock { get; init; } = SystemClock.Instance;

    /// <summary>One line per notable event (connection closed for a bad frame, unknown API, handler failure…).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>
    /// The APIs whose requests run while earlier requests of the same connection are still unanswered
    /// (ApiVersions always does). Any other request waits until every earlier one has been answered, as
    /// Kafka handles one request at a time per connection, so that its answer is never computed before
    /// the state the earlier ones wait for (a Metadata answer held behind a slow acks=all Produce would be
    /// stale when it leaves). Default: Produce — appends start in request order and each answer is about
    /// its own batches.
    /// </summary>
    public IReadOnlySet<short> PipelinedApiKeys { get; init; } = new HashSet<short> { Fjord.Protocol.Messages.ProduceRequest.ApiKey };

    internal void Validate()
    {
        if (SocketRequestMaxBytes <= 0) throw new ArgumentOutOfRangeException(nameof(SocketRequestMaxBytes), "must be positive");
        if (ConnectionsMaxIdleMs <= 0) throw new ArgumentOutOfRangeException(nameof(ConnectionsMaxIdleMs), "must be positive");
        if (MaxInFlightRequestsPerConnection <= 0) throw new ArgumentOutOfRangeException(nameof(MaxInFlightRequestsPerConnection), "must be positive");
    }
}
