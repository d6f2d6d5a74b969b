using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Network;

/// <summary>The connection failed or was closed: every request pending on it fails with this.</summary>
public sealed class KafkaConnectionException : Exception
{
    public KafkaConnectionException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>Options of a <see cref="KafkaClientConnection"/>.</summary>
public sealed class KafkaClientOptions
{
    /// <summary>Send ApiVersions right after connecting (then <see cref="KafkaClientConnection.ApiVersions"/> is set).</summary>
    public bool NegotiateApiVersions { get; init; } = true;
    /// <summary>The largest response frame accepted; a larger size prefix fails the connection.</summary>
    public int MaxResponseBytes { get; init; } = 512 * 1024 * 1024;
    /// <summary>ApiVersions v3+ ClientSoftwareName / ClientSoftwareVersion.</summary>
    public string SoftwareName { get; init; } = "fjord";
    public string SoftwareVersion { get; init; } = "0.1.0";
    public Action<string>? Log { get; init; }
}

/// <summary>
/// A pipelined Kafka-protocol client connection (broker → controller, broker → broker): any number of
/// requests in flight, responses matched by correlation id. A failure of the connection (read or write
/// error, the peer closing, a response for an unknown correlation id, <see cref="DisposeAsync"/>) fails
/// every pending request with <see cref="KafkaConnectionException"/>, and every later send too.
/// Thread-safe. Threads: one async read loop.
/// </summary>
public sealed class KafkaClientConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly KafkaClientOptions _options;
    private readonly string _clientId;
    private readonly ConcurrentDictionary<int, Pending> _pending = new();
    private readonly ConcurrentDictionary<int, byte> _abandoned = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Task _readLoop;
    private int _nextCorrelationId;
    private Exception? _failure;

    private sealed record Pending(short ApiKey, short ApiVersion, TaskCompletionSource<IKafkaMessage> Completion);

    private KafkaClientConnection(Socket socket, string clientId, KafkaClientOptions options)
    {
        _socket = socket;
        _clientId = clientId;
        _options = options;
        RemoteEndPoint = socket.RemoteEndPoint!;
        _readLoop = Task.Run(ReadLoopAsync);
    }

    public EndPoint RemoteEndPoint { get; }
    public string ClientId => _clientId;

    /// <summary>The peer's ApiVersions answer (null when negotiation was turned off).</summary>
    public ApiVersionsResponse? ApiVersions { get; private set; }

    /// <summary>False once the connection has failed or been disposed.</summary>
    public bool IsConnected => Volatile.Read(ref _failure) is null;

    /// <summary>Why the connection failed, or null.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>Requests sent and not answered yet.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>
    /// Connects to <paramref name="host"/>:<paramref name="port"/> and (by default) negotiates versions with
    /// ApiVersions. Throws <see cref="KafkaConnectionException"/> when the connection cannot be made or the
    /// negotiation fails, <see cref="OperationCanceledException"/> when <paramref name="ct"/> fires.
    /// </summary>
    public static async Task<KafkaClientConnection> ConnectAsync(string host, int port, string clientId, CancellationToken ct, KafkaClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        options ??= new KafkaClientOptions();
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.NoDelay = true;
            await socket.ConnectAsync(host, port, ct).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new KafkaConnectionException($"cannot connect to {host}:{port}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var connection = new KafkaClientConnection(socket, clientId, options);
        if (!options.NegotiateApiVersions) return connection;
        try
        {
            connection.ApiVersions = await connection.NegotiateAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<ApiVersionsResponse> NegotiateAsync(CancellationToken ct)
    {
        short version = ApiVersionsRequest.HighestSupportedVersion;
        for (int attempt = 0; attempt < 2; attempt++)
        {
            var request = new ApiVersionsRequest { ClientSoftwareName = _options.SoftwareName, ClientSoftwareVersion = _options.SoftwareVersion };
            var response = await SendAsync<ApiVersionsResponse>(request, version, ct).ConfigureAwait(false);
            if (response.ErrorCode == (short)ErrorCode.None) return response;
            var ours = response.ApiKeys.FirstOrDefault(k => k.ApiKey == ApiVersionsRequest.ApiKey);
            if (response.ErrorCode != (short)ErrorCode.UnsupportedVersion || ours is null || ours.MaxVersion < 0)
                throw new KafkaConnectionException($"ApiVersions v{version} failed with error {response.ErrorCode}");
            version = Math.Min(ours.MaxVersion, ApiVersionsRequest.HighestSupportedVersion);
        }
        throw new KafkaConnectionException("ApiVersions negotiation did not converge");
    }

    /// <summary>
    /// The highest version of <paramref name="apiKey"/> both sides support, at most <paramref name="ourMax"/>
    /// (and at least our schema's lowest). Throws <see cref="NotSupportedException"/> when there is none or
    /// no ApiVersions answer is known.
    /// </summary>
    public short PickVersion(short apiKey, short ourMax) =>
        TryPickVersion(apiKey, KafkaApis.Find(apiKey)?.Versions.Lowest ?? 0, ourMax, out var v)
            ? v
            : throw new NotSupportedException($"no version of API key {apiKey} up to v{ourMax} is supported by {RemoteEndPoint}");

    /// <summary>The highest common version in <paramref name="ourMin"/>..<paramref name="ourMax"/> and the peer's range.</summary>
    public bool TryPickVersion(short apiKey, short ourMin, short ourMax, out short version)
    {
        version = -1;
        var theirs = ApiVersions?.ApiKeys.FirstOrDefault(k => k.ApiKey == apiKey);
        if (theirs is null) return false;
        short hi = Math.Min(ourMax, theirs.MaxVersion);
        short lo = Math.Max(ourMin, theirs.MinVersion);
        if (hi < lo) return false;
        version = hi;
        return true;
    }

    /// <summary>
    /// Sends <paramref name="request"/> at <paramref name="apiVersion"/> and returns the matching response.
    /// Cancelling <paramref name="ct"/> abandons the wait (a late response is dropped); a request already
    /// being written is written whole so the stream stays framed.
    /// </summary>
    public async Task<TResponse> SendAsync<TResponse>(IKafkaMessage request, short apiVersion, CancellationToken ct)
        where TResponse : class, IKafkaMessage
    {
        var api = ApiOf(request, apiVersion);
        if (!api.Response.ClrType.IsAssignableTo(typeof(TResponse)))
            throw new ArgumentException($"{api.Name} answers with {api.Response.ClrType.Name}, not {typeof(TResponse).Name}");
        int correlationId = NextCorrelationId();
        var frame = Encode(request, api.ApiKey, apiVersion, correlationId);
        var pending = new Pending(api.ApiKey, apiVersion, new TaskCompletionSource<IKafkaMessage>(TaskCreationOptions.RunContinuationsAsynchronously));
        _pending[correlationId] = pending;
        if (Volatile.Read(ref _failure) is { } failed)
        {
            _pending.TryRemove(correlationId, out _);
            throw Failed(failed);
        }
        using var registration = ct.CanBeCanceled
            ? ct.Register(() =>
            {
                if (!_pending.TryRemove(correlationId, out var p)) return;
                _abandoned[correlationId] = 0; // its response, if it comes, is dropped
                p.Completion.TrySetCanceled(ct);
            })
            : default;
        try
        {
            await WriteAsync(frame, ct).ConfigureAwait(false);
        }
        catch
        {
            _pending.TryRemove(correlationId, out _);
            throw;
        }
        return (TResponse)await pending.Completion.Task.ConfigureAwait(false);
    }

    /// <summary>Sends a request the peer does not answer (Produce with acks=0).</summary>
    public async Task SendWithoutResponseAsync(IKafkaMessage request, short apiVersion, CancellationToken ct)
    {
        var api = ApiOf(request, apiVersion);
        if (Volatile.Read(ref _failure) is { } failed) throw Failed(failed);
        var frame = Encode(request, api.ApiKey, apiVersion, NextCorrelationId());
        await WriteAsync(frame, ct).ConfigureAwait(false);
    }

    /// <summary>Closes the connection; pending requests fail with <see cref="KafkaConnectionException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        Fail(new KafkaConnectionException($"connection to {RemoteEndPoint} was closed by this client"));
        try { await _readLoop.ConfigureAwait(false); } catch (Exception) { }
    }

    private int NextCorrelationId() => Interlocked.Increment(ref _nextCorrelationId) & int.MaxValue;

    private static ApiDescriptor ApiOf(IKafkaMessage request, short apiVersion)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.MessageSchema.Kind != MessageKind.Request)
            throw new ArgumentException($"{request.GetType().Name} is not a request", nameof(request));
        var api = KafkaApis.Find(request.MessageApiKey) ?? throw new ArgumentException($"unknown API key {request.MessageApiKey}", nameof(request));
        if (!api.Versions.Contains(apiVersion))
            throw new ArgumentOutOfRangeException(nameof(apiVersion), $"{api.Name} has no version {apiVersion} ({api.Versions})");
        return api;
    }

    private byte[] Encode(IKafkaMessage request, short apiKey, short apiVersion, int correlationId) =>
        Frames.EncodeRequest(new RequestHeader { RequestApiKey = apiKey, RequestApiVersion = apiVersion, CorrelationId = correlationId, ClientId = _clientId }, request);

    private async Task WriteAsync(byte[] frame, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _failure) is { } failed) throw Failed(failed);
            ReadOnlyMemory<byte> rest = frame;
            while (!rest.IsEmpty)
            {
                int n = await _socket.SendAsync(rest, SocketFlags.None, CancellationToken.None).ConfigureAwait(false);
                if (n <= 0) throw new SocketException((int)SocketError.ConnectionReset);
                rest = rest[n..];
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            var failure = new KafkaConnectionException($"cannot write to {RemoteEndPoint}: {e.Message}", e);
            Fail(failure);
            throw Failed(Volatile.Read(ref _failure) ?? failure);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private static KafkaConnectionException Failed(Exception failure) =>
        failure as KafkaConnectionException ?? new KafkaConnectionException(failure.Message, failure);

    private async Task ReadLoopAsync()
    {
        using var reader = new FrameReader(_socket, _options.MaxResponseBytes);
        try
        {
            while (true)
            {
                var frame = await reader.ReadFrameAsync(CancellationToken.None).ConfigureAwait(false);
                if (frame is null)
                {
                    Fail(new KafkaConnectionException($"connection closed by {RemoteEndPoint}"));
                    return;
                }
                if (frame.Length < 4) throw new ProtocolDecodeException("ResponseHeader.CorrelationId", "frame shorter than 4 bytes");
                int correlationId = BinaryPrimitives.ReadInt32BigEndian(frame);
                if (!_pending.TryRemove(correlationId, out var pending))
                {
                    if (_abandoned.TryRemove(correlationId, out _))
                        continue; // the caller gave up waiting (cancelled)
                    throw new ProtocolDecodeException("ResponseHeader.CorrelationId", $"no request has correlation id {correlationId}");
                }
                try
                {
                    pending.Completion.TrySetResult(DecodeResponse(pending, frame));
                }
                catch (ProtocolDecodeException e)
                {
                    pending.Completion.TrySetException(e);
                }
            }
        }
        catch (Exception e)
        {
            Fail(Volatile.Read(ref _failure) ?? new KafkaConnectionException($"connection to {RemoteEndPoint} failed: {e.Message}", e));
        }
    }

    private static IKafkaMessage DecodeResponse(Pending pending, byte[] frame)
    {
        try
        {
            return Frames.DecodeResponse(pending.ApiKey, pending.ApiVersion, frame).Body;
        }
        catch (ProtocolDecodeException) when (pending.ApiKey == ApiVersionsRequest.ApiKey && pending.ApiVersion > 0)
        {
            // a peer that does not know our ApiVersions version answers at v0 (UNSUPPORTED_VERSION)
            return Frames.DecodeResponse(pending.ApiKey, 0, frame).Body;
        }
    }

    private void Fail(Exception failure)
    {
        if (Interlocked.CompareExchange(ref _failure, failure, null) is null)
        {
            _options.Log?.Invoke($"client connection to {RemoteEndPoint}: {failure.Message}");
            try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            _socket.Dispose();
        }
        var error = Failed(Volatile.Read(ref _failure)!);
        foreach (var key in _pending.Keys)
            if (_pending.TryRemove(key, out var p))
                p.Completion.TrySetException(error);
    }
}
