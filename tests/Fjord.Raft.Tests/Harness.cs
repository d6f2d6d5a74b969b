using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Raft.Tests;

/// <summary>
/// One <see cref="RaftNode"/> fed by hand: the test plays every other node, building requests and
/// answering the node's requests itself.
/// </summary>
internal sealed class Harness
{
    public const string ClusterId = "test-cluster";

    public Harness(int nodeId = 1, int[]? voters = null, ElectionState? stored = null, RaftConfig? config = null, long now = 0,
        IQuorumStateStore? store = null, InMemoryRaftLog? log = null)
    {
        NodeId = nodeId;
        Voters = voters ?? [1, 2, 3];
        Config = config ?? TestCluster.DefaultConfig;
        Log = log ?? new InMemoryRaftLog();
        Store = store ?? new InMemoryQuorumStateStore();
        if (stored is not null) Store.Write(stored);
        Now = now;
        Node = new RaftNode(Config, nodeId, Voters, Log, Store, new Random(nodeId), ClusterId, now, Trace.Add);
    }

    public int NodeId { get; }
    public int[] Voters { get; }
    public RaftConfig Config { get; }
    public InMemoryRaftLog Log { get; }
    public IQuorumStateStore Store { get; }
    public RaftNode Node { get; }
    public long Now { get; set; }
    public List<string> Trace { get; } = [];

    private int _correlation = 1000;

    public static ElectionState Election(int epoch, int? voted = null, int? leader = null) => new(epoch, voted, Uuid.Zero, leader);

    /// <summary>Delivers a request from <paramref name="from"/> and returns the node's answer to it.</summary>
    public T Request<T>(int from, IKafkaMessage body) where T : IKafkaMessage
    {
        int id = ++_correlation;
        Node.Handle(Testing.RaftCodec.ThroughCodec(new RaftMessage(from, NodeId, id, true, body)), Now);
        var outbound = Node.DrainOutbound();
        Sent.AddRange(outbound);
        var answer = outbound.Single(m => !m.IsRequest && m.CorrelationId == id && m.Destination == from);
        return (T)answer.Body;
    }

    /// <summary>Delivers a request whose answer may be delayed (a parked fetch).</summary>
    public int Send(int from, IKafkaMessage body)
    {
        int id = ++_correlation;
        Node.Handle(Testing.RaftCodec.ThroughCodec(new RaftMessage(from, NodeId, id, true, body)), Now);
        return id;
    }

    /// <summary>Messages drained so far (by <see cref="Drain"/> and <see cref="Request{T}"/>).</summary>
    public List<RaftMessage> Sent { get; } = [];

    public IReadOnlyList<RaftMessage> Drain()
    {
        var outbound = Node.DrainOutbound();
        Sent.AddRange(outbound);
        return outbound;
    }

    public void Answer(RaftMessage request, IKafkaMessage body) =>
        Node.Handle(Testing.RaftCodec.ThroughCodec(new RaftMessage(request.Destination, request.Source, request.CorrelationId, false, body)), Now);

    public void PollAt(long now)
    {
        Now = now;
        Node.Poll(now);
    }

    /// <summary>Polls at each deadline until <paramref name="condition"/> holds or <paramref name="limit"/> passes.</summary>
    public bool PollUntil(Func<bool> condition, long limit)
    {
        while (!condition())
        {
            if (Node.NextDeadline > limit) return false;
            PollAt(Node.NextDeadline);
        }
        return true;
    }

    public static VoteRequest Vote(int candidate, int epoch, long lastOffset = 0, int lastEpoch = 0, bool preVote = false, string? clusterId = ClusterId)
    {
        var request = RaftRpc.VoteRequest(clusterId ?? "", 0, epoch, candidate, new OffsetAndEpoch(lastOffset, lastEpoch), preVote);
        request.ClusterId = clusterId;
        return request;
    }

    public static FetchRequest Fetch(int replica, int epoch, long fetchOffset, int lastFetchedEpoch, int maxWaitMs = 0, string clusterId = ClusterId, int maxBytes = 1 << 20) =>
        RaftRpc.FetchRequest(clusterId, replica, epoch, new OffsetAndEpoch(fetchOffset, lastFetchedEpoch), maxWaitMs, maxBytes);

    public static VoteResponse.PartitionData Part(VoteResponse r) => RaftRpc.Single(r)!;
    public static FetchResponse.PartitionData Part(FetchResponse r) => RaftRpc.Single(r)!;

    /// <summary>Makes a voter of a 3-voter quorum leader of <paramref name="epoch"/>: it restarts as
    /// Candidate(epoch) and the test grants it one vote.</summary>
    public static Harness Leader(int epoch = 5, InMemoryRaftLog? log = null, RaftConfig? config = null)
    {
        var h = new Harness(1, [1, 2, 3], Election(epoch, voted: 1), config, log: log);
        Assert.Equal(RaftRole.Candidate, h.Node.Role);
        var vote = h.Drain().First(m => m.Body is VoteRequest && m.Destination == 2);
        h.Answer(vote, RaftRpc.VoteResponse(ErrorCode.None, epoch, null, true));
        Assert.Equal(RaftRole.Leader, h.Node.Role);
        h.Drain();
        h.Node.Flush(h.Now); // the LEADER_CHANGE batch, as the driver flushes after sending
        h.Drain();
        return h;
    }
}
