namespace Fjord.Raft.Simulation;

/// <summary>
/// One seeded run of a whole quorum: 1–5 voters and 0–2 observers over a <see cref="SimulatedNetwork"/>,
/// with crashes (losing what was not flushed), restarts, partitions and clock skew while faults are
/// on, then a quiet period in which a leader must emerge and commit. Every invariant of
/// docs/raft.md is checked after every step; the first violation throws <see cref="SimulationFailure"/>
/// (so does any exception a node throws). One static seed in four replaces the random crashes and
/// partitions with the adversarial schedule of SimulatedCluster.Adversary.cs (Raft's Figure 8).
/// Some seeds fetch with a tiny FetchMaxBytes (one batch or a few per answer).
/// Same seed, same run: nothing here reads a clock or a shared random source.
/// </summary>
internal sealed partial class SimulatedCluster
{
    private const long FaultPhaseMs = 4_000;
    private const long AdversarialFaultPhaseMs = 10_000; // room for several Figure 8 attempts
    private const long QuietPhaseMs = 4_000;
    private static readonly RaftConfig BaseConfig = new()
    {
        ElectionTimeoutMs = 100, FetchTimeoutMs = 200, ElectionBackoffMaxMs = 100, RequestTimeoutMs = 100,
        FetchMaxWaitMs = 50, AppendLingerMs = 0, FetchSnapshotMaxBytes = 128,
    };

    private const int MaxUncommitted = 24;
    private const int MaxSteps = 2_000_000;
    private int _steps;
    private readonly int _seed;
    private readonly RaftConfig _config;
    private readonly bool _adversarial;
    private bool _quiet;
    private readonly Random _random;
    private readonly FaultProfile _faults;
    private readonly SimulatedNetwork _network;
    private readonly List<SimNode> _nodes = [];
    private readonly int[] _voterIds;
    private readonly InvariantChecker _checker;
    private readonly Queue<string> _trace = new();
    private long _now;
    private int _proposals;
    private int _snapshotsTaken, _snapshotInstalls;
    private readonly bool _dynamic;
    private int _membershipRequests, _clientCorrelation;
    private readonly HashSet<int> _everVoters = [];

    public SimulatedCluster(int seed)
    {
        _seed = seed;
        _random = new Random(seed);
        _faults = FaultProfile.For(_random);
        _network = new SimulatedNetwork(new Random(_random.Next()), _faults);
        int voters = 1 + _random.Next(5);
        int observers = _random.Next(3);
        // One seed in three runs a dynamic quorum (KIP-853): the initial voters start from a bootstrap
        // snapshot, the others from nothing, and voters are added and removed one at a time.
        _dynamic = _random.Next(3) == 0;
        if (_dynamic) observers = 1 + _random.Next(2);
        // One static seed in four runs the adversarial schedule (3 or 5 voters) instead of random crashes
        // and partitions.
        _adversarial = !_dynamic && _random.Next(4) == 0;
        if (_adversarial) voters = _random.Next(3) == 0 ? 3 : 5;
        // A tiny FetchMaxBytes (one batch or a few per answer) in one seed in four; in most adversarial
        // seeds with 3 voters, where only such answers open the Figure 8 window.
        _config = (_adversarial ? _random.Next(4) < (voters == 3 ? 3 : 2) : _random.Next(4) == 0) ? BaseConfig with { FetchMaxBytes = 1 + _random.Next(300) } : BaseConfig;
        _voterIds = Enumerable.Range(1, voters).ToArray();
        foreach (var id in _voterIds.Concat(Enumerable.Range(100, observers)))
            _nodes.Add(new SimNode(id, _voterIds.Contains(id), _random.Next(-_faults.MaxClockSkewMs, _faults.MaxClockSkewMs + 1))
            {
                SnapshotEvery = 2 + _random.Next(12),
            });
        _checker = new InvariantChecker(_voterIds, Fail) { Dynamic = _dynamic };
        if (_dynamic)
        {
            var set = VoterSet.Of(_voterIds.Select(id => new VoterInfo(KeyOf(id), [EndpointOf(id)])));
            foreach (var n in _nodes.Where(n => n.IsVoter)) RaftBootstrap.WriteBootstrapSnapshot(n.Log, set);
            _everVoters.UnionWith(_voterIds);
        }
    }

    private ReplicaKey KeyOf(int id) => new(id, new Fjord.Common.Uuid(_seed + 1, id));
    private static RaftEndpoint EndpointOf(int id) => new("CONTROLLER", $"n{id}", 9000 + id);

    /// <summary>AddRaftVoter / RemoveRaftVoter sent to the leader (answers go to a client that is not simulated).</summary>
    public int MembershipRequests => _membershipRequests;
    public bool IsDynamic => _dynamic;
    public int VoterChanges => _checker.VoterChanges;

    public string Describe() => $"{(_dynamic ? "dynamic, " : "")}{(_adversarial ? "adversarial, " : "")}{_voterIds.Length} voters, " +
        $"{_nodes.Count - _voterIds.Length} observers, fetch max bytes {_config.FetchMaxBytes}, {_faults}";
    public int Proposals => _proposals;
    public int Committed => _checker.CommittedBatches;
    public long LeaderElections => _checker.Epochs;

    /// <summary>Snapshots the state machines took, and snapshots fetched from a leader and loaded (not at a start).</summary>
    public int SnapshotsTaken => _snapshotsTaken;
    public int SnapshotInstalls => _snapshotInstalls;

    public void Run()
    {
        try { RunSteps(); }
        catch (Exception e) when (e is not SimulationFailure)
        {
            Fail($"{e.GetType().Name}: {e.Message}\n{e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}");
        }
    }

    private void RunSteps()
    {
        foreach (var n in _nodes) Start(n);
        if (_adversarial) StartAdversary();
        long nextFault = 50, nextProposal = 10, nextMembership = _dynamic ? 200 : long.MaxValue;
        long? probeOffset = null;
        int probeLeader = -1;
        long faultPhase = _adversarial ? AdversarialFaultPhaseMs : FaultPhaseMs;
        while (_now < faultPhase + QuietPhaseMs)
        {
            if (!_quiet && _now >= faultPhase)
            {
                _quiet = true;
                nextFault = long.MaxValue;
                _network.FaultsOn = false;
                _network.Heal();
                _network.ClearSlowLinks();
                StopAdversary();
                foreach (var n in _nodes.Where(n => n.Raft is null)) n.RestartAt = _now;
                Trace("faults stop");
            }
            long next = Math.Min(Math.Min(_network.NextDelivery, nextMembership), Math.Min(Math.Min(nextFault, nextProposal), AdversaryDeadline));
            foreach (var n in _nodes)
                next = Math.Min(next, n.Raft is null ? n.RestartAt : Math.Min(n.FlushAt, GlobalTime(n, n.Raft.NextDeadline)));
            _now = Math.Max(_now, next);
            if (++_steps > MaxSteps) Fail($"no progress: {MaxSteps} steps by t={_now}");

            while (_network.Next(_now) is { } message)
            {
                var target = _nodes.First(n => n.Id == message.Destination);
                if (target.Raft is null) continue;
                target.Raft.Handle(message, target.LocalTime(_now));
                AfterStep(target);
            }
            foreach (var n in _nodes)
            {
                if (n.Raft is null)
                {
                    if (n.RestartAt <= _now) Start(n);
                    continue;
                }
                if (n.FlushAt <= _now)
                {
                    n.FlushAt = long.MaxValue;
                    n.Raft.Flush(n.LocalTime(_now));
                    AfterStep(n);
                    if (n.Raft is null) continue; // the adversary crashed it
                }
                if (n.Raft.NextDeadline <= n.LocalTime(_now))
                {
                    n.Raft.Poll(n.LocalTime(_now));
                    AfterStep(n);
                }
            }
            if (_now >= nextProposal)
            {
                nextProposal = _now + 5 + _random.Next(25);
                // Clients write to whichever node says it leads (two can, in different epochs). With a
                // tiny FetchMaxBytes a follower gets about one batch per round trip, slower than the
                // proposals come: there clients keep at most MaxUncommitted offsets uncommitted.
                var leaders = _nodes.Where(n => n.Raft?.Role == RaftRole.Leader).ToList();
                var leader = leaders.Count == 0 ? null : leaders[leaders.Count == 1 ? 0 : _random.Next(leaders.Count)];
                if (leader is not null && (_config.FetchMaxBytes >= BaseConfig.FetchMaxBytes
                    || leader.Raft!.LogEndOffset - leader.Raft.HighWatermark <= MaxUncommitted) && (!_adversarial || AdversaryTakesProposal(leader)))
                {
                    var offset = leader.Raft!.Propose([System.Text.Encoding.UTF8.GetBytes($"seed{_seed}-p{_proposals++}")], leader.LocalTime(_now));
                    if (_quiet && probeOffset is null && offset is not null) { probeOffset = offset; probeLeader = leader.Id; }
                    AfterStep(leader);
                }
            }
            if (_now >= nextMembership)
            {
                nextMembership = _quiet ? long.MaxValue : _now + 100 + _random.Next(300);
                ChangeMembership();
            }
            if (!_quiet && _now >= nextFault)
            {
                nextFault = _now + 50;
                if (!_adversarial) InjectFaults();
            }
            if (!_quiet && _adversarial) AdversaryTick();
        }
        CheckLiveness(probeOffset, probeLeader);
    }

    /// <summary>A node's local deadline on the global clock (long.MaxValue stays "never").</summary>
    private static long GlobalTime(SimNode n, long localDeadline) =>
        localDeadline >= long.MaxValue - 1_000_000 ? long.MaxValue : localDeadline - n.SkewMs;

    private void InjectFaults()
    {
        var live = _nodes.Where(n => n.Raft is not null).ToList();
        if (live.Count > 0 && _random.NextDouble() < _faults.CrashRatePerSecond * 0.05)
        {
            var victim = live[_random.Next(live.Count)];
            victim.Crash(_now + 20 + _random.Next(400));
            Trace($"crash {victim.Id} (log end {victim.Log.EndOffset}, flushed {victim.Log.FlushedOffset})");
        }
        if (_random.NextDouble() < _faults.PartitionRatePerSecond * 0.05)
        {
            _network.Heal();
            var ids = _nodes.Select(n => n.Id).ToList();
            var side = ids.Where(_ => _random.Next(2) == 0).ToList();
            _network.Partition(side, ids);
            Trace($"partition [{string.Join(",", side)}] from the rest");
        }
        else if (_random.NextDouble() < 0.1)
        {
            _network.Heal();
            Trace("heal");
        }
    }

    /// <summary>Asks the leader (if any) to add a node that is not a voter, or to remove a voter (never the last).</summary>
    private void ChangeMembership()
    {
        var leader = _nodes.FirstOrDefault(n => n.Raft?.Role == RaftRole.Leader);
        if (leader is null) return;
        var voters = leader.Raft!.Voters;
        var candidates = _nodes.Where(n => !voters.Contains(n.Id)).ToList();
        bool add = voters.Count == 1 || candidates.Count > 0 && _random.Next(2) == 0;
        Fjord.Protocol.IKafkaMessage request;
        if (add)
        {
            if (candidates.Count == 0) return;
            var joiner = candidates[_random.Next(candidates.Count)];
            request = new Fjord.Protocol.Messages.AddRaftVoterRequest
            {
                ClusterId = "sim-cluster", TimeoutMs = 1000, VoterId = joiner.Id, VoterDirectoryId = KeyOf(joiner.Id).DirectoryId,
                Listeners = [new() { Name = "CONTROLLER", Host = $"n{joiner.Id}", Port = (ushort)(9000 + joiner.Id) }],
            };
        }
        else
        {
            var ids = voters.Ids.ToList();
            int victim = ids[_random.Next(ids.Count)];
            request = new Fjord.Protocol.Messages.RemoveRaftVoterRequest { ClusterId = "sim-cluster", VoterId = victim, VoterDirectoryId = KeyOf(victim).DirectoryId };
        }
        _membershipRequests++;
        Trace($"{(add ? "add" : "remove")} request to leader {leader.Id}");
        leader.Raft.Handle(new RaftMessage(-1, leader.Id, ++_clientCorrelation, true, request), leader.LocalTime(_now));
        AfterStep(leader);
    }

    private void Start(SimNode n)
    {
        n.Machine = new SimulatedStateMachine();
        n.Raft = _dynamic
            ? new RaftNode(_config, new RaftMembership(n.Id) { DirectoryId = KeyOf(n.Id).DirectoryId }, n.Log, n.Store, new Random(_random.Next()),
                "sim-cluster", n.LocalTime(_now), NodeTrace)
            : new RaftNode(_config, n.Id, _voterIds, n.Log, n.Store, new Random(_random.Next()), "sim-cluster", n.LocalTime(_now), NodeTrace);
        n.Incarnation++;
        _checker.Restarted(n);
        Trace($"start {n.Id} (incarnation {n.Incarnation}, epoch {n.Raft.Epoch}, role {n.Raft.Role})");
        AfterStep(n);
    }

    /// <summary>
    /// What a driver does after each call: send what the node queued, hand over what it committed,
    /// then make an unflushed tail (a leader's new batch) durable. Usually that flush follows at
    /// once; sometimes it is deferred by a few milliseconds, so that a crash can catch a leader
    /// whose followers already hold data it has not flushed.
    /// </summary>
    private void AfterStep(SimNode n)
    {
        var raft = n.Raft!;
        while (true)
        {
            foreach (var message in raft.DrainOutbound())
                if (message.Destination >= 0) _network.Send(message, _now); // answers to the membership client are not simulated
            if (raft.IsVoter) _everVoters.Add(n.Id);
            if (raft.Role == RaftRole.Leader && !_everVoters.Contains(n.Id)) Fail($"node {n.Id} leads without ever having been a voter");
            foreach (var item in raft.DrainCommitted()) Deliver(n, item);
            MaybeSnapshot(n);
            _checker.Check(_nodes);
            if (_adversarial && !_quiet) AdversaryObserve(n);
            if (n.Raft is null) return; // the adversary crashed it
            if (!raft.HasUnflushedTail || n.FlushAt != long.MaxValue) return;
            if (_random.Next(4) == 0)
            {
                n.FlushAt = _now + 1 + _random.Next(5);
                return;
            }
            raft.Flush(n.LocalTime(_now));
        }
    }

    /// <summary>Hands a committed item to the node's state machine and checks the state it reaches.</summary>
    private void Deliver(SimNode n, CommittedItem item)
    {
        var machine = n.Machine;
        switch (item)
        {
            case CommittedBatch batch:
                _checker.Committed(n, batch, _nodes);
                if (batch.BaseOffset != machine.NextOffset)
                    Fail($"node {n.Id} was handed the batch at {batch.BaseOffset} while its state is at {machine.NextOffset}");
                machine.Apply(batch);
                _checker.StateReached(n, machine.NextOffset, machine.Digest, fromSnapshot: false);
                break;
            case SnapshotLoad load:
                if (machine.Delivered > 0)
                {
                    _snapshotInstalls++;
                    Trace($"node {n.Id} installed snapshot {load.Id.Offset}:{load.Id.Epoch} (its state was at {machine.NextOffset})");
                }
                try { machine.Load(load); }
                catch (Exception e) when (e is InvalidOperationException or Fjord.Protocol.ProtocolDecodeException) { Fail($"node {n.Id}: {e.Message}"); }
                _checker.StateReached(n, machine.NextOffset, machine.Digest, fromSnapshot: true);
                break;
        }
        machine.Delivered++;
    }

    /// <summary>Every few applied batches a state machine snapshots itself at the offset it reached
    /// (always committed: it only ever gets committed batches), and the node moves its log start there.</summary>
    private void MaybeSnapshot(SimNode n)
    {
        var machine = n.Machine;
        var raft = n.Raft!;
        if (machine.BatchesSinceSnapshot < n.SnapshotEvery) return;
        long end = machine.NextOffset;
        if (end <= raft.LogStartOffset || raft.LatestSnapshotId is { } latest && end <= latest.Offset) return;
        using var writer = raft.CreateSnapshot(end, n.LocalTime(_now));
        machine.Write(writer);
        writer.Freeze();
        _snapshotsTaken++;
    }

    private void CheckLiveness(long? probeOffset, int probeLeader)
    {
        var leaders = _nodes.Where(n => n.Raft?.Role == RaftRole.Leader).ToList();
        if (leaders.Count != 1) Fail($"{leaders.Count} leaders {QuietPhaseMs} ms after faults stopped");
        if (probeOffset is null) Fail("no proposal was accepted after faults stopped");
        var leader = leaders[0];
        if (leader.Raft!.HighWatermark <= probeOffset && leader.Id == probeLeader)
            Fail($"leader {leader.Id} never committed offset {probeOffset} (high watermark {leader.Raft.HighWatermark})");
        if (leader.Raft.HighWatermark == 0 && leader.Raft.LogEndOffset > 0)
            Fail($"leader {leader.Id} has committed nothing");
    }

    /// <summary>Receives every trace line as it happens, the nodes' own included (Replay with FJORD_SIM_TRACE=1).</summary>
    public Action<string>? TraceSink { get; init; }

    private Action<string>? NodeTrace => TraceSink is { } sink ? line => sink($"    {line}") : null;

    private void Trace(string line)
    {
        TraceSink?.Invoke($"t={_now} {line}");
        _trace.Enqueue($"t={_now} {line}");
        if (_trace.Count > 40) _trace.Dequeue();
    }

    private void Fail(string what) =>
        throw new SimulationFailure(_seed, $"{what}\n{Describe()}\nnodes:\n  {string.Join("\n  ", _nodes.Select(NodeLine))}\nlast events:\n  {string.Join("\n  ", _trace)}");

    private string NodeLine(SimNode n) => n.Raft is null
        ? $"{n.Id}: down until {n.RestartAt}; log end {n.Log.EndOffset}"
        : $"{n.Id}: {n.Raft.Role} voters {n.Raft.Voters} isVoter {n.Raft.IsVoter} epoch {n.Raft.Epoch} leader {n.Raft.LeaderId?.ToString() ?? "-"} hw {n.Raft.HighWatermark} end {n.Raft.LogEndOffset} next deadline {n.Raft.NextDeadline} (local now {n.LocalTime(_now)})";
}

/// <summary>A simulated machine: its durable log and quorum state outlive the RaftNode on it.</summary>
internal sealed class SimNode(int id, bool isVoter, int skewMs)
{
    public int Id { get; } = id;
    public bool IsVoter { get; } = isVoter;
    public int SkewMs { get; } = skewMs;
    public InMemoryRaftLog Log { get; } = new();
    public InMemoryQuorumStateStore Store { get; } = new();
    public RaftNode? Raft { get; set; }

    /// <summary>The state machine of the current incarnation (a new one at every start).</summary>
    public SimulatedStateMachine Machine { get; set; } = new();

    /// <summary>How many applied batches between two snapshots of this node's state machine.</summary>
    public int SnapshotEvery { get; init; } = 5;
    public long RestartAt { get; set; } = long.MaxValue;
    /// <summary>When the driver flushes a deferred unflushed tail (global time; long.MaxValue: none pending).</summary>
    public long FlushAt { get; set; } = long.MaxValue;
    public int Incarnation { get; set; }

    public long LocalTime(long now) => now + SkewMs;

    public void Crash(long restartAt)
    {
        Raft = null;
        FlushAt = long.MaxValue;
        Log.Crash();
        RestartAt = restartAt;
    }
}

internal sealed class SimulationFailure(int seed, string message)
    : Exception($"seed {seed}: {message}\nreplay: FJORD_SIM_SEED={seed} dotnet test tests/Fjord.Raft.Simulation --filter Replay")
{
    public int Seed { get; } = seed;
}
