using Fjord.Broker.Groups.Consumer;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Tests.Groups.Consumer;

/// <summary>
/// Seeded random runs of joins, heartbeats, subscription changes, leaves, static bounces, lost
/// responses, topic changes and expiries. After every step the harness checks that no partition is
/// owned by two live clients and that replaying the records (from their bytes) gives the same state.
/// At the end the group must converge to an exclusive, complete assignment.
/// </summary>
public sealed class ConsumerGroupRandomizedTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Random_operations_keep_partitions_exclusive_and_replay_equal(int seed)
    {
        var rng = new Random(seed);
        string assignor = seed % 2 == 0 ? "uniform" : "range";
        var h = new ConsumerGroupHarness();
        string[] names = ["t1", "t2", "t3"];
        h.AddTopic("t1", 4);
        h.AddTopic("t2", 3);
        h.AddTopic("t3", 5);
        int nextId = 0;
        string[] RandomSubscription() => names.Where(_ => rng.Next(3) > 0).DefaultIfEmpty("t1").ToArray();

        for (int step = 0; step < 400; step++)
        {
            var live = h.Clients.Values.Where(c => c.Alive).OrderBy(c => c.MemberId, StringComparer.Ordinal).ToList();
            int op = rng.Next(100);
            try
            {
                if (op < 10 && live.Count < 8)
                {
                    string? instance = rng.Next(4) == 0 ? $"inst-{rng.Next(3)}" : null;
                    if (instance is not null && h.Manager.Group(ConsumerGroupHarness.Group)?.StaticMember(instance) is { } holder && holder.MemberEpoch != -2)
                        continue;
                    h.Join($"m{nextId++}", RandomSubscription(), instanceId: instance, assignor: assignor, rebalanceTimeoutMs: 20000);
                }
                else if (op < 70 && live.Count > 0)
                {
                    var c = live[rng.Next(live.Count)];
                    c.Heartbeat(loseResponse: rng.Next(20) == 0);
                }
                else if (op < 75 && live.Count > 0)
                {
                    var c = live[rng.Next(live.Count)];
                    c.Subscribe(RandomSubscription());
                    c.Heartbeat();
                }
                else if (op < 80 && live.Count > 0)
                {
                    var c = live[rng.Next(live.Count)];
                    c.Leave(temporary: c.InstanceId is not null && rng.Next(2) == 0);
                }
                else if (op < 84)
                {
                    var name = names[rng.Next(names.Length)];
                    var t = h.TopicList.FirstOrDefault(x => x.Name == name);
                    if (t is null) h.AddTopic(name, 1 + rng.Next(4));
                    else if (rng.Next(4) == 0) h.RemoveTopic(name);
                    else h.AddTopic(name, t.NumPartitions + 1);
                    if (rng.Next(2) == 0) h.Apply(h.Manager.RefreshMetadata(h.Topics));
                }
                else
                {
                    h.Now += rng.Next(1, 12000);
                    h.Expire();
                    // A client that lost its partitions (fenced/expired) may come back as a new process.
                }
            }
            catch (Exception e)
            {
                throw new Exception($"seed {seed} step {step}: {e.Message}\n{h.Manager.Dump()}", e);
            }
        }

        // Quiesce: every live client heartbeats until the group is stable.
        if (h.Manager.Group(ConsumerGroupHarness.Group) is { } g && g.Members.Count > 0)
        {
            foreach (var stale in h.Clients.Values.Where(c => !c.Alive || c.Epoch < 0).ToList())
            {
                // Static members away (-2) or removed ones: let them expire.
                stale.Alive = false;
            }
            h.Now += 60000;
            foreach (var c in h.Clients.Values.Where(c => c.Alive)) c.Heartbeat();
            h.Expire();
            h.Converge(40);
            g = h.G;
            var assigned = h.Clients.Values.Where(c => c.Alive).SelectMany(c => c.Owned.All()).ToList();
            Assert.Equal(assigned.Count, assigned.Distinct().Count());
            int expected = g.SubscriptionMetadata.Values
                .Where(t => g.Members.Values.Any(m => m.SubscribedTopicNames.Contains(t.Name)))
                .Sum(t => t.NumPartitions);
            Assert.Equal(expected, assigned.Count);
        }

        // The run did exercise revocations and expiries/leaves.
        Assert.Contains(h.Log, r => r.Value is ConsumerGroupCurrentMemberAssignmentValue { State: (sbyte)MemberState.UnrevokedPartitions });
        Assert.Contains(h.Log, r => r.Type == ConsumerGroupRecord.MemberMetadataType && r.IsTombstone);

        // Replaying the whole log from scratch gives the same state.
        var fresh = new ConsumerGroupManager();
        foreach (var r in h.Log)
        {
            Assert.True(ConsumerGroupRecord.TryParse(r.KeyBytes(), r.ValueBytes(), out var parsed, out _));
            fresh.Replay(parsed!);
        }
        Assert.Equal(h.Manager.Dump(), fresh.Dump());
    }
}
