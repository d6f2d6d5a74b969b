using System.Buffers.Binary;
using System.Net.Sockets;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Testing;

/// <summary>
/// A test client with any number of requests in flight on one connection. Answers must come back
/// in request order: each frame read is matched against the oldest request still waiting, and an
/// answer with another correlation id fails every waiting request (<see cref="OutOfOrder"/>). The
/// connection closing fails them with <see cref="IOException"/>. Thread-safe.
/// </summary>
internal sealed class PipelinedClient : IDisposable
{
    private sealed record Waiting(int CorrelationId, short ApiKey, short Version, TaskCompletionSource<IKafkaMessage> Answer);

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly string _clientId;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Queue<Waiting> _waiting = new(); // under itself; oldest first
    private int _nextCorrelationId;
    private Exception? _failure;                       // under _waiting

    private PipelinedClient(TcpClient tcp, string clientId)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _clientId = clientId;
        _ = Task.Run(ReadLoopAsync);
    }

    /// <summary>True once an answer arrived out of request order.</summary>
    public bool OutOfOrder { get; private set; }

    public static async Task<PipelinedClient> ConnectAsync(int port, string clientId = "admin")
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port).WaitAsync(TimeSpan.FromSeconds(10));
        return new PipelinedClient(tcp, clientId);
    }

    /// <summary>Sends at once (without waiting for earlier answers); the task completes with the answer.</summary>
    public async Task<IKafkaMessage> SendAsync(IKafkaMessage request, short version)
    {
        var waiting = new Waiting(Interlocked.Increment(ref _nextCorrelationId), request.MessageApiKey, version,
            new TaskCompletionSource<IKafkaMessage>(TaskCreationOptions.RunContinuationsAsynchronously));
        var frame = Frames.EncodeRequest(new RequestHeader
        { RequestApiKey = request.MessageApiKey, RequestApiVersion = version, CorrelationId = waiting.CorrelationId, ClientId = _clientId }, request);
        await _writeLock.WaitAsync();
        try
        {
            lock (_waiting)
            {
                if (_failure is not null) throw new IOException("the connection failed earlier", _failure);
                _waiting.Enqueue(waiting);
            }
            await _stream.WriteAsync(frame);
        }
        finally
        {
            _writeLock.Release();
        }
        return await waiting.Answer.Task;
    }

    public async Task<T> SendAsync<T>(IKafkaMessage request, short version) where T : IKafkaMessage =>
        (T)await SendAsync(request, version);

    /// <summary>Sends raw bytes (a whole frame with its size prefix) without expecting an answer.</summary>
    public async Task SendRawAsync(byte[] frame)
    {
        await _writeLock.WaitAsync();
        try { await _stream.WriteAsync(frame); }
        finally { _writeLock.Release(); }
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            var prefix = new byte[4];
            while (true)
            {
                if (await _stream.ReadAtLeastAsync(prefix, 4, throwOnEndOfStream: false) < 4) throw new IOException("the server closed the connection");
                var frame = new byte[BinaryPrimitives.ReadInt32BigEndian(prefix)];
                await _stream.ReadExactlyAsync(frame);
                int correlationId = BinaryPrimitives.ReadInt32BigEndian(frame);
                Waiting head;
                lock (_waiting)
                {
                    if (!_waiting.TryDequeue(out head!)) throw new InvalidDataException($"answer {correlationId} to no request");
                }
                if (head.CorrelationId != correlationId)
                {
                    OutOfOrder = true;
                    head.Answer.TrySetException(new InvalidDataException($"answer {correlationId} arrived where {head.CorrelationId} was due"));
                    throw new InvalidDataException($"answers out of order: {correlationId} instead of {head.CorrelationId}");
                }
                var (_, body) = Frames.DecodeResponse(head.ApiKey, head.Version, frame);
                head.Answer.TrySetResult(body);
            }
        }
        catch (Exception e)
        {
            List<Waiting> failed;
            lock (_waiting)
            {
                _failure = e;
                failed = [.. _waiting];
                _waiting.Clear();
            }
            foreach (var w in failed) w.Answer.TrySetException(e is IOException ? e : new IOException(e.Message, e));
        }
    }

    public void Dispose()
    {
        _stream.Dispose();
        _tcp.Dispose();
    }
}
