using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Fjord.Cli.Perf;
using Fjord.Server;
using Fjord.Server.Node;

namespace Fjord.Benchmarks;

/// <summary>
/// <c>-- broker</c>: a real combined node (in-process <see cref="BrokerServer"/>, free ports, a temp
/// directory) under <c>fjord perf produce</c>, beside two references measured in the same run: the
/// loopback TCP bandwidth and a plain socket-to-file copy (a TCP receiver appending what it reads to a
/// file in 1 KiB writes). Targets: one node, 1 KiB records, acks=1 ≥ 60 % of the socket-to-file copy;
/// p99 produce latency at half the measured 1 KiB load &lt; 10 ms. Every phase is bounded in count and time.
/// </summary>
public static class BrokerBench
{
    private const double MiB = 1024 * 1024;

    public static void Run(string[] args)
    {
        ThreadPool.GetMinThreads(out int w, out int io);
        ThreadPool.SetMinThreads(Math.Max(w, 16), Math.Max(io, 16));
        double seconds = args.Length > 0 && double.TryParse(args[0], out var s) ? s : 5;
        var root = Directory.CreateTempSubdirectory("fjord-broker-bench-").FullName;
        try
        {
            Console.WriteLine($"broker bench: {Environment.ProcessorCount} CPUs, load average {LoadAverage()}, temp dir {root}");
            double loopback = LoopbackMBps(TimeSpan.FromSeconds(3));
            Console.WriteLine($"loopback TCP: {loopback:F0} MB/s");
            double copy = SocketToFileMBps(Path.Combine(root, "copy.bin"), TimeSpan.FromSeconds(3));
            Console.WriteLine($"socket-to-file copy (1 KiB writes): {copy:F0} MB/s");
            File.Delete(Path.Combine(root, "copy.bin"));

            var server = StartNode(Path.Combine(root, "node1"));
            try
            {
                string bootstrap = $"127.0.0.1:{server.BoundEndpoint("PLAINTEXT").Port}";
                var small = Produce(bootstrap, "perf-100", 100, -1, seconds, 20_000_000);
                var large = Produce(bootstrap, "perf-1k", 1024, -1, seconds, 5_000_000);
                double half = Math.Max(1000, large.RecordsPerSec / 2);
                var paced = Produce(bootstrap, "perf-1k-half", 1024, half, seconds, (long)(half * seconds) + 1);
                var consumed = Consume(bootstrap, "perf-1k", large.Records);

                Console.WriteLine();
                Console.WriteLine($"{"figure",-44} {"measured",-34} {"reference / target",-40}");
                Console.WriteLine($"{"loopback TCP bandwidth",-44} {loopback,8:F0} MB/s{"",-20} {"(reference)",-40}");
                Console.WriteLine($"{"socket-to-file copy, 1 KiB writes",-44} {copy,8:F0} MB/s{"",-20} {"(reference)",-40}");
                Console.WriteLine($"{"produce 100 B, acks=1, 1 node",-44} {small.MBPerSec,8:F1} MB/s {small.RecordsPerSec,10:F0} rec/s   {$"{100 * small.MBPerSec / copy:F0} % of the copy",-40}");
                Console.WriteLine($"{"produce 1 KiB, acks=1, 1 node",-44} {large.MBPerSec,8:F1} MB/s {large.RecordsPerSec,10:F0} rec/s   {$"{100 * large.MBPerSec / copy:F0} % of the copy (target ≥ 60 %)",-40} {(large.MBPerSec >= 0.6 * copy ? "MET" : "MISSED")}");
                Console.WriteLine($"{"  its latency p50 / p99 / max",-44} {large.P50Ms,6:F2} / {large.P99Ms:F2} / {large.MaxMs:F2} ms");
                Console.WriteLine($"{$"p99 at half load ({half:F0} rec/s of 1 KiB)",-44} {paced.P99Ms,8:F2} ms (p50 {paced.P50Ms:F2}, p99.9 {paced.P999Ms:F2}, got {paced.RecordsPerSec:F0} rec/s)   {"target < 10 ms",-20} {(paced.P99Ms < 10 ? "MET" : "MISSED")}");
                Console.WriteLine($"{"consume 1 KiB (zero-copy fetch)",-44} {consumed.MBPerSec,8:F1} MB/s {consumed.RecordsPerSec,10:F0} rec/s   {$"{100 * consumed.MBPerSec / loopback:F0} % of loopback",-40}");
            }
            finally
            {
                server.StopAsync().Wait(TimeSpan.FromSeconds(30));
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; } catch (IOException) { return "?"; }
    }

    private static ProducerPerfResult Produce(string bootstrap, string topic, int size, double throughput, double seconds, long maxRecords)
    {
        Console.WriteLine($"-- perf produce {topic}: {size} B records, acks=1, throughput {(throughput < 0 ? "unlimited" : $"{throughput:F0} rec/s")}, {seconds} s");
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
            Acks = 1,
            Throughput = throughput,
            BatchSize = 65536,
            LingerMs = 5,
            MaxInFlight = 5,
            Partitions = 1,
            ReplicationFactor = 1,
            MaxDuration = TimeSpan.FromSeconds(seconds),
        }, Console.Out, cts.Token).GetAwaiter().GetResult();
        Console.WriteLine(result);
        long records = Math.Max(1, result.Records);
        Console.WriteLine($"   whole process (broker + producer): {(GC.GetTotalAllocatedBytes() - allocated) / (double)records:F0} B allocated/record, " +
            $"{((long)Process.GetCurrentProcess().TotalProcessorTime.TotalMicroseconds - cpu) / (double)records:F2} µs CPU/record, " +
            $"GCs {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2} (gen0/1/2), " +
            $"GC pauses {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds:F0} ms");
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
