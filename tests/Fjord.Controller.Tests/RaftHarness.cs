using Fjord.Raft;

namespace Fjord.Controller.Tests;

/// <summary>
/// <see cref="IMetadataLog"/> over a real <see cref="RaftNode"/> of a <see cref="RaftHarness"/>:
/// appends are <see cref="RaftNode.Propose"/>; committed items and leadership changes are handed to
/// the listener when the harness syncs (after every step). The node counts as leader (for the
/// controller) only while it is in the Leader role: a resigned leader can no longer append.
/// </summary>
internal sealed class InMemoryMetadataLog(RaftHarness harness, HarnessNode node) : IMetadataLog
{
    private IMetadataLogListener? _listener;
    private LeaderAndEpoch? _reported;
    private readonly List<CommittedItem> _undelivered = [];

    public int NodeId => node.Raft.NodeId;

    public void Register(IMetadataLogListener listener) => _listener = listener;

    public long? Append(int epoch, IReadOnlyList<byte[]> records)
    {
        if (node.Raft.Role != RaftRole.Leader || node.Raft.Epoch != epoch) return null;
        return node.Raft.Propose(records, harness.Now);
    }

    /// <summary>Reports what changed since the last sync; true when something was reported.</summary>
    public bool Sync()
    {
        var raft = node.Raft;
        int? leader = raft.Role switch
        {
            RaftRole.Leader => raft.NodeId,
            RaftRole.Resigned => null,
            _ => raft.LeaderId,
        };
        var current = new LeaderAndEpoch(leader, raft.Epoch);
        _undelivered.AddRange(raft.DrainCommitted());
        if (_listener is null) return false;
        bool any = false;
        if (_reported != current)
        {
            _reported = current;
            _listener.OnLeaderChange(current);
            any = true;
        }
        foreach (var item in _undelivered) _listener.OnCommitted(item);
        any |= _undelivered.Count > 0;
        _undelivered.Clear();
        return any;
    }
}

internal sealed class HarnessNode
{
    public required RaftNode Raft { get; init; }
    public required InMemoryRaftLog Log { get; init; }
    public InMemoryMetadataLog Port { get; set; } = null!;

    /// <summary>When false the node's appends are never flushed (a leader so set commits nothing).</summary>
    public bool FlushEnabled { get; set; } = true;
}

/// <summary>
/// A deterministic KRaft quorum in memory: real <see cref="RaftNode"/>s over <see cref="InMemoryRaftLog"/>s,
/// messages delivered at once (FIFO) unless a link is cut, time advanced only by the test. After every
/// step the <see cref="InMemoryMetadataLog"/>s report to their listeners and the registered pumps
/// (the controllers' event queues) run, until nothing moves.
/// </summary>
internal sealed class RaftHarness
{
    public const int TickIntervalMs = 100;
    private readonly HashSet<(int From, int To)> _cut = [];
    private readonly HashSet<(int From, int To)> _holding = [];
    private readonly List<RaftMessage> _held = [];
    private long _nextTick;

    public RaftHarness(int voters, int seed = 1, RaftConfig? config = null)
    {
        var random = new Random(seed);
        var ids = Enumerable.Range(1, voters).ToArray();
        foreach (var id in ids)
        {
            var log = new InMemoryRaftLog();
            var raft = new RaftNode(config ?? new RaftConfig(), id, ids, log, new InMemoryQuorumStateStore(), new Random(random.Next()), "test-cluster", Now);
            var node = new HarnessNode { Raft = raft, Log = log };
            node.Port = new InMemoryMetadataLog(this, node);
            Nodes[id] = node;
        }
    }

    public long Now { get; private set; }
    public SortedDictionary<int, HarnessNode> Nodes { get; } = [];

    /// <summary>Run after every step until they report no work (e.g. <see cref="ManualEventQueue.RunPending"/>).</summary>
    public List<Func<int>> Pumps { get; } = [];

    /// <summary>Called every <see cref="TickIntervalMs"/> of simulated time (e.g. <see cref="QuorumController.Tick"/>).</summary>
    public List<Action> Ticks { get; } = [];

    public HarnessNode this[int id] => Nodes[id];

    /// <summary>Cuts every link to and from <paramref name="id"/>.</summary>
    public void Isolate(int id)
    {
        foreach (var other in Nodes.Keys.Where(o => o != id))
        {
            _cut.Add((id, other));
            _cut.Add((other, id));
        }
    }

    public void Heal() => _cut.Clear();

    private readonly HashSet<int> _crashed = [];

    /// <summary>Stops <paramref name="id"/> for good: no timers, no flushes, no messages in or out,
    /// no syncs to its listener (its controller's queue is not pumped either, see ControllerCluster).
    /// What it had not flushed is as good as lost.</summary>
    public void Crash(int id)
    {
        Isolate(id);
        _crashed.Add(id);
    }

    public bool IsCrashed(int id) => _crashed.Contains(id);

    /// <summary>Keeps every message from <paramref name="from"/> to the other nodes (not lost: delivered by <see cref="Release"/>).</summary>
    public void HoldFrom(int from)
    {
        foreach (var other in Nodes.Keys.Where(o => o != from)) _holding.Add((from, other));
    }

    /// <summary>Stops holding; the held messages are delivered on the next step (or dropped, <paramref name="drop"/>).</summary>
    public void Release(bool drop = false)
    {
        _holding.Clear();
        if (drop) _held.Clear();
    }

    public int HeldMessages => _held.Count;

    /// <summary>Runs everything that can happen at the current time.</summary>
    public void Settle()
    {
        for (int round = 0; round < 10_000; round++)
            if (!Step()) return;
        throw new InvalidOperationException("the harness does not settle");
    }

    /// <summary>One round: due timers, message delivery, flushes, syncs and pumps. False when nothing moved.</summary>
    public bool Step()
    {
        {
            bool progress = false;
            foreach (var node in Nodes.Values)
                if (!_crashed.Contains(node.Raft.NodeId) && node.Raft.NextDeadline <= Now) node.Raft.Poll(Now);
            var messages = new List<RaftMessage>();
            if (_holding.Count == 0 && _held.Count > 0)
            {
                messages.AddRange(_held);
                _held.Clear();
            }
            foreach (var node in Nodes.Values)
            {
                var outbound = node.Raft.DrainOutbound();
                if (!_crashed.Contains(node.Raft.NodeId)) messages.AddRange(outbound);
            }
            foreach (var node in Nodes.Values)
                if (!_crashed.Contains(node.Raft.NodeId) && node.FlushEnabled && node.Raft.HasUnflushedTail)
                {
                    node.Raft.Flush(Now);
                    progress = true;
                }
            foreach (var message in messages)
            {
                if (_cut.Contains((message.Source, message.Destination)) || !Nodes.TryGetValue(message.Destination, out var to)) continue;
                if (_holding.Contains((message.Source, message.Destination)))
                {
                    _held.Add(message);
                    continue;
                }
                to.Raft.Handle(message, Now);
                progress = true;
            }
            foreach (var node in Nodes.Values)
                if (!_crashed.Contains(node.Raft.NodeId)) progress |= node.Port.Sync();
            foreach (var pump in Pumps) progress |= pump() > 0;
            return progress || messages.Count > 0 && messages.Any(m => !_holding.Contains((m.Source, m.Destination)));
        }
    }

    private long LiveDeadline() => Nodes.Values.Where(n => !_crashed.Contains(n.Raft.NodeId)).Select(n => n.Raft.NextDeadline).DefaultIfEmpty(long.MaxValue).Min();

    /// <summary>Moves time forward by <paramref name="ms"/>, firing Raft timers and ticks on the way.</summary>
    public void Advance(long ms)
    {
        long target = Now + ms;
        while (true)
        {
            Settle();
            long next = Math.Min(LiveDeadline(), _nextTick);
            if (next > target) break;
            Now = Math.Max(Now, next);
            if (Now >= _nextTick)
            {
                _nextTick = Now + TickIntervalMs;
                foreach (var tick in Ticks) tick();
            }
        }
        Now = target;
        Settle();
    }

    /// <summary>Advances time until <paramref name="condition"/> holds (checked after each step); false after <paramref name="maxMs"/>.</summary>
    public bool RunUntil(Func<bool> condition, long maxMs = 30_000)
    {
        long deadline = Now + maxMs;
        Settle();
        while (!condition())
        {
            if (Now >= deadline) return false;
            long next = Math.Min(Math.Min(LiveDeadline(), _nextTick), deadline);
            Now = Math.Max(Now + 1, next);
            if (Now >= _nextTick)
            {
                _nextTick = Now + TickIntervalMs;
                foreach (var tick in Ticks) tick();
            }
            Settle();
        }
        return true;
    }
}
