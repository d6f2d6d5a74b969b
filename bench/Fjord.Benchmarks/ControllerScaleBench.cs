using System.Diagnostics;
using Fjord.Common;
using Fjord.Controller;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using Fjord.Raft;

namespace Fjord.Benchmarks;

/// <summary>
/// <c>-- controller-scale [--partitions N]</c>: the controller at a million partitions (issue 5).
/// Creates N partitions (topics of 100 partitions, RF 3 over 3 fake brokers) through the active
/// <see cref="QuorumController"/> of a 3-voter in-memory Raft quorum (real <see cref="RaftNode"/>s,
/// no fsync, one thread, driven like the controller tests' harness), then measures the metadata
/// image built from the committed records, its snapshot (write, size, load), resident memory, and
/// a failover of the active controller. Each figure is printed beside its target.
/// </summary>
public static class ControllerScaleBench
{
    private const string ClusterId = "bench-cluster";
    private const int BrokerCount = 3;
    private const long TargetPartitions = 1_000_000;
    private const int MaxBatchBytes = 64 * 1024 * 1024;

    // Kafka's defaults detect a dead leader only after 2 s (the fetch timeout), so "failover < 1 s"
    // needs a shorter one: 500 ms fetch and election timeouts, a usual low-latency KRaft setting.
    private static readonly RaftConfig QuorumRaftConfig = new() { FetchTimeoutMs = 500, ElectionTimeoutMs = 500 };

    private sealed record Options(long Partitions, int PartitionsPerTopic, int TopicsPerRequest, int InFlight, int TimeoutSeconds, long WarmupPartitions);

    public static void Run(IReadOnlyList<string> args)
    {
        var options = Parse(args);
        if (options is null) return;
        if (options.WarmupPartitions > 0)
        {
            // The same run at a small size first, output discarded, so that the measured run uses
            // optimized (tier-1) code as a long-running controller would.
            var warm = Stopwatch.StartNew();
            var stdout = Console.Out;
            Console.SetOut(TextWriter.Null);
            try
            {
                RunOnce(options with { Partitions = options.WarmupPartitions });
            }
            finally
            {
                Console.SetOut(stdout);
            }
            Console.WriteLine($"(warm-up: the same run at {options.WarmupPartitions:N0} partitions, {warm.Elapsed.TotalSeconds:F1} s, not shown; --warmup-partitions 0 skips it)");
        }
        RunOnce(options);
    }

    private static void RunOnce(Options options)
    {
        var total = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(options.TimeoutSeconds);
        int topics = (int)((options.Partitions + options.PartitionsPerTopic - 1) / options.PartitionsPerTopic);
        long partitions = (long)topics * options.PartitionsPerTopic;
        double scale = TargetPartitions / (double)partitions;

        Console.WriteLine();
        Console.WriteLine($"== controller-scale: {partitions:N0} partitions = {topics:N0} topics x {options.PartitionsPerTopic}, RF 3 over {BrokerCount} fake brokers");
        Console.WriteLine($"   3-voter Raft quorum in memory (real RaftNodes, InMemoryRaftLog, no fsync), one thread; CreateTopics of {options.TopicsPerRequest} topics, {options.InFlight} in flight");
        Console.WriteLine($"   {Environment.ProcessorCount} CPUs, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC ({System.Runtime.GCSettings.LatencyMode}), {RuntimeInfo()}; load average {LoadAverage()}");
        if (partitions != TargetPartitions)
            Console.WriteLine($"   targets are for {TargetPartitions:N0} partitions; figures marked 'x{scale:0.##}' scale this run linearly to them (a projection, not a measurement)");

        var raftConfig = QuorumRaftConfig;
        var controllerConfig = new ControllerConfig
        {
            ClusterId = ClusterId,
            BootstrapRecords = ControllerConfig.BootstrapFor(MetadataVersion.LatestProduction),
            RandomSeed = 42,
        };
        var quorum = new ControllerScaleQuorum(3, raftConfig, controllerConfig);
        quorum.Nodes[0].Capture = [];

        // ---- setup: an active controller, three unfenced brokers with one log dir each
        if (!quorum.RunUntil(() => quorum.ActiveNode is not null, 30_000)) throw new InvalidOperationException("no controller became active");
        var brokers = new Dictionary<int, long>();
        for (int b = 1; b <= BrokerCount; b++)
        {
            var active = quorum.ActiveNode!.Controller;
            var registered = Await(quorum, active.RegisterBroker(Registration(b), 4));
            if (registered.ErrorCode != 0) throw new InvalidOperationException($"broker {b} registration failed: {(ErrorCode)registered.ErrorCode}");
            var beat = Await(quorum, active.BrokerHeartbeat(Heartbeat(b, registered.BrokerEpoch, active.LastCommittedOffset)));
            if (beat.ErrorCode != 0 || beat.IsFenced) throw new InvalidOperationException($"broker {b} stays fenced: {(ErrorCode)beat.ErrorCode}");
            brokers[b] = registered.BrokerEpoch;
        }
        quorum.Settle();
        long setupOffset = quorum.ActiveNode!.Controller.LastCommittedOffset;

        long heapBefore = GC.GetTotalMemory(true);
        long logBytesBefore = quorum.Nodes.Sum(n => LogBytes(n.Log));

        // ---- create the partitions through the active controller, pipelined
        var activeNode = quorum.ActiveNode!;
        var counters = Counters.Take();
        var timesBefore = quorum.Nodes.Select(n => (n.ControllerTime.Elapsed, n.ProposeTime.Elapsed, n.RaftTime.Elapsed)).ToArray();
        var create = Stopwatch.StartNew();
        var inFlight = new List<Task<CreateTopicsResponse>>();
        int nextTopic = 0, requests = 0, failedTopics = 0, timerAdvances = 0;
        string? firstError = null;
        bool timedOut = false;
        while (nextTopic < topics || inFlight.Count > 0)
        {
            while (inFlight.Count < options.InFlight && nextTopic < topics)
            {
                int count = Math.Min(options.TopicsPerRequest, topics - nextTopic);
                inFlight.Add(activeNode.Controller.CreateTopics(CreateRequest(nextTopic, count, options.PartitionsPerTopic), 7));
                nextTopic += count;
                requests++;
            }
            bool moved = quorum.Step();
            int done = 0;
            for (int i = 0; i < inFlight.Count; i++)
            {
                if (!inFlight[i].IsCompleted) continue;
                foreach (var topic in inFlight[i].GetAwaiter().GetResult().Topics)
                    if (topic.ErrorCode != 0)
                    {
                        failedTopics++;
                        firstError ??= $"{topic.Name}: {(ErrorCode)topic.ErrorCode} {topic.ErrorMessage}";
                    }
                inFlight.RemoveAt(i--);
                done++;
            }
            if (!moved && done == 0)
            {
                quorum.AdvanceToNextEvent(long.MaxValue);
                timerAdvances++;
            }
            if (total.Elapsed > deadline)
            {
                timedOut = true;
                break;
            }
        }
        quorum.Settle();
        create.Stop();
        var createCounters = Counters.Take() - counters;
        var timesAfter = quorum.Nodes.Select(n => (n.ControllerTime.Elapsed, n.ProposeTime.Elapsed, n.RaftTime.Elapsed)).ToArray();
        if (timedOut)
        {
            Console.WriteLine($"ABORTED: --timeout-s {options.TimeoutSeconds} passed after {nextTopic:N0} of {topics:N0} topics were submitted");
            return;
        }
        long records = partitions + topics; // TopicRecord + PartitionRecords
        double createSeconds = create.Elapsed.TotalSeconds;
        Console.WriteLine();
        Console.WriteLine($"create      {requests:N0} CreateTopics, {records:N0} records committed in {createSeconds:F2} s = {records / createSeconds:N0} records/s, {partitions / createSeconds:N0} partitions/s"
            + (failedTopics > 0 ? $"; {failedTopics} topics FAILED ({firstError})" : "")
            + (timerAdvances > 0 ? $"; simulated time had to advance {timerAdvances}x" : ""));
        Console.WriteLine($"            target: {TargetPartitions:N0} partitions in < 60 s -> {Verdict(createSeconds * scale, 60, "s", scale)}");
        Console.WriteLine($"            where the wall time went (one thread): {Breakdown(quorum, activeNode, create.Elapsed, timesBefore, timesAfter)}");
        Console.WriteLine($"            process: {createCounters.Describe(records, "record")}");

        // ---- what the quorum holds: followers learn the last high watermark on their next fetch
        // (parked at the leader up to controller.quorum.fetch.max.wait.ms), so let simulated time pass.
        long committedEnd = activeNode.Controller.LastCommittedOffset;
        quorum.RunUntil(() => quorum.Nodes.All(n => n.Controller.LastCommittedOffset >= committedEnd), 5_000);
        var committedTopics = quorum.Nodes.Select(n => Await(quorum, n.Controller.ReadCommitted(s => s.Topics.Count))).ToArray();
        long heapQuorum = GC.GetTotalMemory(true);
        long logBytes = quorum.Nodes.Sum(n => LogBytes(n.Log)) - logBytesBefore;
        var captured = quorum.Nodes[0].Capture!;
        long capturedBytes = captured.OfType<CommittedBatch>().Sum(b => (long)b.Bytes.Length);
        long controllersHeap = heapQuorum - heapBefore - logBytes - capturedBytes;
        Console.WriteLine($"quorum      topics committed per controller: [{string.Join(", ", committedTopics)}]; Raft logs {logBytes / 3.0 / (1 << 20):F1} MiB each ({logBytes / 3.0 / records:F0} B/record)");
        Console.WriteLine($"            retained heap of the quorum after full GC: {Mib(heapQuorum - heapBefore)} = 3 logs {Mib(logBytes)} + captured batches {Mib(capturedBytes)}"
            + $" + 3 controllers and Raft state {Mib(controllersHeap)} (~{controllersHeap / 3.0 / partitions:F0} B/partition per controller); working set {Mib(Environment.WorkingSet)}");

        // ---- controller state rebuilt by replay (what a standby does; its own size, measured alone)
        counters = Counters.Take();
        long heap0 = GC.GetTotalMemory(true);
        var replay = Stopwatch.StartNew();
        var state = ControllerState.Empty;
        foreach (var item in captured)
            if (item is CommittedBatch { IsControl: false } batch)
                state = ReplayBatch(state, batch);
        replay.Stop();
        var replayCounters = Counters.Take() - counters;
        long controllerStateBytes = GC.GetTotalMemory(true) - heap0;
        int stateTopics = state.Topics.Count;
        Console.WriteLine($"controller  state rebuilt from the committed batches (decode + ControllerState.Replay): {replay.Elapsed.TotalSeconds:F2} s = {records / replay.Elapsed.TotalSeconds:N0} records/s; "
            + $"retained {Mib(controllerStateBytes)} = {controllerStateBytes / (double)partitions:F0} B/partition ({stateTopics:N0} topics)");
        Console.WriteLine($"            process: {replayCounters.Describe(records, "record")}");
        GC.KeepAlive(state);
        state = null!;

        // ---- metadata image from the committed records (MetadataLoader)
        counters = Counters.Take();
        long heap1 = GC.GetTotalMemory(true);
        var build = Stopwatch.StartNew();
        var loader = new MetadataLoader();
        foreach (var item in captured) loader.Handle(item);
        var image = loader.Image;
        build.Stop();
        var buildCounters = Counters.Take() - counters;
        loader = null;
        long imageBytes = GC.GetTotalMemory(true) - heap1;
        long imagePartitions = image.Topics.TopicsById.Values.Sum(t => (long)t.PartitionCount);
        double perPartition = imageBytes / (double)imagePartitions;
        Console.WriteLine($"image       MetadataLoader over {captured.Count:N0} committed batches: {build.Elapsed.TotalSeconds:F2} s = {records / build.Elapsed.TotalSeconds:N0} records/s; {image.Topics.TopicsById.Count:N0} topics, {imagePartitions:N0} partitions");
        Console.WriteLine($"            process: {buildCounters.Describe(records, "record")}");
        Console.WriteLine($"memory      image retained after full GC: {Mib(imageBytes)} = {perPartition:F0} B/partition -> target < 1 KiB/partition: {(perPartition < 1024 ? "PASS" : "MISS")}");
        Console.WriteLine($"            process working set {Mib(Environment.WorkingSet)}, peak {Mib(Process.GetCurrentProcess().PeakWorkingSet64)}, managed heap {Mib(GC.GetTotalMemory(false))}"
            + $" (holds 3 controllers, 3 Raft logs, captured batches and the image: working set / partition {Environment.WorkingSet / (double)partitions:F0} B)");

        // ---- snapshot: write (Kafka layout, through RaftNode.CreateSnapshot on node 1), size, load
        var snapshotNode = quorum.Nodes[0];
        counters = Counters.Take();
        var write = Stopwatch.StartNew();
        OffsetAndEpoch id;
        using (var writer = snapshotNode.Raft.CreateSnapshot(image.Provenance.NextOffset, quorum.Now))
        {
            MetadataSnapshots.Write(image, writer);
            id = writer.Freeze();
        }
        write.Stop();
        var writeCounters = Counters.Take() - counters;
        var bytes = snapshotNode.Log.ReadSnapshot(id, 0, int.MaxValue)!.Value.Bytes;
        Console.WriteLine($"snapshot    {id}: {Mib(bytes.Length)} ({bytes.Length / (double)partitions:F0} B/partition), written in {write.Elapsed.TotalSeconds:F2} s ({Mib(bytes.Length / write.Elapsed.TotalSeconds)}/s); process: {writeCounters.Describe(records, "record")}");

        counters = Counters.Take();
        var load = Stopwatch.StartNew();
        var loaded = MetadataSnapshots.Read(new SnapshotLoad(id, bytes));
        load.Stop();
        var loadCounters = Counters.Take() - counters;
        long loadedPartitions = loaded.Topics.TopicsById.Values.Sum(t => (long)t.PartitionCount);
        string same = partitions <= 200_000
            ? (loaded.Describe() == image.Describe() ? "Describe() identical" : "Describe() DIFFERS")
            : $"{loadedPartitions:N0} partitions (Describe() compared only up to 200,000 partitions)";
        Console.WriteLine($"            load (bytes -> image, MetadataSnapshots.Read): {load.Elapsed.TotalSeconds:F2} s; {same}");
        Console.WriteLine($"            target: load of {TargetPartitions:N0} partitions < 5 s -> {Verdict(load.Elapsed.TotalSeconds * scale, 5, "s", scale)}");
        Console.WriteLine($"            process: {loadCounters.Describe(records, "record")}");
        loaded = null;

        var controllerLoad = Stopwatch.StartNew();
        var fromSnapshot = ControllerState.Empty;
        foreach (var value in new SnapshotLoad(id, bytes).ReadValues(MaxBatchBytes))
            fromSnapshot = fromSnapshot.Replay(MetadataRecordFrame.Decode(value).Message);
        controllerLoad.Stop();
        Console.WriteLine($"            controller state from the snapshot (QuorumController's LoadSnapshot path: decode + Replay): {controllerLoad.Elapsed.TotalSeconds:F2} s ({fromSnapshot.Topics.Count:N0} topics)");
        fromSnapshot = null!;
        image = null!;
        bytes = default;

        // ---- where a CreateTopics spends its time at this size (the controller's pieces, called directly)
        Profile(quorum, controllerConfig, options, topics);

        // ---- failover: crash the active controller's node
        Failover(quorum, brokers, options.PartitionsPerTopic, total, deadline);

        // ---- controlled shutdown of a broker that replicates every partition (RF 3 over 3 brokers)
        ControlledShutdown(quorum, brokers, partitions);

        Console.WriteLine("reference   KRaft's published figures at 2,000,000 partitions (Confluent, 2021): controlled shutdown 32 s, recovery after an uncontrolled shutdown 37 s");
        Console.WriteLine("            (whole clusters: brokers reloading metadata and moving leadership; the failover above is the controller quorum alone, in memory)");
        Console.WriteLine($"total       {total.Elapsed.TotalSeconds:F1} s wall; load average {LoadAverage()}; peak working set {Mib(Process.GetCurrentProcess().PeakWorkingSet64)}");
        GC.KeepAlive(captured);
    }

    // ------------------------------------------------------------------ failover

    private static void Failover(ControllerScaleQuorum quorum, Dictionary<int, long> brokers, int partitionsPerTopic, Stopwatch total, TimeSpan deadline)
    {
        // Brokers heartbeat every 2 s of simulated time (broker.heartbeat.interval.ms) to whichever
        // controller is active, so no session expires while time moves.
        long nextBeat = quorum.Now;
        quorum.Ticks.Add(() =>
        {
            if (quorum.Now < nextBeat || quorum.ActiveNode is not { } active) return;
            nextBeat = quorum.Now + 2000;
            foreach (var (id, epoch) in brokers) _ = active.Controller.BrokerHeartbeat(Heartbeat(id, epoch, active.Controller.LastCommittedOffset));
        });
        quorum.Settle();
        var old = quorum.ActiveNode ?? throw new InvalidOperationException("no active controller before the failover");
        var standbys = quorum.Nodes.Where(n => n != old).ToList();
        var standbyTime = standbys.ToDictionary(n => n.NodeId, n => n.ControllerTime.Elapsed);
        var standbyRaft = standbys.ToDictionary(n => n.NodeId, n => n.RaftTime.Elapsed);
        long crashAt = quorum.Now;
        var wall = Stopwatch.StartNew();
        quorum.Crash(old.NodeId);

        long? electedAt = null;
        bool active = quorum.RunUntil(() =>
        {
            if (electedAt is null && standbys.Any(n => n.Raft.Role == RaftRole.Leader)) electedAt = quorum.Now;
            return quorum.ActiveNode is not null || total.Elapsed > deadline;
        }, 60_000);
        var next = quorum.ActiveNode;
        if (!active || next is null)
        {
            Console.WriteLine($"failover    NO standby became active within 60 s of simulated time (wall {wall.Elapsed.TotalSeconds:F2} s)");
            return;
        }
        long activeAt = quorum.Now;
        var activeWall = wall.Elapsed;

        // The first request the new controller answers: a broker heartbeat (no write; answered once the
        // controller is active), then a CreateTopics (a write: committed through the new leader).
        var beat = next.Controller.BrokerHeartbeat(Heartbeat(1, brokers[1], next.Controller.LastCommittedOffset));
        quorum.RunUntil(() => beat.IsCompleted, 10_000);
        var beatWall = wall.Elapsed;
        long beatAt = quorum.Now;
        var created = next.Controller.CreateTopics(CreateRequest(10_000_000, 1, partitionsPerTopic), 7);
        quorum.RunUntil(() => created.IsCompleted, 10_000);
        var createdWall = wall.Elapsed;
        long createdAt = quorum.Now;
        wall.Stop();
        short beatError = beat.IsCompleted ? beat.Result.ErrorCode : (short)-1;
        short createError = created.IsCompleted ? created.Result.Topics[0].ErrorCode : (short)-1;
        var takeover = next.ControllerTime.Elapsed - standbyTime[next.NodeId];
        var takeoverRaft = next.RaftTime.Elapsed - standbyRaft[next.NodeId];

        Console.WriteLine($"failover    node {old.NodeId} (active controller, Raft leader) crashed; node {next.NodeId} took over. Simulated time (Raft timeouts: fetch {QuorumRaftConfig.FetchTimeoutMs} ms, election {QuorumRaftConfig.ElectionTimeoutMs} ms + random backoff):");
        Console.WriteLine($"            Raft leader elected after {electedAt - crashAt} ms simulated; controller active after {activeAt - crashAt} ms simulated;"
            + $" heartbeat answered ({(ErrorCode)beatError}) after {beatAt - crashAt} ms; CreateTopics of {partitionsPerTopic} partitions committed ({(ErrorCode)createError}) after {createdAt - crashAt} ms simulated");
        Console.WriteLine($"            wall clock (the work, with simulated waits skipped): crash -> active {activeWall.TotalMilliseconds:F1} ms, -> heartbeat answered {beatWall.TotalMilliseconds:F1} ms,"
            + $" -> CreateTopics committed {createdWall.TotalMilliseconds:F1} ms; of which in node {next.NodeId}'s controller events {takeover.TotalMilliseconds:F1} ms, its Raft {takeoverRaft.TotalMilliseconds:F1} ms");
        double workMs = beatWall.TotalMilliseconds;
        Console.WriteLine($"            target: standby active and answering < 1 s -> takeover work {workMs:F1} ms wall: {(workMs < 1000 ? "PASS" : "MISS")};"
            + $" with the election {(beatAt - crashAt) + workMs:F0} ms: {((beatAt - crashAt) + workMs < 1000 ? "PASS" : "MISS")} (election time is set by controller.quorum.fetch.timeout.ms, Kafka's default 2000)");
    }

    // ------------------------------------------------------------------ controlled shutdown

    private static void ControlledShutdown(ControllerScaleQuorum quorum, Dictionary<int, long> brokers, long partitions)
    {
        var active = quorum.ActiveNode;
        if (active is null) return;
        var before = quorum.Nodes.ToDictionary(n => n.NodeId, n => n.ControllerTime.Elapsed);
        long offset0 = active.Controller.LastCommittedOffset;
        long sim0 = quorum.Now;
        var counters = Counters.Take();
        var wall = Stopwatch.StartNew();
        var request = Heartbeat(1, brokers[1], active.Controller.LastCommittedOffset);
        request.WantShutDown = true;
        var first = Await(quorum, active.Controller.BrokerHeartbeat(request));
        var firstWall = wall.Elapsed;
        long moved = active.Controller.LastCommittedOffset - offset0;
        long largestBatch = active.Log.Batches.Where(b => b.LastOffset > offset0).Select(b => (long)b.Bytes.Length).DefaultIfEmpty(0).Max();
        request = Heartbeat(1, brokers[1], active.Controller.LastCommittedOffset);
        request.WantShutDown = true;
        var second = Await(quorum, active.Controller.BrokerHeartbeat(request));
        wall.Stop();
        var used = Counters.Take() - counters;
        var work = string.Join(", ", quorum.Nodes.Where(n => !quorum.IsCrashed(n.NodeId))
            .Select(n => $"node {n.NodeId}{(n == active ? " (active)" : "")} {(n.ControllerTime.Elapsed - before[n.NodeId]).TotalSeconds:F2} s"));
        Console.WriteLine($"shutdown    controlled shutdown of broker 1 (in every partition's ISR, leads ~1/3): first heartbeat (leadership moved, ISRs shrunk: {moved:N0} records, largest batch {Mib(largestBatch)})"
            + $" {firstWall.TotalSeconds:F2} s ({(ErrorCode)first.ErrorCode}); second heartbeat: ShouldShutDown={second.ShouldShutDown}, fenced={second.IsFenced} after {wall.Elapsed.TotalSeconds:F2} s wall, {quorum.Now - sim0} ms simulated");
        Console.WriteLine($"            controller events: {work}; process: {used.Describe(partitions, "partition")}");
    }

    // ------------------------------------------------------------------ profile

    /// <summary>Calls the pieces a CreateTopics goes through on the state holding every partition, each timed alone.</summary>
    private static void Profile(ControllerScaleQuorum quorum, ControllerConfig config, Options options, int topics)
    {
        var active = quorum.ActiveNode!;
        var state = Await(quorum, active.Controller.ReadCommitted(s => s));
        var manager = new ReplicationControlManager(config with { RandomSeed = 7 });
        const int rounds = 5;
        int topicsPerRound = options.TopicsPerRequest;
        var operate = new Stopwatch();
        var apply = new Stopwatch();
        var encode = new Stopwatch();
        var decodeReplay = new Stopwatch();
        var dotted = new Stopwatch();
        long operateAlloc = 0, applyAlloc = 0, encodeAlloc = 0, decodeAlloc = 0;
        long partitions = 0;
        for (int round = 0; round < rounds; round++)
        {
            var request = CreateRequest(20_000_000 + round * topicsPerRound, topicsPerRound, options.PartitionsPerTopic);
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            operate.Start();
            var result = manager.CreateTopics(state, request, 7);
            operate.Stop();
            long a1 = GC.GetAllocatedBytesForCurrentThread();
            apply.Start();
            var next = state;
            foreach (var record in result.Records) next = next.Replay(record.Message);
            apply.Stop();
            long a2 = GC.GetAllocatedBytesForCurrentThread();
            encode.Start();
            var values = result.Records.Select(MetadataRecordFrame.Encode).ToArray();
            encode.Stop();
            long a3 = GC.GetAllocatedBytesForCurrentThread();
            decodeReplay.Start();
            var standby = state;
            foreach (var value in values) standby = standby.Replay(MetadataRecordFrame.Decode(value).Message);
            decodeReplay.Stop();
            long a4 = GC.GetAllocatedBytesForCurrentThread();
            operateAlloc += a1 - a0;
            applyAlloc += a2 - a1;
            encodeAlloc += a3 - a2;
            decodeAlloc += a4 - a3;
            partitions += result.Records.Count - topicsPerRound;
        }
        // A topic name with '.' or '_' is compared with every existing name (collision check).
        var dottedRequest = CreateRequest(30_000_000, topicsPerRound, options.PartitionsPerTopic);
        foreach (var t in dottedRequest.Topics) t.Name = t.Name.Replace('-', '.');
        dotted.Start();
        manager.CreateTopics(state, dottedRequest, 7);
        dotted.Stop();

        string Per(Stopwatch sw, long alloc) => $"{sw.Elapsed.TotalMicroseconds / partitions:F1} us, {alloc / (double)partitions:N0} B";
        double sum = (operate.Elapsed + apply.Elapsed + encode.Elapsed + 2 * decodeReplay.Elapsed).TotalMicroseconds / partitions;
        Console.WriteLine($"profile     one CreateTopics of {topicsPerRound} x {options.PartitionsPerTopic} partitions on the state holding {topics:N0} topics, per partition (time, allocated), {rounds} rounds:");
        Console.WriteLine($"            ReplicationControlManager.CreateTopics (validation, placement, records, replays them twice) {Per(operate, operateAlloc)}");
        Console.WriteLine($"            QuorumController.Append's replay into the current state {Per(apply, applyAlloc)}; MetadataRecordFrame.Encode {Per(encode, encodeAlloc)};"
            + $" each standby: decode + Replay {Per(decodeReplay, decodeAlloc)}");
        Console.WriteLine($"            sum with 2 standbys {sum:F1} us/partition = {sum * TargetPartitions / 1e6:F1} s per {TargetPartitions:N0} partitions of controller work (Raft and batch bytes not included)");
        Console.WriteLine($"            same request with '.' in the names (collision scan over every topic name): {dotted.Elapsed.TotalMicroseconds / (topicsPerRound * (double)options.PartitionsPerTopic):F1} us/partition vs {operate.Elapsed.TotalMicroseconds / partitions:F1}");
    }

    // ------------------------------------------------------------------ helpers

    private static Options? Parse(IReadOnlyList<string> args)
    {
        long partitions = TargetPartitions;
        int perTopic = 100, perRequest = 100, inFlight = 16, timeout = 1200;
        long warmup = 20_000;
        for (int i = 0; i < args.Count; i++)
        {
            string? value = i + 1 < args.Count ? args[i + 1] : null;
            switch (args[i])
            {
                case "--partitions" when value is not null: partitions = long.Parse(value.Replace("_", "", StringComparison.Ordinal).Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture); i++; break;
                case "--partitions-per-topic" when value is not null: perTopic = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); i++; break;
                case "--topics-per-request" when value is not null: perRequest = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); i++; break;
                case "--in-flight" when value is not null: inFlight = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); i++; break;
                case "--warmup-partitions" when value is not null: warmup = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture); i++; break;
                case "--timeout-s" when value is not null: timeout = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); i++; break;
                default:
                    Console.WriteLine("usage: controller-scale [--partitions N (1000000)] [--partitions-per-topic 100] [--topics-per-request 100] [--in-flight 16] [--warmup-partitions 20000] [--timeout-s 1200]");
                    return null;
            }
        }
        if (partitions < perTopic || perTopic <= 0 || perRequest <= 0 || inFlight <= 0 || timeout <= 0)
        {
            Console.WriteLine("controller-scale: every option must be positive, and --partitions at least --partitions-per-topic");
            return null;
        }
        return new Options(partitions, perTopic, perRequest, inFlight, timeout, warmup < perTopic ? 0 : warmup);
    }

    private static T Await<T>(ControllerScaleQuorum quorum, Task<T> task)
    {
        if (!quorum.RunUntil(() => task.IsCompleted, 30_000)) throw new InvalidOperationException("the request did not complete within 30 s of simulated time");
        return task.GetAwaiter().GetResult();
    }

    private static CreateTopicsRequest CreateRequest(int firstTopic, int count, int partitionsPerTopic)
    {
        var request = new CreateTopicsRequest { TimeoutMs = 60_000 };
        for (int t = firstTopic; t < firstTopic + count; t++)
            request.Topics.Add(new CreateTopicsRequest.CreatableTopic { Name = $"bench-{t:D8}", NumPartitions = partitionsPerTopic, ReplicationFactor = 3 });
        return request;
    }

    private static BrokerRegistrationRequest Registration(int brokerId) => new()
    {
        BrokerId = brokerId,
        ClusterId = ClusterId,
        IncarnationId = Uuid.NewRandom(),
        Listeners = [new BrokerRegistrationRequest.Listener { Name = "PLAINTEXT", Host = "localhost", Port = (ushort)(9092 + brokerId), SecurityProtocol = 0 }],
        Features = [new BrokerRegistrationRequest.Feature { Name = MetadataVersion.FeatureName, MinSupportedVersion = 1, MaxSupportedVersion = MetadataVersion.LatestTesting.FeatureLevel }],
        Rack = null,
        LogDirs = [Uuid.NewRandom()],
    };

    private static BrokerHeartbeatRequest Heartbeat(int brokerId, long epoch, long metadataOffset) => new()
    {
        BrokerId = brokerId,
        BrokerEpoch = epoch,
        CurrentMetadataOffset = metadataOffset,
        WantFence = false,
        WantShutDown = false,
    };

    private static ControllerState ReplayBatch(ControllerState state, CommittedBatch batch)
    {
        var reader = new RecordBatchReader(batch.Bytes);
        while (reader.MoveNext())
        {
            using var records = reader.Current.OpenRecords(MaxBatchBytes);
            foreach (var record in records) state = state.Replay(MetadataRecordFrame.Decode(record.Value).Message);
        }
        return state;
    }

    private static long LogBytes(InMemoryRaftLog log) => log.Batches.Sum(b => (long)b.Bytes.Length);

    private static string Breakdown(ControllerScaleQuorum quorum, ControllerScaleNode active, TimeSpan wall,
        (TimeSpan Controller, TimeSpan Propose, TimeSpan Raft)[] before, (TimeSpan Controller, TimeSpan Propose, TimeSpan Raft)[] after)
    {
        var parts = new List<string>();
        var accounted = TimeSpan.Zero;
        for (int i = 0; i < quorum.Nodes.Count; i++)
        {
            var node = quorum.Nodes[i];
            var propose = after[i].Propose - before[i].Propose;
            var controller = after[i].Controller - before[i].Controller - propose;
            var raft = after[i].Raft - before[i].Raft + propose;
            accounted += controller + raft;
            parts.Add($"node {node.NodeId}{(node == active ? " (active)" : "")}: controller {controller.TotalSeconds:F2} s, Raft {raft.TotalSeconds:F2} s");
        }
        parts.Add($"driver/other {(wall - accounted).TotalSeconds:F2} s");
        int a = quorum.Nodes.IndexOf(active);
        var critical = after[a].Controller - before[a].Controller + after[a].Raft - before[a].Raft;
        return string.Join("; ", parts) + $". The active node alone (standbys would have machines of their own): {critical.TotalSeconds:F2} s";
    }

    private static string Verdict(double value, double target, string unit, double scale) =>
        $"{value:F2} {unit}{(Math.Abs(scale - 1) > 1e-9 ? $" (x{scale:0.##})" : "")}: {(value < target ? "PASS" : "MISS")}";

    private static string Mib(double bytes) => $"{bytes / (1 << 20):N1} MiB";

    private static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    private static string RuntimeInfo() => System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription;

    /// <summary>Process-wide allocation, GC and CPU counters, for deltas around a phase.</summary>
    private readonly record struct Counters(long Allocated, int Gen0, int Gen1, int Gen2, TimeSpan Pause, TimeSpan Cpu)
    {
        public static Counters Take() => new(GC.GetTotalAllocatedBytes(true), GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2),
            GC.GetTotalPauseDuration(), Process.GetCurrentProcess().TotalProcessorTime);

        public static Counters operator -(Counters a, Counters b) =>
            new(a.Allocated - b.Allocated, a.Gen0 - b.Gen0, a.Gen1 - b.Gen1, a.Gen2 - b.Gen2, a.Pause - b.Pause, a.Cpu - b.Cpu);

        public string Describe(long units, string unit) =>
            $"allocated {Allocated / (double)(1 << 20):N0} MiB ({Allocated / (double)units:N0} B/{unit}), GCs {Gen0}/{Gen1}/{Gen2} (gen0/1/2), GC pauses {Pause.TotalSeconds:F2} s, CPU {Cpu.TotalSeconds:F2} s";
    }
}
