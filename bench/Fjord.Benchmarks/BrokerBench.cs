using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Fjord.Cli.Perf;
using Fjord.Network;
using Fjord.Server;
using Fjord.Server.Node;

namespace Fjord.Benchmarks;

/// <summary>
/// <c>-- broker</c>: a real combined node (in-process <see cref="BrokerServer"/>, free ports, a temp
/// directory) under <c>fjord perf produce</c>, beside two references measured in the same run: the
/// loopback TCP bandwidth and a plain socket-to-file copy (a TCP receiver appending what it reads to a
/// file in 1 KiB writes). Targets: one node, 1 KiB records, acks=1 ≥ 60 % of the socket-to-file copy;
/// p99 produce latency at half the measured 1 KiB load &lt; 10 ms. Then the same producer with acks=all
/// against three combined nodes running as real processes (<see cref="BenchCluster"/>), topics with
/// replication factor 3 and min.insync.replicas=2 (no target; printed beside the one-node figures and
/// the references). Every phase is bounded in count and time; every node is stopped or killed in a finally block.
/// </summary>
public static class BrokerBench
{
    private const double MiB = 1024 * 1024;

    /// <summary>The rate of the latency probes (1 KiB records, linger 0: one record per request).</summary>
    private const double ProbeRate = 200;

    /// <summary>One produce phase as the summary table prints it.</summary>
    private sealed record Phase(string Name, int RecordSize, ProducerPerfResult Result, string Versus);

    /// <summary><c>-- broker [SECONDS] [--no-rf3 | --rf3-only]</c>: the references, then (unless <c>--rf3-only</c>) the
    /// one-node phases, then (unless <c>--no-rf3</c>) the RF=3 phases on three node processes.</summary>
    public static void Run(string[] args)
    {
        ThreadPool.GetMinThreads(out int w, out int io);
        ThreadPool.SetMinThreads(Math.Max(w, 16), Math.Max(io, 16));
        double seconds = args.Length > 0 && double.TryParse(args[0], out var s) ? s : 5;
        bool oneNode = !args.Contains("--rf3-only"), rf3 = !args.Contains("--no-rf3");
        var root = Directory.CreateTempSubdirectory("fjord-broker-bench-").FullName;
        try
        {
            Console.WriteLine($"broker bench: {Environment.ProcessorCount} CPUs, load average {LoadAverage()}, temp dir {root}");
            double loopback = LoopbackMBps(TimeSpan.FromSeconds(3));
            Console.WriteLine($"loopback TCP: {loopback:F0} MB/s");
            double copy = SocketToFileMBps(Path.Combine(root, "copy.bin"), TimeSpan.FromSeconds(3));
            Console.WriteLine($"socket-to-file copy (1 KiB writes): {copy:F0} MB/s");
            File.Delete(Path.Combine(root, "copy.bin"));

            var phases = new List<Phase>();
            ConsumerPerfResult? consumed = null;
            if (oneNode)
            {
                var server = StartNode(Path.Combine(root, "node1"));
                try
                {
                    string bootstrap = $"127.0.0.1:{server.BoundEndpoint("PLAINTEXT").Port}";
                    var small = Produce(bootstrap, "perf-100", 100, 1, -1, seconds, 20_000_000);
                    phases.Add(new Phase("100 B, acks=1, 1 node", 100, small, $"{100 * small.MBPerSec / copy:F0} % of the copy"));
                    var large = Produce(bootstrap, "perf-1k", 1024, 1, -1, seconds, 5_000_000);
                    phases.Add(new Phase("1 KiB, acks=1, 1 node", 1024, large,
                        $"{100 * large.MBPerSec / copy:F0} % of the copy (target ≥ 60 %) {(large.MBPerSec >= 0.6 * copy ? "MET" : "MISSED")}"));
                    double half = Math.Max(1000, large.RecordsPerSec / 2);
                    var paced = Produce(bootstrap, "perf-1k-half", 1024, 1, half, seconds, (long)(half * seconds) + 1);
                    phases.Add(new Phase($"1 KiB, acks=1, 1 node, {half:F0} rec/s", 1024, paced,
                        $"p99 target < 10 ms {(paced.P99Ms < 10 ? "MET" : "MISSED")}"));
                    var probe = Produce(bootstrap, "perf-1k-probe", 1024, 1, ProbeRate, seconds, (long)(ProbeRate * seconds) + 1, lingerMs: 0);
                    phases.Add(new Phase($"1 KiB, acks=1, 1 node, {ProbeRate:F0} rec/s, linger 0", 1024, probe, "latency probe: one record per request"));
                    consumed = Consume(bootstrap, "perf-1k", large.Records);
                }
                finally
                {
                    server.StopAsync().Wait(TimeSpan.FromSeconds(30));
                }
            }
            if (rf3)
                RunRf3(Path.Combine(root, "rf3"), seconds, copy, phases);

            Console.WriteLine();
            Console.WriteLine($"load average now {LoadAverage()}");
            Console.WriteLine($"{"figure",-52} {"MB/s",8} {"rec/s",10} {"p50 ms",8} {"p99 ms",8} {"p99.9 ms",9} {"max ms",8}   reference / target");
            Console.WriteLine($"{"loopback TCP bandwidth",-52} {loopback,8:F0} {"",10} {"",8} {"",8} {"",9} {"",8}   (reference)");
            Console.WriteLine($"{"socket-to-file copy, 1 KiB writes",-52} {copy,8:F0} {"",10} {"",8} {"",8} {"",9} {"",8}   (reference)");
            foreach (var p in phases)
            {
                var r = p.Result;
                Console.WriteLine($"{"produce " + p.Name,-52} {r.MBPerSec,8:F1} {r.RecordsPerSec,10:F0} {r.P50Ms,8:F2} {r.P99Ms,8:F2} {r.P999Ms,9:F2} {r.MaxMs,8:F1}   {p.Versus}" +
                    (r.FailedRecords > 0 ? $"  ({r.FailedRecords} records FAILED)" : ""));
            }
            if (consumed is not null)
                Console.WriteLine($"{"consume 1 KiB (zero-copy fetch)",-52} {consumed.MBPerSec,8:F1} {consumed.RecordsPerSec,10:F0} {"",8} {"",8} {"",9} {"",8}   {100 * consumed.MBPerSec / loopback:F0} % of loopback");
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Three combined nodes as <c>fjord server start</c> processes (<see cref="BenchCluster"/>); topics with
    /// replication factor 3 and <c>min.insync.replicas=2</c>, each waited on until its ISR is all three; a
    /// 2 s warm-up (JIT of the fresh processes, unreported); then acks=all with 100 B and 1 KiB records,
    /// and 1 KiB at half the measured RF=3 rate. Then two latency probes (one record per request), acks=all and acks=1. The nodes are killed when it ends (using).
    /// </summary>
    private static void RunRf3(string dir, double seconds, double copy, List<Phase> phases)
    {
        Console.WriteLine("-- RF=3: starting 3 combined nodes (fjord server start processes)");
        var sw = Stopwatch.StartNew();
        using var cluster = BenchCluster.Start(dir, 3, TimeSpan.FromSeconds(120));
        Console.WriteLine($"   3 brokers up in {sw.Elapsed.TotalSeconds:F1} s; bootstrap {cluster.Bootstrap}");
        var topicConfigs = new Dictionary<string, string> { ["min.insync.replicas"] = "2" };
        try
        {
            IdleCpu(cluster, "no topics");
            foreach (var topic in new[] { "rf3-warmup", "rf3-100", "rf3-1k", "rf3-1k-half", "rf3-probe-all", "rf3-probe-1" })
                cluster.CreateTopic(topic, 1, 3, topicConfigs, TimeSpan.FromSeconds(60));
            IdleCpu(cluster, "6 idle RF=3 partitions");
            Produce(cluster.Bootstrap, "rf3-warmup", 1024, -1, -1, 2, 2_000_000, quiet: true, cluster: cluster);
            var small = Produce(cluster.Bootstrap, "rf3-100", 100, -1, -1, seconds, 20_000_000, cluster: cluster);
            phases.Add(new Phase("100 B, acks=all, RF=3", 100, small, $"{100 * small.MBPerSec / copy:F0} % of the copy"));
            var large = Produce(cluster.Bootstrap, "rf3-1k", 1024, -1, -1, seconds, 5_000_000, cluster: cluster);
            phases.Add(new Phase("1 KiB, acks=all, RF=3", 1024, large, $"{100 * large.MBPerSec / copy:F0} % of the copy"));
            double half = Math.Max(500, large.RecordsPerSec / 2);
            var paced = Produce(cluster.Bootstrap, "rf3-1k-half", 1024, -1, half, seconds, (long)(half * seconds) + 1, cluster: cluster);
            phases.Add(new Phase($"1 KiB, acks=all, RF=3, {half:F0} rec/s", 1024, paced, $"p99 {(paced.P99Ms < 10 ? "<" : "≥")} 10 ms"));
            // Latency probes, one record per request: acks=all against acks=1 on the same cluster isolates
            // what replication adds (a follower's fetch round trip and the HW's return), and would show a fixed wait.
            var probeAll = Produce(cluster.Bootstrap, "rf3-probe-all", 1024, -1, ProbeRate, seconds, (long)(ProbeRate * seconds) + 1, lingerMs: 0, cluster: cluster);
            phases.Add(new Phase($"1 KiB, acks=all, RF=3, {ProbeRate:F0} rec/s, linger 0", 1024, probeAll, "latency probe: one record per request"));
            var probeOne = Produce(cluster.Bootstrap, "rf3-probe-1", 1024, 1, ProbeRate, seconds, (long)(ProbeRate * seconds) + 1, lingerMs: 0, cluster: cluster);
            phases.Add(new Phase($"1 KiB, acks=1, RF=3, {ProbeRate:F0} rec/s, linger 0", 1024, probeOne, "latency probe: one record per request"));
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException or KafkaConnectionException)
        {
            Console.WriteLine($"RF=3 phase failed: {e.Message}\n{cluster.Transcripts()}");
            throw;
        }
    }

    /// <summary>Prints the CPU the three idle node processes use over 2 s (what they cost doing nothing).</summary>
    private static void IdleCpu(BenchCluster cluster, string what)
    {
        var before = cluster.NodesCpu();
        var sw = Stopwatch.StartNew();
        Thread.Sleep(2000); // measuring an idle interval, not waiting for anything
        Console.WriteLine($"   idle ({what}): the three node processes use {(cluster.NodesCpu() - before).TotalSeconds / sw.Elapsed.TotalSeconds:F2} cores");
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; } catch (IOException) { return "?"; }
    }

    private static ProducerPerfResult Produce(string bootstrap, string topic, int size, short acks, double throughput, double seconds, long maxRecords,
        bool quiet = false, int lingerMs = 5, BenchCluster? cluster = null)
    {
        bool inProcessBroker = cluster is null;
        var nodesCpu = cluster?.NodesCpu() ?? TimeSpan.Zero;
        Console.WriteLine($"-- perf produce {topic}: {size} B records, acks={(acks == -1 ? "all" : acks)}, throughput {(throughput < 0 ? "unlimited" : $"{throughput:F0} rec/s")}, " +
            $"linger {lingerMs} ms, {seconds} s{(quiet ? " (warm-up)" : "")}");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 60));
        long allocated = GC.GetTotalAllocatedBytes(), cpu = (long)Process.GetCurrentProcess().TotalProcessorTime.TotalMicroseconds;
        var pause = GC.GetTotalPauseDuration();
        int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
        var result = PerfProducer.RunAsync(new ProducerPerfOptions
        {
            BootstrapServers = bootstrap,
            Topic = topic,
            NumRecords = maxRecords,
            RecordSize = size,
            Acks = acks,
            Throughput = throughput,
            BatchSize = 65536,
            LingerMs = lingerMs,
            MaxInFlight = 5,
            Partitions = 1,
            ReplicationFactor = -1, // the broker's default.replication.factor (the RF=3 topics exist already)
            MaxDuration = TimeSpan.FromSeconds(seconds),
        }, quiet ? TextWriter.Null : Console.Out, cts.Token).GetAwaiter().GetResult();
        Console.WriteLine(result);
        long records = Math.Max(1, result.Records);
        Console.WriteLine($"   {(inProcessBroker ? "whole process (broker + producer)" : "this process (the producer; the brokers run elsewhere)")}: {(GC.GetTotalAllocatedBytes() - allocated) / (double)records:F0} B allocated/record, " +
            $"{((long)Process.GetCurrentProcess().TotalProcessorTime.TotalMicroseconds - cpu) / (double)records:F2} µs CPU/record, " +
            $"GCs {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2} (gen0/1/2), " +
            $"GC pauses {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds:F0} ms");
        if (cluster is not null)
        {
            double nodeMicros = (cluster.NodesCpu() - nodesCpu).TotalMicroseconds;
            Console.WriteLine($"   the three node processes: {nodeMicros / records:F2} µs CPU/record, {nodeMicros / 1e6 / Math.Max(0.001, result.Seconds):F2} cores busy on average");
        }
        return result;
    }

    private static ConsumerPerfResult Consume(string bootstrap, string topic, long records)
    {
        Console.WriteLine($"-- perf consume {topic}: {records} records");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var result = PerfConsumer.RunAsync(new ConsumerPerfOptions { BootstrapServers = bootstrap, Topic = topic, NumRecords = records }, Console.Out, cts.Token)
            .GetAwaiter().GetResult();
        Console.WriteLine(result);
        return result;
    }

    private static BrokerServer StartNode(string dir)
    {
        Directory.CreateDirectory(dir);
        int controllerPort = FreePort();
        var configPath = Path.Combine(dir, "server.properties");
        File.WriteAllText(configPath, $"""
            process.roles=broker,controller
            node.id=1
            controller.quorum.voters=1@127.0.0.1:{controllerPort}
            listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{controllerPort}
            listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
            controller.listener.names=CONTROLLER
            inter.broker.listener.name=PLAINTEXT
            log.dirs={Path.Combine(dir, "logs")}
            num.partitions=1
            default.replication.factor=1
            min.insync.replicas=1
            """ + "\n");
        var config = ServerConfig.Load(configPath);
        new StorageFormatter(config, TextWriter.Null).Format(new FormatOptions { ClusterId = "YnJva2VyLWJlbmNoLTAwMQ" });
        var unfenced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = BrokerServer.Start(config, line =>
        {
            if (line.Contains("unfenced", StringComparison.Ordinal)) unfenced.TrySetResult();
        });
        if (!unfenced.Task.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("the bench node was not unfenced within 60 s");
        return server;
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static (Socket Client, Socket Server) SocketPair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(listener.LocalEndPoint!);
        var server = listener.Accept();
        return (client, server);
    }

    /// <summary>One sender thread writing 64 KiB chunks, one receiver reading them, for <paramref name="duration"/>.</summary>
    private static double LoopbackMBps(TimeSpan duration) => Pump(duration, (buffer, n) => { });

    /// <summary>As <see cref="LoopbackMBps"/>, the receiver appending what it reads to a file in 1 KiB writes.</summary>
    private static double SocketToFileMBps(string path, TimeSpan duration)
    {
        using var file = File.OpenHandle(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        long position = 0;
        return Pump(duration, (buffer, n) =>
        {
            for (int at = 0; at < n; at += 1024)
            {
                int len = Math.Min(1024, n - at);
                RandomAccess.Write(file, buffer.AsSpan(at, len), position);
                position += len;
            }
        });
    }

    private static double Pump(TimeSpan duration, Action<byte[], int> sink)
    {
        var (client, server) = SocketPair();
        using (client)
        using (server)
        {
            var chunk = new byte[64 * 1024];
            new Random(1).NextBytes(chunk);
            long received = 0;
            var sw = Stopwatch.StartNew();
            var sender = new Thread(() =>
            {
                try
                {
                    while (sw.Elapsed < duration) client.Send(chunk);
                    client.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException) { }
            }) { IsBackground = true };
            sender.Start();
            var buffer = new byte[64 * 1024];
            while (true)
            {
                int n = server.Receive(buffer);
                if (n <= 0) break;
                sink(buffer, n);
                received += n;
                if (sw.Elapsed > duration + TimeSpan.FromSeconds(10)) break; // bound
            }
            double secs = sw.Elapsed.TotalSeconds;
            sender.Join(TimeSpan.FromSeconds(10));
            return received / MiB / secs;
        }
    }
}
