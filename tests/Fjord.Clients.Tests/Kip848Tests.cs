using Fjord.Common;
using Fjord.Network;
using Fjord.Protocol.Messages;
using Xunit.Abstractions;

namespace Fjord.Clients.Tests;

/// <summary>
/// The node of <see cref="Kip848Tests"/>: a 4 s consumer-group session (so an expiry is seen
/// quickly), a 300 ms heartbeat interval and three <c>__consumer_offsets</c> partitions.
/// </summary>
public sealed class Kip848Node() : FjordNode("""
    group.consumer.session.timeout.ms=4000
    group.consumer.heartbeat.interval.ms=300
    offsets.topic.num.partitions=3
    """);

/// <summary>
/// KIP-848 consumer groups over the wire. No Debian client speaks the protocol (librdkafka 2.0.2
/// predates it), so simulated members send ConsumerGroupHeartbeat through Fjord.Network's
/// <see cref="KafkaClientConnection"/> to a real <c>fjord server start</c> process: they converge
/// to a disjoint, complete assignment, commit with OffsetCommit v9 and their member epoch,
/// ConsumerGroupDescribe / ListGroups show the group, and a member that goes silent is expired and
/// its partitions move to the others.
/// </summary>
public sealed class Kip848Tests(Kip848Node node, ITestOutputHelper output) : IClassFixture<Kip848Node>
{
    private const string Topic = "kip848-orders";
    private const string Group = "kip848-group";
    private const int Partitions = 6;

    private sealed class Member(string id)
    {
        public string Id { get; } = id;
        public int Epoch { get; set; }
        public SortedSet<int> Owned { get; } = [];
    }

    [Fact]
    public async Task Members_converge_commit_with_their_epoch_are_listed_and_a_silent_member_is_expired()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var ct = cts.Token;
        await using var conn = await KafkaClientConnection.ConnectAsync("127.0.0.1", node.BrokerPort, "kip848-test", ct);
        try
        {
            Assert.Contains(conn.ApiVersions!.ApiKeys, k => k.ApiKey == 68 && k.MinVersion == 0 && k.MaxVersion == 1);
            Assert.Contains(conn.ApiVersions!.ApiKeys, k => k.ApiKey == 69 && k.MinVersion == 0 && k.MaxVersion == 1);
            Uuid topicId = await CreateTopicAsync(conn, ct);
            await WaitForCoordinatorAsync(conn, ct);

            var members = new[] { new Member("member-a-" + Guid.NewGuid()), new Member("member-b-" + Guid.NewGuid()), new Member("member-c-" + Guid.NewGuid()) };
            await ConvergeAsync(conn, topicId, members, ct);
            Assert.All(members, m => Assert.Equal(2, m.Owned.Count));

            // ConsumerGroupDescribe and ListGroups see the group.
            var described = (await conn.SendAsync<ConsumerGroupDescribeResponse>(
                new ConsumerGroupDescribeRequest { GroupIds = [Group], IncludeAuthorizedOperations = true }, 1, ct)).Groups.Single();
            Assert.Equal(0, described.ErrorCode);
            Assert.Equal("Stable", described.GroupState);
            Assert.Equal(members.Select(m => m.Id).Order(), described.Members.Select(m => m.MemberId).Order());
            Assert.All(described.Members, m => Assert.Equal(members.Single(x => x.Id == m.MemberId).Epoch, m.MemberEpoch));
            Assert.NotEqual(int.MinValue, described.AuthorizedOperations);
            var listed = await conn.SendAsync<ListGroupsResponse>(new ListGroupsRequest(), 5, ct);
            var entry = Assert.Single(listed.Groups, g => g.GroupId == Group);
            Assert.Equal("consumer", entry.GroupType);
            Assert.Equal("Stable", entry.GroupState);
            var onlyClassic = await conn.SendAsync<ListGroupsResponse>(new ListGroupsRequest { TypesFilter = ["classic"] }, 5, ct);
            Assert.DoesNotContain(onlyClassic.Groups, g => g.GroupId == Group);

            foreach (var m in members[..2]) Assert.Equal(0, (await BeatAsync(conn, topicId, m, ct)).ErrorCode); // a and b stay alive

            // OffsetCommit v9 with the member epoch; a stale epoch and an unknown member are refused.
            var a = members[0];
            int p0 = a.Owned.First();
            Assert.Equal(ErrorCode.None, await CommitAsync(conn, a.Id, a.Epoch, p0, 1234, ct));
            Assert.Equal(ErrorCode.StaleMemberEpoch, await CommitAsync(conn, a.Id, a.Epoch + 7, p0, 1, ct));
            Assert.Equal(ErrorCode.UnknownMemberId, await CommitAsync(conn, "nobody", a.Epoch, p0, 1, ct));
            var fetched = await conn.SendAsync<OffsetFetchResponse>(new OffsetFetchRequest
            {
                Groups = [new() { GroupId = Group, MemberId = a.Id, MemberEpoch = a.Epoch, Topics = [new() { Name = Topic, PartitionIndexes = [p0] }] }],
            }, 9, ct);
            var fetchedGroup = fetched.Groups.Single();
            Assert.Equal(0, fetchedGroup.ErrorCode);
            Assert.Equal(1234, fetchedGroup.Topics.Single().Partitions.Single().CommittedOffset);

            // The classic protocol may not take the id.
            var join = await conn.SendAsync<JoinGroupResponse>(new JoinGroupRequest
            {
                GroupId = Group, SessionTimeoutMs = 10_000, RebalanceTimeoutMs = 10_000, MemberId = "", ProtocolType = "consumer",
                Protocols = [new() { Name = "range", Metadata = [0, 1] }],
            }, 5, ct);
            Assert.Equal((short)ErrorCode.GroupIdNotFound, join.ErrorCode);

            foreach (var m in members[..2]) Assert.Equal(0, (await BeatAsync(conn, topicId, m, ct)).ErrorCode);

            // member c goes silent: after the 4 s session it is removed and a and b take its partitions.
            var c = members[2];
            var survivors = members[..2];
            var deadline = DateTime.UtcNow.AddSeconds(25);
            bool expired = false;
            for (int round = 0; round < 200 && DateTime.UtcNow < deadline; round++)
            {
                foreach (var m in survivors) Assert.Equal(0, (await BeatAsync(conn, topicId, m, ct)).ErrorCode);
                var now = (await conn.SendAsync<ConsumerGroupDescribeResponse>(new ConsumerGroupDescribeRequest { GroupIds = [Group] }, 1, ct)).Groups.Single();
                expired = now.Members.All(m => m.MemberId != c.Id);
                if (expired && now.GroupState == "Stable" && survivors.Sum(m => m.Owned.Count) == Partitions) break;
                await Task.Delay(250, ct);
            }
            Assert.True(expired, "the silent member was not expired");
            AssertDisjointAndFull(survivors);
            Assert.Equal(3, survivors[0].Owned.Count);
            Assert.Equal(3, survivors[1].Owned.Count);
            Assert.Equal((short)ErrorCode.UnknownMemberId, (await BeatAsync(conn, topicId, c, ct)).ErrorCode);
        }
        catch
        {
            output.WriteLine(node.Transcript);
            throw;
        }
    }

    private static async Task<Uuid> CreateTopicAsync(KafkaClientConnection conn, CancellationToken ct)
    {
        var created = await conn.SendAsync<CreateTopicsResponse>(new CreateTopicsRequest
        {
            TimeoutMs = 15_000,
            Topics = [new() { Name = Topic, NumPartitions = Partitions, ReplicationFactor = 1 }],
        }, 7, ct);
        Assert.Contains(created.Topics.Single().ErrorCode, new short[] { 0, (short)ErrorCode.TopicAlreadyExists });
        for (int i = 0; i < 200; i++)
        {
            var metadata = await conn.SendAsync<MetadataResponse>(new MetadataRequest { Topics = [new() { Name = Topic }], AllowAutoTopicCreation = false }, 12, ct);
            var t = metadata.Topics.SingleOrDefault(x => x.Name == Topic);
            if (t is { ErrorCode: 0 } && t.Partitions.Count == Partitions && t.Partitions.All(p => p.LeaderId >= 0)) return t.TopicId;
            await Task.Delay(100, ct);
        }
        throw new TimeoutException($"{Topic} did not get leaders");
    }

    /// <summary>Until the group's coordinator (this node) has loaded its partition (bounded).</summary>
    private static async Task WaitForCoordinatorAsync(KafkaClientConnection conn, CancellationToken ct)
    {
        for (int i = 0; i < 300; i++)
        {
            var found = await conn.SendAsync<FindCoordinatorResponse>(new FindCoordinatorRequest { KeyType = 0, CoordinatorKeys = [Group] }, 4, ct);
            if (found.Coordinators.Single().ErrorCode == 0)
            {
                var probe = await conn.SendAsync<ConsumerGroupDescribeResponse>(new ConsumerGroupDescribeRequest { GroupIds = [Group] }, 1, ct);
                if (probe.Groups.Single().ErrorCode == (short)ErrorCode.GroupIdNotFound) return; // loaded and serving
            }
            await Task.Delay(100, ct);
        }
        throw new TimeoutException("the group coordinator did not become available");
    }

    private static async Task<ConsumerGroupHeartbeatResponse> BeatAsync(KafkaClientConnection conn, Uuid topicId, Member m, CancellationToken ct)
    {
        var response = await conn.SendAsync<ConsumerGroupHeartbeatResponse>(new ConsumerGroupHeartbeatRequest
        {
            GroupId = Group,
            MemberId = m.Id,
            MemberEpoch = m.Epoch,
            RebalanceTimeoutMs = m.Epoch == 0 ? 10_000 : -1,
            SubscribedTopicNames = m.Epoch == 0 ? [Topic] : null,
            TopicPartitions = m.Epoch == 0 ? [] : [new() { TopicId = topicId, Partitions = [.. m.Owned] }],
        }, 1, ct);
        if (response.ErrorCode != 0) return response;
        m.Epoch = response.MemberEpoch;
        if (response.Assignment is { } assignment)
        {
            m.Owned.Clear();
            foreach (var tp in assignment.TopicPartitions.Where(t => t.TopicId == topicId))
                foreach (int p in tp.Partitions) m.Owned.Add(p);
        }
        return response;
    }

    /// <summary>Heartbeats every member in turn until they own a disjoint, complete assignment and the group is Stable (bounded).</summary>
    private static async Task ConvergeAsync(KafkaClientConnection conn, Uuid topicId, Member[] members, CancellationToken ct)
    {
        for (int round = 0; round < 100; round++)
        {
            foreach (var m in members)
            {
                var r = await BeatAsync(conn, topicId, m, ct);
                Assert.True(r.ErrorCode == 0, $"heartbeat of {m.Id}: {(ErrorCode)r.ErrorCode} {r.ErrorMessage}");
            }
            var group = (await conn.SendAsync<ConsumerGroupDescribeResponse>(new ConsumerGroupDescribeRequest { GroupIds = [Group] }, 1, ct)).Groups.Single();
            if (group.GroupState == "Stable" && members.All(m => m.Epoch == group.GroupEpoch) && members.Sum(m => m.Owned.Count) == Partitions) break;
            await Task.Delay(50, ct);
        }
        AssertDisjointAndFull(members);
    }

    private static void AssertDisjointAndFull(Member[] members)
    {
        var all = members.SelectMany(m => m.Owned).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(Enumerable.Range(0, Partitions), all.Order());
    }

    private static async Task<ErrorCode> CommitAsync(KafkaClientConnection conn, string memberId, int epoch, int partition, long offset, CancellationToken ct)
    {
        var response = await conn.SendAsync<OffsetCommitResponse>(new OffsetCommitRequest
        {
            GroupId = Group,
            GenerationIdOrMemberEpoch = epoch,
            MemberId = memberId,
            Topics = [new() { Name = Topic, Partitions = [new() { PartitionIndex = partition, CommittedOffset = offset, CommittedMetadata = "" }] }],
        }, 9, ct);
        return (ErrorCode)response.Topics.Single().Partitions.Single().ErrorCode;
    }
}
