using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Fjord.Raft;
using Fjord.Server.Raft;

namespace Fjord.Benchmarks;

/// <summary>
/// Commit throughput and latency of a 3-voter KRaft quorum: three <see cref="RaftNetworkDriver"/>s in
/// this process on 127.0.0.1, each over a <see cref="PartitionLogRaftLog"/> and a
/// <see cref="FileQuorumStateStore"/> in a fresh temp directory (real fsync). Printed beside the two
/// costs a commit cannot avoid, measured in the same run on the same file system: one fsync (append
/// 100 bytes + <c>Flush(true)</c>) and one loopback TCP round trip.
/// </summary>
/// <remarks>
/// Commit latency of a proposal = from just before <see cref="RaftNetworkDriver.ProposeAsync"/> to
/// the leader's committed callback delivering a batch that ends at or past the proposal's last
/// offset (timestamped on the leader's node thread). Phases: one proposer (a thread of its own,
/// blocking while it waits, as a controller's event thread) proposing one 100-byte record at a time
/// and waiting for its commit, measured after a warm-up long enough for the JIT's tiering to settle
/// (with 200 warm-up proposals, perf still showed the JIT compiling through the measured window);
/// then many proposers, each proposing batches of
/// 1–100 records and keeping a few proposals in flight (pipelining), for a fixed duration.
/// Everything is bounded in count and time; the temp directory is deleted at the end.
/// </remarks>
public static class RaftCommitBench
{
    private const int RecordBytes = 100;
    private const int FsyncWarmup = 20;
    private const int FsyncRounds = 500;
    private const int RttWarmup = 200;
    private const int RttRounds = 2_000;
    private const int SequentialWarmup = 3_000;
    private const int SequentialProposals = 2_000;
    private const int Proposers = 32;
    private const int MaxRecordsPerProposal = 100;
    private const int InFlightPerProposer = 4;
    private const double TargetRecordsPerSecond = 200_000;
    private const double LatencyFactor = 1.5;
    private static readonly TimeSpan ConcurrentWarmup = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ConcurrentDuration = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    public static void Run(string root)
    {
        // A 2-core machine starts the pool with 2 workers; socket continuations must not queue
        // behind proposers (the Raft network tests do the same).
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), Math.Max(io, 16));
        var dir = Directory.CreateDirectory(Path.Combine(root, $"fjord-raft-bench-{Guid.NewGuid():N}")).FullName;
        try
        {
            RunIn(dir).GetAwaiter().GetResult();
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException e) { Console.WriteLine($"could not delete {dir}: {e.Message}"); }
        }
    }

    private static async Task RunIn(string dir)
    {
        var fsyncBefore = MeasureFsync(Path.Combine(dir, "fsync-probe.bin"));
        var rtt = MeasureLoopbackRoundTrip();
        var fsync3 = MeasureConcurrentFsync(dir, 3);
        var fsync2 = MeasureConcurrentFsync(dir, 2);
        var fsyncRaft = MeasureConcurrentFsync(dir, 3, followersAfterMs: rtt.P50);
        var asyncRtt = await MeasureAsyncLoopbackRoundTrip().ConfigureAwait(false);

        var values = new byte[MaxRecordsPerProposal][];
        var random = new Random(17);
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = new byte[RecordBytes];
            random.NextBytes(values[i]);
        }

        PhaseResult one, many;
        string leadership, faults;
        await using (var quorum = Quorum.Start(dir))
        {
            var leader = await quorum.WaitForLeader(Bound).ConfigureAwait(false);
            int epoch = leader.Driver.Epoch;
            OnOwnThread(() => Sequential(leader, values, SequentialWarmup));
            one = OnOwnThread(() => Sequential(leader, values, SequentialProposals));
            await Concurrent(leader, values, ConcurrentWarmup).ConfigureAwait(false);
            many = await Concurrent(leader, values, ConcurrentDuration).ConfigureAwait(false);
            leadership = quorum.Leader() is { } still && still == leader && still.Driver.Epoch == epoch
                ? $"node {leader.Id} led epoch {epoch} throughout"
                : $"LEADERSHIP MOVED during the run (started: node {leader.Id} epoch {epoch}; now {quorum.Describe()})";
            faults = quorum.Faults();
        }
        // fsync is measured before and after the quorum runs; the target uses the faster of the two
        // (a neighbour's burst of disk traffic during one of them would otherwise loosen it).
        var fsyncAfter = MeasureFsync(Path.Combine(dir, "fsync-probe.bin"));
        var fsync = fsyncBefore.P50 <= fsyncAfter.P50 ? fsyncBefore : fsyncAfter;

        double reference = fsync.P50 + rtt.P50;
        double allowed = LatencyFactor * reference;
        Console.WriteLine();
        Console.WriteLine($"== Raft commit: 3 voters in one process on 127.0.0.1, PartitionLog + fsync, {RecordBytes}-byte records ==");
        Console.WriteLine($"{"measure",-44} {"figure",-34} reference / target (same run)");
        Row("fsync: append 100 B + Flush(true)", $"p50 {Ms(fsync.P50)}  p99 {Ms(fsync.P99)}",
            $"the machine's own figure ({FsyncRounds} rounds, same file system; p50 before {Ms(fsyncBefore.P50)}, after {Ms(fsyncAfter.P50)})");
        Row("loopback TCP round trip (64 B)", $"p50 {Ms(rtt.P50)}  p99 {Ms(rtt.P99)}", $"the machine's own figure ({RttRounds} rounds, blocking sockets)");
        Row("  context: 3 fsyncs at once (3 files)", $"p50 {Ms(fsync3.Each.P50)}  p99 {Ms(fsync3.Each.P99)}", "what each voter's fsync costs when all three share this disk");
        // A commit of 3 voters needs two durable copies: two fsyncs, on one disk here. The least that can
        // take is two fsyncs released together (the 2nd of 3, or both of 2, whichever is faster) — plus
        // one round trip to reach the second voter. No implementation commits faster on this disk.
        double floor = Math.Min(fsync3.Second.P50, fsync2.Second.P50) + rtt.P50;
        Row("  context: 2nd of 3 fsyncs at once done", $"p50 {Ms(fsync3.Second.P50)}  p99 {Ms(fsync3.Second.P99)}", "two durable copies with the third voter's fsync beside them");
        Row("  context: both of 2 fsyncs at once done", $"p50 {Ms(fsync2.Second.P50)}  p99 {Ms(fsync2.Second.P99)}", "two durable copies, nothing else on the disk");
        Row("  context: 3 fsyncs, 2 of them 1 RTT later", $"p50 {Ms(fsyncRaft.Second.P50)}  p99 {Ms(fsyncRaft.Second.P99)}",
            "2nd done, from the first's start: a commit's own order (the leader's fsync first, the followers' once the data reached them)");
        Row("  floor: faster of those two + RTT", $"p50 {Ms(floor)}",
            $"a 3-voter commit on this one disk cannot be faster; {(floor > allowed ? "ABOVE" : "below")} the target {Ms(allowed)}");
        Row("  context: async round trip (thread pool)", $"p50 {Ms(asyncRtt.P50)}  p99 {Ms(asyncRtt.P99)}", "the same ping-pong through async sockets, as the Raft transport reads");
        Row("one proposer: commit latency, 1 record", $"p50 {Ms(one.Latency.P50)}  p99 {Ms(one.Latency.P99)}",
            $"p50 {Ms(one.Latency.P50)} vs {LatencyFactor}×(fsync {Ms(fsync.P50)} + RTT {Ms(rtt.P50)}) = {Ms(allowed)}: {Verdict(one.Latency.P50 <= allowed)}");
        Row("one proposer: throughput", $"{one.RecordsPerSecond,9:N0} records/s",
            $"{one.Proposals} proposals, one at a time, after {SequentialWarmup:N0} unmeasured; {one.CpuMicrosPerRecord:F0} µs CPU per commit (whole process)");
        Row($"{Proposers} proposers × 1–{MaxRecordsPerProposal} records, {InFlightPerProposer} in flight each",
            $"{many.RecordsPerSecond,9:N0} records/s  {many.RecordsPerSecond * RecordBytes / 1e6,5:F1} MB/s",
            $"records/s {many.RecordsPerSecond:N0} vs {TargetRecordsPerSecond:N0}: {Verdict(many.RecordsPerSecond >= TargetRecordsPerSecond)}");
        Row("  commit latency under that load", $"p50 {Ms(many.Latency.P50)}  p99 {Ms(many.Latency.P99)}",
            $"{many.Proposals:N0} proposals in {many.Seconds:F1} s; for comparison 1×(fsync + RTT) = {Ms(reference)}");
        Row("  committed batches (after coalescing)", $"{many.Batches:N0}, {many.RecordsPerBatch:F0} records each",
            $"{many.CpuMicrosPerRecord:F2} µs CPU and {many.AllocatedPerRecord:F0} B allocated per record (whole process, 3 nodes)");
        Console.WriteLine($"({RecordBytes}-byte record values; MB/s counts value bytes only. {leadership}" +
            $"{(faults.Length == 0 ? "" : "; FAULTS: " + faults)}.)");
    }

    private static void Row(string measure, string figure, string reference) => Console.WriteLine($"{measure,-44} {figure,-34} {reference}");

    private static string Verdict(bool pass) => pass ? "PASS" : "MISS";

    private static string Ms(double ms) => ms.ToString(ms < 10 ? "F2" : "F1", CultureInfo.InvariantCulture) + " ms";

    // ---- the machine's own figures ----

    private readonly record struct Percentiles(double P50, double P99);

    private static Percentiles Of(List<double> samples)
    {
        if (samples.Count == 0) return new Percentiles(double.NaN, double.NaN);
        samples.Sort();
        return new Percentiles(samples[(samples.Count - 1) / 2], samples[Math.Min(samples.Count - 1, (int)(samples.Count * 0.99))]);
    }

    private static double MillisSince(long startTicks, long endTicks) => (endTicks - startTicks) * 1000.0 / Stopwatch.Frequency;

    /// <summary>Append 100 bytes to a file and fsync it, as a log append + flush does.</summary>
    private static Percentiles MeasureFsync(string path)
    {
        var chunk = new byte[RecordBytes];
        var samples = new List<double>(FsyncRounds);
        using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0))
        {
            for (int i = 0; i < FsyncWarmup + FsyncRounds; i++)
            {
                long start = Stopwatch.GetTimestamp();
                stream.Write(chunk);
                stream.Flush(flushToDisk: true);
                if (i >= FsyncWarmup) samples.Add(MillisSince(start, Stopwatch.GetTimestamp()));
            }
        }
        File.Delete(path);
        return Of(samples);
    }

    /// <summary>Context: <paramref name="files"/> threads each appending 100 bytes and fsyncing a file
    /// of its own, released together each round (as the three voters of a commit do on one disk).
    /// <c>Each</c>: every fsync's own time. <c>Second</c>: per round, from the release until the second
    /// fsync of the round has returned — two durable copies, what a 3-voter commit needs at the least;
    /// on a disk that serialises cache flushes this is about two fsyncs, not one.
    /// <paramref name="followersAfterMs"/> &gt; 0: every file but the first starts that much after the
    /// release (spinning), as a leader's followers can start theirs only once its data has reached them;
    /// <c>Second</c> still counts from the release (the leader's start).</summary>
    private static (Percentiles Each, Percentiles Second) MeasureConcurrentFsync(string dir, int files, double followersAfterMs = 0)
    {
        long followerDelayTicks = (long)(followersAfterMs * Stopwatch.Frequency / 1000);
        const int rounds = FsyncRounds / 2;
        var samples = new List<double>(rounds * files);
        var starts = new long[FsyncWarmup + rounds];
        var ends = new long[FsyncWarmup + rounds, files];
        int round = -1;
        using var barrier = new Barrier(files, _ => starts[++round] = Stopwatch.GetTimestamp());
        var threads = Enumerable.Range(0, files).Select(f => new Thread(() =>
        {
            var path = Path.Combine(dir, $"fsync-probe-{f}.bin");
            var chunk = new byte[RecordBytes];
            var mine = new List<double>(rounds);
            using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0))
            {
                for (int i = 0; i < FsyncWarmup + rounds; i++)
                {
                    barrier.SignalAndWait();
                    if (f > 0) while (Stopwatch.GetTimestamp() < starts[i] + followerDelayTicks) Thread.SpinWait(10);
                    long start = Stopwatch.GetTimestamp();
                    stream.Write(chunk);
                    stream.Flush(flushToDisk: true);
                    ends[i, f] = Stopwatch.GetTimestamp();
                    if (i >= FsyncWarmup) mine.Add(MillisSince(start, ends[i, f]));
                }
            }
            File.Delete(path);
            lock (samples) samples.AddRange(mine);
        }) { IsBackground = true, Name = $"fsync-probe-{f}" }).ToList();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        var second = new List<double>(rounds);
        for (int i = FsyncWarmup; i < FsyncWarmup + rounds; i++)
        {
            var done = Enumerable.Range(0, files).Select(f => ends[i, f]).Order().ToArray();
            second.Add(MillisSince(starts[i], done[Math.Min(1, files - 1)]));
        }
        return (Of(samples), Of(second));
    }

    /// <summary>Context: the ping-pong of <see cref="MeasureLoopbackRoundTrip"/> through async
    /// socket calls, whose continuations run on the thread pool (as <c>RaftConnection</c>'s do).</summary>
    private static async Task<Percentiles> MeasureAsyncLoopbackRoundTrip()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(listener.LocalEndPoint!).ConfigureAwait(false);
        using var server = await listener.AcceptAsync().ConfigureAwait(false);
        server.NoDelay = true;
        const int size = 64;
        int rounds = RttWarmup + RttRounds;
        var echo = Task.Run(async () =>
        {
            var buffer = new byte[size];
            for (int i = 0; i < rounds; i++)
            {
                await ReceiveExactlyAsync(server, buffer).ConfigureAwait(false);
                await server.SendAsync(buffer, SocketFlags.None).ConfigureAwait(false);
            }
        });
        var ping = new byte[size];
        var pong = new byte[size];
        var samples = new List<double>(RttRounds);
        for (int i = 0; i < rounds; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await client.SendAsync(ping, SocketFlags.None).ConfigureAwait(false);
            await ReceiveExactlyAsync(client, pong).ConfigureAwait(false);
            if (i >= RttWarmup) samples.Add(MillisSince(start, Stopwatch.GetTimestamp()));
        }
        await echo.WaitAsync(Bound).ConfigureAwait(false);
        return Of(samples);
    }

    private static async Task ReceiveExactlyAsync(Socket socket, byte[] buffer)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None).ConfigureAwait(false);
            if (n == 0) throw new EndOfStreamException("echo connection closed");
            got += n;
        }
    }

    /// <summary>64-byte ping-pong over a loopback TCP connection (Nagle off), echoed by a dedicated thread.</summary>
    private static Percentiles MeasureLoopbackRoundTrip()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(listener.LocalEndPoint!);
        using var server = listener.Accept();
        server.NoDelay = true;
        const int size = 64;
        int rounds = RttWarmup + RttRounds;
        var echo = new Thread(() =>
        {
            var buffer = new byte[size];
            for (int i = 0; i < rounds; i++)
            {
                ReceiveExactly(server, buffer);
                server.Send(buffer);
            }
        }) { IsBackground = true, Name = "rtt-echo" };
        echo.Start();
        var ping = new byte[size];
        var pong = new byte[size];
        var samples = new List<double>(RttRounds);
        for (int i = 0; i < rounds; i++)
        {
            long start = Stopwatch.GetTimestamp();
            client.Send(ping);
            ReceiveExactly(client, pong);
            if (i >= RttWarmup) samples.Add(MillisSince(start, Stopwatch.GetTimestamp()));
        }
        echo.Join();
        return Of(samples);
    }

    private static void ReceiveExactly(Socket socket, byte[] buffer)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n = socket.Receive(buffer, got, buffer.Length - got, SocketFlags.None);
            if (n == 0) throw new EndOfStreamException("echo connection closed");
            got += n;
        }
    }

    // ---- the quorum ----

    private sealed record PhaseResult(int Proposals, long Records, double Seconds, Percentiles Latency, long Batches,
        double CpuMicrosPerRecord, double AllocatedPerRecord)
    {
        public double RecordsPerSecond => Records / Seconds;
        public double RecordsPerBatch => Batches == 0 ? 0 : (double)Records / Batches;
    }

    /// <summary>One proposer: one record, wait for its commit, next — on a thread of its own that
    /// blocks while it waits (as a controller's single event thread would), so that no thread-pool
    /// hop or spinning pool worker sits in the measured path.</summary>
    private static PhaseResult Sequential(Member leader, byte[][] values, int count)
    {
        var latencies = new List<double>(count);
        var single = new ArraySegment<byte[]>(values, 0, 1);
        var (records0, batches0) = leader.Commits.Counts;
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count && watch.Elapsed < Bound; i++)
        {
            long start = Stopwatch.GetTimestamp();
            var offset = Await(leader.Driver.ProposeAsync(single))
                ?? throw new InvalidOperationException($"node {leader.Id} refused a proposal: leadership moved");
            latencies.Add(Await(leader.Commits.WhenCommitted(offset, start)));
        }
        double seconds = watch.Elapsed.TotalSeconds;
        var cpu1 = Process.GetCurrentProcess().TotalProcessorTime;
        var (records1, batches1) = leader.Commits.Counts;
        return new PhaseResult(latencies.Count, records1 - records0, seconds, Of(latencies), batches1 - batches0,
            latencies.Count == 0 ? 0 : (cpu1 - cpu0).TotalMicroseconds / latencies.Count, 0);
    }

    /// <summary>Blocks until <paramref name="task"/> completes (its completion wakes this thread directly).</summary>
    private static T Await<T>(Task<T> task) =>
        task.Wait(Bound) ? task.Result : throw new TimeoutException($"no answer within {Bound.TotalSeconds} s");

    /// <summary>Runs <paramref name="work"/> on a new thread and waits for it.</summary>
    private static T OnOwnThread<T>(Func<T> work)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { result = work(); }
            catch (Exception e) { failure = e; }
        }) { IsBackground = true, Name = "raft-bench-proposer" };
        thread.Start();
        thread.Join();
        if (failure is not null) throw new InvalidOperationException("the proposer failed", failure);
        return result;
    }

    /// <summary>Many proposers, each with up to <see cref="InFlightPerProposer"/> proposals awaiting
    /// commit, for <paramref name="duration"/>; throughput counts records the leader saw committed
    /// within the window.</summary>
    private static async Task<PhaseResult> Concurrent(Member leader, byte[][] values, TimeSpan duration)
    {
        var latencies = new ConcurrentBag<double>();
        int proposals = 0;
        using var stop = new CancellationTokenSource();
        var (records0, batches0) = leader.Commits.Counts;
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        long allocated0 = GC.GetTotalAllocatedBytes(precise: false);
        var watch = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, Proposers).Select(p => Task.Run(async () =>
        {
            var random = new Random(1000 + p);
            var inFlight = new Queue<Task<double>>();
            while (!stop.IsCancellationRequested)
            {
                if (inFlight.Count >= InFlightPerProposer) latencies.Add(await inFlight.Dequeue().WaitAsync(Bound).ConfigureAwait(false));
                int n = random.Next(1, MaxRecordsPerProposal + 1);
                long start = Stopwatch.GetTimestamp();
                var offset = await leader.Driver.ProposeAsync(new ArraySegment<byte[]>(values, 0, n)).WaitAsync(Bound).ConfigureAwait(false);
                if (offset is null) throw new InvalidOperationException($"node {leader.Id} refused a proposal: leadership moved");
                Interlocked.Increment(ref proposals);
                inFlight.Enqueue(leader.Commits.WhenCommitted(offset.Value, start));
            }
            while (inFlight.Count > 0) latencies.Add(await inFlight.Dequeue().WaitAsync(Bound).ConfigureAwait(false));
        })).ToList();
        await Task.Delay(duration).ConfigureAwait(false);
        var (records1, batches1) = leader.Commits.Counts;
        double seconds = watch.Elapsed.TotalSeconds;
        var cpu1 = Process.GetCurrentProcess().TotalProcessorTime;
        long allocated1 = GC.GetTotalAllocatedBytes(precise: false);
        stop.Cancel();
        await Task.WhenAll(tasks).WaitAsync(Bound).ConfigureAwait(false);
        long records = records1 - records0;
        return new PhaseResult(proposals, records, seconds, Of([.. latencies]), batches1 - batches0,
            records == 0 ? 0 : (cpu1 - cpu0).TotalMicroseconds / records,
            records == 0 ? 0 : (double)(allocated1 - allocated0) / records);
    }

    /// <summary>Follows the committed callback of one node: what it has committed, and who waits for what.</summary>
    private sealed class CommitTracker
    {
        private readonly Lock _lock = new();
        private readonly PriorityQueue<(long StartTicks, TaskCompletionSource<double> Done), long> _waiting = new();
        private long _committedUpTo = -1;
        private long _records;
        private long _batches;

        /// <summary>Data records and batches committed so far (control batches not counted).</summary>
        public (long Records, long Batches) Counts
        {
            get { lock (_lock) return (_records, _batches); }
        }

        /// <summary>Runs on the node thread: must be short, and must not run waiters' continuations inline.</summary>
        public void OnCommitted(CommittedBatch batch)
        {
            long now = Stopwatch.GetTimestamp();
            lock (_lock)
            {
                if (batch.LastOffset <= _committedUpTo) return;
                _committedUpTo = batch.LastOffset;
                if (!batch.IsControl)
                {
                    _records += batch.LastOffset - batch.BaseOffset + 1;
                    _batches++;
                }
                while (_waiting.TryPeek(out var waiter, out long offset) && offset <= batch.LastOffset)
                {
                    _waiting.Dequeue();
                    waiter.Done.TrySetResult(MillisSince(waiter.StartTicks, now));
                }
            }
        }

        /// <summary>Completes with the milliseconds from <paramref name="startTicks"/> to the commit of <paramref name="offset"/>.</summary>
        public Task<double> WhenCommitted(long offset, long startTicks)
        {
            var done = new TaskCompletionSource<double>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                if (offset <= _committedUpTo) done.TrySetResult(MillisSince(startTicks, Stopwatch.GetTimestamp()));
                else _waiting.Enqueue((startTicks, done), offset);
            }
            return done.Task;
        }
    }

    private sealed record Member(int Id, PartitionLogRaftLog Log, RaftNetworkDriver Driver, CommitTracker Commits);

    private sealed class Quorum : IAsyncDisposable
    {
        private readonly List<Member> _members = [];
        private readonly ConcurrentQueue<string> _faults = new();

        public static Quorum Start(string root)
        {
            var quorum = new Quorum();
            var config = new RaftConfig();
            try
            {
                foreach (int id in new[] { 1, 2, 3 })
                {
                    var dir = Directory.CreateDirectory(Path.Combine(root, $"node-{id}")).FullName;
                    var log = PartitionLogRaftLog.Open(dir);
                    var commits = new CommitTracker();
                    RaftNetworkDriver driver;
                    try
                    {
                        driver = new RaftNetworkDriver(id, new IPEndPoint(IPAddress.Loopback, 0), config, log, new FileQuorumStateStore(dir),
                            "raft-commit-bench", item => { if (item is CommittedBatch b) commits.OnCommitted(b); }, quorum.OnLogLine);
                    }
                    catch
                    {
                        log.Close();
                        throw;
                    }
                    quorum._members.Add(new Member(id, log, driver, commits));
                }
                var voters = quorum._members.ToDictionary(m => m.Id, m => new IPEndPoint(IPAddress.Loopback, m.Driver.BoundPort));
                foreach (var m in quorum._members) m.Driver.Start(voters);
                return quorum;
            }
            catch
            {
                quorum.Stop();
                throw;
            }
        }

        /// <summary>Keeps only what signals trouble: the node's own trace is chatty.</summary>
        private void OnLogLine(string line)
        {
            if (line.Contains("failed", StringComparison.Ordinal) || line.Contains("closed after", StringComparison.Ordinal)
                || line.Contains("stopped", StringComparison.Ordinal) || line.Contains("could not", StringComparison.Ordinal))
            {
                if (_faults.Count < 20) _faults.Enqueue(line);
            }
        }

        public string Faults() =>
            string.Join(" | ", _faults.Concat(_members.Where(m => m.Driver.Fault is not null).Select(m => $"node {m.Id} stopped: {m.Driver.Fault!.Message}")));

        public Member? Leader()
        {
            var leaders = _members.Where(m => m.Driver.Role == RaftRole.Leader).ToList();
            if (leaders.Count != 1) return null;
            var leader = leaders[0];
            return _members.All(m => m.Driver.LeaderId == leader.Id && m.Driver.Epoch == leader.Driver.Epoch) ? leader : null;
        }

        public string Describe() =>
            string.Join("; ", _members.Select(m => $"{m.Id}: {m.Driver.Role} epoch {m.Driver.Epoch} leader {m.Driver.LeaderId} hw {m.Driver.HighWatermark}"));

        /// <summary>A leader every voter agrees on, whose LEADER_CHANGE batch is committed.</summary>
        public async Task<Member> WaitForLeader(TimeSpan bound)
        {
            var watch = Stopwatch.StartNew();
            while (true)
            {
                if (Leader() is { } leader && leader.Driver.HighWatermark > 0) return leader;
                if (watch.Elapsed > bound) throw new TimeoutException($"no leader within {bound.TotalSeconds} s: {Describe()}");
                await Task.Delay(10).ConfigureAwait(false);
            }
        }

        private void Stop()
        {
            foreach (var m in _members)
            {
                m.Driver.Dispose();
                m.Log.Close();
            }
            _members.Clear();
        }

        public ValueTask DisposeAsync()
        {
            Stop();
            return ValueTask.CompletedTask;
        }
    }
}
