using System.Diagnostics;
using System.Globalization;
using Fjord.Common;
using Fjord.Server;
using Xunit.Abstractions;

namespace Fjord.Cluster.Tests;

/// <summary>
/// A dynamic quorum (KIP-853) of real controller processes grown and shrunk with
/// <c>metadata-quorum add-controller / remove-controller</c>: controller 1 formatted
/// <c>--standalone</c>, 2 and 3 <c>--no-initial-controllers</c> and bootstrapped from 1, each an
/// observer until added; SIGKILL of the leader and a successor among the survivors; the killed one
/// restarting from its disk and rejoining; a follower removed; the logs compared on disk.
/// </summary>
public sealed class DynamicQuorumTests(ITestOutputHelper output) : IDisposable
{
    private const int ElectionTimeoutMs = 500;
    private const int FetchTimeoutMs = 1000;
    private const int NoOpIntervalMs = 100;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private static readonly int[] Ids = [1, 2, 3];

    private readonly ClusterDirectory _dir = new();
    private readonly Dictionary<int, FjordProcess> _processes = [];
    private readonly List<FjordProcess> _retired = [];
    private readonly List<string> _commands = [];

    public void Dispose()
    {
        foreach (var p in _processes.Values.Concat(_retired)) p.Dispose();
        _dir.Dispose();
    }

    private FjordProcess StartController(int id, string config)
    {
        var process = FjordProcess.Start($"controller-{id}", "server", "start", "--config", config, "--verbose");
        _processes[id] = process;
        return process;
    }

    /// <summary>Runs <c>fjord metadata-quorum --bootstrap-controller 127.0.0.1:PORT …</c> as a process of its own.</summary>
    private async Task<(int Code, string Out, string Err)> MetadataQuorum(int port, params string[] args)
    {
        var result = await FjordProcess.RunAsync(Bound, ["metadata-quorum", "--bootstrap-controller", $"127.0.0.1:{port}", .. args]);
        _commands.Add($"$ metadata-quorum {string.Join(' ', args)} (at {port}) -> {result.Code}\n{result.Out}{result.Err}");
        return result;
    }

    /// <summary><c>describe --status</c> as label → value.</summary>
    private async Task<Dictionary<string, string>> Status(int port)
    {
        var status = await MetadataQuorum(port, "describe", "--status");
        Assert.True(status.Code == 0, status.Err);
        return status.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToDictionary(l => l[..l.IndexOf(':', StringComparison.Ordinal)], l => l[24..]);
    }

    private static async Task WaitUntil(Func<Task<bool>> condition, Func<string> describe)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > Bound) throw new TimeoutException($"not within {Bound.TotalSeconds} s: {describe()}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Controllers_join_with_add_controller_survive_SIGKILL_of_the_leader_rejoin_and_one_leaves_with_remove_controller()
    {
        var ports = Ids.Zip(ClusterDirectory.FreePorts(Ids.Length)).ToDictionary(p => p.First, p => p.Second);
        string extra = $"""
            controller.quorum.election.timeout.ms={ElectionTimeoutMs}
            controller.quorum.fetch.timeout.ms={FetchTimeoutMs}
            metadata.max.idle.interval.ms={NoOpIntervalMs}
            """;
        var configs = Ids.ToDictionary(id => id, id => _dir.WriteDynamicControllerConfig(id, ports[id], [ports[1]], extra));
        ClusterDirectory.Format(configs[1], "--standalone");
        ClusterDirectory.Format(configs[2], "--no-initial-controllers");
        ClusterDirectory.Format(configs[3], "--no-initial-controllers");
        var dirs = Ids.ToDictionary(id => id, id => MetaProperties.ReadFrom(_dir.MetadataDir(id))!.DirectoryId!.Value);
        using var probe = new QuorumProbe(ports);
        QuorumView? view = null;
        string Endpoint(int id) => $"CONTROLLER://127.0.0.1:{ports[id]}";
        string Voter(int id) => $"{{\"id\": {id}, \"directoryId\": \"{dirs[id]}\", \"endpoints\": [\"{Endpoint(id)}\"]}}";
        string Observer(int id) => $"{{\"id\": {id}, \"directoryId\": \"{dirs[id]}\"}}";
        var sw = Stopwatch.StartNew();
        var timings = new List<string>();
        void Mark(string what)
        {
            timings.Add($"{sw.ElapsedMilliseconds,6} ms  {what}");
            output.WriteLine($"{sw.ElapsedMilliseconds,6} ms  {what}");
        }

        try
        {
            // 1. Controller 1, the only voter of the bootstrap snapshot, leads alone.
            StartController(1, configs[1]);
            await WaitUntil(async () => (view = await probe.DescribeAsync(1)) is { IsLeader: true, HighWatermark: > 0 }, () => $"{view}");
            var status = await Status(ports[1]);
            Assert.Equal("1", status["LeaderId"]);
            Assert.Equal($"[{Voter(1)}]", status["CurrentVoters"]);
            Assert.Equal("[]", status["CurrentObservers"]);
            Mark("controller 1 leads alone");

            // 2. and 3. Each joins as an observer (bootstrapped from controller 1), then add-controller makes it a voter.
            foreach (var id in new[] { 2, 3 })
            {
                StartController(id, configs[id]);
                await WaitUntil(async () => (await Status(ports[1]))["CurrentObservers"] == $"[{Observer(id)}]", () => _commands[^1]);
                Mark($"controller {id} is an observer");
                // Asked at the newest voter: the command finds the leader from there.
                var added = await MetadataQuorum(ports[id - 1], "add-controller", "--command-config", configs[id]);
                Assert.True(added.Code == 0, added.Err);
                Assert.Equal($"Added controller {id} with directory id {dirs[id]} and endpoints: {Endpoint(id)}", added.Out);
                Mark($"controller {id} added");
                status = await Status(ports[id]);
                Assert.Equal("1", status["LeaderId"]);
                Assert.Equal($"[{string.Join(", ", Enumerable.Range(1, id).Select(Voter))}]", status["CurrentVoters"]);
                Assert.Equal("[]", status["CurrentObservers"]);
            }

            // Adding a voter twice is the leader's DUPLICATE_VOTER: one line, exit 1.
            var again = await MetadataQuorum(ports[1], "add-controller", "--command-config", configs[3]);
            Assert.Equal(1, again.Code);
            Assert.Empty(again.Out);
            Assert.StartsWith($"fjord: AddRaftVoter at 127.0.0.1:{ports[1]} failed: DUPLICATE_VOTER: The voter id for 3:{dirs[3]} is already part of the set of voters", again.Err);

            // 4. Three voters commit; then SIGKILL the leader.
            await WaitUntil(async () => (view = await probe.DescribeAsync(1)) is { IsLeader: true, Voters.Count: 3 } v
                                        && v.HighWatermark >= 20 && v.Voters.All(r => r.LogEndOffset >= v.HighWatermark), () => $"{view}");
            long committedBeforeKill = view!.HighWatermark;
            int killedEpoch = view.Epoch;
            var killed = _processes[1];
            killed.Kill();
            _processes.Remove(1);
            _retired.Add(killed);
            probe.Forget(1);
            Mark($"SIGKILL of leader 1 (epoch {killedEpoch}, committed below {committedBeforeKill})");
            QuorumView? successor = null;
            await WaitUntil(async () =>
            {
                foreach (var id in new[] { 2, 3 })
                    if (await probe.DescribeAsync(id) is { IsLeader: true } v && v.Epoch > killedEpoch) successor = v;
                return successor is not null;
            }, () => "no successor among 2 and 3");
            Mark($"controller {successor!.NodeId} leads epoch {successor.Epoch}");
            int survivor = successor.NodeId == 2 ? 3 : 2;
            await WaitUntil(async () => (successor = await probe.DescribeAsync(successor.NodeId)) is { IsLeader: true, HighWatermark: > 0 }
                                        && successor.HighWatermark >= committedBeforeKill + 5, () => $"{successor}");
            status = await Status(ports[survivor]); // asked at the other survivor
            int leaderId = int.Parse(status["LeaderId"], CultureInfo.InvariantCulture);
            Assert.Equal(successor!.NodeId, leaderId);
            Assert.True(long.Parse(status["HighWatermark"], CultureInfo.InvariantCulture) >= committedBeforeKill,
                $"high watermark {status["HighWatermark"]} below {committedBeforeKill}, committed before the kill");
            Assert.Equal($"[{string.Join(", ", Ids.Select(Voter))}]", status["CurrentVoters"]);

            // 5. Controller 1 restarts from its disk (it knows the voters from its log) and catches up as a follower.
            var restarted = StartController(1, configs[1]);
            await WaitUntil(async () => (view = await probe.DescribeAsync(leaderId)) is { IsLeader: true } v
                                        && v.Voters.Count == 3 && v.LogEndOffsetOf(1) == v.LogEndOffsetOf(leaderId) && v.LogEndOffsetOf(1) > committedBeforeKill
                                        && await probe.DescribeAsync(1) is { IsLeader: false } mine && mine.LeaderId == leaderId,
                () => $"{view}");
            Mark($"controller 1 rejoined and caught up at {view!.LogEndOffsetOf(1)}");

            // 6. remove-controller takes a follower out: two voters remain, and it keeps fetching as an observer.
            int removed = Ids.First(id => id != leaderId);
            int remaining = Ids.First(id => id != leaderId && id != removed);
            var removal = await MetadataQuorum(ports[removed], "remove-controller", "--controller-id", $"{removed}", "--controller-directory-id", $"{dirs[removed]}");
            Assert.True(removal.Code == 0, removal.Err);
            Assert.Equal($"Removed KRaft controller {removed} with directory id {dirs[removed]}", removal.Out);
            Mark($"controller {removed} removed");
            status = await Status(ports[remaining]);
            Assert.Equal($"{leaderId}", status["LeaderId"]);
            Assert.Equal($"[{string.Join(", ", Ids.Where(id => id != removed).Select(Voter))}]", status["CurrentVoters"]);
            await WaitUntil(async () => (await Status(ports[remaining]))["CurrentObservers"] == $"[{Observer(removed)}]", () => _commands[^1]);
            var gone = await MetadataQuorum(ports[leaderId], "remove-controller", "--controller-id", $"{removed}", "--controller-directory-id", $"{dirs[removed]}");
            Assert.Equal(1, gone.Code);
            Assert.StartsWith($"fjord: RemoveRaftVoter at 127.0.0.1:{ports[leaderId]} failed: VOTER_NOT_FOUND: ", gone.Err);

            // 7. The two voters keep committing; then every controller stops (SIGTERM, exit 0) and the logs agree on disk.
            await WaitUntil(async () => (view = await probe.DescribeAsync(leaderId)) is { IsLeader: true, Voters.Count: 2 } v
                                        && v.HighWatermark > committedBeforeKill + 10 && v.Observers.Any(o => o.ReplicaId == removed && o.LogEndOffset >= v.HighWatermark),
                () => $"{view}");
            long committedAtStop = view!.HighWatermark;
            foreach (var p in _processes.Values) p.Terminate();
            foreach (var (id, p) in _processes) Assert.True(await p.WaitForExitAsync(Bound) == 0, $"controller {id} did not exit 0\n{p.Transcript()}");
            Mark("all stopped");
            LogComparison.AssertIdentical(_dir, Ids, committedAtStop, output);
            Assert.Contains(restarted.Lines("out"), l => l.StartsWith($"raft: leader {leaderId} epoch ", StringComparison.Ordinal) && l.EndsWith("(node 1 is Follower)", StringComparison.Ordinal));
            Console.WriteLine($"fjord dynamic quorum test:\n{string.Join('\n', timings)}");
        }
        catch
        {
            foreach (var c in _commands) output.WriteLine(c);
            foreach (var p in _processes.Values.Concat(_retired)) output.WriteLine(p.Transcript());
            throw;
        }
    }
}
