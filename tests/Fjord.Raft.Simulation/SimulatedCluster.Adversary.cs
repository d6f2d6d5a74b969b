namespace Fjord.Raft.Simulation;

/// <summary>
/// The adversarial schedule: Raft's Figure 8 history (an entry of an older epoch, replicated to a
/// majority by a later leader, then overwritten), played again and again with random choices while
/// faults are on. It catches a leader that counts replicas of older-epoch entries towards the high
/// watermark, which random faults practically never do: the LeaderChange batch that opens every
/// epoch leaves the mutated leader only a narrow window (the leader must commit an older-epoch
/// offset before its own LeaderChange reaches a majority, and a later leader must then overwrite
/// it). One attempt:
/// <list type="number">
/// <item><b>Settle.</b> Clients pause until the followers hold the leader's whole log (at most 300 ms)
/// and the leader has committed in its epoch.</item>
/// <item><b>Strand.</b> Cut the leader L (and, usually, as many followers as still leaves a majority
/// outside) off from the rest. L takes 1–4 more proposals (clients then give up on it): an
/// uncommitted tail of its epoch, on its side only.</item>
/// <item><b>Rival.</b> The other side elects L2. Right after it wins (its LeaderChange is in its own
/// log, usually nowhere else) it is isolated, or crashed once its LeaderChange is flushed, and the
/// other nodes are healed.</item>
/// <item><b>Return.</b> Usually a node holding L's tail (a longer log of the older epoch) wins the
/// next epoch: W. Usually its fetch answers to all voters but one are slowed: a replica that already
/// holds the tail keeps reporting the tail's end without getting W's LeaderChange, while the fast
/// one gets tail and LeaderChange together. (With a tiny FetchMaxBytes, replicas without the tail
/// also reach its end before they get the LeaderChange.)</item>
/// <item><b>Strike.</b> As soon as W's high watermark moves (or after a random time): W, with every
/// node already holding a batch of W's epoch, is cut off (W is sometimes crashed) and L2 rejoins the
/// rest. L2's last epoch is newer than the tail's, so L2 can win with those nodes and overwrite the
/// tail — safe unless W committed the tail by counting older-epoch replicas.</item>
/// <item><b>Recover.</b> Shortly after a leader outside the cut-off group commits in its epoch (or
/// after a timeout), everything heals and crashed nodes restart; the next attempt follows.</item>
/// </list>
/// Elections, drops, duplicates and delays stay random, so attempts also stall, diverge or take
/// other shapes; a stalled act is abandoned after a timeout. The correct core keeps every invariant
/// throughout.
/// </summary>
internal sealed partial class SimulatedCluster
{
    private enum Act { Settle, Strand, Return, Strike, Recover, Done }

    private const long ActTimeoutMs = 1_500;

    private Act _act = Act.Done;
    private long _actUntil = long.MaxValue; // the current act is abandoned then (global time)
    private long _actAt = long.MaxValue;    // a timed move within the act (global time)
    private readonly HashSet<int> _side = [];
    private readonly HashSet<int> _cutOff = [];
    private int _strandedLeader = -1, _strandedEpoch, _tailBudget, _rival = -1, _rivalEpoch, _returner = -1, _returnerEpoch;
    private long _returnerHighWatermark;
    private bool _rivalIsolated, _rivalCrash, _recovering;
    private long _settleSince;
    private int _attempts, _strikes, _watermarkStrikes, _overwrites;

    /// <summary>Figure 8 attempts started, attempts that reached the strike, and strikes after
    /// which the rival (L2) won and committed in a later epoch.</summary>
    public int AdversaryAttempts => _attempts;
    public int AdversaryStrikes => _strikes;
    public int AdversaryWatermarkStrikes => _watermarkStrikes;
    public int AdversaryOverwrites => _overwrites;
    public bool IsAdversarial => _adversarial;

    private long AdversaryDeadline => _adversarial && _act != Act.Done ? Math.Min(_actUntil, _actAt) : long.MaxValue;

    private int Majority => _voterIds.Length / 2 + 1;

    private void StartAdversary()
    {
        _act = Act.Settle;
        _actAt = 100 + _random.Next(300);
        _settleSince = long.MaxValue;
    }

    /// <summary>Whether clients send this proposal: not while the followers catch up before a strand;
    /// only a few to a stranded L (a short tail is caught up quickly once L returns, so the window the
    /// strike aims at opens soon).</summary>
    private bool AdversaryTakesProposal(SimNode leader)
    {
        if (_act == Act.Settle && _settleSince <= _now) return false;
        if (_act != Act.Strand || leader.Id != _strandedLeader || leader.Raft!.Epoch != _strandedEpoch) return true;
        return _tailBudget-- > 0;
    }

    private void StopAdversary()
    {
        _act = Act.Done;
        _actAt = _actUntil = long.MaxValue;
    }

    /// <summary>Timed moves (the main loop calls this every step while faults are on).</summary>
    private void AdversaryTick()
    {
        switch (_act)
        {
            case Act.Settle when _now >= _actAt:
                TryStrand();
                break;
            case Act.Strand when _rival >= 0 && !_rivalIsolated && _now >= _actAt:
                IsolateRival();
                break;
            case Act.Strike when _now >= _actAt:
                Strike("timer");
                break;
            case Act.Recover when _now >= _actAt:
                EndAttempt(_recovering ? "recovered" : "recover timed out");
                break;
        }
        if (_act is Act.Strand or Act.Return or Act.Strike && _now >= _actUntil) EndAttempt($"{_act} timed out");
    }

    /// <summary>Reactions to what a node just did (called after each of its steps, once its output was sent and its commits checked).</summary>
    private void AdversaryObserve(SimNode n)
    {
        var raft = n.Raft!;
        switch (_act)
        {
            case Act.Strand when _rival < 0 && n.IsVoter && !_side.Contains(n.Id) && raft.Role == RaftRole.Leader && raft.Epoch > _strandedEpoch:
                _rival = n.Id;
                _rivalEpoch = raft.Epoch;
                _rivalCrash = _random.Next(3) == 0;
                Trace($"adversary: rival {n.Id} leads epoch {raft.Epoch} (log end {raft.LogEndOffset})");
                // A crash waits for the flush that follows this step (else the LeaderChange is lost);
                // sometimes the rival may replicate a little first.
                if (_random.Next(4) == 0) _actAt = _now + 1 + _random.Next(8);
                else if (_rivalCrash) _actAt = _now + 1;
                else IsolateRival();
                break;
            case Act.Return when raft.Role == RaftRole.Leader && raft.Epoch > _rivalEpoch && n.Id != _rival:
                Returned(n);
                break;
            case Act.Strike when n.Id == _returner && raft.HighWatermark > _returnerHighWatermark:
                _watermarkStrikes++;
                Strike($"high watermark of {n.Id} moved to {raft.HighWatermark}");
                break;
            case Act.Recover when !_recovering && raft.Role == RaftRole.Leader && raft.Epoch > _returnerEpoch && !_cutOff.Contains(n.Id)
                && EpochBefore(n, raft.HighWatermark) == raft.Epoch:
                _recovering = true;
                if (n.Id == _rival) _overwrites++;
                Trace($"adversary: {n.Id} committed in epoch {raft.Epoch} (high watermark {raft.HighWatermark}){(n.Id == _rival ? ": the rival won" : "")}");
                _actAt = _now + 10 + _random.Next(60);
                break;
        }
    }

    /// <summary>Settle → Strand once one leader, committed in its epoch, leads with every voter up and
    /// (for the first 300 ms of trying, while clients pause) every voter holding its whole log.</summary>
    private void TryStrand()
    {
        if (_settleSince == long.MaxValue) _settleSince = _now;
        var leaders = _nodes.Where(n => n.Raft?.Role == RaftRole.Leader).ToList();
        if (leaders.Count != 1 || _nodes.Any(n => n.IsVoter && n.Raft is null)
            || EpochBefore(leaders[0], leaders[0].Raft!.HighWatermark) != leaders[0].Raft!.Epoch
            || _now < _settleSince + 300 && _nodes.Any(n => n.IsVoter && n.Log.EndOffset != leaders[0].Log.EndOffset))
        {
            _actAt = _now + 10;
            return;
        }
        _settleSince = long.MaxValue;
        var leader = leaders[0];
        int most = Majority - 2; // followers that may join the leader and still leave a majority outside
        int followers = most <= 0 ? 0 : _random.Next(4) == 0 ? _random.Next(most + 1) : most;
        _side.Clear();
        _side.Add(leader.Id);
        // Followers holding what the leader committed first: they copy its tail at once.
        long committed = leader.Raft!.HighWatermark;
        foreach (var n in _nodes.Where(n => n.IsVoter && n != leader).OrderBy(n => n.Log.EndOffset >= committed ? 0 : 1)
            .ThenBy(_ => _random.Next()).Take(followers))
            _side.Add(n.Id);
        _strandedLeader = leader.Id;
        _strandedEpoch = leader.Raft!.Epoch;
        _tailBudget = 1 + _random.Next(4);
        _rival = _returner = -1;
        _rivalIsolated = _recovering = false;
        _cutOff.Clear();
        _network.Heal();
        _network.Partition(_side, AllIds);
        _attempts++;
        _act = Act.Strand;
        _actUntil = _now + ActTimeoutMs;
        _actAt = long.MaxValue;
        Trace($"adversary: strand [{string.Join(",", _side)}] with leader {leader.Id} of epoch {_strandedEpoch} (log end {leader.Raft.LogEndOffset}, hw {leader.Raft.HighWatermark})");
    }

    /// <summary>Rival → Return: the rival is isolated (one time in three crashed, to restart at the strike) and the rest healed.</summary>
    private void IsolateRival()
    {
        var rival = _nodes.First(n => n.Id == _rival);
        _rivalIsolated = true;
        _network.Heal();
        if (rival.Raft is not null && _rivalCrash)
        {
            rival.Crash(long.MaxValue);
            Trace($"adversary: crash rival {rival.Id} (log end {rival.Log.EndOffset}, flushed {rival.Log.FlushedOffset}); heal the rest");
        }
        else
        {
            _network.Isolate(rival.Id, AllIds);
            Trace($"adversary: isolate rival {rival.Id} (log end {rival.Log.EndOffset}); heal the rest");
        }
        _act = Act.Return;
        _actUntil = _now + ActTimeoutMs;
        _actAt = long.MaxValue;
    }

    /// <summary>Return → Strike: W leads a later epoch. Usually its answers to every voter but one
    /// are slowed from now on (each by its own delay): the replicas already holding W's old tail keep
    /// counting at the tail's end without W's LeaderChange, while the one fast replica — preferably
    /// one without the tail, which gets tail and LeaderChange together — catches up.</summary>
    private void Returned(SimNode w)
    {
        var raft = w.Raft!;
        _returner = w.Id;
        _returnerEpoch = raft.Epoch;
        _returnerHighWatermark = raft.HighWatermark;
        long epochStart = EpochStart(w, raft.Epoch);
        string slowed = "";
        var others = _nodes.Where(n => n.IsVoter && n.Id != w.Id && n.Id != _rival).ToList();
        if (others.Count > 0 && _random.Next(4) != 0)
        {
            var withoutTail = others.Where(n => n.Log.EndOffset < epochStart || EpochAt(n, epochStart - 1) != EpochAt(w, epochStart - 1)).ToList();
            var pool = withoutTail.Count > 0 && _random.Next(4) != 0 ? withoutTail : others;
            var fast = pool[_random.Next(pool.Count)];
            foreach (var n in others.Where(n => n != fast))
            {
                int extra = 10 + _random.Next(120);
                _network.Slow(w.Id, n.Id, extra);
                slowed += $" {n.Id}(end {n.Log.EndOffset}):+{extra}ms";
            }
            slowed = $"; answers slowed:{slowed}, fast: {fast.Id} (end {fast.Log.EndOffset})";
        }
        _act = Act.Strike;
        _actUntil = _now + ActTimeoutMs;
        _actAt = _now + 20 + _random.Next(600);
        Trace($"adversary: {w.Id} returns as leader of epoch {raft.Epoch} (epoch starts at {epochStart}, hw {raft.HighWatermark}){slowed}");
    }

    /// <summary>Strike → Recover: cut off W and every node holding a batch of its epoch (W crashed one
    /// time in three); the rival rejoins the rest.</summary>
    private void Strike(string why)
    {
        _cutOff.Clear();
        _cutOff.Add(_returner);
        foreach (var n in _nodes.Where(n => n.Id != _rival && n.Log.Batches.Any(b => b.Epoch == _returnerEpoch))) _cutOff.Add(n.Id);
        _network.Heal();
        _network.ClearSlowLinks();
        _network.Partition(_cutOff, AllIds);
        var rival = _nodes.First(n => n.Id == _rival);
        if (rival.Raft is null) rival.RestartAt = _now;
        var w = _nodes.First(n => n.Id == _returner);
        bool crash = w.Raft is not null && _random.Next(3) == 0;
        if (crash) w.Crash(long.MaxValue);
        _strikes++;
        _act = Act.Recover;
        _actUntil = long.MaxValue;
        // With a majority of voters cut off nobody else can win: the next attempt may come sooner.
        _actAt = _now + (_cutOff.Count(_voterIds.Contains) >= Majority ? 100 + _random.Next(300) : 1_000 + _random.Next(1_000));
        Trace($"adversary: strike ({why}): cut off [{string.Join(",", _cutOff)}]{(crash ? $", crash {w.Id}" : "")}; rival {_rival} rejoins");
    }

    /// <summary>Heal everything, restart what the adversary crashed, and settle before the next attempt.</summary>
    private void EndAttempt(string why)
    {
        _network.Heal();
        _network.ClearSlowLinks();
        foreach (var n in _nodes.Where(n => n.Raft is null)) n.RestartAt = Math.Min(n.RestartAt, _now);
        _act = Act.Settle;
        _actUntil = long.MaxValue;
        _actAt = _now + 100 + _random.Next(300);
        _settleSince = long.MaxValue;
        Trace($"adversary: {why}; heal all");
    }

    private List<int> AllIds => [.. _nodes.Select(n => n.Id)];

    /// <summary>The epoch of the batch holding <paramref name="offset"/> in the node's log (-1: not held).</summary>
    private static int EpochAt(SimNode n, long offset)
    {
        var batches = n.Log.Batches;
        int lo = 0, hi = batches.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (batches[mid].LastOffset < offset) lo = mid + 1;
            else if (batches[mid].BaseOffset > offset) hi = mid - 1;
            else return batches[mid].Epoch;
        }
        return -1;
    }

    /// <summary>The epoch of the batch ending at or holding <paramref name="offset"/> - 1: from the log, or
    /// the snapshot the log starts after when it starts at <paramref name="offset"/> (-1: unknown).</summary>
    private static int EpochBefore(SimNode n, long offset) =>
        offset > n.Log.StartOffset ? EpochAt(n, offset - 1)
        : offset == n.Log.StartOffset && n.Log.LatestSnapshotId is { } snapshot && snapshot.Offset == offset ? snapshot.Epoch : -1;

    /// <summary>Where <paramref name="epoch"/> starts in the node's log (its end when it holds no batch of it).</summary>
    private static long EpochStart(SimNode n, int epoch)
    {
        foreach (var b in n.Log.Batches)
            if (b.Epoch >= epoch) return b.BaseOffset;
        return n.Log.EndOffset;
    }
}
