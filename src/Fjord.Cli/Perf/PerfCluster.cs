using Fjord.Common;
using Fjord.Network;
using Fjord.Protocol.Messages;

namespace Fjord.Cli.Perf;

/// <summary>A partition of the perf topic and the broker leading it.</summary>
public sealed record PerfPartition(int Index, int LeaderId);

/// <summary>
/// The perf tools' view of the cluster: one pipelined <see cref="KafkaClientConnection"/> per broker
/// (opened on first use), the topic's partitions and their leaders from Metadata, and topic creation
/// (CreateTopics through the bootstrap broker, which forwards it to the controller) when it is missing.
/// </summary>
public sealed class PerfCluster : IAsyncDisposable
{
    private readonly Dictionary<int, (string Host, int Port)> _brokers = new();
    private readonly Dictionary<int, KafkaClientConnection> _connections = new();
    private readonly KafkaClientConnection _bootstrap;

    private PerfCluster(KafkaClientConnection bootstrap) => _bootstrap = bootstrap;

    public string Topic { get; private set; } = "";
    public Uuid TopicId { get; private set; }
    public IReadOnlyList<PerfPartition> Partitions { get; private set; } = [];

    /// <summary>Connects to the first bootstrap server that answers (HOST:PORT[,HOST:PORT…]).</summary>
    public static async Task<PerfCluster> ConnectAsync(string bootstrapServers, string clientId, CancellationToken ct)
    {
        Exception? last = null;
        foreach (var address in bootstrapServers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (host, port) = ParseAddress(address);
            try
            {
                return new PerfCluster(await KafkaClientConnection.ConnectAsync(host, port, clientId, ct).ConfigureAwait(false));
            }
            catch (KafkaConnectionException e)
            {
                last = e;
            }
        }
        throw new KafkaConnectionException($"no bootstrap server of '{bootstrapServers}' answered", last);
    }

    public static (string Host, int Port) ParseAddress(string address)
    {
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address[(colon + 1)..], out int port) || port is <= 0 or > 65535)
            throw new ArgumentException($"'{address}' is not HOST:PORT");
        return (address[..colon].Trim('[', ']'), port);
    }

    /// <summary>
    /// Loads the topic's partitions and leaders; creates the topic (<paramref name="partitions"/>,
    /// <paramref name="replicationFactor"/>; -1 = the broker's defaults) when it does not exist, then waits
    /// until every partition has a leader. Bounded by <paramref name="timeout"/>.
    /// </summary>
    public async Task LoadTopicAsync(string topic, int partitions, short replicationFactor, TimeSpan timeout, TextWriter log, CancellationToken ct)
    {
        Topic = topic;
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        bool createAsked = false;
        for (int round = 0; ; round++)
        {
            var metadata = await MetadataAsync(topic, ct).ConfigureAwait(false);
            foreach (var b in metadata.Brokers) _brokers[b.NodeId] = (b.Host, b.Port);
            var t = metadata.Topics.FirstOrDefault(x => x.Name == topic);
            var error = (ErrorCode)(t?.ErrorCode ?? (short)ErrorCode.UnknownTopicOrPartition);
            if (error == ErrorCode.UnknownTopicOrPartition && !createAsked)
            {
                createAsked = true;
                await CreateTopicAsync(topic, partitions, replicationFactor, log, ct).ConfigureAwait(false);
            }
            else if (error == ErrorCode.None && t!.Partitions.Count > 0 && t.Partitions.All(p => p.ErrorCode == 0 && p.LeaderId >= 0 && _brokers.ContainsKey(p.LeaderId)))
            {
                TopicId = t.TopicId;
                Partitions = [.. t.Partitions.OrderBy(p => p.PartitionIndex).Select(p => new PerfPartition(p.PartitionIndex, p.LeaderId))];
                return;
            }
            if (Environment.TickCount64 >= deadline)
                throw new TimeoutException($"topic '{topic}' has no leader for every partition after {timeout.TotalSeconds:0} s (last error {error})");
            await Task.Delay(Math.Min(100 * (round + 1), 500), ct).ConfigureAwait(false);
        }
    }

    private async Task<MetadataResponse> MetadataAsync(string topic, CancellationToken ct)
    {
        short version = _bootstrap.PickVersion(MetadataRequest.ApiKey, 12);
        var request = new MetadataRequest
        {
            Topics = [new MetadataRequest.MetadataRequestTopic { Name = topic }],
            AllowAutoTopicCreation = false,
        };
        return await _bootstrap.SendAsync<MetadataResponse>(request, version, ct).ConfigureAwait(false);
    }

    private async Task CreateTopicAsync(string topic, int partitions, short replicationFactor, TextWriter log, CancellationToken ct)
    {
        short version = _bootstrap.PickVersion(CreateTopicsRequest.ApiKey, 7);
        var request = new CreateTopicsRequest
        {
            TimeoutMs = 30_000,
            Topics = [new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = partitions, ReplicationFactor = replicationFactor }],
        };
        var response = await _bootstrap.SendAsync<CreateTopicsResponse>(request, version, ct).ConfigureAwait(false);
        var result = response.Topics.FirstOrDefault();
        var error = (ErrorCode)(result?.ErrorCode ?? (short)ErrorCode.UnknownServerError);
        if (error is not (ErrorCode.None or ErrorCode.TopicAlreadyExists))
            throw new InvalidOperationException($"CreateTopics '{topic}' failed: {error} {result?.ErrorMessage}");
        if (error == ErrorCode.None)
            log.WriteLine($"created topic {topic} ({(partitions < 0 ? "default" : partitions)} partitions, replication factor {(replicationFactor < 0 ? "default" : replicationFactor)})");
    }

    /// <summary>The connection to broker <paramref name="nodeId"/> (opened on first use).</summary>
    public async Task<KafkaClientConnection> ConnectionAsync(int nodeId, CancellationToken ct)
    {
        if (_connections.TryGetValue(nodeId, out var c) && c.IsConnected) return c;
        if (!_brokers.TryGetValue(nodeId, out var address)) throw new InvalidOperationException($"broker {nodeId} is not in the metadata");
        c = await KafkaClientConnection.ConnectAsync(address.Host, address.Port, _bootstrap.ClientId, ct).ConfigureAwait(false);
        _connections[nodeId] = c;
        return c;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _connections.Values) await c.DisposeAsync().ConfigureAwait(false);
        await _bootstrap.DisposeAsync().ConfigureAwait(false);
    }
}
