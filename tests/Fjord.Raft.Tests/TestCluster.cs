using Fjord.Protocol;

namespace Fjord.Raft.Tests;

/// <summary>A node of a <see cref="TestCluster"/>: its durable log and store outlive restarts.</summary>
internal sealed class TestNode(int id)
{
    public int Id { get; } = id;
    public InMemoryRaftLog Log { get; } = new();
    public InMemoryQuorumStateStore Store { get; } = new();
    public RaftNode Raft { get; set; } = null!;
    public bool Up { get; set; } = true;
    public List<CommittedBatch> Committed { get; } = [];
}

/// <summary>
/// A tiny synchronous driver: messages are delivered at once (through the real codec at each
/// API's highest version, as the wire would), time advances from deadline to deadline, and links
/// can be cut. Deterministic: each node's Random is seeded from its id.
/// </summary>
internal sealed class TestCluster
{
    public static readonly RaftConfig DefaultConfig = new()
    {
        ElectionTimeoutMs = 100, FetchTimeoutMs = 200, ElectionBackoffMaxMs = 100, RequestTimeoutMs = 150, FetchMaxWaitMs = 50,
    };

    private readonly HashSet<(int From, int To)> _cut = [];
    private readonly List<int> _voters;

    public TestCluster(int voters, int observers = 0, RaftConfig? config = null, long start = 0)
    {
        Config = config ?? DefaultConfig;
        Now = start;
        _voters = [.. Enumerable.Range(1, voters)];
        foreach (var id in _voters.Concat(Enumerable.Range(100, observers))) Nodes[id] = new TestNode(id);
        foreach (var node in Nodes.Values) Start(node);
    }

    public RaftConfig Config { get; }
    public long Now { get; private set; }
    public SortedDictionary<int, TestNode> Nodes { get; } = [];
    public List<RaftMessage> Sent { get; } = [];
    public List<string> Trace { get; } = [];

    /// <summary>Returns false to drop a message (in addition to cut links).</summary>
    public Func<RaftMessage, bool> Filter { get; set; } = _ => true;

    public RaftNode this[int id] => Nodes[id].Raft;
    public IEnumerable<TestNode> Up => Nodes.Values.Where(n => n.Up);
    public TestNode? Leader => Up.SingleOrDefault(n => n.Raft.Role == RaftRole.Leader);

    public void Start(TestNode node)
    {
        node.Raft = new RaftNode(Config, node.Id, _voters, node.Log, node.Store, new Random(node.Id * 7919 + (int)Now), "test-cluster", Now, Trace.Add);
        node.Up = true;
    }

    public void Crash(int id)
    {
        Nodes[id].Up = false;
        Nodes[id].Log.Crash();
        Nodes[id].Raft.DrainOutbound();
    }

    public void Restart(int id) => Start(Nodes[id]);

    public void Cut(int a, int b)
    {
        _cut.Add((a, b));
        _cut.Add((b, a));
    }

    public void Isolate(int id)
    {
        foreach (var other in Nodes.Keys.Where(o => o != id)) Cut(id, other);
    }

    public void Heal() => _cut.Clear();

    /// <summary>Delivers every queued message (and those they cause) at the current time.</summary>
    public void DeliverAll()
    {
        for (int round = 0; ; round++)
        {
            if (round > 100_000) throw new InvalidOperationException("messages never stop at t=" + Now);
            var batch = new List<RaftMessage>();
            foreach (var node in Up)
            {
                batch.AddRange(node.Raft.DrainOutbound());
                node.Committed.AddRange(node.Raft.DrainCommitted());
            }
            if (batch.Count == 0) return;
            foreach (var message in batch)
            {
                Sent.Add(message);
                if (_cut.Contains((message.Source, message.Destination)) || !Filter(message)) continue;
                if (!Nodes.TryGetValue(message.Destination, out var target) || !target.Up) continue;
                target.Raft.Handle(Testing.RaftCodec.ThroughCodec(message), Now);
            }
        }
    }

    /// <summary>Advances time deadline by deadline up to <paramref name="until"/>.</summary>
    public void RunUntil(long until)
    {
        while (true)
        {
            DeliverAll();
            long next = Up.Select(n => n.Raft.NextDeadline).DefaultIfEmpty(long.MaxValue).Min();
            if (next > until) break;
            Now = Math.Max(Now, next);
            foreach (var node in Up.Where(n => n.Raft.NextDeadline <= Now).ToList()) node.Raft.Poll(Now);
        }
        Now = Math.Max(Now, until);
        foreach (var node in Up) node.Raft.Poll(Now);
        DeliverAll();
    }

    public void RunFor(long ms) => RunUntil(Now + ms);

    /// <summary>Runs until <paramref name="condition"/> holds (checked after every step); false on timeout.</summary>
    public bool RunUntil(Func<bool> condition, long maxMs = 10_000)
    {
        long limit = Now + maxMs;
        while (!condition())
        {
            if (Now >= limit) return false;
            long next = Math.Min(limit, Up.Select(n => n.Raft.NextDeadline).DefaultIfEmpty(long.MaxValue).Min());
            RunUntil(next);
        }
        return true;
    }

    public TestNode ElectLeader(long maxMs = 5_000)
    {
        Assert.True(RunUntil(() => Leader is not null && Up.All(n => n.Raft.LeaderId == Leader.Id && n.Raft.Epoch == Leader.Raft.Epoch), maxMs),
            "no leader agreed on:\n" + string.Join("\n", Trace.TakeLast(40)));
        return Leader!;
    }

    public long Propose(params string[] values)
    {
        var leader = Leader ?? throw new InvalidOperationException("no leader");
        var offset = leader.Raft.Propose([.. values.Select(v => System.Text.Encoding.UTF8.GetBytes(v))], Now);
        Assert.NotNull(offset);
        DeliverAll();
        return offset.Value;
    }
}
