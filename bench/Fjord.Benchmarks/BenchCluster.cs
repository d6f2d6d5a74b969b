using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Fjord.Common;
using Fjord.Network;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Server;

namespace Fjord.Benchmarks;

/// <summary>
/// N combined nodes (<c>process.roles=broker,controller</c>, node ids 1..N, all of them voters) as real
/// <c>fjord server start</c> processes on 127.0.0.1: every node has its own config file, free ports
/// and a formatted directory under <c>root</c>. The CLI is the <c>fjord.dll</c> copied next to the bench
/// by its project reference (the build under test; no concurrent <c>./fjord</c> rebuild can swap it).
/// The approach is the cluster tests' <c>BrokerCluster</c> (tests/Fjord.Cluster.Tests), reduced to what
/// the bench needs. Every wait is bounded; <see cref="Dispose"/> kills every process started (also
/// on Ctrl-C and on process exit), so no node outlives the bench.
/// </summary>
internal sealed class BenchCluster : IDisposable
{
    public const string Host = "127.0.0.1";
    private const string ClusterId = "YnJva2VyLWJlbmNoLXJmMw";
    private const int TailLines = 200;

    private readonly List<(int Id, Process Process, ConcurrentQueue<string> Tail)> _nodes = [];
    private readonly Dictionary<int, int> _brokerPorts = [];
    private readonly ConsoleCancelEventHandler _onCancel;
    private readonly EventHandler _onExit;
    private int _disposed;

    private BenchCluster()
    {
        _onCancel = (_, _) => Dispose();
        _onExit = (_, _) => Dispose();
        Console.CancelKeyPress += _onCancel;
        AppDomain.CurrentDomain.ProcessExit += _onExit;
    }

    /// <summary><c>bootstrap.servers</c> naming every broker.</summary>
    public string Bootstrap => string.Join(",", _brokerPorts.OrderBy(p => p.Key).Select(p => $"{Host}:{p.Value}"));

    /// <summary>Writes the configs, formats the storage, starts the processes and waits (bounded) until
    /// every broker lists all <paramref name="nodes"/> brokers (registered and unfenced).</summary>
    /// <param name="extra">Extra config lines for every node.</param>
    public static BenchCluster Start(string root, int nodes, TimeSpan bound, string extra = "")
    {
        var cluster = new BenchCluster();
        try
        {
            cluster.StartNodes(root, nodes, extra);
            cluster.WaitForBrokers(nodes, bound);
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    private void StartNodes(string root, int nodes, string extra)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "fjord.dll");
        if (!File.Exists(dll) || !File.Exists(Path.Combine(AppContext.BaseDirectory, "fjord.runtimeconfig.json")))
            throw new InvalidOperationException($"the fjord CLI is not in {AppContext.BaseDirectory} (it comes with the Fjord.Cli project reference)");
        var ports = FreePorts(2 * nodes);
        var controllerPorts = Enumerable.Range(1, nodes).ToDictionary(id => id, id => ports[id - 1]);
        for (int id = 1; id <= nodes; id++) _brokerPorts[id] = ports[nodes + id - 1];
        string voters = string.Join(",", controllerPorts.Select(p => $"{p.Key}@{Host}:{p.Value}"));
        for (int id = 1; id <= nodes; id++)
        {
            string dir = Path.Combine(root, $"node-{id}");
            Directory.CreateDirectory(dir);
            string path = Path.Combine(root, $"node-{id}.properties");
            File.WriteAllText(path, $"""
                process.roles=broker,controller
                node.id={id}
                controller.quorum.voters={voters}
                listeners=PLAINTEXT://{Host}:{_brokerPorts[id]},CONTROLLER://{Host}:{controllerPorts[id]}
                listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
                controller.listener.names=CONTROLLER
                inter.broker.listener.name=PLAINTEXT
                log.dirs={Path.Combine(dir, "logs")}
                metadata.log.dir={Path.Combine(dir, "metadata")}
                controller.quorum.election.timeout.ms=1000
                controller.quorum.fetch.timeout.ms=1000
                broker.session.timeout.ms=9000
                broker.heartbeat.interval.ms=500
                num.partitions=1
                default.replication.factor={Math.Min(3, nodes)}
                {extra}
                """ + "\n");
            new StorageFormatter(ServerConfig.Load(path), TextWriter.Null).Format(new FormatOptions { ClusterId = ClusterId });
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[] { dll, "server", "start", "--config", path }) info.ArgumentList.Add(arg);
            var process = new Process { StartInfo = info };
            var tail = new ConcurrentQueue<string>();
            void Keep(string? line)
            {
                if (line is null) return;
                tail.Enqueue(line);
                while (tail.Count > TailLines && tail.TryDequeue(out _)) { }
            }
            process.OutputDataReceived += (_, e) => Keep(e.Data);
            process.ErrorDataReceived += (_, e) => Keep(e.Data is null ? null : "err " + e.Data);
            process.Start();
            _nodes.Add((id, process, tail));
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }
    }

    private void WaitForBrokers(int nodes, TimeSpan bound)
    {
        var sw = Stopwatch.StartNew();
        foreach (var (id, port) in _brokerPorts)
        {
            while (true)
            {
                var exited = _nodes.FirstOrDefault(n => n.Process.HasExited);
                if (exited.Process is not null)
                    throw new InvalidOperationException($"node {exited.Id} exited ({exited.Process.ExitCode}) during start-up\n{Transcripts()}");
                var metadata = Ask<MetadataResponse>(port, new MetadataRequest { Topics = [], AllowAutoTopicCreation = false }, MetadataRequest.ApiKey, 12);
                if (metadata is not null && metadata.Brokers.Count >= nodes) break;
                if (sw.Elapsed > bound) throw new TimeoutException($"broker {id} did not list {nodes} brokers within {bound.TotalSeconds:0} s\n{Transcripts()}");
                Thread.Sleep(100); // a poll interval of a bounded wait, not synchronization between threads
            }
        }
    }

    /// <summary>Creates <paramref name="topic"/> (retried on retriable errors; an existing topic is fine), then waits
    /// (bounded) until broker metadata shows every partition with a leader and an ISR of <paramref name="replicationFactor"/>.</summary>
    public void CreateTopic(string topic, int partitions, short replicationFactor, IReadOnlyDictionary<string, string> configs, TimeSpan bound)
    {
        var sw = Stopwatch.StartNew();
        var request = new CreateTopicsRequest { TimeoutMs = 30_000 };
        var creatable = new CreateTopicsRequest.CreatableTopic { Name = topic, NumPartitions = partitions, ReplicationFactor = replicationFactor };
        foreach (var (k, v) in configs) creatable.Configs.Add(new CreateTopicsRequest.CreatableTopicConfig { Name = k, Value = v });
        request.Topics.Add(creatable);
        string last = "no answer";
        while (true)
        {
            var answer = Ask<CreateTopicsResponse>(_brokerPorts[1], request, CreateTopicsRequest.ApiKey, 7);
            if (answer is not null)
            {
                var error = (ErrorCode)answer.Topics[0].ErrorCode;
                last = $"{error} {answer.Topics[0].ErrorMessage}";
                if (error is ErrorCode.None or ErrorCode.TopicAlreadyExists) break;
            }
            if (sw.Elapsed > bound) throw new TimeoutException($"CreateTopics {topic} failed within {bound.TotalSeconds:0} s: {last}");
            Thread.Sleep(200);
        }
        while (true)
        {
            bool ready = _brokerPorts.Values.All(port =>
            {
                var m = Ask<MetadataResponse>(port, new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = topic }], AllowAutoTopicCreation = false },
                    MetadataRequest.ApiKey, 12);
                var t = m?.Topics.FirstOrDefault(x => x.Name == topic);
                return t is { ErrorCode: 0 } && t.Partitions.Count == partitions
                    && t.Partitions.All(p => p.ErrorCode == 0 && p.LeaderId >= 0 && p.IsrNodes.Count == replicationFactor);
            });
            if (ready) return;
            if (sw.Elapsed > bound) throw new TimeoutException($"{topic}: not every partition led with a full ISR within {bound.TotalSeconds:0} s\n{Transcripts()}");
            Thread.Sleep(100);
        }
    }

    private static T? Ask<T>(int port, IKafkaMessage request, short apiKey, short maxVersion) where T : class, IKafkaMessage
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            var connection = KafkaClientConnection.ConnectAsync(Host, port, "broker-bench-admin", cts.Token).GetAwaiter().GetResult();
            try
            {
                return connection.SendAsync<T>(request, connection.PickVersion(apiKey, maxVersion), cts.Token).GetAwaiter().GetResult();
            }
            finally
            {
                connection.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
            }
        }
        catch (Exception e) when (e is KafkaConnectionException or SocketException or IOException or OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>CPU time (user + system) the node processes have used so far, summed.</summary>
    public TimeSpan NodesCpu()
    {
        var total = TimeSpan.Zero;
        foreach (var (_, process, _) in _nodes)
        {
            try
            {
                process.Refresh();
                if (!process.HasExited) total += process.TotalProcessorTime;
            }
            catch (InvalidOperationException)
            {
            }
        }
        return total;
    }

    /// <summary>The last lines every node printed.</summary>
    public string Transcripts(int lines = 40) => string.Join('\n', _nodes.Select(n =>
        $"--- node {n.Id} (pid {n.Process.Id}{(n.Process.HasExited ? $", exited {n.Process.ExitCode}" : "")}) ---\n{string.Join('\n', n.Tail.TakeLast(lines))}"));

    /// <summary>Lines of node <paramref name="id"/>'s output kept so far (the last 200) that contain <paramref name="text"/>.</summary>
    public IReadOnlyList<string> Grep(int id, string text) =>
        [.. _nodes.Where(n => n.Id == id).SelectMany(n => n.Tail).Where(l => l.Contains(text, StringComparison.Ordinal))];

    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }

    /// <summary>Kills every node (SIGKILL of the process tree; the data is thrown away with the temp dir) and waits, bounded, for each exit.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Console.CancelKeyPress -= _onCancel;
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        foreach (var (_, process, _) in _nodes)
        {
            try
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
            }
            process.Dispose();
        }
    }
}
