using Fjord.Broker.Groups.Consumer;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Tests.Groups.Consumer;

/// <summary>
/// Drives a <see cref="ConsumerGroupManager"/> like a set of KIP-848 clients would, and checks after
/// every step that (1) replaying the records written so far (through their stored bytes) into a
/// second manager gives the same state, and (2) no partition is owned by two live clients.
/// </summary>
internal sealed class ConsumerGroupHarness
{
    public const string Group = "g";

    public ConsumerGroupManager Manager { get; }
    public ConsumerGroupManager Replica { get; }
    public List<ConsumerGroupRecord> Log { get; } = [];
    public Dictionary<string, SimClient> Clients { get; } = new(StringComparer.Ordinal);
    public List<ConsumerGroupTopic> TopicList { get; } = [];
    public long Now { get; set; } = 1_000_000;

    public ConsumerGroupHarness(ConsumerGroupConfig? config = null)
    {
        int n = 0;
        Manager = new ConsumerGroupManager(config, () => $"gen-{n++}");
        Replica = new ConsumerGroupManager(config);
    }

    public ITopicMetadataSource Topics => new StaticTopicMetadata(TopicList);

    public ConsumerGroupTopic AddTopic(string name, int partitions)
    {
        TopicList.RemoveAll(t => t.Name == name);
        var id = new Uuid(0x10000 + StableHash(name), 0x20000 + StableHash(name + "!"));
        var topic = new ConsumerGroupTopic(id, name, partitions);
        TopicList.Add(topic);
        return topic;
    }

    public void RemoveTopic(string name) => TopicList.RemoveAll(t => t.Name == name);

    public Uuid Id(string name) => TopicList.Single(t => t.Name == name).Id;

    private static long StableHash(string s)
    {
        long h = 17;
        foreach (char c in s) h = h * 31 + c;
        return h & 0x7fffffffffff;
    }

    /// <summary>Applies a result's records to the log and the replica and checks the invariants.</summary>
    public T Apply<T>(ConsumerGroupResult<T> result)
    {
        foreach (var r in result.Records)
        {
            Assert.True(ConsumerGroupRecord.TryParse(r.KeyBytes(), r.ValueBytes(), out var parsed, out var error), error);
            Assert.Equal(r.IsTombstone, parsed!.IsTombstone);
            Assert.Equal(r.Type, parsed!.Type);
            Replica.Replay(parsed);
            Log.Add(r);
        }
        Assert.Equal(Manager.Dump(), Replica.Dump());
        CheckNoDoubleOwnership();
        return result.Response;
    }

    public void CheckNoDoubleOwnership()
    {
        var seen = new Dictionary<(Uuid, int), string>();
        foreach (var c in Clients.Values.Where(c => c.Alive))
            foreach (var tp in c.Owned.All())
            {
                Assert.False(seen.TryGetValue(tp, out var other), $"partition {tp} owned by {other} and {c.MemberId}");
                seen[tp] = c.MemberId;
            }
    }

    public ConsumerGroupHeartbeatResponse Send(ConsumerGroupHeartbeatRequest request, short version = 1, string clientId = "client") =>
        Apply(Manager.Heartbeat(request, version, new ConsumerGroupClient(clientId, "/127.0.0.1"), Topics, Now));

    /// <summary>A client joining with epoch 0.</summary>
    public SimClient Join(string memberId, string[]? topics = null, string? regex = null, string? instanceId = null, string? assignor = null, int rebalanceTimeoutMs = 30000)
    {
        var client = new SimClient(this, memberId, instanceId, topics, regex, assignor, rebalanceTimeoutMs);
        Clients[memberId] = client;
        client.Heartbeat();
        return client;
    }

    public IReadOnlyList<(string GroupId, string MemberId)> Expire()
    {
        var expired = Apply(Manager.Expire(Topics, Now));
        foreach (var (_, m) in expired)
            if (Clients.TryGetValue(m, out var c)) c.Alive = false;
        return expired;
    }

    public ConsumerGroup G => Manager.Group(Group)!;

    /// <summary>Heartbeats every live client until the group is stable (bounded rounds).</summary>
    public void Converge(int maxRounds = 20)
    {
        for (int round = 0; round < maxRounds; round++)
        {
            foreach (var c in Clients.Values.Where(c => c.Alive && c.Epoch >= 0).OrderBy(c => c.MemberId, StringComparer.Ordinal).ToList())
                c.Heartbeat();
            if (Manager.Group(Group) is { State: ConsumerGroupState.Stable }) return;
        }
        Assert.Fail("group did not converge:\n" + Manager.Dump());
    }
}

/// <summary>A KIP-848 client: owns what its last assignment said, reports owned partitions when
/// they changed, adopts the epoch of each answer, and rejoins after a fencing error.</summary>
internal sealed class SimClient(ConsumerGroupHarness h, string memberId, string? instanceId, string[]? topics, string? regex, string? assignor, int rebalanceTimeoutMs)
{
    public string MemberId { get; set; } = memberId;
    public string? InstanceId { get; } = instanceId;
    public string[]? TopicNames { get; set; } = topics;
    public string? Regex { get; set; } = regex;
    public int Epoch { get; set; }
    public bool Alive { get; set; } = true;
    public PartitionAssignment Owned { get; private set; } = PartitionAssignment.Empty;
    public ConsumerGroupHeartbeatResponse? Last { get; private set; }
    private bool _ownedChanged;
    private bool _subscriptionChanged = true;

    public void Subscribe(string[] topicNames)
    {
        TopicNames = topicNames;
        _subscriptionChanged = true;
    }

    public ConsumerGroupHeartbeatResponse Heartbeat(bool loseResponse = false)
    {
        bool join = Epoch == 0;
        var req = new ConsumerGroupHeartbeatRequest
        {
            GroupId = ConsumerGroupHarness.Group,
            MemberId = MemberId,
            MemberEpoch = Epoch,
            InstanceId = InstanceId,
            RebalanceTimeoutMs = join ? rebalanceTimeoutMs : -1,
            SubscribedTopicNames = join || _subscriptionChanged ? TopicNames?.ToList() : null,
            SubscribedTopicRegex = join || _subscriptionChanged ? Regex : null,
            ServerAssignor = join ? assignor : null,
            TopicPartitions = join ? [] : _ownedChanged ? ToRequest(Owned) : null,
        };
        if (join && TopicNames is null && Regex is null) req.SubscribedTopicNames = [];
        var resp = h.Send(req);
        Last = resp;
        if (loseResponse) return resp;
        if (resp.ErrorCode == (short)ErrorCode.FencedMemberEpoch || resp.ErrorCode == (short)ErrorCode.UnknownMemberId)
        {
            // Lost the partitions; rejoin next time.
            Owned = PartitionAssignment.Empty;
            Epoch = 0;
            return resp;
        }
        Assert.Equal((short)ErrorCode.None, resp.ErrorCode);
        _subscriptionChanged = false;
        _ownedChanged = false;
        Epoch = resp.MemberEpoch;
        if (resp.Assignment is { } a)
        {
            var next = PartitionAssignment.From(a.TopicPartitions.SelectMany(t => t.Partitions.Select(p => (t.TopicId, p))));
            if (!next.Equals(Owned))
            {
                Owned = next;
                _ownedChanged = true;
            }
            h.CheckNoDoubleOwnership();
        }
        return resp;
    }

    public ConsumerGroupHeartbeatResponse Leave(bool temporary = false)
    {
        var resp = h.Send(new ConsumerGroupHeartbeatRequest
        {
            GroupId = ConsumerGroupHarness.Group,
            MemberId = MemberId,
            MemberEpoch = temporary ? -2 : -1,
            InstanceId = InstanceId,
        });
        Assert.Equal((short)ErrorCode.None, resp.ErrorCode);
        Owned = PartitionAssignment.Empty;
        Alive = false;
        Epoch = resp.MemberEpoch;
        return resp;
    }

    public static List<ConsumerGroupHeartbeatRequest.TopicPartitionsData> ToRequest(PartitionAssignment a) =>
        a.Topics.Select(kv => new ConsumerGroupHeartbeatRequest.TopicPartitionsData { TopicId = kv.Key, Partitions = [.. kv.Value] }).ToList();
}
