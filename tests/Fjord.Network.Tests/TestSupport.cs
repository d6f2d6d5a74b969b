using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Network.Tests;

/// <summary>A server on 127.0.0.1:0 with one listener named PLAINTEXT, collecting its log lines.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    /// <summary>Pipelining tests use ListGroups (its states filter carries a tag) as their request: it must pipeline too.</summary>
    public static readonly IReadOnlySet<short> PipelineListGroups = new HashSet<short> { ProduceRequest.ApiKey, ListGroupsRequest.ApiKey };

    public ConcurrentQueue<string> LogLines { get; } = new();
    public KafkaServer Server { get; }
    public ApiHandlerRegistry Registry { get; }
    public int Port { get; }

    public TestServer(ApiHandlerRegistry registry, NetworkOptions? options = null)
    {
        Registry = registry;
        var o = options ?? new NetworkOptions();
        var withLog = new NetworkOptions
        {
            SocketRequestMaxBytes = o.SocketRequestMaxBytes,
            ConnectionsMaxIdleMs = o.ConnectionsMaxIdleMs,
            MaxInFlightRequestsPerConnection = o.MaxInFlightRequestsPerConnection,
            ShutdownTimeout = o.ShutdownTimeout,
            UseSendFile = o.UseSendFile,
            PipelinedApiKeys = o.PipelinedApiKeys,
            Log = LogLines.Enqueue,
        };
        Server = new KafkaServer([new ListenerEndpoint("PLAINTEXT", new IPEndPoint(IPAddress.Loopback, 0))], registry, withLog);
        Server.Start();
        Port = Server.BoundEndpoint("PLAINTEXT").Port;
    }

    public Task<KafkaClientConnection> ConnectClientAsync(CancellationToken ct) =>
        KafkaClientConnection.ConnectAsync("127.0.0.1", Port, "test-client", ct);

    public async Task<RawClient> ConnectRawAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, Port);
        return new RawClient(socket);
    }

    public async ValueTask DisposeAsync() => await Server.StopAsync();
}

/// <summary>A socket speaking raw frames, to test exactly what the server writes and how it reacts to bad bytes.</summary>
internal sealed class RawClient(Socket socket) : IDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public Socket Socket { get; } = socket;

    public static byte[] Request(IKafkaMessage body, short version, int correlationId, string? clientId = "raw") =>
        Frames.EncodeRequest(new RequestHeader { RequestApiKey = body.MessageApiKey, RequestApiVersion = version, CorrelationId = correlationId, ClientId = clientId }, body);

    public Task SendAsync(byte[] bytes) => Socket.SendAsync(bytes, SocketFlags.None).WaitAsync(Timeout);

    public Task SendRequestAsync(IKafkaMessage body, short version, int correlationId) => SendAsync(Request(body, version, correlationId));

    /// <summary>The next frame (size prefix stripped), or null when the server closed the connection.</summary>
    public async Task<byte[]?> ReadFrameAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var prefix = new byte[4];
        if (!await ReadExactlyAsync(prefix, cts.Token)) return null;
        int size = BinaryPrimitives.ReadInt32BigEndian(prefix);
        var frame = new byte[size];
        if (!await ReadExactlyAsync(frame, cts.Token)) throw new EndOfStreamException("closed inside a frame");
        return frame;
    }

    public async Task<byte[]> ReadFrameOrThrowAsync() => await ReadFrameAsync() ?? throw new EndOfStreamException("the server closed the connection");

    public async Task<(ResponseHeader Header, T Body)> ReadResponseAsync<T>(short version) where T : IKafkaMessage
    {
        var frame = await ReadFrameOrThrowAsync();
        var (header, body) = Frames.DecodeResponse(((IKafkaMessage)Activator.CreateInstance(typeof(T))!).MessageApiKey, version, frame);
        return (header, (T)body);
    }

    /// <summary>True once the server has closed the connection (EOF or reset), within the timeout; fails on any data.</summary>
    public async Task<bool> IsClosedByServerAsync(TimeSpan? within = null)
    {
        using var cts = new CancellationTokenSource(within ?? Timeout);
        var buffer = new byte[1];
        try
        {
            int n = await Socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            return n == 0;
        }
        catch (SocketException)
        {
            return true; // reset
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task<bool> ReadExactlyAsync(Memory<byte> buffer, CancellationToken ct)
    {
        int filled = 0;
        while (filled < buffer.Length)
        {
            int n;
            try
            {
                n = await Socket.ReceiveAsync(buffer[filled..], SocketFlags.None, ct);
            }
            catch (SocketException)
            {
                return false;
            }
            if (n == 0)
            {
                if (filled == 0) return false;
                throw new EndOfStreamException("closed inside a frame");
            }
            filled += n;
        }
        return true;
    }

    public void Dispose() => Socket.Dispose();
}

internal static class Waits
{
    /// <summary>Waits for <paramref name="condition"/> with a deadline, polling (bounded in count and time).</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, int timeoutMs = 15_000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }

    /// <summary>A ListGroups response echoing a tag as its one group id.</summary>
    public static ListGroupsResponse Tagged(string tag)
    {
        var response = new ListGroupsResponse();
        response.Groups.Add(new ListGroupsResponse.ListedGroup { GroupId = tag, ProtocolType = "consumer" });
        return response;
    }

    public static ListGroupsRequest TaggedRequest(string tag)
    {
        var request = new ListGroupsRequest();
        request.StatesFilter.Add(tag);
        return request;
    }
}
