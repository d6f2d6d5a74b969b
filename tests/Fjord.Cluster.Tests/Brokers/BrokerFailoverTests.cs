using System.Diagnostics;
using Xunit.Abstractions;

namespace Fjord.Cluster.Tests.Brokers;

/// <summary>
/// Issue 6, "Must show" 2: real brokers replicate. An RF=3 topic with <c>min.insync.replicas=2</c>
/// takes records from an idempotent acks=all producer (confluent-kafka) while the active controller
/// is SIGKILLed (restarted once another leads), and then the leader of a partition is SIGKILLed
/// and restarted at once. Every acknowledged record is then read back in order per partition, at
/// the offset its acknowledgement named, without duplicates; the restarted brokers are back in
/// every ISR, and the restarted leader never acted on its stale on-disk image.
/// Run on a separate cluster (3 controllers + 3 broker-only observers) and a combined one (3 nodes
/// with both roles): <see cref="SeparateClusterFailoverTests"/> and <see cref="CombinedClusterFailoverTests"/>,
/// one class each (24-36 s each on this machine), in one collection that runs alone (not even beside
/// the project's other tests): twelve .NET processes and two producers at once would starve 2 cores.
/// </summary>
public abstract class BrokerFailoverTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>The issue asks for 100,000 records. The whole run (cluster start to verified read)
    /// stays under ~60 s per cluster on this 2-core machine with that count (measured 24-36 s,
    /// the stream itself ~20 s), so it is used as is.</summary>
    private const int Records = 100_000;

    /// <summary>Records/s: paced so that both kills fall in the middle of the stream (~20 s of producing).</summary>
    private const int Rate = 5_000;

    private const int Partitions = 3;
    private const string Topic = "acked";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    private readonly ClusterDirectory _dir = new();
    private BrokerCluster? _cluster;

    public void Dispose()
    {
        _cluster?.Dispose();
        _dir.Dispose();
        GC.SuppressFinalize(this);
    }

    protected async Task RunAsync(bool combined)
    {
        var clock = Stopwatch.StartNew();
        var cluster = _cluster = new BrokerCluster(_dir, output, combined);
        var (produceScript, consumeScript) = ClientScripts.WriteTo(_dir.Path);
        try
        {
            cluster.StartAll();
            var ready = await cluster.WaitForBrokersAsync(Bound);
            output.WriteLine($"{(combined ? "combined" : "separate")} cluster: brokers {string.Join(",", cluster.BrokerIds)} unfenced after {ready.TotalSeconds:F1} s");
            await cluster.CreateTopicAsync(Topic, Partitions, 3, new Dictionary<string, string> { ["min.insync.replicas"] = "2" }, Bound);
            await cluster.WaitUntilAsync(async () => await cluster.TopicAsync(Topic) is { } t && t.Partitions.Count == Partitions
                && t.Partitions.All(p => p.LeaderId >= 0 && p.IsrNodes.Count == 3), Bound, $"{Topic}: {Partitions} partitions with leaders and 3 in-sync replicas");

            string ackedFile = _dir.Sub("acked.txt"), consumedFile = _dir.Sub("consumed.txt");
            using var producer = ScriptProcess.Start(produceScript, cluster.Bootstrap, Topic, $"{Records}", $"{Partitions}", $"{Rate}", ackedFile);
            long Acked() => producer.Last("progress ") is { } l ? long.Parse(ScriptProcess.Fields(l)["acked"]) : 0;
            async Task WaitAcked(long n, string what) => await cluster.WaitUntilAsync(() =>
            {
                if (producer.HasExited) throw new InvalidOperationException($"the producer ended early\n{producer.Transcript}");
                return Task.FromResult(Acked() >= n);
            }, Bound, $"{n} records acknowledged {what} (now {Acked()})\n{producer.Transcript}");

            // 1. SIGKILL the active controller while records flow; restart it once another leads.
            await WaitAcked(Records / 10, "before the controller kill");
            var (active, epoch) = await cluster.QuorumLeaderAsync() ?? throw new InvalidOperationException($"no active controller\n{cluster.Transcripts()}");
            long ackedAtControllerKill = Acked();
            var controllerKilledAt = clock.Elapsed;
            long controllerKillMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            await cluster.KillAsync(active);
            output.WriteLine($"SIGKILL active controller {active} (epoch {epoch}) at {controllerKilledAt.TotalSeconds:F1} s with {ackedAtControllerKill} acknowledged");
            (int Leader, int Epoch)? next = null;
            await cluster.WaitUntilAsync(async () => (next = await cluster.QuorumLeaderAsync()) is { } n && n.Epoch > epoch, Bound, "a new active controller");
            output.WriteLine($"controller {next!.Value.Leader} active in epoch {next.Value.Epoch}, {(clock.Elapsed - controllerKilledAt).TotalSeconds:F1} s after the kill; restarting {active}");
            var restartedController = cluster.Start(active);
            if (combined)
            {
                // Its broker must be back before the next kill (else two of three nodes would be down).
                await restartedController.WaitForLineAsync(l => l.Contains("unfenced at metadata offset", StringComparison.Ordinal), Bound, "unfenced");
                await cluster.WaitUntilAsync(async () => await cluster.TopicAsync(Topic) is { } t && t.Partitions.All(p => p.IsrNodes.Count == 3),
                    Bound, $"node {active} back in every ISR of {Topic}");
                output.WriteLine($"node {active} back in every ISR {(clock.Elapsed - controllerKilledAt).TotalSeconds:F1} s after its SIGKILL");
            }

            // 2. SIGKILL the leader of partition 0 mid-stream and restart it at once. (This order: the
            //    restarted broker may take long to rejoin on a loaded machine; the stream need not last that long.)
            await WaitAcked(Records * 4 / 10, "before the leader kill");
            Assert.True(Acked() < Records * 9 / 10, $"the stream nearly ended before the leader kill ({Acked()} acknowledged): slow the producer down");
            var before = await cluster.TopicAsync(Topic) ?? throw new InvalidOperationException("no metadata");
            var p0 = before.Partitions.Single(p => p.PartitionIndex == 0);
            int leader = p0.LeaderId;
            long ackedAtKill = Acked();
            var killedAt = clock.Elapsed;
            long leaderKillMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            await cluster.KillAsync(leader);
            var restarted = cluster.Start(leader);
            output.WriteLine($"SIGKILL broker {leader} (leader of {Topic}-0 in epoch {p0.LeaderEpoch}) at {killedAt.TotalSeconds:F1} s with {ackedAtKill} acknowledged; restarted");
            await cluster.WaitUntilAsync(async () => await cluster.TopicAsync(Topic) is { } t
                && t.Partitions.Single(p => p.PartitionIndex == 0) is var q && q.LeaderId >= 0 && q.LeaderId != leader && q.LeaderEpoch > p0.LeaderEpoch,
                Bound, $"a new leader of {Topic}-0 after broker {leader}'s SIGKILL");
            output.WriteLine($"{Topic}-0 has a new leader {(clock.Elapsed - killedAt).TotalSeconds:F1} s after the SIGKILL");
            await restarted.WaitForLineAsync(l => l.Contains("unfenced at metadata offset", StringComparison.Ordinal), Bound, "unfenced");
            await cluster.WaitUntilAsync(async () => await cluster.TopicAsync(Topic) is { } t
                && t.Partitions.All(p => p.IsrNodes.Contains(leader) && p.LeaderId >= 0), Bound, $"broker {leader} back in every ISR of {Topic}");
            output.WriteLine($"broker {leader} unfenced and back in every ISR {(clock.Elapsed - killedAt).TotalSeconds:F1} s after its SIGKILL ({Acked()} acknowledged by then)");
            // Restarted, it must not act on the stale image on its disk (leader of p0 in the killed epoch):
            // it would take writes, or answer its old followers with a diverging epoch and cut acknowledged records.
            Assert.DoesNotContain(restarted.Lines("out"), l => l.Contains($"{Topic}-0: leader in epoch {p0.LeaderEpoch} ", StringComparison.Ordinal));

            // 3. The producer ends: everything acknowledged, nothing failed.
            await producer.WaitForExitAsync(Bound);
            var done = producer.Last("done ") ?? throw new InvalidOperationException($"no summary from the producer\n{producer.Transcript}");
            output.WriteLine($"producer: {done}");
            var summary = ScriptProcess.Fields(done);
            Assert.True(summary["failed"] == "0" && summary["fatal"] == "0" && summary["remaining"] == "0" && summary["acked"] == $"{Records}",
                $"producer: {done}\n{producer.Transcript}\n{cluster.Transcripts()}");

            // 4. Every broker back in every ISR (the restarted ones included).
            await cluster.WaitUntilAsync(async () => await cluster.TopicAsync(Topic) is { } t
                && t.Partitions.All(p => p.LeaderId >= 0 && p.IsrNodes.Count == 3), Bound, $"full ISRs of {Topic} after the run");
            var final = await cluster.TopicAsync(Topic);
            foreach (var p in final!.Partitions.OrderBy(p => p.PartitionIndex))
                output.WriteLine($"{Topic}-{p.PartitionIndex}: leader {p.LeaderId} epoch {p.LeaderEpoch}, replicas [{string.Join(",", p.ReplicaNodes)}], isr [{string.Join(",", p.IsrNodes)}]");

            // 5. Read everything back and compare.
            using (var consumer = ScriptProcess.Start(consumeScript, cluster.Bootstrap, Topic, $"{Partitions}", consumedFile))
            {
                await consumer.WaitForExitAsync(Bound);
                var line = consumer.Last("consumed=") ?? throw new InvalidOperationException($"no summary from the consumer\n{consumer.Transcript}");
                output.WriteLine($"consumer: {line}");
                Assert.True(ScriptProcess.Fields(line)["complete"] == "True", $"consumer: {line}\n{consumer.Transcript}");
            }
            var ackedLines = File.ReadAllLines(ackedFile);
            output.WriteLine($"longest pause in acknowledgements (any partition): after the controller kill {LongestGap(ackedLines, controllerKillMs, leaderKillMs)} ms" +
                (combined ? " (combined: that kill takes a broker of every ISR down too)" : "") +
                $", after the leader kill {LongestGap(ackedLines, leaderKillMs, leaderKillMs + 20_000)} ms");
            Verify(ackedLines, File.ReadAllLines(consumedFile));
            output.WriteLine($"all {Records} acknowledged records read back in order, once each; whole run {clock.Elapsed.TotalSeconds:F1} s");
        }
        catch
        {
            output.WriteLine(cluster.Transcripts(200));
            throw;
        }
    }

    /// <summary>The longest pause between two consecutive acknowledgements of one partition among those
    /// from 1 s before <paramref name="eventMs"/> to <paramref name="endMs"/> (unix ms).</summary>
    private static long LongestGap(string[] ackedLines, long eventMs, long endMs)
    {
        long longest = 0;
        foreach (var partition in ackedLines.Select(l => l.Split(' ')).Select(w => (P: w[0], Ms: long.Parse(w[3])))
                     .Where(a => a.Ms >= eventMs - 1000 && a.Ms <= endMs).GroupBy(a => a.P))
        {
            var times = partition.Select(a => a.Ms).ToList();
            for (int i = 1; i < times.Count; i++) longest = Math.Max(longest, times[i] - times[i - 1]);
        }
        return longest;
    }

    /// <summary>Every acknowledged record is read at the partition and offset its acknowledgement named;
    /// per partition offsets and sequence numbers only increase (order, no duplicates); nothing else is read.</summary>
    private void Verify(string[] ackedLines, string[] consumedLines)
    {
        static (int Partition, long Offset, string Value, long Seq) Parse(string line)
        {
            var w = line.Split(' ');
            return (int.Parse(w[0]), long.Parse(w[1]), w[2], long.Parse(w[2][(w[2].IndexOf('-') + 1)..]));
        }
        var acked = ackedLines.Select(Parse).ToList();
        var consumed = consumedLines.Select(Parse).ToList();
        Assert.Equal(Records, acked.Count);
        var byValue = new Dictionary<string, (int, long)>();
        var duplicates = new List<string>();
        foreach (var c in consumed)
            if (!byValue.TryAdd(c.Value, (c.Partition, c.Offset))) duplicates.Add(c.Value);
        Assert.True(duplicates.Count == 0, $"{duplicates.Count} duplicates, e.g. {string.Join(" ", duplicates.Take(5))}");
        var missing = acked.Where(a => !byValue.ContainsKey(a.Value)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} acknowledged records not read back, e.g. {string.Join(" ", missing.Take(5))}");
        var moved = acked.Where(a => byValue[a.Value] != (a.Partition, a.Offset)).ToList();
        Assert.True(moved.Count == 0, $"{moved.Count} records read at another offset than acknowledged, e.g. {string.Join(" ", moved.Take(5))}");
        foreach (var group in consumed.GroupBy(c => c.Partition))
        {
            var list = group.ToList();
            for (int i = 1; i < list.Count; i++)
                Assert.True(list[i].Offset > list[i - 1].Offset && list[i].Seq > list[i - 1].Seq,
                    $"partition {group.Key} out of order at offset {list[i].Offset}: {list[i - 1].Value} then {list[i].Value}");
        }
        Assert.Equal(acked.Count, consumed.Count);
    }
}

/// <summary>3 controllers (1-3) and 3 broker-only nodes (4-6).</summary>
[Collection(BrokerClusterCollection.Name)]
public sealed class SeparateClusterFailoverTests(ITestOutputHelper output) : BrokerFailoverTests(output)
{
    [Fact]
    public Task No_acknowledged_record_is_lost_or_duplicated_through_a_leader_SIGKILL_and_an_active_controller_SIGKILL() =>
        RunAsync(combined: false);
}

/// <summary>3 nodes with <c>process.roles=broker,controller</c>.</summary>
[Collection(BrokerClusterCollection.Name)]
public sealed class CombinedClusterFailoverTests(ITestOutputHelper output) : BrokerFailoverTests(output)
{
    [Fact]
    public Task No_acknowledged_record_is_lost_or_duplicated_through_a_leader_SIGKILL_and_an_active_controller_SIGKILL() =>
        RunAsync(combined: true);
}

/// <summary>The multi-broker tests run one at a time and not alongside the project's other tests
/// (each starts up to six .NET processes and a client; the controller tests measure failover times).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrokerClusterCollection
{
    public const string Name = "broker clusters";
}
