using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Fjord.Server.Controller;

namespace Fjord.Server.Tests.Controller;

/// <summary>Config files and formatted directories for in-process controllers, in one test's temp dir.</summary>
internal static class ControllerFixture
{
    public const string ClusterId = "MX1HbXq8TFymY2SYR1hGYg";
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    static ControllerFixture()
    {
        // As in RaftNetworkTests: a 2-core runner's thread pool must not stall socket continuations.
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), Math.Max(io, 16));
    }

    /// <summary>A port that was free a moment ago on 127.0.0.1.</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Writes <c>controller-&lt;id&gt;.properties</c> for a single-voter quorum on <paramref name="port"/>.</summary>
    public static string WriteSingleVoterConfig(TempDirectory dir, int port, string extra = "", int nodeId = 1) =>
        dir.WriteFile($"controller-{nodeId}.properties", $"""
            process.roles=controller
            node.id={nodeId}
            controller.quorum.voters={nodeId}@127.0.0.1:{port}
            listeners=CONTROLLER://127.0.0.1:{port}
            controller.listener.names=CONTROLLER
            log.dirs={dir.Sub($"meta-{nodeId}")}
            controller.quorum.election.timeout.ms=300
            controller.quorum.fetch.timeout.ms=600
            metadata.max.idle.interval.ms=50
            {extra}
            """);

    public static ServerConfig Format(string configPath)
    {
        var config = ServerConfig.Load(configPath);
        new StorageFormatter(config, TextWriter.Null).Format(new FormatOptions { ClusterId = ClusterId });
        return config;
    }

    public static async Task WaitUntil(Func<bool> condition, Func<string> describe)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > Bound) throw new TimeoutException($"not within {Bound.TotalSeconds} s: {describe()}");
            await Task.Delay(20);
        }
    }

    /// <summary>Starts a controller whose output lines are collected in <paramref name="lines"/>.</summary>
    public static ControllerServer Start(ServerConfig config, ConcurrentQueue<string> lines) =>
        ControllerServer.Start(config, lines.Enqueue, line => lines.Enqueue("trace: " + line));
}
