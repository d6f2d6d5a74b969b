using Fjord.Broker.Groups.Consumer;
using Fjord.Common;

namespace Fjord.Broker.Tests.Groups.Consumer;

public sealed class AssignorTests
{
    private static readonly Uuid A = new(1, 1), B = new(2, 2), C = new(3, 3);

    private static AssignmentMember Member(string id, Uuid[] topics, PartitionAssignment? current = null, string? instance = null) =>
        new(id, instance, null, topics.ToHashSet(), current ?? PartitionAssignment.Empty);

    private static void CheckExclusiveAndComplete(IReadOnlyList<AssignmentMember> members, IReadOnlyDictionary<Uuid, int> topics,
        IReadOnlyDictionary<string, PartitionAssignment> result)
    {
        Assert.Equal(members.Select(m => m.MemberId).Order(), result.Keys.Order());
        var seen = new HashSet<(Uuid, int)>();
        foreach (var m in members)
            foreach (var tp in result[m.MemberId].All())
            {
                Assert.True(seen.Add(tp), $"{tp} given twice");
                Assert.Contains(tp.TopicId, m.SubscribedTopicIds);
                Assert.InRange(tp.Partition, 0, topics[tp.TopicId] - 1);
            }
        foreach (var (t, n) in topics)
            if (members.Any(m => m.SubscribedTopicIds.Contains(t)))
                for (int p = 0; p < n; p++) Assert.Contains((t, p), seen);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 10)]
    [InlineData(7, 50)]
    [InlineData(10, 3)]
    [InlineData(16, 100)]
    public void Uniform_with_identical_subscriptions_is_balanced_within_one(int memberCount, int partitionsOfA)
    {
        var topics = new Dictionary<Uuid, int> { [A] = partitionsOfA, [B] = 5 };
        var members = Enumerable.Range(0, memberCount).Select(i => Member($"m{i}", [A, B])).ToList();
        var result = new UniformAssignor().Assign(members, topics);
        CheckExclusiveAndComplete(members, topics, result);
        var counts = result.Values.Select(a => a.Count).ToList();
        Assert.True(counts.Max() - counts.Min() <= 1);
    }

    [Fact]
    public void Uniform_is_sticky_a_new_member_takes_only_its_share()
    {
        var topics = new Dictionary<Uuid, int> { [A] = 12 };
        var first = new UniformAssignor().Assign([Member("m1", [A]), Member("m2", [A]), Member("m3", [A])], topics);
        var next = new UniformAssignor().Assign(
            [Member("m1", [A], first["m1"]), Member("m2", [A], first["m2"]), Member("m3", [A], first["m3"]), Member("m4", [A])], topics);
        Assert.Equal(3, next["m4"].Count);
        int moved = new[] { "m1", "m2", "m3" }.Sum(m => first[m].Except(next[m]).Count);
        Assert.Equal(3, moved); // exactly the new member's share moved
        foreach (var m in new[] { "m1", "m2", "m3" }) Assert.True(next[m].IsSubsetOf(first[m]));
    }

    [Fact]
    public void Uniform_with_different_subscriptions_respects_them_and_balances_what_it_can()
    {
        var topics = new Dictionary<Uuid, int> { [A] = 6, [B] = 6, [C] = 2 };
        var members = new List<AssignmentMember> { Member("m1", [A]), Member("m2", [A, B]), Member("m3", [B, C]), Member("m4", [A, B, C]) };
        var result = new UniformAssignor().Assign(members, topics);
        CheckExclusiveAndComplete(members, topics, result);
        var counts = result.Values.Select(a => a.Count).ToList();
        Assert.True(counts.Max() - counts.Min() <= 1, string.Join(",", counts));
    }

    [Fact]
    public void Range_gives_consecutive_ranges_with_co_partitioning()
    {
        var topics = new Dictionary<Uuid, int> { [A] = 5, [B] = 5, [C] = 3 };
        var members = new List<AssignmentMember> { Member("z", [A, B], instance: "i1"), Member("y", [A, B], instance: "i2"), Member("x", [C]) };
        var result = new RangeAssignor().Assign(members, topics);
        CheckExclusiveAndComplete(members, topics, result);
        // Ordered by instance id: z (i1) first gets 0-2 of A and of B; y gets 3-4.
        Assert.Equal(PartitionAssignment.From([(A, 0), (A, 1), (A, 2), (B, 0), (B, 1), (B, 2)]), result["z"]);
        Assert.Equal(PartitionAssignment.From([(A, 3), (A, 4), (B, 3), (B, 4)]), result["y"]);
        Assert.Equal(3, result["x"].Count);
    }

    [Fact]
    public void Assignors_handle_no_members_no_topics_and_stale_targets()
    {
        foreach (IConsumerGroupAssignor a in new IConsumerGroupAssignor[] { new UniformAssignor(), new RangeAssignor() })
        {
            Assert.Empty(a.Assign([], new Dictionary<Uuid, int> { [A] = 3 }));
            var none = a.Assign([Member("m", [B])], new Dictionary<Uuid, int>());
            Assert.True(none["m"].IsEmpty);
            // A previous target naming a partition that no longer exists is dropped.
            var stale = a.Assign([Member("m", [A], PartitionAssignment.From([(A, 9)]))], new Dictionary<Uuid, int> { [A] = 2 });
            Assert.Equal(PartitionAssignment.From([(A, 0), (A, 1)]), stale["m"]);
        }
    }
}
