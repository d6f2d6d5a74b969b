using System.Diagnostics;
using System.Runtime.InteropServices;
using Fjord.Cli;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Xunit.Abstractions;

namespace Fjord.Cluster.Tests.Brokers;

/// <summary>
/// A cluster of real <c>fjord</c> processes on 127.0.0.1, every node with its own config file, free
/// ports and formatted directories: either separate (controllers 1..C with
/// <c>process.roles=controller</c>, brokers C+1..C+B with <c>process.roles=broker</c>, Raft observers)
/// or combined (nodes 1..N with <c>process.roles=broker,controller</c>). Nodes can be SIGKILLed,
/// SIGTERMed and restarted on the same config; every process ever started is kept for its transcript
/// and killed by <see cref="Dispose"/>.
/// </summary>
internal sealed partial class BrokerCluster : IDisposable
{
    private const int SigKill = 9;
    public const string Host = "127.0.0.1";

    private readonly ClusterDirectory _dir;
    private readonly ITestOutputHelper _output;
    private readonly Dictionary<int, string> _configs = [];
    private readonly Dictionary<int, FjordProcess> _running = [];
    private readonly List<FjordProcess> _all = [];
    private readonly Dictionary<int, int> _starts = [];

    public BrokerCluster(ClusterDirectory dir, ITestOutputHelper output, bool combined, int controllers = 3, int brokers = 3, string extra = "")
    {
        _dir = dir;
        _output = output;
        Combined = combined;
        ControllerIds = [.. Enumerable.Range(1, controllers)];
        BrokerIds = combined ? ControllerIds : [.. Enumerable.Range(controllers + 1, brokers)];
        var nodeIds = ControllerIds.Union(BrokerIds).ToArray();
        var ports = ClusterDirectory.FreePorts(ControllerIds.Count + BrokerIds.Count);
        int next = 0;
        foreach (var id in ControllerIds) ControllerPorts[id] = ports[next++];
        foreach (var id in BrokerIds) BrokerPorts[id] = ports[next++];
        string voters = string.Join(",", ControllerIds.Select(id => $"{id}@{Host}:{ControllerPorts[id]}"));
        foreach (var id in nodeIds)
        {
            bool isController = ControllerIds.Contains(id), isBroker = BrokerIds.Contains(id);
            string roles = isController && isBroker ? "broker,controller" : isController ? "controller" : "broker";
            var listeners = new List<string>();
            if (isBroker) listeners.Add($"PLAINTEXT://{Host}:{BrokerPorts[id]}");
            if (isController) listeners.Add($"CONTROLLER://{Host}:{ControllerPorts[id]}");
            string logDir = dir.Sub($"node-{id}");
            string path = dir.Sub($"node-{id}.properties");
            File.WriteAllText(path, $"""
                process.roles={roles}
                node.id={id}
                controller.quorum.voters={voters}
                listeners={string.Join(",", listeners)}
                controller.listener.names=CONTROLLER
                log.dirs={logDir}
                metadata.log.dir={logDir}
                controller.quorum.election.timeout.ms=1000
                controller.quorum.fetch.timeout.ms=1000
                metadata.max.idle.interval.ms=200
                broker.session.timeout.ms=5000
                broker.heartbeat.interval.ms=500
                {extra}
                """);
            ClusterDirectory.Format(path);
            _configs[id] = path;
        }
    }

    public bool Combined { get; }
    public IReadOnlyList<int> ControllerIds { get; }
    public IReadOnlyList<int> BrokerIds { get; }
    public Dictionary<int, int> ControllerPorts { get; } = [];
    public Dictionary<int, int> BrokerPorts { get; } = [];

    /// <summary><c>bootstrap.servers</c> naming every broker.</summary>
    public string Bootstrap => string.Join(",", BrokerIds.Select(id => $"{Host}:{BrokerPorts[id]}"));

    public FjordProcess Node(int id) => _running[id];
    public bool IsRunning(int id) => _running.TryGetValue(id, out var p) && !p.HasExited;

    public void StartAll()
    {
        foreach (var id in ControllerIds.Union(BrokerIds)) Start(id);
    }

    public FjordProcess Start(int id)
    {
        int n = _starts[id] = _starts.GetValueOrDefault(id) + 1;
        var p = FjordProcess.Start($"node-{id}#{n}", "server", "start", "--config", _configs[id]);
        _running[id] = p;
        _all.Add(p);
        return p;
    }

    /// <summary>SIGKILL by kill(2) at once (no /proc walk first), then waits for the exit.</summary>
    public async Task KillAsync(int id)
    {
        var p = _running[id];
        if (kill(p.Pid, SigKill) != 0 && !p.HasExited) throw new InvalidOperationException($"kill -9 {p.Pid} failed");
        await p.WaitForExitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>SIGTERM and a bounded wait for the graceful stop.</summary>
    public async Task TerminateAsync(int id, TimeSpan bound)
    {
        var p = _running[id];
        p.Terminate();
        await p.WaitForExitAsync(bound);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    private static async Task<T?> AskAsync<T>(int port, IKafkaMessage request, short version) where T : class, IKafkaMessage
    {
        try
        {
            using var client = await KafkaClient.ConnectAsync(Host, port, "cluster-test", TimeSpan.FromSeconds(3));
            return await client.SendAsync<T>(request, version).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is KafkaClientException or TimeoutException or IOException)
        {
            return null;
        }
    }

    /// <summary>Metadata (v12) from broker <paramref name="id"/>; null topics: all. Null if it did not answer.</summary>
    public Task<MetadataResponse?> MetadataAsync(int id, params string[]? topics)
    {
        var request = new MetadataRequest { AllowAutoTopicCreation = false };
        request.Topics = topics is null ? null : [.. topics.Select(t => new MetadataRequest.MetadataRequestTopic { Name = t })];
        return AskAsync<MetadataResponse>(BrokerPorts[id], request, 12);
    }

    public Task<T?> SendToBrokerAsync<T>(int id, IKafkaMessage request, short version) where T : class, IKafkaMessage =>
        AskAsync<T>(BrokerPorts[id], request, version);

    /// <summary>Metadata of <paramref name="topic"/> from the first running broker that answers it without error.</summary>
    public async Task<MetadataResponse.MetadataResponseTopic?> TopicAsync(string topic)
    {
        foreach (var id in BrokerIds.Where(IsRunning))
        {
            var m = await MetadataAsync(id, topic);
            if (m?.Topics.FirstOrDefault(t => t.Name == topic) is { ErrorCode: 0 } t) return t;
        }
        return null;
    }

    /// <summary>The active controller as a running controller names it (DescribeCluster to the controller listener).</summary>
    public async Task<int?> ActiveControllerAsync()
    {
        using var probe = new QuorumProbe(ControllerPorts);
        foreach (var id in ControllerIds.Where(IsRunning))
            if (await probe.ControllerIdAsync(id) is { } active && active >= 0 && IsRunning(active)) return active;
        return null;
    }

    /// <summary>The Raft leader and epoch as the first running controller that leads says (DescribeQuorum), or null.</summary>
    public async Task<(int Leader, int Epoch)?> QuorumLeaderAsync()
    {
        using var probe = new QuorumProbe(ControllerPorts);
        foreach (var id in ControllerIds.Where(IsRunning))
            if (await probe.DescribeAsync(id) is { IsLeader: true } view) return (view.NodeId, view.Epoch);
        return null;
    }

    /// <summary>Polls <paramref name="condition"/> every 50 ms until it holds, or fails after <paramref name="bound"/>.</summary>
    public async Task<TimeSpan> WaitUntilAsync(Func<Task<bool>> condition, TimeSpan bound, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > bound) throw new TimeoutException($"not within {bound.TotalSeconds} s: {what}\n{Transcripts()}");
            await Task.Delay(50);
        }
        return sw.Elapsed;
    }

    /// <summary>Waits until every broker is listed (unfenced) by every running broker.</summary>
    public Task<TimeSpan> WaitForBrokersAsync(TimeSpan bound) => WaitUntilAsync(async () =>
    {
        foreach (var id in BrokerIds)
        {
            var m = await MetadataAsync(id, []);
            if (m is null || !BrokerIds.All(b => m.Brokers.Any(x => x.NodeId == b))) return false;
        }
        return true;
    }, bound, $"all brokers {string.Join(",", BrokerIds)} in every broker's metadata");

    /// <summary>Creates a topic through broker <paramref name="via"/> (forwarded to the active controller); retried on retriable errors.</summary>
    public async Task CreateTopicAsync(string name, int partitions, short replicationFactor, IReadOnlyDictionary<string, string> configs, TimeSpan bound)
    {
        var request = new CreateTopicsRequest { TimeoutMs = 30_000 };
        var topic = new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = partitions, ReplicationFactor = replicationFactor };
        foreach (var (k, v) in configs) topic.Configs.Add(new CreateTopicsRequest.CreatableTopicConfig { Name = k, Value = v });
        request.Topics.Add(topic);
        short last = -1;
        string? message = null;
        await WaitUntilAsync(async () =>
        {
            var answer = await SendToBrokerAsync<CreateTopicsResponse>(BrokerIds.First(IsRunning), request, 7);
            if (answer is null) return false;
            (last, message) = (answer.Topics[0].ErrorCode, answer.Topics[0].ErrorMessage);
            return last is 0 or 36; // created (or created by the earlier try)
        }, bound, $"CreateTopics {name} (last error {last} {message})");
    }

    public string Transcripts(int maxLinesEach = 120) => string.Join('\n', _all.Select(p => p.Transcript(maxLinesEach)));

    public void Dispose()
    {
        foreach (var p in _all) p.Dispose();
    }
}
