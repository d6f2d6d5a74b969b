using System.Buffers.Binary;
using System.Net.Sockets;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Cli;

/// <summary>A request could not be sent or answered: the connection failed, closed, or timed out.</summary>
public sealed class KafkaClientException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The smallest Kafka client the tools need: one TCP connection, one request at a time (send, then
/// read its answer), Kafka framing and headers, correlation ids checked. Not thread-safe.
/// </summary>
public sealed class KafkaClient : IDisposable
{
    private const int MaxResponseBytes = 100 * 1024 * 1024;

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly TimeSpan _timeout;
    private int _nextCorrelationId = 1;

    private KafkaClient(string host, int port, string clientId, TcpClient tcp, TimeSpan timeout)
    {
        Host = host;
        Port = port;
        ClientId = clientId;
        _tcp = tcp;
        _stream = tcp.GetStream();
        _timeout = timeout;
    }

    public string Host { get; }
    public int Port { get; }
    public string ClientId { get; }
    public string Address => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>Opens a connection; <paramref name="timeout"/> bounds the connect and each later request.</summary>
    public static async Task<KafkaClient> ConnectAsync(string host, int port, string clientId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(timeout);
            await tcp.ConnectAsync(host, port, cts.Token).ConfigureAwait(false);
            return new KafkaClient(host, port, clientId, tcp, timeout);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            tcp.Dispose();
            string address = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";
            throw new KafkaClientException(e is OperationCanceledException
                ? $"cannot connect to {address}: no answer within {timeout.TotalMilliseconds:0} ms"
                : $"cannot connect to {address}: {e.Message}", e);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="request"/> at <paramref name="version"/> and returns the answer.</summary>
    public async Task<TResponse> SendAsync<TResponse>(IKafkaMessage request, short version, CancellationToken cancellationToken = default)
        where TResponse : class, IKafkaMessage
    {
        var body = await SendAsync(request, version, cancellationToken).ConfigureAwait(false);
        return body as TResponse ?? throw new KafkaClientException($"{Address} answered {request.GetType().Name} with {body.GetType().Name}");
    }

    /// <summary>Sends <paramref name="request"/> at <paramref name="version"/> and returns the decoded answer.</summary>
    public async Task<IKafkaMessage> SendAsync(IKafkaMessage request, short version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        short apiKey = request.MessageApiKey;
        int correlationId = _nextCorrelationId++;
        var header = new RequestHeader { RequestApiKey = apiKey, RequestApiVersion = version, CorrelationId = correlationId, ClientId = ClientId };
        var frame = Frames.EncodeRequest(header, request);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(_timeout);
        try
        {
            await _stream.WriteAsync(frame, cts.Token).ConfigureAwait(false);
            var response = await ReadFrameAsync(cts.Token).ConfigureAwait(false)
                ?? throw new KafkaClientException($"{Address} closed the connection instead of answering {request.GetType().Name} v{version}");
            var (responseHeader, body) = Frames.DecodeResponse(apiKey, apiKey == ApiVersionsRequest.ApiKey ? ApiVersionsAnswerVersion(response, version) : version, response);
            if (responseHeader.CorrelationId != correlationId)
                throw new KafkaClientException($"{Address} answered correlation id {responseHeader.CorrelationId}, expected {correlationId}");
            return body;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new KafkaClientException($"{Address} did not answer {request.GetType().Name} v{version} within {_timeout.TotalMilliseconds:0} ms");
        }
        catch (Exception e) when (e is IOException or SocketException or ProtocolDecodeException)
        {
            throw new KafkaClientException($"{request.GetType().Name} v{version} to {Address} failed: {e.Message}", e);
        }
    }

    /// <summary>
    /// An ApiVersions answer to a version the server does not know comes back at v0 with
    /// UNSUPPORTED_VERSION (error code first in every version): read it at v0 then.
    /// </summary>
    private static short ApiVersionsAnswerVersion(byte[] response, short asked) =>
        response.Length >= 6 && BinaryPrimitives.ReadInt16BigEndian(response.AsSpan(4)) == (short)Fjord.Common.ErrorCode.UnsupportedVersion ? (short)0 : asked;

    /// <summary>Reads one response frame (without its size prefix); null when the server closed the connection first.</summary>
    private async Task<byte[]?> ReadFrameAsync(CancellationToken cancellationToken)
    {
        var prefix = new byte[Frames.SizePrefixBytes];
        int got = await _stream.ReadAtLeastAsync(prefix, prefix.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (got == 0) return null;
        if (got < prefix.Length) throw new IOException("the connection closed inside a frame's size");
        var frame = new byte[Frames.ReadSize(prefix, MaxResponseBytes)];
        await _stream.ReadExactlyAsync(frame, cancellationToken).ConfigureAwait(false);
        return frame;
    }

    public void Dispose()
    {
        _stream.Dispose();
        _tcp.Dispose();
    }
}
