using System.Collections.Concurrent;
using System.Globalization;
using Xunit.Abstractions;

namespace Fjord.Raft.Simulation;

/// <summary>
/// Seeded whole-quorum simulations. The default run covers 2,000 seeds (FJORD_SIM_SEEDS changes
/// it); a failure names its seed and the command that replays it (FJORD_SIM_SEED=n … --filter Replay).
/// </summary>
public sealed class SimulationTests(ITestOutputHelper output)
{
    [Fact]
    public void Every_seed_keeps_the_invariants_and_recovers_a_leader()
    {
        int seeds = int.TryParse(Environment.GetEnvironmentVariable("FJORD_SIM_SEEDS"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 2_000;
        var failures = new ConcurrentBag<SimulationFailure>();
        long proposals = 0, committed = 0, snapshots = 0, installs = 0, dynamicSeeds = 0, membershipRequests = 0, voterChanges = 0;
        Parallel.For(0, seeds, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, seed =>
        {
            var cluster = new SimulatedCluster(seed);
            try
            {
                cluster.Run();
                Interlocked.Add(ref proposals, cluster.Proposals);
                Interlocked.Add(ref committed, cluster.Committed);
                Interlocked.Add(ref snapshots, cluster.SnapshotsTaken);
                Interlocked.Add(ref installs, cluster.SnapshotInstalls);
                if (cluster.IsDynamic) Interlocked.Increment(ref dynamicSeeds);
                Interlocked.Add(ref membershipRequests, cluster.MembershipRequests);
                Interlocked.Add(ref voterChanges, cluster.VoterChanges);
            }
            catch (SimulationFailure failure) { failures.Add(failure); }
        });
        output.WriteLine($"{seeds} seeds, {proposals} proposals, {committed} committed batches, {snapshots} snapshots taken, " +
            $"{installs} snapshots fetched and installed, {dynamicSeeds} dynamic quorums with {membershipRequests} add/remove requests " +
            $"and {voterChanges} committed voter-set changes, {failures.Count} failures");
        if (!failures.IsEmpty)
            Assert.Fail($"{failures.Count} of {seeds} seeds failed; the first:\n{failures.OrderBy(f => f.Seed).First().Message}");
        Assert.True(committed > seeds, $"only {committed} batches committed over {seeds} seeds: the runs are not exercising replication");
        Assert.True(installs > 0, $"no snapshot was fetched and installed over {seeds} seeds: the runs are not exercising FetchSnapshot");
        Assert.True(voterChanges > dynamicSeeds, $"only {voterChanges} voter-set changes committed over {dynamicSeeds} dynamic seeds");
    }

    [Fact]
    public void Replay()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("FJORD_SIM_SEED"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 7;
        var cluster = new SimulatedCluster(seed);
        output.WriteLine($"seed {seed}: {cluster.Describe()}");
        cluster.Run();
        output.WriteLine($"{cluster.Proposals} proposals, {cluster.Committed} committed batches, {cluster.LeaderElections} epochs with a leader, " +
            $"{cluster.SnapshotsTaken} snapshots taken, {cluster.SnapshotInstalls} installed from a leader");
        Assert.True(cluster.Committed > 0);
    }

    [Fact]
    public void The_same_seed_gives_the_same_run()
    {
        var a = new SimulatedCluster(42);
        var b = new SimulatedCluster(42);
        a.Run();
        b.Run();
        Assert.Equal((a.Proposals, a.Committed, a.LeaderElections, a.SnapshotsTaken, a.SnapshotInstalls),
            (b.Proposals, b.Committed, b.LeaderElections, b.SnapshotsTaken, b.SnapshotInstalls));
    }
}
