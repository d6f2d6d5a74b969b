using Fjord.Common;
using Fjord.Network;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Cli.Admin;

/// <summary>
/// The admin commands' view of a cluster: a pipelined <see cref="KafkaClientConnection"/> to the first
/// bootstrap server that answers (versions negotiated by ApiVersions), connections to other brokers
/// by node id (from the last Metadata answer), and group coordinators (FindCoordinator). Every
/// request is bounded by the request timeout (<see cref="RequestTimeout"/>, or <c>request.timeout.ms</c>
/// of <c>--command-config</c>, kept per connection); a connection failure, timeout or missing API
/// becomes an <see cref="AdminException"/> with one line of text. The client id is the command's
/// (<c>fjord-COMMAND</c>) unless the command config sets <c>client.id</c>.
/// </summary>
internal sealed class AdminClient : IAsyncDisposable
{
    private readonly Dictionary<int, (string Host, int Port)> _brokers = new();
    private readonly Dictionary<string, KafkaClientConnection> _connections = new(StringComparer.Ordinal);
    private readonly Settings _settings;

    /// <summary>What every connection of one client shares: its client id and timeouts.</summary>
    private sealed record Settings(string ClientId, TimeSpan RequestTimeout, TimeSpan ConnectTimeout);

    /// <summary>The settings each open connection was made with (its request timeout bounds <see cref="SendAsync{TResponse}(KafkaClientConnection, IKafkaMessage, short, CancellationToken)"/>).</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<KafkaClientConnection, Settings> s_settings = new();

    private AdminClient(KafkaClientConnection bootstrap, string address, Settings settings)
    {
        Bootstrap = bootstrap;
        BootstrapAddress = address;
        _settings = settings;
        _connections[address] = bootstrap;
    }

    public KafkaClientConnection Bootstrap { get; }
    public string BootstrapAddress { get; }
    public string ClientId => _settings.ClientId;

    /// <summary>The request timeout of this client's connections.</summary>
    public TimeSpan Timeout => _settings.RequestTimeout;

    /// <summary>The default request timeout (Kafka's request.timeout.ms default, 30 s).</summary>
    public static TimeSpan RequestTimeout { get; } = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Connects to the first of <paramref name="bootstrapServers"/> (HOST:PORT[,HOST:PORT…]) that answers.
    /// The settings of <paramref name="config"/> (<c>--command-config</c>) apply: client.id replaces
    /// <paramref name="clientId"/>; request and connection timeouts.
    /// </summary>
    public static async Task<AdminClient> ConnectAsync(string bootstrapServers, string clientId, CommandConfig? config, CancellationToken ct)
    {
        var settings = new Settings(config?.ClientId ?? clientId, config?.RequestTimeout ?? RequestTimeout, config?.ConnectTimeout ?? DefaultConnectTimeout);
        var problems = new List<string>();
        var addresses = bootstrapServers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (addresses.Length == 0) throw new UsageException("--bootstrap-server needs HOST:PORT");
        foreach (var address in addresses)
        {
            var (host, port) = ParseAddress(address);
            try
            {
                return new AdminClient(await OpenAsync(host, port, settings, ct).ConfigureAwait(false), address, settings);
            }
            catch (AdminException e)
            {
                problems.Add(e.Message);
            }
        }
        throw new AdminException(problems.Count == 1 ? problems[0] : $"no bootstrap server answered: {string.Join("; ", problems)}");
    }

    public static (string Host, int Port) ParseAddress(string address)
    {
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address[(colon + 1)..], out int port) || port is <= 0 or > 65535)
            throw new UsageException($"--bootstrap-server: '{address}' is not HOST:PORT");
        return (address[..colon].Trim('[', ']'), port);
    }

    /// <summary>
    /// Opens a connection and negotiates versions (ApiVersions), all bounded by the smaller of the
    /// connection and request timeouts.
    /// </summary>
    private static async Task<KafkaClientConnection> OpenAsync(string host, int port, Settings settings, CancellationToken ct)
    {
        var limit = settings.ConnectTimeout < settings.RequestTimeout ? settings.ConnectTimeout : settings.RequestTimeout;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(limit);
        try
        {
            var connection = await KafkaClientConnection.ConnectAsync(host, port, settings.ClientId, cts.Token,
                new KafkaClientOptions { SoftwareName = "fjord-admin" }).ConfigureAwait(false);
            s_settings.AddOrUpdate(connection, settings);
            return connection;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new AdminException($"cannot connect to {host}:{port}: no answer within {Millis(limit)}");
        }
        catch (KafkaConnectionException e)
        {
            throw new AdminException(e.Message, e);
        }
    }

    /// <summary>Whether the bootstrap broker serves <paramref name="apiKey"/> at all.</summary>
    public bool Serves(short apiKey) => Serves(Bootstrap, apiKey);

    public static bool Serves(KafkaClientConnection connection, short apiKey) =>
        connection.ApiVersions?.ApiKeys.Any(k => k.ApiKey == apiKey) == true;

    /// <summary>The highest version of <paramref name="apiKey"/> both sides know, in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static short Version(KafkaClientConnection connection, short apiKey, short min = 0, short max = short.MaxValue)
    {
        var api = KafkaApis.Find(apiKey)!;
        short ourMax = Math.Min(max, api.Versions.Highest);
        short ourMin = Math.Max(min, api.Versions.Lowest);
        if (connection.TryPickVersion(apiKey, ourMin, ourMax, out short version)) return version;
        throw new AdminException(Serves(connection, apiKey)
            ? $"{connection.RemoteEndPoint} does not serve {api.Name} at a version this tool speaks ({ourMin}-{ourMax})"
            : $"{connection.RemoteEndPoint} does not serve {api.Name} (API key {apiKey})");
    }

    public short Version(short apiKey, short min = 0, short max = short.MaxValue) => Version(Bootstrap, apiKey, min, max);

    /// <summary>Sends to the bootstrap broker at the highest common version in range.</summary>
    public Task<TResponse> SendAsync<TResponse>(IKafkaMessage request, CancellationToken ct, short min = 0, short max = short.MaxValue)
        where TResponse : class, IKafkaMessage =>
        SendAsync<TResponse>(Bootstrap, request, Version(request.MessageApiKey, min, max), ct);

    /// <summary>Sends <paramref name="request"/> at <paramref name="version"/>, bounded by <see cref="RequestTimeout"/>.</summary>
    public static async Task<TResponse> SendAsync<TResponse>(KafkaClientConnection connection, IKafkaMessage request, short version, CancellationToken ct)
        where TResponse : class, IKafkaMessage
    {
        var timeout = s_settings.TryGetValue(connection, out var settings) ? settings.RequestTimeout : RequestTimeout;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            return await connection.SendAsync<TResponse>(request, version, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new AdminException($"{connection.RemoteEndPoint} did not answer {request.GetType().Name} v{version} within {Millis(timeout)} (request.timeout.ms)");
        }
        catch (KafkaConnectionException e)
        {
            throw new AdminException($"{request.GetType().Name} to {connection.RemoteEndPoint} failed: {e.Message}", e);
        }
    }

    /// <summary>Metadata for <paramref name="topics"/> (null: every topic); remembers the brokers it lists.</summary>
    public async Task<MetadataResponse> MetadataAsync(IEnumerable<string>? topics, CancellationToken ct)
    {
        short version = Version(MetadataRequest.ApiKey, 1, 12);
        var request = new MetadataRequest
        {
            Topics = topics is null ? null : [.. topics.Select(t => new MetadataRequest.MetadataRequestTopic { Name = t })],
            AllowAutoTopicCreation = false,
        };
        var response = await SendAsync<MetadataResponse>(Bootstrap, request, version, ct).ConfigureAwait(false);
        foreach (var b in response.Brokers) _brokers[b.NodeId] = (b.Host, b.Port);
        return response;
    }

    /// <summary>
    /// The partitions of <paramref name="topic"/> and their leaders, waiting (up to 15 s) until every
    /// partition has one; with <paramref name="autoCreate"/> the broker may create a missing topic
    /// (auto.create.topics.enable), as a producer's Metadata request lets it.
    /// </summary>
    public async Task<(Uuid TopicId, List<(int Partition, int Leader)> Partitions)> PartitionsAsync(string topic, bool autoCreate, CancellationToken ct)
    {
        long deadline = Environment.TickCount64 + 15_000;
        short version = Version(MetadataRequest.ApiKey, 4, 12);
        for (int round = 0; ; round++)
        {
            var request = new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = topic }], AllowAutoTopicCreation = autoCreate };
            var metadata = await SendAsync<MetadataResponse>(Bootstrap, request, version, ct).ConfigureAwait(false);
            foreach (var b in metadata.Brokers) _brokers[b.NodeId] = (b.Host, b.Port);
            var t = metadata.Topics.FirstOrDefault(x => x.Name == topic);
            short error = t?.ErrorCode ?? (short)ErrorCode.UnknownTopicOrPartition;
            if (error == 0 && t!.Partitions.Count > 0 && t.Partitions.All(p => p.LeaderId >= 0 && _brokers.ContainsKey(p.LeaderId)))
                return (t.TopicId, [.. t.Partitions.OrderBy(p => p.PartitionIndex).Select(p => (p.PartitionIndex, p.LeaderId))]);
            bool retriable = error is 0 or (short)ErrorCode.LeaderNotAvailable || (error == (short)ErrorCode.UnknownTopicOrPartition && autoCreate);
            if (!retriable) throw new AdminException($"topic '{topic}': {Errors.Describe(error, null)}");
            if (Environment.TickCount64 >= deadline) throw new AdminException($"topic '{topic}' has no leader for every partition after 15 s (last: {Errors.Name(error)})");
            await Task.Delay(Math.Min(50 * (round + 1), 300), ct).ConfigureAwait(false);
        }
    }

    /// <summary>A connection to broker <paramref name="nodeId"/> (as the last Metadata answer listed it).</summary>
    public async Task<KafkaClientConnection> NodeAsync(int nodeId, CancellationToken ct)
    {
        if (!_brokers.TryGetValue(nodeId, out var address))
        {
            await MetadataAsync([], ct).ConfigureAwait(false);
            if (!_brokers.TryGetValue(nodeId, out address)) throw new AdminException($"broker {nodeId} is not in the cluster's metadata");
        }
        return await ConnectionAsync(address.Host, address.Port, ct).ConfigureAwait(false);
    }

    private async Task<KafkaClientConnection> ConnectionAsync(string host, int port, CancellationToken ct)
    {
        string key = $"{host}:{port}";
        if (_connections.TryGetValue(key, out var open) && open.IsConnected) return open;
        var connection = await OpenAsync(host, port, _settings, ct).ConfigureAwait(false);
        _connections[key] = connection;
        return connection;
    }

    /// <summary>
    /// The coordinator of <paramref name="group"/> (FindCoordinator, key type 0). COORDINATOR_NOT_AVAILABLE
    /// and COORDINATOR_LOAD_IN_PROGRESS are asked again for up to <paramref name="patience"/>.
    /// </summary>
    public async Task<KafkaClientConnection> CoordinatorAsync(string group, TimeSpan patience, CancellationToken ct)
    {
        long deadline = Environment.TickCount64 + (long)patience.TotalMilliseconds;
        short version = Version(FindCoordinatorRequest.ApiKey);
        for (int attempt = 0; ; attempt++)
        {
            var request = new FindCoordinatorRequest { KeyType = 0 };
            if (version >= 4) request.CoordinatorKeys = [group];
            else request.Key = group;
            var answer = await SendAsync<FindCoordinatorResponse>(Bootstrap, request, version, ct).ConfigureAwait(false);
            short error; int nodeId; string host; int port; string? message;
            if (version >= 4)
            {
                var c = answer.Coordinators.FirstOrDefault() ?? throw new AdminException("FindCoordinator answered no coordinator");
                (error, nodeId, host, port, message) = (c.ErrorCode, c.NodeId, c.Host, c.Port, c.ErrorMessage);
            }
            else
            {
                (error, nodeId, host, port, message) = (answer.ErrorCode, answer.NodeId, answer.Host, answer.Port, answer.ErrorMessage);
            }
            if (error == 0) return await ConnectionAsync(host, port, ct).ConfigureAwait(false);
            bool retriable = error is (short)ErrorCode.CoordinatorNotAvailable or (short)ErrorCode.CoordinatorLoadInProgress;
            if (!retriable || Environment.TickCount64 >= deadline)
                throw new AdminException($"cannot find the coordinator of group '{group}': {Errors.Describe(error, message)}");
            await Task.Delay(Math.Min(100 * (attempt + 1), 500), ct).ConfigureAwait(false);
        }
    }

    /// <summary>"30 s" for whole seconds, else "500 ms".</summary>
    private static string Millis(TimeSpan t) => t.TotalMilliseconds % 1000 == 0 ? $"{t.TotalSeconds:0} s" : $"{t.TotalMilliseconds:0} ms";

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _connections.Values) await c.DisposeAsync().ConfigureAwait(false);
        _connections.Clear();
    }
}

/// <summary>Kafka's upper-case error names (TOPIC_ALREADY_EXISTS) for error codes.</summary>
internal static class Errors
{
    public static string Name(short code) =>
        Enum.IsDefined((ErrorCode)code)
            ? string.Concat(((ErrorCode)code).ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : char.ToUpperInvariant(c).ToString()))
            : $"ERROR_{code}";

    /// <summary><c>NAME: message</c>, or <c>NAME (what it means)</c> when the broker sent no message.</summary>
    public static string Describe(short code, string? message) =>
        !string.IsNullOrEmpty(message) ? $"{Name(code)}: {message}"
        : Enum.IsDefined((ErrorCode)code) ? $"{Name(code)} ({((ErrorCode)code).Describe()})" : Name(code);
}
