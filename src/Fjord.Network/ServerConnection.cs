using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Network;

/// <summary>
/// One accepted connection: a read loop and a write loop, both async (no thread of their own).
/// <para>The read loop reads a frame, decodes it, and invokes the handler at once, in request order:
/// the synchronous part of a handler runs before the next request of the same connection is decoded
/// (so, for example, appends of pipelined Produce requests start in request order). The handler's
/// pending answer is queued; the write loop awaits the queue head and writes the answers strictly in
/// request order, whatever order the handlers complete in.</para>
/// <para>At most <see cref="NetworkOptions.MaxInFlightRequestsPerConnection"/> requests are between
/// "decoded" and "answered"; at the limit the read loop stops reading (TCP back-pressure).</para>
/// <para>Only the APIs of <see cref="NetworkOptions.PipelinedApiKeys"/> (Produce by default) and ApiVersions
/// are pipelined: any other request waits, before its handler runs, until every earlier request of the
/// connection has been answered (written) — as Kafka handles one request at a time per connection. Otherwise a Metadata request read behind an acks=all Produce that
/// waits seconds for its replicas would be answered from the state at the time it was read, and a
/// client would apply that stale answer after fresher ones from other brokers (librdkafka then moved a
/// partition back to a dead leader's broker and kept sending there).</para>
/// <para>Closing is idempotent and comes from either loop, the reaper or the server: the token fires,
/// the socket closes, responses not yet written are dropped (their segmented bodies released when
/// their handlers finish).</para>
/// </summary>
internal sealed class ServerConnection
{
    private readonly KafkaServer _server;
    private readonly Socket _socket;
    private readonly NetworkOptions _options;
    private readonly CancellationTokenSource _closed = new();
    private readonly SemaphoreSlim _inFlightSlots;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly SocketSender _sender;
    private int _closing;
    private int _inFlight;
    private TaskCompletionSource? _allAnswered; // set by the read loop while it waits for _inFlight to reach 0
    private long _lastActivityMs;

    private readonly record struct Pending(int CorrelationId, short ApiKey, short ApiVersion, Task<ApiResponse> Response);

    public ServerConnection(KafkaServer server, long id, string listenerName, Socket socket, NetworkOptions options)
    {
        _server = server;
        Id = id;
        ListenerName = listenerName;
        _socket = socket;
        _options = options;
        RemoteEndPoint = socket.RemoteEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.None, 0);
        _inFlightSlots = new SemaphoreSlim(options.MaxInFlightRequestsPerConnection, options.MaxInFlightRequestsPerConnection);
        _sender = new SocketSender(socket);
        _lastActivityMs = Environment.TickCount64;
    }

    public long Id { get; }
    public string ListenerName { get; }
    public IPEndPoint RemoteEndPoint { get; }
    public bool IsClosed => Volatile.Read(ref _closing) != 0;

    /// <summary>Idle: nothing in flight and no traffic for <paramref name="idleMs"/> (monotonic clock).</summary>
    public bool IsIdle(long nowMs, long idleMs) => Volatile.Read(ref _inFlight) == 0 && nowMs - Volatile.Read(ref _lastActivityMs) >= idleMs;

    private string Describe => $"connection {Id} ({ListenerName}, {RemoteEndPoint})";

    public async Task RunAsync()
    {
        var writer = Task.Run(WriteLoopAsync);
        try
        {
            await ReadLoopAsync().ConfigureAwait(false);
        }
        finally
        {
            _queue.Writer.TryComplete();
            await writer.ConfigureAwait(false);
            Close(null);
            _sender.Dispose();
        }
    }

    /// <summary>Closes the connection (idempotent); <paramref name="reason"/> is logged when not null.</summary>
    public void Close(string? reason)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0) return;
        if (reason is not null) _server.Log($"{Describe} closed: {reason}");
        try { _closed.Cancel(); } catch (AggregateException e) { _server.Log($"{Describe}: a close callback failed: {e.InnerException?.Message}"); }
        _queue.Writer.TryComplete();
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _socket.Dispose();
        _server.ConnectionClosed(this);
    }

    private async Task ReadLoopAsync()
    {
        var ct = _closed.Token;
        using var reader = new FrameReader(_socket, _options.SocketRequestMaxBytes);
        long counted = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await _inFlightSlots.WaitAsync(ct).ConfigureAwait(false);
                byte[]? frame;
                try
                {
                    frame = await reader.ReadFrameAsync(ct).ConfigureAwait(false);
                }
                finally
                {
                    _server.Counters.AddBytesIn(reader.BytesRead - counted);
                    counted = reader.BytesRead;
                }
                if (frame is null)
                {
                    Close(null); // the client closed its side
                    return;
                }
                Touch();
                short apiKey, apiVersion;
                try
                {
                    (apiKey, apiVersion) = Frames.PeekApi(frame);
                }
                catch (ProtocolDecodeException e)
                {
                    Close($"bad request: {e.Message}");
                    return;
                }
                // Only the pipelined APIs (and ApiVersions, which reads no state) run while earlier requests are unanswered.
                if (apiKey != ApiVersionsRequest.ApiKey && !_options.PipelinedApiKeys.Contains(apiKey))
                    await WaitUntilAnsweredAsync(ct).ConfigureAwait(false);
                if (!Dispatch(frame, apiKey, apiVersion)) return;
            }
        }
        catch (ProtocolDecodeException e)
        {
            Close($"bad frame: {e.Message}");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is SocketException or EndOfStreamException or ObjectDisposedException or IOException)
        {
            Close(IsClosed ? null : $"read failed: {e.Message}");
        }
        catch (Exception e)
        {
            // e.g. a features supplier that threw while answering ApiVersions: this connection only
            Close($"unexpected failure while reading requests: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Read loop only: returns once every request dispatched so far has been answered (or the connection closes).</summary>
    private async Task WaitUntilAnsweredAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _inFlight) == 0) return;
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _allAnswered, answered);
        if (Volatile.Read(ref _inFlight) != 0) await answered.Task.WaitAsync(ct).ConfigureAwait(false); // else it reached 0 meanwhile
        Volatile.Write(ref _allAnswered, null);
    }

    /// <summary>Decodes one frame (its API already peeked) and starts its handler; false when the connection was closed instead.</summary>
    private bool Dispatch(byte[] frame, short apiKey, short apiVersion)
    {
        _server.Counters.CountRequest(apiKey);
        if (apiKey == ApiVersionsRequest.ApiKey)
        {
            try
            {
                var answer = ApiVersionsResponder.Answer(frame, _server.Registry.Describe);
                Enqueue(new Pending(0, apiKey, apiVersion, Task.FromResult(ApiResponse.Raw(answer))));
                return true;
            }
            catch (ProtocolDecodeException e)
            {
                Close($"bad ApiVersions request: {e.Message}");
                return false;
            }
        }
        var api = _server.Registry.Find(apiKey);
        if (api is null)
        {
            Close($"API key {apiKey} (v{apiVersion}) is not served on listener {ListenerName}");
            return false;
        }
        if (!api.Versions.Contains(apiVersion))
        {
            Close($"{api.Name} v{apiVersion} is not supported (served: {api.Versions})");
            return false;
        }
        DecodedRequest request;
        try
        {
            request = Frames.DecodeRequest(frame);
        }
        catch (ProtocolDecodeException e)
        {
            Close($"cannot decode {api.Name} v{apiVersion}: {e.Message}");
            return false;
        }
        var context = new RequestContext(Id, ListenerName, RemoteEndPoint, request.Header,
            _options.Clock.UnixTimeMs, frame.Length, _closed.Token);
        Enqueue(new Pending(request.CorrelationId, apiKey, apiVersion, _server.Invoke(api.Handler, context, request.Body)));
        return true;
    }

    private void Enqueue(Pending pending)
    {
        Interlocked.Increment(ref _inFlight);
        if (!_queue.Writer.TryWrite(pending))
            Abandon(pending); // closed meanwhile
    }

    private async Task WriteLoopAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var pending))
            {
                if (IsClosed)
                {
                    Abandon(pending);
                    continue;
                }
                await WriteOneAsync(pending).ConfigureAwait(false);
            }
        }
    }

    private async Task WriteOneAsync(Pending pending)
    {
        ApiResponse response;
        try
        {
            response = await pending.Response.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Close(IsClosed ? null : $"handler of API key {pending.ApiKey} v{pending.ApiVersion} (correlation {pending.CorrelationId}) failed: {e.GetType().Name}: {e.Message}");
            Finished();
            return;
        }
        if (IsClosed)
        {
            response.Release();
            Finished();
            return;
        }
        try
        {
            long written;
            switch (response.Kind)
            {
                case ApiResponseKind.None:
                    written = 0;
                    break;
                case ApiResponseKind.CloseConnection:
                    Close($"closed by the handler of API key {pending.ApiKey} v{pending.ApiVersion} (correlation {pending.CorrelationId})");
                    return;
                case ApiResponseKind.Message:
                    var bytes = Frames.EncodeResponse(pending.CorrelationId, pending.ApiKey, pending.ApiVersion, response.Message!);
                    await _sender.SendAllAsync(bytes, _closed.Token).ConfigureAwait(false);
                    written = bytes.Length;
                    break;
                case ApiResponseKind.RawFrame:
                    await _sender.SendAllAsync(response.RawFrame!, _closed.Token).ConfigureAwait(false);
                    written = response.RawFrame!.Length;
                    break;
                case ApiResponseKind.Segments:
                    var body = response.Body!;
                    var prefix = SocketSender.SegmentPrefix(pending.CorrelationId, Frames.ResponseHeaderVersion(pending.ApiKey, pending.ApiVersion), body.Length);
                    await _sender.SendSegmentsAsync(prefix, body, _options.UseSendFile, _closed.Token).ConfigureAwait(false);
                    written = prefix.Length + body.Length;
                    break;
                default:
                    throw new InvalidOperationException($"unknown response kind {response.Kind}");
            }
            _server.Counters.AddBytesOut(written);
            Touch();
        }
        catch (OperationCanceledException) when (IsClosed)
        {
        }
        catch (Exception e)
        {
            Close(IsClosed ? null : $"cannot write the response to API key {pending.ApiKey} v{pending.ApiVersion} (correlation {pending.CorrelationId}): {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            response.Release();
            Finished();
        }
    }

    private void Finished()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0) Volatile.Read(ref _allAnswered)?.TrySetResult();
        if (!IsClosed)
        {
            try { _inFlightSlots.Release(); } catch (ObjectDisposedException) { }
        }
    }

    /// <summary>A response that will never be written: release its resources when its handler finishes.</summary>
    private void Abandon(Pending pending)
    {
        if (Interlocked.Decrement(ref _inFlight) == 0) Volatile.Read(ref _allAnswered)?.TrySetResult();
        pending.Response.ContinueWith(static t =>
        {
            if (t.IsCompletedSuccessfully) t.Result.Release();
            else _ = t.Exception; // observed
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void Touch() => Volatile.Write(ref _lastActivityMs, Environment.TickCount64);
}
