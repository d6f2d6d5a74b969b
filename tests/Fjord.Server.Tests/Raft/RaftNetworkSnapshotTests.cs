using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Fjord.Protocol.Records;
using Fjord.Raft;
using Fjord.Server.Raft;
using Fjord.Storage;
using Xunit.Abstractions;

namespace Fjord.Server.Tests.Raft;

/// <summary>
/// Three <see cref="RaftNetworkDriver"/>s over TCP: a voter stopped while the others commit and
/// snapshot past its log end comes back from its disk and catches up through FetchSnapshot.
/// </summary>
public sealed class RaftNetworkSnapshotTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly RaftConfig Config = new() { ElectionTimeoutMs = 300, FetchTimeoutMs = 600, FetchSnapshotMaxBytes = 100 };
    private readonly TempDirectory _dir = new();
    private readonly ConcurrentQueue<string> _logLines = new();

    static RaftNetworkSnapshotTests()
    {
        // As in RaftNetworkTests: a starved thread pool on a small runner would stall socket continuations.
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), Math.Max(io, 16));
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>One voter: its disk, its driver, and a state machine whose state is the list of
    /// data values committed (a snapshot holds that list, one record per value).</summary>
    private sealed class Member(int id, string dir, PartitionLogRaftLog log, RaftNetworkDriver driver)
    {
        private readonly List<CommittedItem> _items = [];
        public int Id => id;
        public string Dir => dir;
        public PartitionLogRaftLog Log { get; set; } = log;
        public RaftNetworkDriver Driver { get; set; } = driver;

        public void OnCommitted(CommittedItem item)
        {
            lock (_items) _items.Add(item);
        }

        public List<CommittedItem> Items()
        {
            lock (_items) return [.. _items];
        }

        /// <summary>The state: values of the last snapshot loaded, then those of the batches after it; and the offset it is at.</summary>
        public (List<string> Values, long NextOffset) State()
        {
            var values = new List<string>();
            long next = 0;
            foreach (var item in Items())
            {
                if (item is SnapshotLoad load)
                {
                    values = [.. load.ReadValues().Select(v => Encoding.UTF8.GetString(v))];
                }
                else if (item is CommittedBatch { IsControl: false } batch)
                {
                    if (batch.BaseOffset != next) throw new InvalidOperationException($"node {id}: batch at {batch.BaseOffset}, state at {next}");
                    var reader = new RecordBatchReader(batch.Bytes);
                    while (reader.MoveNext())
                    {
                        using var records = reader.Current.OpenRecords(1 << 20);
                        foreach (var record in records) values.Add(Encoding.UTF8.GetString(record.ValueSpan));
                    }
                }
                else if (item is CommittedBatch control && control.BaseOffset != next)
                    throw new InvalidOperationException($"node {id}: batch at {control.BaseOffset}, state at {next}");
                next = item.NextOffset;
            }
            return (values, next);
        }
    }

    private Member StartMember(int id, int port)
    {
        var dir = _dir.Sub($"node-{id}");
        Directory.CreateDirectory(dir);
        var log = PartitionLogRaftLog.Open(dir);
        var member = new Member(id, dir, log, null!);
        try
        {
            member.Driver = Bind(() => new RaftNetworkDriver(id, new IPEndPoint(IPAddress.Loopback, port), Config, log, new FileQuorumStateStore(dir),
                "raft-snapshot-test", member.OnCommitted, line => _logLines.Enqueue(line)));
        }
        catch
        {
            log.Close();
            throw;
        }
        return member;
    }

    /// <summary>A restarted node binds the port it had; the old socket may take a moment to let go.</summary>
    private static RaftNetworkDriver Bind(Func<RaftNetworkDriver> create)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try { return create(); }
            catch (SocketException) when (sw.Elapsed < Bound) { Thread.Sleep(100); }
        }
    }

    private static void Stop(Member m)
    {
        m.Driver.Dispose();
        m.Log.Close();
    }

    private static async Task WaitUntil(Func<bool> condition, Func<string> describe)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > Bound) throw new TimeoutException($"not within {Bound.TotalSeconds} s: {describe()}");
            await Task.Delay(20);
        }
    }

    private static string Describe(IEnumerable<Member> members) => string.Join("; ", members.Select(m =>
        $"{m.Id}: {m.Driver.Role} epoch {m.Driver.Epoch} leader {m.Driver.LeaderId} hw {m.Driver.HighWatermark} fault {m.Driver.Fault?.Message}"));

    private static Member? AgreedLeader(IReadOnlyList<Member> members)
    {
        var leaders = members.Where(m => m.Driver.Role == RaftRole.Leader).ToList();
        if (leaders.Count != 1) return null;
        var leader = leaders[0];
        return members.All(m => m.Driver.LeaderId == leader.Id && m.Driver.Epoch == leader.Driver.Epoch) ? leader : null;
    }

    /// <summary>Proposes one value at a time, following leadership when it moves; returns the last offset.</summary>
    private static async Task<long> ProposeAll(IReadOnlyList<Member> members, string prefix, int count)
    {
        long last = -1;
        for (int i = 0; i < count; i++)
        {
            await WaitUntil(() => AgreedLeader(members) is not null, () => Describe(members));
            var offset = await AgreedLeader(members)!.Driver.ProposeAsync([Encoding.UTF8.GetBytes($"{prefix}-{i}")]).WaitAsync(Bound);
            if (offset is null) i--;
            else last = offset.Value;
        }
        return last;
    }

    [Fact]
    public async Task A_voter_that_missed_what_the_others_snapshotted_catches_up_through_FetchSnapshot_after_a_restart()
    {
        var ports = new Dictionary<int, int>();
        var members = new List<Member>();
        try
        {
            foreach (int id in new[] { 1, 2, 3 })
            {
                var m = StartMember(id, 0);
                ports[id] = m.Driver.BoundPort;
                members.Add(m);
            }
            var voters = ports.ToDictionary(p => p.Key, p => new IPEndPoint(IPAddress.Loopback, p.Value));
            foreach (var m in members) m.Driver.Start(voters);

            long first = await ProposeAll(members, "r", 10);
            await WaitUntil(() => members.All(m => m.Driver.HighWatermark > first && m.State().NextOffset > first), () => Describe(members));

            // Stop a follower; the other two go on committing.
            await WaitUntil(() => AgreedLeader(members) is not null, () => Describe(members));
            var stopped = members.First(m => m.Id != AgreedLeader(members)!.Id);
            Stop(stopped);
            members.Remove(stopped);
            long stoppedEnd = stopped.Log.EndOffset;                 // (read after closing: the last value it had)

            long second = await ProposeAll(members, "s", 20);
            await WaitUntil(() => members.All(m => m.State().NextOffset > second), () => Describe(members));

            // Both snapshot what they applied (whichever leads later must send a snapshot), moving their log start past the stopped node's end.
            var ids = new Dictionary<int, OffsetAndEpoch>();
            foreach (var m in members)
            {
                var (values, next) = m.State();
                ids[m.Id] = await m.Driver.CreateSnapshotAsync(next, writer =>
                {
                    foreach (var chunk in values.Chunk(4)) writer.Append([.. chunk.Select(Encoding.UTF8.GetBytes)]);
                }).WaitAsync(Bound);
                Assert.Equal(next, ids[m.Id].Offset);
                Assert.True(ids[m.Id].Offset > stoppedEnd);
                await WaitUntil(() => m.Log.Log.LogStartOffset == next, () => $"node {m.Id} log start {m.Log.Log.LogStartOffset}");
                Assert.Contains(new SnapshotId(next, ids[m.Id].Epoch), SnapshotFiles.List(m.Dir));
            }
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => members[0].Driver.CreateSnapshotAsync(1, _ => { }));

            // The stopped node comes back from its disk, on its port, behind everyone's log start.
            var restarted = StartMember(stopped.Id, ports[stopped.Id]);
            Assert.Equal(0, restarted.Log.StartOffset);
            Assert.Equal(stoppedEnd, restarted.Log.EndOffset);
            members.Add(restarted);
            restarted.Driver.Start(voters);

            long third = await ProposeAll(members, "t", 5);
            await WaitUntil(() => members.All(m => m.State().NextOffset > third), () => Describe(members));

            var load = restarted.Items().OfType<SnapshotLoad>().Single(l => l.Id.Offset > 0);
            Assert.Contains(load.Id, ids.Values);
            Assert.Contains(new SnapshotId(load.Id.Offset, load.Id.Epoch), SnapshotFiles.List(restarted.Dir));
            Assert.True(restarted.Log.Log.LogStartOffset >= load.Id.Offset);
            var expected = Enumerable.Range(0, 10).Select(i => $"r-{i}").Concat(Enumerable.Range(0, 20).Select(i => $"s-{i}"))
                .Concat(Enumerable.Range(0, 5).Select(i => $"t-{i}")).ToList();
            Assert.All(members, m => Assert.Equal(expected, m.State().Values));
            Assert.All(members, m => Assert.Null(m.Driver.Fault));
            output.WriteLine($"node {restarted.Id} (log end {stoppedEnd}) installed snapshot {load.Id}; log starts: {string.Join(", ", members.Select(m => $"{m.Id}@{m.Log.Log.LogStartOffset}"))}");
        }
        finally
        {
            foreach (var m in members) Stop(m);
            foreach (var line in _logLines.Where(l => l.Contains("snapshot", StringComparison.OrdinalIgnoreCase)).Take(60)) output.WriteLine(line);
        }
    }
}
