using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using Fjord.Protocol.Records;
using Fjord.Raft;
using Fjord.Server.Raft;
using Xunit.Abstractions;

namespace Fjord.Server.Tests.Raft;

/// <summary>Three <see cref="RaftNetworkDriver"/>s over real TCP on 127.0.0.1: election, replication, failover.</summary>
public sealed class RaftNetworkTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new();
    private readonly ConcurrentQueue<string> _logLines = new();

    public void Dispose() => _dir.Dispose();

    static RaftNetworkTests()
    {
        // On a 2-core runner the thread pool starts with 2 workers and the test host may hold them;
        // socket continuations then stall for ~500 ms, close to FetchTimeoutMs=600, and leadership churns.
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), Math.Max(io, 16));
    }

    private sealed class Member(int id, PartitionLogRaftLog log, RaftNetworkDriver driver, List<CommittedBatch> committed)
    {
        public int Id => id;
        public PartitionLogRaftLog Log => log;
        public RaftNetworkDriver Driver => driver;

        public List<string> Values()
        {
            List<CommittedBatch> copy;
            lock (committed) copy = [.. committed];
            var values = new List<string>();
            foreach (var batch in copy.Where(b => !b.IsControl))
            {
                var reader = new RecordBatchReader(batch.Bytes);
                while (reader.MoveNext())
                {
                    using var records = reader.Current.OpenRecords(1 << 20);
                    foreach (var record in records) values.Add(Encoding.UTF8.GetString(record.ValueSpan));
                }
            }
            return values;
        }

        /// <summary>Every committed batch carries a Unix-millisecond append time (as Kafka's do), not a monotonic tick count.</summary>
        public bool TimestampsAreWallClock(long fromMs, long toMs)
        {
            lock (committed) return committed.All(b => b.AppendTimestampMs >= fromMs && b.AppendTimestampMs <= toMs);
        }

        public bool InOffsetOrder()
        {
            lock (committed)
                return committed.Zip(committed.Skip(1)).All(p => p.First.LastOffset + 1 == p.Second.BaseOffset);
        }
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > Bound) throw new TimeoutException($"not within {Bound.TotalSeconds} s: {what}");
            await Task.Delay(20);
        }
    }

    private static string Describe(IEnumerable<Member> members) =>
        string.Join("; ", members.Select(m => $"{m.Id}: {m.Driver.Role} epoch {m.Driver.Epoch} leader {m.Driver.LeaderId} hw {m.Driver.HighWatermark} fault {m.Driver.Fault?.Message}"));

    private static Member? AgreedLeader(IReadOnlyList<Member> members, int aboveEpoch)
    {
        var leaders = members.Where(m => m.Driver.Role == RaftRole.Leader).ToList();
        if (leaders.Count != 1) return null;
        var leader = leaders[0];
        int epoch = leader.Driver.Epoch;
        if (epoch <= aboveEpoch) return null;
        return members.All(m => m.Driver.LeaderId == leader.Id && m.Driver.Epoch == epoch) ? leader : null;
    }

    /// <summary>Proposes one record at a time; when leadership moved (a refusal), retries on the new leader.</summary>
    private static async Task<long> ProposeAll(IReadOnlyList<Member> members, Member leader, string prefix, int count)
    {
        long last = -1;
        for (int i = 0; i < count; i++)
        {
            var offset = await leader.Driver.ProposeAsync([Encoding.UTF8.GetBytes($"{prefix}-{i}")]).WaitAsync(Bound);
            if (offset is null)
            {
                await WaitUntil(() => AgreedLeader(members, 0) is not null, () => Describe(members));
                leader = AgreedLeader(members, 0)!;
                i--;
                continue;
            }
            Assert.True(offset > last);
            last = offset.Value;
        }
        return last;
    }

    [Fact]
    public async Task Three_voters_elect_replicate_and_fail_over_over_tcp()
    {
        var config = new RaftConfig { ElectionTimeoutMs = 300, FetchTimeoutMs = 600 };
        var members = new List<Member>();
        try
        {
            // Node 4 is an observer: no listener (nobody sends it requests), it only fetches, and must
            // end up with the same committed records as the voters, and agree on the leader.
            foreach (int id in new[] { 1, 2, 3, 4 })
            {
                var dir = _dir.Sub($"node-{id}");
                Directory.CreateDirectory(dir);
                var log = PartitionLogRaftLog.Open(dir);
                var committed = new List<CommittedBatch>();
                RaftNetworkDriver driver;
                try
                {
                    driver = new RaftNetworkDriver(id, id == 4 ? null : new IPEndPoint(IPAddress.Loopback, 0), config, log, new FileQuorumStateStore(dir),
                        "raft-network-test", item => { if (item is CommittedBatch b) lock (committed) committed.Add(b); }, line => _logLines.Enqueue(line));
                }
                catch
                {
                    log.Close();
                    throw;
                }
                members.Add(new Member(id, log, driver, committed));
            }
            Assert.Equal(0, members.Single(m => m.Id == 4).Driver.BoundPort);
            var voters = members.Where(m => m.Id != 4).ToDictionary(m => m.Id, m => new IPEndPoint(IPAddress.Loopback, m.Driver.BoundPort));
            long startedAtMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 1_000;
            var sw = Stopwatch.StartNew();
            foreach (var m in members) m.Driver.Start(voters);

            await WaitUntil(() => AgreedLeader(members, 0) is not null, () => Describe(members));
            var leader = AgreedLeader(members, 0)!;
            output.WriteLine($"first leader: node {leader.Id} epoch {leader.Driver.Epoch} after {sw.ElapsedMilliseconds} ms");

            long last = await ProposeAll(members, leader, "r", 50);
            var expected = Enumerable.Range(0, 50).Select(i => $"r-{i}").ToList();
            await WaitUntil(() => members.All(m => m.Driver.HighWatermark > last && m.Values().SequenceEqual(expected)), () => Describe(members));
            Assert.All(members, m => Assert.True(m.InOffsetOrder()));
            Assert.All(members, m => Assert.True(m.TimestampsAreWallClock(startedAtMs, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1_000)));

            // Failover: stop the leader (re-read: a slow machine may have moved leadership meanwhile).
            await WaitUntil(() => AgreedLeader(members, 0) is not null, () => Describe(members));
            leader = AgreedLeader(members, 0)!;
            int oldEpoch = leader.Driver.Epoch;
            leader.Driver.Dispose();
            leader.Log.Close();
            members.Remove(leader);
            sw.Restart();
            await WaitUntil(() => AgreedLeader(members, oldEpoch) is not null, () => Describe(members));
            var next = AgreedLeader(members, oldEpoch)!;
            output.WriteLine($"new leader: node {next.Id} epoch {next.Driver.Epoch} after {sw.ElapsedMilliseconds} ms");

            long last2 = await ProposeAll(members, next, "s", 10);
            expected.AddRange(Enumerable.Range(0, 10).Select(i => $"s-{i}"));
            await WaitUntil(() => members.All(m => m.Driver.HighWatermark > last2 && m.Values().SequenceEqual(expected)), () => Describe(members));
            Assert.All(members, m => Assert.True(m.InOffsetOrder()));
            Assert.All(members, m => Assert.Null(m.Driver.Fault));
            Assert.Contains(members, m => m.Id == 4 && m.Driver.Role == RaftRole.Follower);
        }
        finally
        {
            foreach (var m in members)
            {
                m.Driver.Dispose();
                m.Log.Close();
            }
            foreach (var line in _logLines.Take(200)) output.WriteLine(line);
        }
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0, 6, 0x7f, 0x7f, 1, 2, 3, 4 })]          // unknown API key
    [InlineData(new byte[] { 0x7f, 0xff, 0xff, 0xff, 0, 0 })]                 // frame above 100 MiB
    [InlineData(new byte[] { 0, 0, 0, 2, 0, 52 })]                            // truncated header
    public async Task Malformed_bytes_from_a_peer_close_only_that_connection(byte[] garbage)
    {
        var dir = _dir.Sub("single");
        Directory.CreateDirectory(dir);
        var log = PartitionLogRaftLog.Open(dir);
        var committed = new List<CommittedBatch>();
        var driver = new RaftNetworkDriver(1, new IPEndPoint(IPAddress.Loopback, 0), new RaftConfig { ElectionTimeoutMs = 300, FetchTimeoutMs = 600 },
            log, new FileQuorumStateStore(dir), "raft-network-test", item => { if (item is CommittedBatch b) lock (committed) committed.Add(b); }, line => _logLines.Enqueue(line));
        try
        {
            driver.Start(new Dictionary<int, IPEndPoint> { [1] = new(IPAddress.Loopback, driver.BoundPort) });
            await WaitUntil(() => driver.Role == RaftRole.Leader, () => $"{driver.Role}");

            using var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, driver.BoundPort);
            var stream = client.GetStream();
            await stream.WriteAsync(garbage);
            var buffer = new byte[16];
            int read = await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound);
            Assert.Equal(0, read); // the driver closed the connection

            var member = new Member(1, log, driver, committed);
            var offset = await driver.ProposeAsync([Encoding.UTF8.GetBytes("still-alive")]).WaitAsync(Bound);
            Assert.NotNull(offset);
            await WaitUntil(() => driver.HighWatermark > offset && member.Values().SequenceEqual(["still-alive"]), () => $"hw {driver.HighWatermark}");
            Assert.Null(driver.Fault);
        }
        finally
        {
            driver.Dispose();
            log.Close();
            foreach (var line in _logLines.Take(50)) output.WriteLine(line);
        }
    }

    private static Task WaitUntil(Func<bool> condition, Func<string> describe) => WaitUntilDescribed(condition, describe);

    private static async Task WaitUntilDescribed(Func<bool> condition, Func<string> describe)
    {
        try { await WaitUntil(condition, "condition"); }
        catch (TimeoutException e) { throw new TimeoutException($"{e.Message}: {describe()}"); }
    }
}
