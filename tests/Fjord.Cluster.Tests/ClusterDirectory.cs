using System.Net;
using System.Net.Sockets;
using Fjord.Cli;

namespace Fjord.Cluster.Tests;

/// <summary>One test's temp directory: controller configs on free 127.0.0.1 ports, formatted storage.</summary>
internal sealed class ClusterDirectory : IDisposable
{
    public const string ClusterId = "MX1HbXq8TFymY2SYR1hGYg";

    public ClusterDirectory() => Path = Directory.CreateTempSubdirectory("fjord-cluster-").FullName;

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Ports that were free a moment ago (all held at once, so they are distinct).</summary>
    public static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }

    /// <summary>
    /// server.properties of one combined node on 127.0.0.1: the dev node's (<see cref="Fjord.Server.Node.DevNode.ConfigText"/>:
    /// node 1, broker on <paramref name="brokerPort"/>, controller on <paramref name="controllerPort"/>, logs and the
    /// metadata log in <c><paramref name="dataDir"/>/logs</c>, every replication factor and min ISR 1, topics created on
    /// first use); <paramref name="extra"/> lines follow (a later line of the same key wins).
    /// </summary>
    public static string SingleNodeConfig(int brokerPort, int controllerPort, string dataDir, string extra = "") =>
        Fjord.Server.Node.DevNode.ConfigText(dataDir, brokerPort, controllerPort) + extra + "\n";

    /// <summary>The metadata log dir of node <paramref name="id"/>.</summary>
    public string MetadataDir(int id) => Sub($"controller-{id}");

    /// <summary>Writes <c>controller-&lt;id&gt;.properties</c> (Kafka's keys) and returns its path.</summary>
    public string WriteControllerConfig(int id, IReadOnlyDictionary<int, int> voterPorts, string extra = "")
    {
        var voters = string.Join(",", voterPorts.OrderBy(v => v.Key).Select(v => $"{v.Key}@127.0.0.1:{v.Value}"));
        var path = Sub($"controller-{id}.properties");
        File.WriteAllText(path, $"""
            process.roles=controller
            node.id={id}
            controller.quorum.voters={voters}
            listeners=CONTROLLER://127.0.0.1:{voterPorts[id]}
            controller.listener.names=CONTROLLER
            metadata.log.dir={MetadataDir(id)}
            log.dirs={MetadataDir(id)}
            {extra}
            """);
        return path;
    }

    /// <summary>Writes <c>controller-&lt;id&gt;.properties</c> for a dynamic quorum (KIP-853: no
    /// <c>controller.quorum.voters</c>, <c>controller.quorum.bootstrap.servers</c> instead) and returns its path.</summary>
    public string WriteDynamicControllerConfig(int id, int port, IEnumerable<int> bootstrapPorts, string extra = "")
    {
        var path = Sub($"controller-{id}.properties");
        File.WriteAllText(path, $"""
            process.roles=controller
            node.id={id}
            controller.quorum.bootstrap.servers={string.Join(",", bootstrapPorts.Select(p => $"127.0.0.1:{p}"))}
            listeners=CONTROLLER://127.0.0.1:{port}
            controller.listener.names=CONTROLLER
            metadata.log.dir={MetadataDir(id)}
            log.dirs={MetadataDir(id)}
            {extra}
            """);
        return path;
    }

    /// <summary><c>fjord storage format</c> with <paramref name="flags"/> (in-process: the same code the CLI runs).</summary>
    public static void Format(string configPath, params string[] flags)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(["storage", "format", "--config", configPath, "--cluster-id", ClusterId, .. flags], o, e);
        if (code != 0) throw new InvalidOperationException($"storage format failed ({code}): {e}");
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
