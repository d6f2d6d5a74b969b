namespace Fjord.Raft.Simulation;

/// <summary>
/// One seeded run of a whole quorum: 1–5 voters and 0–2 observers over a <see cref="SimulatedNetwork"/>,
/// with crashes (losing what was not flushed), restarts, partitions and clock skew while faults are
/// on, then a quiet period in which a leader must emerge and commit. Every invariant of
/// docs/raft.md is checked after every step; the first violation throws <see cref="SimulationFailure"/>.
/// Same seed, same run: nothing here reads a clock or a shared random source.
/// </summary>
internal sealed class SimulatedCluster
{
    private const long FaultPhaseMs = 4_000;
    private const long QuietPhaseMs = 4_000;
    private static readonly RaftConfig Config = new()
    {
        ElectionTimeoutMs = 100, FetchTimeoutMs = 200, ElectionBackoffMaxMs = 100, RequestTimeoutMs = 100,
        FetchMaxWaitMs = 50, AppendLingerMs = 0,
    };

    private const int MaxSteps = 2_000_000;
    private int _steps;
    private readonly int _seed;
    private readonly Random _random;
    private readonly FaultProfile _faults;
    private readonly SimulatedNetwork _network;
    private readonly List<SimNode> _nodes = [];
    private readonly int[] _voterIds;
    private readonly InvariantChecker _checker;
    private readonly Queue<string> _trace = new();
    private long _now;
    private int _proposals;

    public SimulatedCluster(int seed)
    {
        _seed = seed;
        _random = new Random(seed);
        _faults = FaultProfile.For(_random);
        _network = new SimulatedNetwork(new Random(_random.Next()), _faults);
        int voters = 1 + _random.Next(5);
        int observers = _random.Next(3);
        _voterIds = Enumerable.Range(1, voters).ToArray();
        foreach (var id in _voterIds.Concat(Enumerable.Range(100, observers)))
            _nodes.Add(new SimNode(id, _voterIds.Contains(id), _random.Next(-_faults.MaxClockSkewMs, _faults.MaxClockSkewMs + 1)));
        _checker = new InvariantChecker(_voterIds, Fail);
    }

    public string Describe() => $"{_voterIds.Length} voters, {_nodes.Count - _voterIds.Length} observers, {_faults}";
    public int Proposals => _proposals;
    public int Committed => _checker.CommittedBatches;
    public long LeaderElections => _checker.Epochs;

    public void Run()
    {
        foreach (var n in _nodes) Start(n);
        long nextFault = 50, nextProposal = 10;
        bool quiet = false;
        long? probeOffset = null;
        int probeLeader = -1;
        while (_now < FaultPhaseMs + QuietPhaseMs)
        {
            if (!quiet && _now >= FaultPhaseMs)
            {
                quiet = true;
                nextFault = long.MaxValue;
                _network.FaultsOn = false;
                _network.Heal();
                foreach (var n in _nodes.Where(n => n.Raft is null)) n.RestartAt = _now;
                Trace("faults stop");
            }
            long next = Math.Min(_network.NextDelivery, Math.Min(nextFault, nextProposal));
            foreach (var n in _nodes)
                next = Math.Min(next, n.Raft is null ? n.RestartAt : GlobalTime(n, n.Raft.NextDeadline));
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
                if (n.Raft.NextDeadline <= n.LocalTime(_now))
                {
                    n.Raft.Poll(n.LocalTime(_now));
                    AfterStep(n);
                }
            }
            if (_now >= nextProposal)
            {
                nextProposal = _now + 5 + _random.Next(25);
                var leader = _nodes.FirstOrDefault(n => n.Raft?.Role == RaftRole.Leader);
                if (leader is not null)
                {
                    var offset = leader.Raft!.Propose([System.Text.Encoding.UTF8.GetBytes($"seed{_seed}-p{_proposals++}")], leader.LocalTime(_now));
                    if (quiet && probeOffset is null && offset is not null) { probeOffset = offset; probeLeader = leader.Id; }
                    AfterStep(leader);
                }
            }
            if (!quiet && _now >= nextFault)
            {
                nextFault = _now + 50;
                InjectFaults();
            }
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

    private void Start(SimNode n)
    {
        n.Raft = new RaftNode(Config, n.Id, _voterIds, n.Log, n.Store, new Random(_random.Next()), "sim-cluster", n.LocalTime(_now));
        n.Incarnation++;
        _checker.Restarted(n);
        Trace($"start {n.Id} (incarnation {n.Incarnation}, epoch {n.Raft.Epoch}, role {n.Raft.Role})");
        AfterStep(n);
    }

    private void AfterStep(SimNode n)
    {
        var raft = n.Raft!;
        foreach (var message in raft.DrainOutbound()) _network.Send(message, _now);
        foreach (var batch in raft.DrainCommitted()) _checker.Committed(n, batch, _nodes);
        _checker.Check(_nodes);
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

    private void Trace(string line)
    {
        _trace.Enqueue($"t={_now} {line}");
        if (_trace.Count > 40) _trace.Dequeue();
    }

    private void Fail(string what) =>
        throw new SimulationFailure(_seed, $"{what}\n{Describe()}\nnodes:\n  {string.Join("\n  ", _nodes.Select(NodeLine))}\nlast events:\n  {string.Join("\n  ", _trace)}");

    private string NodeLine(SimNode n) => n.Raft is null
        ? $"{n.Id}: down until {n.RestartAt}; log end {n.Log.EndOffset}"
        : $"{n.Id}: {n.Raft.Role} epoch {n.Raft.Epoch} leader {n.Raft.LeaderId?.ToString() ?? "-"} hw {n.Raft.HighWatermark} end {n.Raft.LogEndOffset} next deadline {n.Raft.NextDeadline} (local now {n.LocalTime(_now)})";
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
    public long RestartAt { get; set; } = long.MaxValue;
    public int Incarnation { get; set; }

    public long LocalTime(long now) => now + SkewMs;

    public void Crash(long restartAt)
    {
        Raft = null;
        Log.Crash();
        RestartAt = restartAt;
    }
}

internal sealed class SimulationFailure(int seed, string message)
    : Exception($"seed {seed}: {message}\nreplay: FJORD_SIM_SEED={seed} dotnet test tests/Fjord.Raft.Simulation --filter Replay")
{
    public int Seed { get; } = seed;
}
