using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Fjord.Protocol;
using Fjord.Protocol.Framing;

namespace Fjord.Capture;

/// <summary>What the capture server records and how it answers.</summary>
public sealed class CaptureOptions
{
    /// <summary>Port on 127.0.0.1; 0 picks a free one (read it back from <see cref="CaptureServer.Port"/>).</summary>
    public int Port { get; init; }

    /// <summary>Where the frames are written, one file each; null keeps them in memory only.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>First part of every file name: <c>&lt;label&gt;-&lt;ApiName&gt;-v&lt;version&gt;-&lt;seq&gt;.bin</c>.</summary>
    public string Label { get; init; } = "capture";

    /// <summary>The topics a Metadata request for all topics sees.</summary>
    public IReadOnlyList<string> Topics { get; init; } = ["golden"];

    /// <summary>Progress lines (one per request); null for silence.</summary>
    public TextWriter? Log { get; init; }

    /// <summary>Largest frame accepted (socket.request.max.bytes).</summary>
    public int MaxFrameBytes { get; init; } = 100 * 1024 * 1024;
}

/// <summary>One request frame as the client sent it (without the 4-byte size prefix).</summary>
public sealed record CapturedFrame(int Sequence, int Connection, short ApiKey, string ApiName, short ApiVersion, byte[] Frame, string? FileName);

/// <summary>
/// A minimal fake Kafka broker on 127.0.0.1 that writes every request frame it receives to a file
/// and answers plausibly (through <see cref="FakeBroker"/>) so that the client goes on to its next
/// request. Each connection runs on its own task; requests on one connection are answered in order.
/// Frames the codec cannot decode, or cannot re-encode byte for byte, are reported in
/// <see cref="Problems"/> (and the connection is closed when the frame cannot be decoded at all).
/// </summary>
public sealed class CaptureServer : IAsyncDisposable
{
    private readonly CaptureOptions _options;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<CapturedFrame> _frames = new();
    private readonly ConcurrentQueue<string> _problems = new();
    private readonly ConcurrentDictionary<int, Task> _connections = new();
    private readonly FakeBroker _broker;
    private readonly Lock _logLock = new();
    private Task? _acceptLoop;
    private int _sequence;
    private int _connectionIds;

    private CaptureServer(CaptureOptions options, TcpListener listener)
    {
        _options = options;
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _broker = new FakeBroker("127.0.0.1", Port, options.Topics);
    }

    public int Port { get; }

    /// <summary>Every frame received so far, in arrival order.</summary>
    public IReadOnlyList<CapturedFrame> Captured => _frames.OrderBy(f => f.Sequence).ToList();

    /// <summary>Decode failures, round-trip mismatches and answer failures seen so far.</summary>
    public IReadOnlyList<string> Problems => _problems.ToList();

    /// <summary>Binds to 127.0.0.1 and starts accepting connections.</summary>
    public static CaptureServer Start(CaptureOptions options)
    {
        if (options.OutputDirectory is not null) Directory.CreateDirectory(options.OutputDirectory);
        var listener = new TcpListener(IPAddress.Loopback, options.Port);
        listener.Start();
        var server = new CaptureServer(options, listener);
        server._acceptLoop = Task.Run(server.AcceptLoopAsync);
        return server;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            catch (SocketException) when (_stop.IsCancellationRequested) { break; }
            int id = Interlocked.Increment(ref _connectionIds);
            _connections[id] = Task.Run(async () =>
            {
                try { await ServeAsync(client, id); }
                finally { _connections.TryRemove(id, out _); }
            });
        }
    }

    private async Task ServeAsync(TcpClient client, int connection)
    {
        using var _ = client;
        client.NoDelay = true;
        var stream = client.GetStream();
        var prefix = new byte[Frames.SizePrefixBytes];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                if (!await ReadExactlyOrEndAsync(stream, prefix)) return;
                int size = Frames.ReadSize(prefix, _options.MaxFrameBytes);
                var frame = new byte[size];
                if (!await ReadExactlyOrEndAsync(stream, frame)) return;
                var response = await HandleFrameAsync(frame, connection);
                if (response is null) continue;
                if (response.Length == 0) return; // undecodable: close, like a broker does
                await stream.WriteAsync(response, _stop.Token);
            }
        }
        catch (OperationCanceledException) { }
        catch (IOException) { }
        catch (SocketException) { }
        catch (ProtocolDecodeException e)
        {
            Report($"connection {connection}: {e.Message}");
        }
    }

    private async Task<bool> ReadExactlyOrEndAsync(NetworkStream stream, byte[] buffer)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(read), _stop.Token);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    /// <summary>Records the frame; returns the response to send, null for none (acks=0), or an empty array to close.</summary>
    private async Task<byte[]?> HandleFrameAsync(byte[] frame, int connection)
    {
        short apiKey = -1, apiVersion = -1;
        if (frame.Length >= 4) (apiKey, apiVersion) = Frames.PeekApi(frame);
        string apiName = KafkaApis.Find(apiKey)?.Name ?? $"Unknown{apiKey}";
        int seq = Interlocked.Increment(ref _sequence);
        string? fileName = null;
        if (_options.OutputDirectory is not null)
        {
            fileName = $"{_options.Label}-{apiName}-v{apiVersion}-{seq:D4}.bin";
            await File.WriteAllBytesAsync(Path.Combine(_options.OutputDirectory, fileName), frame);
        }
        _frames.Enqueue(new CapturedFrame(seq, connection, apiKey, apiName, apiVersion, frame, fileName));

        DecodedRequest request;
        try
        {
            request = Frames.DecodeRequest(frame);
        }
        catch (ProtocolDecodeException e)
        {
            Report($"#{seq} {apiName} v{apiVersion}: DECODE FAILED: {e.Message}");
            // An ApiVersions request newer than ours still gets an answer (UNSUPPORTED_VERSION at v0).
            if (apiKey == 18 && frame.Length >= 8)
                return FakeBroker.UnsupportedApiVersions(BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(4)));
            return [];
        }

        var reencoded = Frames.EncodeRequest(request.Header, request.Body);
        if (!reencoded.AsSpan(Frames.SizePrefixBytes).SequenceEqual(frame))
            Report($"#{seq} {apiName} v{apiVersion}: ROUNDTRIP MISMATCH (first difference at byte {frame.AsSpan().CommonPrefixLength(reencoded.AsSpan(Frames.SizePrefixBytes))}, " +
                   $"{frame.Length} bytes received, {reencoded.Length - Frames.SizePrefixBytes} re-encoded)");

        WriteLog($"#{seq} conn {connection} {apiName} v{apiVersion} corr {request.CorrelationId} client '{request.Header.ClientId}' {frame.Length} bytes");
        try
        {
            return await _broker.AnswerAsync(request, _stop.Token);
        }
        catch (ProtocolEncodeException e)
        {
            Report($"#{seq} {apiName} v{apiVersion}: could not encode the answer: {e.Message}");
            return [];
        }
    }

    private void Report(string problem)
    {
        _problems.Enqueue(problem);
        WriteLog("PROBLEM " + problem);
    }

    private void WriteLog(string line)
    {
        if (_options.Log is null) return;
        lock (_logLock)
        {
            _options.Log.WriteLine(line);
            _options.Log.Flush();
        }
    }

    /// <summary>Stops accepting, closes every connection and waits (bounded) for their tasks.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        _listener.Stop();
        var pending = _connections.Values.ToList();
        if (_acceptLoop is not null) pending.Add(_acceptLoop);
        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(TimeSpan.FromSeconds(5)));
        _listener.Dispose();
        _stop.Dispose();
    }
}
