using System.Diagnostics;
using Fjord.Controller;
using Fjord.Raft;

namespace Fjord.Benchmarks;

/// <summary>
/// One voter of <see cref="ControllerScaleQuorum"/>: a real <see cref="RaftNode"/> over an
/// <see cref="InMemoryRaftLog"/> (no fsync), the <see cref="IMetadataLog"/> port its
/// <see cref="QuorumController"/> uses, and the controller on a <see cref="ManualEventQueue"/>.
/// Wall-clock time spent in the controller's events and in Raft is counted per node.
/// </summary>
internal sealed class ControllerScaleNode : IMetadataLog
{
    private IMetadataLogListener? _listener;
    private LeaderAndEpoch? _reported;
    private readonly List<CommittedItem> _undelivered = [];

    public ControllerScaleNode(RaftNode raft, InMemoryRaftLog log)
    {
        Raft = raft;
        Log = log;
    }

    public RaftNode Raft { get; }
    public InMemoryRaftLog Log { get; }
    public ManualEventQueue Queue { get; } = new();
    public QuorumController Controller { get; set; } = null!;

    /// <summary>When set, every committed item this node delivers is also kept here (what a broker's
    /// metadata loader would be handed).</summary>
    public List<CommittedItem>? Capture { get; set; }

    /// <summary>Wall time in this node's controller events (includes <see cref="ProposeTime"/>).</summary>
    public Stopwatch ControllerTime { get; } = new();

    /// <summary>Wall time in <see cref="RaftNode.Propose"/> (called from controller events).</summary>
    public Stopwatch ProposeTime { get; } = new();

    /// <summary>Wall time in Raft calls made by the driver (Poll, Handle, Flush, drains).</summary>
    public Stopwatch RaftTime { get; } = new();

    public int NodeId => Raft.NodeId;

    public void Register(IMetadataLogListener listener) => _listener = listener;

    public long? Append(int epoch, IReadOnlyList<byte[]> records)
    {
        if (Raft.Role != RaftRole.Leader || Raft.Epoch != epoch) return null;
        ProposeTime.Start();
        try
        {
            return Raft.Propose(records, Now());
        }
        finally
        {
            ProposeTime.Stop();
        }
    }

    public Func<long> Now { get; set; } = () => 0;

    /// <summary>Reports leadership and committed items to the controller (as the tests' port does).</summary>
    public bool Sync()
    {
        int? leader = Raft.Role switch
        {
            RaftRole.Leader => Raft.NodeId,
            RaftRole.Resigned => null,
            _ => Raft.LeaderId,
        };
        var current = new LeaderAndEpoch(leader, Raft.Epoch);
        RaftTime.Start();
        _undelivered.AddRange(Raft.DrainCommitted());
        RaftTime.Stop();
        if (_listener is null) return false;
        bool any = false;
        if (_reported != current)
        {
            _reported = current;
            _listener.OnLeaderChange(current);
            any = true;
        }
        foreach (var item in _undelivered)
        {
            Capture?.Add(item);
            _listener.OnCommitted(item);
        }
        any |= _undelivered.Count > 0;
        _undelivered.Clear();
        return any;
    }

    public int Pump()
    {
        ControllerTime.Start();
        try
        {
            return Queue.RunPending();
        }
        finally
        {
            ControllerTime.Stop();
        }
    }
}

/// <summary>
/// A metadata quorum in one thread, driven like the controller tests' harness: real Raft nodes,
/// messages delivered at once in FIFO order, simulated time that moves only when asked
/// (<see cref="RunUntil"/>), a crash that silences a node for good. After every step the ports
/// report to their controllers and the controllers' queues run, until nothing moves.
/// </summary>
internal sealed class ControllerScaleQuorum
{
    public const int TickIntervalMs = 100;
    private readonly HashSet<int> _crashed = [];
    private long _nextTick;

    public ControllerScaleQuorum(int voters, RaftConfig raftConfig, ControllerConfig controllerConfig, int seed = 1)
    {
        var random = new Random(seed);
        var ids = Enumerable.Range(1, voters).ToArray();
        foreach (var id in ids)
        {
            var log = new InMemoryRaftLog();
            var raft = new RaftNode(raftConfig, id, ids, log, new InMemoryQuorumStateStore(), new Random(random.Next()), controllerConfig.ClusterId, Now);
            var node = new ControllerScaleNode(raft, log) { Now = () => Now };
            node.Controller = new QuorumController(controllerConfig, node, node.Queue, () => Now);
            Nodes.Add(node);
        }
    }

    public long Now { get; private set; }
    public List<ControllerScaleNode> Nodes { get; } = [];

    /// <summary>Run every <see cref="TickIntervalMs"/> of simulated time, after the controllers' ticks.</summary>
    public List<Action> Ticks { get; } = [];

    public ControllerScaleNode? ActiveNode => Nodes.SingleOrDefault(n => !_crashed.Contains(n.NodeId) && n.Controller.IsActive);

    public void Crash(int id) => _crashed.Add(id);

    public bool IsCrashed(int id) => _crashed.Contains(id);

    /// <summary>One round: due timers, message delivery, flushes, syncs and pumps. False when nothing moved.</summary>
    public bool Step()
    {
        bool progress = false;
        var messages = new List<RaftMessage>();
        foreach (var node in Nodes)
        {
            bool crashed = _crashed.Contains(node.NodeId);
            node.RaftTime.Start();
            if (!crashed && node.Raft.NextDeadline <= Now) node.Raft.Poll(Now);
            var outbound = node.Raft.DrainOutbound();
            node.RaftTime.Stop();
            if (!crashed) messages.AddRange(outbound);
        }
        foreach (var node in Nodes)
        {
            if (_crashed.Contains(node.NodeId) || !node.Raft.HasUnflushedTail) continue;
            node.RaftTime.Start();
            node.Raft.Flush(Now);
            node.RaftTime.Stop();
            progress = true;
        }
        foreach (var message in messages)
        {
            if (_crashed.Contains(message.Destination)) continue;
            var to = Nodes.Find(n => n.NodeId == message.Destination);
            if (to is null) continue;
            to.RaftTime.Start();
            to.Raft.Handle(message, Now);
            to.RaftTime.Stop();
            progress = true;
        }
        foreach (var node in Nodes)
            if (!_crashed.Contains(node.NodeId)) progress |= node.Sync();
        foreach (var node in Nodes)
            if (!_crashed.Contains(node.NodeId)) progress |= node.Pump() > 0;
        return progress;
    }

    /// <summary>Runs everything that can happen at the current simulated time.</summary>
    public void Settle()
    {
        for (int round = 0; round < 1_000_000; round++)
            if (!Step()) return;
        throw new InvalidOperationException("the quorum does not settle");
    }

    private long LiveDeadline() =>
        Nodes.Where(n => !_crashed.Contains(n.NodeId)).Select(n => n.Raft.NextDeadline).DefaultIfEmpty(long.MaxValue).Min();

    /// <summary>Moves simulated time to the next timer (Raft deadline or tick), at most to <paramref name="limit"/>, and fires it.</summary>
    public void AdvanceToNextEvent(long limit)
    {
        long next = Math.Min(Math.Min(LiveDeadline(), _nextTick), limit);
        Now = Math.Max(Now + 1, next);
        if (Now >= _nextTick)
        {
            _nextTick = Now + TickIntervalMs;
            foreach (var node in Nodes)
                if (!_crashed.Contains(node.NodeId)) node.Controller.Tick();
            foreach (var tick in Ticks) tick();
        }
    }

    /// <summary>Advances simulated time until <paramref name="condition"/> holds (checked after each settle); false after <paramref name="maxMs"/>.</summary>
    public bool RunUntil(Func<bool> condition, long maxMs)
    {
        long deadline = Now + maxMs;
        Settle();
        while (!condition())
        {
            if (Now >= deadline) return false;
            AdvanceToNextEvent(deadline);
            Settle();
        }
        return true;
    }
}
