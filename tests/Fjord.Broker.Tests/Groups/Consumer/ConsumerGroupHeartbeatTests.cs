using Fjord.Broker.Groups.Consumer;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Tests.Groups.Consumer;

public sealed class ConsumerGroupHeartbeatTests
{
    private static ConsumerGroupHarness WithTopics(params (string Name, int Partitions)[] topics)
    {
        var h = new ConsumerGroupHarness();
        foreach (var (n, p) in topics) h.AddTopic(n, p);
        return h;
    }

    [Fact]
    public void First_member_gets_every_partition_at_epoch_one()
    {
        var h = WithTopics(("a", 3), ("b", 2));
        var c = h.Join("m1", ["a", "b"]);
        Assert.Equal(1, c.Epoch);
        Assert.Equal(5, c.Owned.Count);
        Assert.Equal(5000, c.Last!.HeartbeatIntervalMs);
        Assert.Equal("m1", c.Last.MemberId);
        Assert.Equal(ConsumerGroupState.Stable, h.G.State);
        Assert.Equal(1, h.G.GroupEpoch);
        Assert.Equal(1, h.G.TargetAssignmentEpoch);
        // A plain heartbeat changes nothing and writes nothing.
        int logged = h.Log.Count;
        var resp = c.Heartbeat();
        Assert.Null(resp.Assignment);
        Assert.Equal(logged, h.Log.Count);
    }

    [Fact]
    public void V0_join_without_member_id_gets_a_server_generated_one_and_v1_requires_one()
    {
        var h = WithTopics(("a", 1));
        var join = new ConsumerGroupHeartbeatRequest
        {
            GroupId = "g", MemberId = "", MemberEpoch = 0, RebalanceTimeoutMs = 1000, SubscribedTopicNames = ["a"], TopicPartitions = [],
        };
        var v0 = h.Send(join, version: 0);
        Assert.Equal((short)ErrorCode.None, v0.ErrorCode);
        Assert.Equal("gen-0", v0.MemberId);
        var v1 = h.Send(join, version: 1);
        Assert.Equal((short)ErrorCode.InvalidRequest, v1.ErrorCode);
    }

    public static TheoryData<string, ErrorCode> InvalidRequests => new()
    {
        { "empty-group", ErrorCode.InvalidRequest },
        { "no-rebalance-timeout", ErrorCode.InvalidRequest },
        { "owned-on-join", ErrorCode.InvalidRequest },
        { "null-owned-on-join", ErrorCode.InvalidRequest },
        { "no-subscription", ErrorCode.InvalidRequest },
        { "epoch-minus-3", ErrorCode.InvalidRequest },
        { "empty-instance", ErrorCode.InvalidRequest },
        { "empty-rack", ErrorCode.InvalidRequest },
        { "static-leave-without-instance", ErrorCode.InvalidRequest },
        { "unknown-assignor", ErrorCode.UnsupportedAssignor },
        { "bad-regex", ErrorCode.InvalidRegularExpression },
        { "unknown-member", ErrorCode.UnknownMemberId },
        { "unknown-group", ErrorCode.UnknownMemberId },
        { "future-epoch", ErrorCode.FencedMemberEpoch },
        { "old-epoch", ErrorCode.FencedMemberEpoch },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public void Bad_requests_get_their_error_and_write_nothing(string kind, ErrorCode expected)
    {
        var h = WithTopics(("a", 4));
        if (kind is not "unknown-group") h.Join("m1", ["a"]);
        if (kind is "old-epoch")
        {
            h.Join("m2", ["a"]); // bumps to epoch 2; m1 still at 1 until it heartbeats
            h.Clients["m1"].Heartbeat();
            h.Clients["m1"].Heartbeat();
            Assert.Equal(2, h.Clients["m1"].Epoch);
        }
        var req = new ConsumerGroupHeartbeatRequest
        {
            GroupId = "g", MemberId = "x", MemberEpoch = 0, RebalanceTimeoutMs = 1000, SubscribedTopicNames = ["a"], TopicPartitions = [],
        };
        switch (kind)
        {
            case "empty-group": req.GroupId = ""; break;
            case "no-rebalance-timeout": req.RebalanceTimeoutMs = -1; break;
            case "owned-on-join": req.TopicPartitions = [new() { TopicId = h.Id("a"), Partitions = [0] }]; break;
            case "null-owned-on-join": req.TopicPartitions = null; break;
            case "no-subscription": req.SubscribedTopicNames = null; break;
            case "epoch-minus-3": req.MemberEpoch = -3; break;
            case "empty-instance": req.InstanceId = ""; break;
            case "empty-rack": req.RackId = ""; break;
            case "static-leave-without-instance": req.MemberEpoch = -2; break;
            case "unknown-assignor": req.ServerAssignor = "sticky"; break;
            case "bad-regex": req.SubscribedTopicRegex = "a(b"; break;
            case "unknown-member": req.MemberEpoch = 1; break;
            case "unknown-group": req.GroupId = "nope"; req.MemberEpoch = 3; break;
            case "future-epoch": req.MemberId = "m1"; req.MemberEpoch = 7; req.TopicPartitions = null; break;
            case "old-epoch": req.MemberId = "m1"; req.MemberEpoch = 1; req.TopicPartitions = null; break;
        }
        string before = h.Manager.Dump();
        int logged = h.Log.Count;
        var resp = h.Send(req);
        Assert.Equal((short)expected, resp.ErrorCode);
        Assert.False(string.IsNullOrEmpty(resp.ErrorMessage));
        Assert.Equal(logged, h.Log.Count);
        Assert.Equal(before, h.Manager.Dump());
    }

    [Fact]
    public void Partitions_are_revoked_by_their_owner_before_another_member_gets_them()
    {
        var h = WithTopics(("a", 6));
        var m1 = h.Join("m1", ["a"]);
        Assert.Equal(6, m1.Owned.Count);

        var m2 = h.Join("m2", ["a"]);
        Assert.Equal(2, h.G.GroupEpoch);
        Assert.Equal(3, h.G.TargetOf("m2").Count);
        // m2 is at the new epoch but gets nothing yet: m1 still owns its target partitions.
        Assert.Equal(2, m2.Epoch);
        Assert.Equal(0, m2.Owned.Count);
        Assert.Equal(MemberState.UnreleasedPartitions, h.G.Member("m2")!.State);
        Assert.Equal(ConsumerGroupState.Reconciling, h.G.State);

        // m1 is told to keep 3; it stays at epoch 1 until it acknowledges the revocation.
        var r = m1.Heartbeat();
        Assert.Equal(1, r.MemberEpoch);
        Assert.Equal(3, m1.Owned.Count);
        Assert.Equal(MemberState.UnrevokedPartitions, h.G.Member("m1")!.State);
        Assert.Equal(3, h.G.Member("m1")!.PartitionsPendingRevocation.Count);
        Assert.NotNull(h.Manager.RevocationDeadline("g", "m1"));

        m2.Heartbeat();
        Assert.Equal(0, m2.Owned.Count); // still owned (pending revocation) by m1

        m1.Heartbeat(); // reports 3 owned: revocation done
        Assert.Equal(2, m1.Epoch);
        Assert.Equal(MemberState.Stable, h.G.Member("m1")!.State);
        Assert.Null(h.Manager.RevocationDeadline("g", "m1"));

        m2.Heartbeat();
        Assert.Equal(3, m2.Owned.Count);
        Assert.False(m1.Owned.Overlaps(m2.Owned));
        Assert.Equal(ConsumerGroupState.Stable, h.G.State);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(13)]
    public void N_members_over_several_topics_converge_to_a_balanced_exclusive_assignment(int n)
    {
        var h = WithTopics(("a", 7), ("b", 3), ("c", 12));
        for (int i = 0; i < n; i++)
        {
            h.Join($"m{i:D2}", ["a", "b", "c"]);
            if (i % 3 == 2) h.Converge();
        }
        h.Converge();
        var counts = h.Clients.Values.Select(c => c.Owned.Count).ToList();
        Assert.Equal(22, counts.Sum());
        Assert.True(counts.Max() - counts.Min() <= 1, string.Join(",", counts));
        Assert.All(h.Clients.Values, c => Assert.Equal(h.G.GroupEpoch, c.Epoch));
        Assert.All(h.Clients.Values, c => Assert.Equal(h.G.TargetOf(c.MemberId), c.Owned));
    }

    [Fact]
    public void A_member_leaving_bumps_the_epoch_and_its_partitions_go_to_the_others()
    {
        var h = WithTopics(("a", 4));
        h.Join("m1", ["a"]);
        h.Join("m2", ["a"]);
        h.Converge();
        int epoch = h.G.GroupEpoch;
        var resp = h.Clients["m2"].Leave();
        Assert.Equal(-1, resp.MemberEpoch);
        Assert.Null(h.G.Member("m2"));
        Assert.Equal(epoch + 1, h.G.GroupEpoch);
        Assert.Equal(ConsumerGroupState.Assigning, h.G.State);
        h.Converge();
        Assert.Equal(4, h.Clients["m1"].Owned.Count);
        // Leaving twice: the member is unknown.
        var again = h.Send(new ConsumerGroupHeartbeatRequest { GroupId = "g", MemberId = "m2", MemberEpoch = -1 });
        Assert.Equal((short)ErrorCode.UnknownMemberId, again.ErrorCode);
    }

    [Fact]
    public void A_silent_member_is_removed_after_the_session_timeout()
    {
        var h = WithTopics(("a", 4));
        h.Join("m1", ["a"]);
        h.Join("m2", ["a"]);
        h.Converge();
        int epoch = h.G.GroupEpoch;
        for (int i = 0; i < 8; i++)
        {
            h.Now += 5000;
            h.Clients["m1"].Heartbeat();
            Assert.Empty(h.Expire()); // m2: 45 s not yet elapsed
        }
        h.Now += 4999;
        Assert.Empty(h.Expire());
        h.Now += 1; // m2 silent for 45 s
        Assert.Equal([("g", "m2")], h.Expire());
        Assert.Equal(epoch + 1, h.G.GroupEpoch);
        h.Converge();
        Assert.Equal(4, h.Clients["m1"].Owned.Count);
        // The expired member's next heartbeat is refused; it rejoins with epoch 0.
        var r = h.Clients["m2"].Heartbeat();
        Assert.Equal((short)ErrorCode.UnknownMemberId, r.ErrorCode);
    }

    [Fact]
    public void A_member_that_does_not_revoke_within_its_rebalance_timeout_is_fenced()
    {
        var h = WithTopics(("a", 4));
        var m1 = h.Join("m1", ["a"], rebalanceTimeoutMs: 10000);
        h.Join("m2", ["a"]);
        m1.Heartbeat(); // told to revoke 2
        Assert.Equal(MemberState.UnrevokedPartitions, h.G.Member("m1")!.State);
        h.Now += 9000;
        Assert.Empty(h.Expire());
        h.Now += 1000;
        Assert.Equal([("g", "m1")], h.Expire());
        h.Converge();
        Assert.Equal(4, h.Clients["m2"].Owned.Count);
    }

    [Fact]
    public void A_lost_response_is_tolerated_with_the_previous_epoch()
    {
        var h = WithTopics(("a", 4));
        var m1 = h.Join("m1", ["a"]);
        h.Join("m2", ["a"]);
        m1.Heartbeat(); // revoke 2, still epoch 1
        int before = m1.Epoch;
        var ack = m1.Heartbeat(loseResponse: true); // acknowledges; the answer (epoch 2) is lost
        Assert.Equal(2, ack.MemberEpoch);
        Assert.Equal(1, before);
        // The client retries with epoch 1 and its owned partitions (a subset of its assignment).
        var retry = h.Send(new ConsumerGroupHeartbeatRequest
        {
            GroupId = "g", MemberId = "m1", MemberEpoch = 1, TopicPartitions = SimClient.ToRequest(h.G.Member("m1")!.AssignedPartitions),
        });
        Assert.Equal((short)ErrorCode.None, retry.ErrorCode);
        Assert.Equal(2, retry.MemberEpoch);
        // Without owned partitions the old epoch is fenced.
        var fenced = h.Send(new ConsumerGroupHeartbeatRequest { GroupId = "g", MemberId = "m1", MemberEpoch = 1 });
        Assert.Equal((short)ErrorCode.FencedMemberEpoch, fenced.ErrorCode);
    }

    [Fact]
    public void A_fenced_member_rejoining_with_epoch_zero_releases_and_gets_its_partitions_again()
    {
        var h = WithTopics(("a", 4));
        var m1 = h.Join("m1", ["a"]);
        var r = h.Send(new ConsumerGroupHeartbeatRequest { GroupId = "g", MemberId = "m1", MemberEpoch = 5 });
        Assert.Equal((short)ErrorCode.FencedMemberEpoch, r.ErrorCode);
        m1.Epoch = 0;
        var rejoin = m1.Heartbeat();
        Assert.Equal(1, rejoin.MemberEpoch); // no subscription change: no new group epoch
        Assert.Equal(4, m1.Owned.Count);
    }

    [Fact]
    public void Group_max_size_is_enforced_for_new_members_only()
    {
        var h = new ConsumerGroupHarness(new ConsumerGroupConfig { MaxSize = 2 });
        h.AddTopic("a", 2);
        h.Join("m1", ["a"]);
        h.Join("m2", ["a"]);
        var resp = h.Send(new ConsumerGroupHeartbeatRequest
        {
            GroupId = "g", MemberId = "m3", MemberEpoch = 0, RebalanceTimeoutMs = 1000, SubscribedTopicNames = ["a"], TopicPartitions = [],
        });
        Assert.Equal((short)ErrorCode.GroupMaxSizeReached, resp.ErrorCode);
        h.Converge();
    }

    [Fact]
    public void Subscription_change_bumps_the_epoch_and_moves_partitions()
    {
        var h = WithTopics(("a", 2), ("b", 2));
        var m1 = h.Join("m1", ["a"]);
        Assert.Equal(2, m1.Owned.Count);
        m1.Subscribe(["a", "b"]);
        m1.Heartbeat();
        Assert.Equal(2, h.G.GroupEpoch);
        Assert.Equal(4, m1.Owned.Count);
        m1.Subscribe(["b"]);
        m1.Heartbeat(); // must revoke a-0, a-1 first
        Assert.Equal(2, m1.Owned.Count);
        h.Converge();
        Assert.Equal(PartitionAssignment.From([(h.Id("b"), 0), (h.Id("b"), 1)]), m1.Owned);
    }

    [Fact]
    public void New_partitions_and_new_topics_are_assigned_after_a_metadata_change()
    {
        var h = WithTopics(("a", 2));
        h.Join("m1", ["a", "later"]);
        h.Join("m2", ["a", "later"]);
        h.Converge();
        int epoch = h.G.GroupEpoch;
        h.AddTopic("a", 4);
        h.AddTopic("later", 2);
        h.Converge();
        Assert.Equal(epoch + 1, h.G.GroupEpoch);
        Assert.Equal(6, h.Clients.Values.Sum(c => c.Owned.Count));
        Assert.Equal(ConsumerGroupMember_Hash(h), h.G.MetadataHash);

        // RefreshMetadata alone (no heartbeat) recomputes the target too.
        h.AddTopic("a", 6);
        int changed = h.Apply(h.Manager.RefreshMetadata(h.Topics));
        Assert.Equal(1, changed);
        Assert.Equal(epoch + 2, h.G.TargetAssignmentEpoch);
        Assert.Equal(0, h.Apply(h.Manager.RefreshMetadata(h.Topics)));
        h.Converge();
        Assert.Equal(8, h.Clients.Values.Sum(c => c.Owned.Count));

        // A deleted topic's partitions leave the assignment.
        h.RemoveTopic("later");
        h.Converge();
        Assert.Equal(6, h.Clients.Values.Sum(c => c.Owned.Count));
    }

    private static long ConsumerGroupMember_Hash(ConsumerGroupHarness h) => ConsumerGroupManager.HashOf(h.G.SubscriptionMetadata.Values);

    [Fact]
    public void Regex_subscription_matches_whole_names_skips_internal_topics_and_follows_new_topics()
    {
        var h = WithTopics(("orders-eu", 2), ("orders-us", 1), ("xorders-eu", 1), ("__consumer_offsets", 50));
        var m = h.Join("m1", regex: "orders-.*");
        Assert.Equal(3, m.Owned.Count);
        Assert.Equal(["orders-eu", "orders-us"], h.G.SubscriptionMetadata.Keys);
        var h2 = WithTopics(("__consumer_offsets", 50));
        h2.Join("m1", regex: ".*");
        Assert.Equal(0, h2.Clients["m1"].Owned.Count);

        h.AddTopic("orders-asia", 2);
        h.Converge();
        Assert.Equal(5, m.Owned.Count);
    }

    [Fact]
    public void Regex_features_outside_re2_are_rejected()
    {
        var h = WithTopics(("a", 1));
        var resp = h.Send(new ConsumerGroupHeartbeatRequest
        {
            GroupId = "g", MemberId = "m", MemberEpoch = 0, RebalanceTimeoutMs = 1000, SubscribedTopicRegex = "(a)\\1", TopicPartitions = [],
        });
        Assert.Equal((short)ErrorCode.InvalidRegularExpression, resp.ErrorCode);
    }

    [Fact]
    public void Server_assignor_is_the_one_most_members_ask_for()
    {
        var h = WithTopics(("a", 4), ("b", 4));
        h.Join("m1", ["a", "b"], assignor: "range");
        h.Join("m2", ["a", "b"], assignor: "range");
        h.Converge();
        // range: co-partitioned ranges, m1 gets 0-1 of both topics.
        var expected = PartitionAssignment.From([(h.Id("a"), 0), (h.Id("a"), 1), (h.Id("b"), 0), (h.Id("b"), 1)]);
        Assert.Equal(expected, h.Clients["m1"].Owned);
    }
}
