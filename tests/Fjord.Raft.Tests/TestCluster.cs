using Fjord.Protocol;

namespace Fjord.Raft.Tests;

/// <summary>A node of a <see cref="TestCluster"/>: its durable log and store outlive restarts.</summary>
internal sealed class TestNode(int id)
{
    public int Id { get; } = id;
    public InMemoryRaftLog Log { get; } = new();
    public InMemoryQuorumStateStore Store { get; } = new();
    public RaftNode Raft { get; set; } = null!;
    /// <summary>Dynamic quorum (KIP-853): how the node is started; null for the cluster's static voters.</summary>
    public RaftMembership? Membership { get; set; }
    public bool Up { get; set; } = true;
    /// <summary>Committed batches delivered to this node (across restarts).</summary>
    public List<CommittedBatch> Committed { get; } = [];
    /// <summary>Everything delivered: batches and snapshot loads, in order (across restarts).</summary>
    public List<CommittedItem> Items { get; } = [];
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

    private TestCluster(RaftConfig? config)
    {
        Config = config ?? DefaultConfig;
        _voters = [];
    }

    public static Fjord.Common.Uuid DirectoryOf(int id) => new(id, 1000 + id);
    public static RaftEndpoint EndpointOf(int id) => new("CONTROLLER", $"host{id}", 9000 + id);
    public static VoterInfo VoterOf(int id) => new(new ReplicaKey(id, DirectoryOf(id)), [EndpointOf(id)]);

    public static RaftMembership MembershipOf(int id) =>
        new(id) { DirectoryId = DirectoryOf(id), LocalEndpoints = [EndpointOf(id)], BootstrapServers = [1] };

    /// <summary>A dynamic quorum: nodes 1..<paramref name="voters"/> start from a bootstrap snapshot naming
    /// them (storage format --initial-controllers), nodes after them from an empty log (--no-initial-controllers),
    /// all with node 1 as their bootstrap server.</summary>
    public static TestCluster Dynamic(int voters, int joiners = 0, RaftConfig? config = null)
    {
        var c = new TestCluster(config);
        var set = VoterSet.Of(Enumerable.Range(1, voters).Select(VoterOf));
        for (int id = 1; id <= voters + joiners; id++)
        {
            var node = new TestNode(id) { Membership = MembershipOf(id) };
            if (id <= voters) RaftBootstrap.WriteBootstrapSnapshot(node.Log, set);
            c.Nodes[id] = node;
        }
        foreach (var node in c.Nodes.Values) c.Start(node);
        return c;
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
        var random = new Random(node.Id * 7919 + (int)Now);
        node.Raft = node.Membership is { } membership
            ? new RaftNode(Config, membership, node.Log, node.Store, random, "test-cluster", Now, Trace.Add)
            : new RaftNode(Config, node.Id, _voters, node.Log, node.Store, random, "test-cluster", Now, Trace.Add);
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

    /// <summary>Delivers every queued message (and those they cause) at the current time. A node's
    /// unflushed tail (a leader's new batch) is flushed once the messages stop, as a driver flushes
    /// after sending.</summary>
    public void DeliverAll()
    {
        for (int round = 0; ; round++)
        {
            if (round > 100_000) throw new InvalidOperationException("messages never stop at t=" + Now);
            var batch = new List<RaftMessage>();
            foreach (var node in Up)
            {
                batch.AddRange(node.Raft.DrainOutbound());
                foreach (var item in node.Raft.DrainCommitted())
                {
                    node.Items.Add(item);
                    if (item is CommittedBatch committed) node.Committed.Add(committed);
                }
            }
            if (batch.Count == 0)
            {
                var unflushed = Up.Where(n => n.Raft.HasUnflushedTail).ToList();
                if (unflushed.Count == 0) return;
                foreach (var node in unflushed) node.Raft.Flush(Now);
                continue;
            }
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

    private int _clientCorrelation = 1000;

    /// <summary>A client request (AddRaftVoter, DescribeQuorum, …) from pseudo node -7 to <paramref name="to"/>;
    /// returns the answer once one was sent (running the cluster up to <paramref name="maxMs"/>), or null.</summary>
    public TResponse? ClientRequest<TResponse>(int to, Fjord.Protocol.IKafkaMessage request, long maxMs = 5_000) where TResponse : class
    {
        int correlation = ++_clientCorrelation;
        int sent = Sent.Count;
        Nodes[to].Raft.Handle(Testing.RaftCodec.ThroughCodec(new RaftMessage(-7, to, correlation, true, request)), Now);
        TResponse? answer = null;
        RunUntil(() => (answer = Sent.Skip(sent).Where(m => m.Destination == -7 && m.CorrelationId == correlation && !m.IsRequest)
            .Select(m => m.Body).OfType<TResponse>().FirstOrDefault()) is not null, maxMs);
        return answer;
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
