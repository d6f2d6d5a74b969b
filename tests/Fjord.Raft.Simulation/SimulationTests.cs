using System.Collections.Concurrent;
using System.Globalization;
using Xunit.Abstractions;

namespace Fjord.Raft.Simulation;

/// <summary>
/// Seeded whole-quorum simulations. The default run covers 2,000 seeds (FJORD_SIM_SEEDS changes
/// it); a failure names its seed and the command that replays it (FJORD_SIM_SEED=n … --filter Replay;
/// FJORD_SIM_TRACE=1 prints every event of the replayed run). Known to catch these mutations of the
/// core: the high watermark counting older-epoch replicas (Figure 8; the adversarial seeds catch it)
/// and votes granted without the log up-to-date check.
/// </summary>
public sealed class SimulationTests(ITestOutputHelper output)
{
    [Fact]
    public void Every_seed_keeps_the_invariants_and_recovers_a_leader()
    {
        int seeds = int.TryParse(Environment.GetEnvironmentVariable("FJORD_SIM_SEEDS"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 2_000;
        var failures = new ConcurrentBag<SimulationFailure>();
        long proposals = 0, committed = 0, snapshots = 0, installs = 0, dynamicSeeds = 0, membershipRequests = 0, voterChanges = 0;
        long adversarialSeeds = 0, attempts = 0, strikes = 0, watermarkStrikes = 0, overwrites = 0, adversarialFailures = 0;
        Parallel.For(0, seeds, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, seed =>
        {
            var cluster = new SimulatedCluster(seed);
            if (cluster.IsAdversarial) Interlocked.Increment(ref adversarialSeeds);
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
                Interlocked.Add(ref attempts, cluster.AdversaryAttempts);
                Interlocked.Add(ref strikes, cluster.AdversaryStrikes);
                Interlocked.Add(ref watermarkStrikes, cluster.AdversaryWatermarkStrikes);
                Interlocked.Add(ref overwrites, cluster.AdversaryOverwrites);
            }
            catch (SimulationFailure failure)
            {
                failures.Add(failure);
                if (cluster.IsAdversarial) Interlocked.Increment(ref adversarialFailures);
            }
        });
        output.WriteLine($"{seeds} seeds, {proposals} proposals, {committed} committed batches, {snapshots} snapshots taken, " +
            $"{installs} snapshots fetched and installed, {dynamicSeeds} dynamic quorums with {membershipRequests} add/remove requests " +
            $"and {voterChanges} committed voter-set changes, {adversarialSeeds} adversarial seeds with {attempts} Figure 8 attempts, " +
            $"{strikes} strikes ({watermarkStrikes} on a high-watermark move) and {overwrites} rival wins, {failures.Count} failures ({adversarialFailures} in adversarial seeds)");
        foreach (var failure in failures.OrderBy(f => f.Seed).Take(20))
            output.WriteLine(failure.Message.Split('\n')[0]);
        if (!failures.IsEmpty)
            Assert.Fail($"{failures.Count} of {seeds} seeds failed; the first:\n{failures.OrderBy(f => f.Seed).First().Message}");
        Assert.True(committed > seeds, $"only {committed} batches committed over {seeds} seeds: the runs are not exercising replication");
        Assert.True(installs > 0, $"no snapshot was fetched and installed over {seeds} seeds: the runs are not exercising FetchSnapshot");
        Assert.True(voterChanges > dynamicSeeds, $"only {voterChanges} voter-set changes committed over {dynamicSeeds} dynamic seeds");
        Assert.True(overwrites >= adversarialSeeds / 4,
            $"only {overwrites} Figure 8 attempts over {adversarialSeeds} adversarial seeds ended with the rival winning: the schedule has stopped working");
    }

    [Fact]
    public void Replay()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("FJORD_SIM_SEED"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 7;
        var cluster = new SimulatedCluster(seed) { TraceSink = Environment.GetEnvironmentVariable("FJORD_SIM_TRACE") == "1" ? output.WriteLine : null };
        output.WriteLine($"seed {seed}: {cluster.Describe()}");
        cluster.Run();
        output.WriteLine($"{cluster.Proposals} proposals, {cluster.Committed} committed batches, {cluster.LeaderElections} epochs with a leader, " +
            $"{cluster.SnapshotsTaken} snapshots taken, {cluster.SnapshotInstalls} installed from a leader" +
            (cluster.IsAdversarial ? $", {cluster.AdversaryAttempts} Figure 8 attempts, {cluster.AdversaryStrikes} strikes, {cluster.AdversaryOverwrites} rival wins" : ""));
        Assert.True(cluster.Committed > 0);
    }

    [Fact]
    public void The_same_seed_gives_the_same_run()
    {
        foreach (int seed in new[] { 7, 42 }) // 7 plain, 42 adversarial
        {
            var a = new SimulatedCluster(seed);
            var b = new SimulatedCluster(seed);
            a.Run();
            b.Run();
            Assert.Equal((a.Proposals, a.Committed, a.LeaderElections, a.SnapshotsTaken, a.SnapshotInstalls, a.AdversaryAttempts, a.AdversaryStrikes),
                (b.Proposals, b.Committed, b.LeaderElections, b.SnapshotsTaken, b.SnapshotInstalls, b.AdversaryAttempts, b.AdversaryStrikes));
        }
    }
}
