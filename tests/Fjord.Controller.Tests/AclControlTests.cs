using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using static Fjord.Controller.Tests.ReplicationControlTests;

namespace Fjord.Controller.Tests;

public sealed class AclControlTests
{
    private static CreateAclsRequest.AclCreation Acl(AclResourceType type, string name, AclPatternType pattern = AclPatternType.Literal,
        string principal = "User:alice", string host = "*", AclOperation operation = AclOperation.Read, AclPermissionType permission = AclPermissionType.Allow) => new()
    {
        ResourceType = (sbyte)type,
        ResourceName = name,
        ResourcePatternType = (sbyte)pattern,
        Principal = principal,
        Host = host,
        Operation = (sbyte)operation,
        PermissionType = (sbyte)permission,
    };

    private static DeleteAclsRequest.DeleteAclsFilter Filter(AclResourceType type = AclResourceType.Any, string? name = null,
        AclPatternType pattern = AclPatternType.Any, string? principal = null, string? host = null,
        AclOperation operation = AclOperation.Any, AclPermissionType permission = AclPermissionType.Any) => new()
    {
        ResourceTypeFilter = (sbyte)type,
        ResourceNameFilter = name,
        PatternTypeFilter = (sbyte)pattern,
        PrincipalFilter = principal,
        HostFilter = host,
        Operation = (sbyte)operation,
        PermissionType = (sbyte)permission,
    };

    private static CreateAclsResponse Create(ControllerCluster cluster, QuorumController active, params CreateAclsRequest.AclCreation[] acls) =>
        cluster.Done(active.CreateAcls(new CreateAclsRequest { Creations = [.. acls] }));

    private static DeleteAclsResponse Delete(ControllerCluster cluster, QuorumController active, params DeleteAclsRequest.DeleteAclsFilter[] filters) =>
        cluster.Done(active.DeleteAcls(new DeleteAclsRequest { Filters = [.. filters] }));

    private static (ControllerCluster, QuorumController) NewActive(int seed = 42, int voters = 1)
    {
        var cluster = NewCluster(voters, seed);
        return (cluster, cluster.ElectActive());
    }

    // ------------------------------------------------------------------ CreateAcls

    [Fact]
    public void CreateAcls_writes_one_record_per_new_acl_in_one_batch()
    {
        var (cluster, active) = NewActive();
        var response = Create(cluster, active,
            Acl(AclResourceType.Topic, "orders"),
            Acl(AclResourceType.Group, "g-", AclPatternType.Prefixed, "User:bob", "10.0.0.1", AclOperation.Describe, AclPermissionType.Deny),
            Acl(AclResourceType.Cluster, "kafka-cluster", operation: AclOperation.IdempotentWrite));
        Assert.All(response.Results, r => Assert.Equal((0, (string?)null), (r.ErrorCode, r.ErrorMessage)));

        var batch = Batches(cluster.Raft[1])[^1];
        Assert.Equal(3, batch.Count);
        var records = batch.Cast<AccessControlEntryRecord>().ToList();
        Assert.Equal(3, records.Select(r => r.Id).Distinct().Count());
        Assert.Equal(("g-", (sbyte)4, "User:bob", "10.0.0.1", (sbyte)8, (sbyte)2),
            (records[1].ResourceName, records[1].PatternType, records[1].Principal, records[1].Host, records[1].Operation, records[1].PermissionType));

        var acls = cluster.Committed(active, s => s.Acls);
        Assert.Equal(3, acls.Count);
        Assert.Equal(new StandardAcl(2, "orders", 3, "User:alice", "*", 3, 3), acls[records[0].Id]);
    }

    [Fact]
    public void Acl_ids_come_from_the_seeded_source()
    {
        Uuid IdWith(int seed)
        {
            var (cluster, active) = NewActive(seed);
            Create(cluster, active, Acl(AclResourceType.Topic, "t"));
            return cluster.Committed(active, s => s.Acls.Keys.Single());
        }
        Assert.Equal(IdWith(3), IdWith(3));
        Assert.NotEqual(IdWith(3), IdWith(4));
    }

    [Fact]
    public void An_acl_equal_to_an_existing_one_or_repeated_in_the_request_is_written_once()
    {
        var (cluster, active) = NewActive();
        var twice = Create(cluster, active, Acl(AclResourceType.Topic, "t"), Acl(AclResourceType.Topic, "t"));
        Assert.All(twice.Results, r => Assert.Equal(0, r.ErrorCode));
        Assert.Single(cluster.Committed(active, s => s.Acls));
        int batches = Batches(cluster.Raft[1]).Count;
        Assert.Equal(0, Assert.Single(Create(cluster, active, Acl(AclResourceType.Topic, "t")).Results).ErrorCode);
        Assert.Equal(batches, Batches(cluster.Raft[1]).Count);
        Assert.Single(cluster.Committed(active, s => s.Acls));
    }

    public static TheoryData<string, CreateAclsRequest.AclCreation> InvalidAcls => new()
    {
        { "resourceType ANY", Acl(AclResourceType.Any, "t") },
        { "resourceType UNKNOWN", Acl(AclResourceType.Unknown, "t") },
        { "resourceType 42", Acl((AclResourceType)42, "t") },
        { "patternType MATCH", Acl(AclResourceType.Topic, "t", AclPatternType.Match) },
        { "patternType ANY", Acl(AclResourceType.Topic, "t", AclPatternType.Any) },
        { "patternType UNKNOWN", Acl(AclResourceType.Topic, "t", AclPatternType.Unknown) },
        { "operation ANY", Acl(AclResourceType.Topic, "t", operation: AclOperation.Any) },
        { "operation UNKNOWN", Acl(AclResourceType.Topic, "t", operation: AclOperation.Unknown) },
        { "permissionType ANY", Acl(AclResourceType.Topic, "t", permission: AclPermissionType.Any) },
        { "permissionType UNKNOWN", Acl(AclResourceType.Topic, "t", permission: AclPermissionType.Unknown) },
        { "empty name", Acl(AclResourceType.Topic, "") },
        { "principal without colon", Acl(AclResourceType.Topic, "t", principal: "alice") },
        { "cluster name", Acl(AclResourceType.Cluster, "my-cluster", operation: AclOperation.Alter) },
    };

    [Theory]
    [MemberData(nameof(InvalidAcls))]
    public void Invalid_acls_are_INVALID_REQUEST_and_the_others_are_still_created(string why, CreateAclsRequest.AclCreation invalid)
    {
        var (cluster, active) = NewActive();
        var response = Create(cluster, active, Acl(AclResourceType.Topic, "ok"), invalid);
        Assert.Equal(0, response.Results[0].ErrorCode);
        Assert.True((short)ErrorCode.InvalidRequest == response.Results[1].ErrorCode, why);
        Assert.False(string.IsNullOrEmpty(response.Results[1].ErrorMessage));
        Assert.Equal("ok", Assert.Single(cluster.Committed(active, s => s.Acls.Values)).ResourceName);
    }

    [Fact]
    public void ValidateNewAcl_messages_name_the_problem()
    {
        Assert.Equal("Invalid patternType MATCH", AclControlManager.ValidateNewAcl(new StandardAcl(2, "t", 2, "User:a", "*", 3, 3)));
        Assert.Equal("Invalid resourceType ANY", AclControlManager.ValidateNewAcl(new StandardAcl(1, "t", 3, "User:a", "*", 3, 3)));
        Assert.Equal("Invalid operation ANY", AclControlManager.ValidateNewAcl(new StandardAcl(2, "t", 3, "User:a", "*", 1, 3)));
        Assert.Null(AclControlManager.ValidateNewAcl(new StandardAcl(5, "tx", 4, "User:a", "*", 4, 2)));
        Assert.Equal("DESCRIBE_CONFIGS", AclIds.Name(AclOperation.DescribeConfigs));
        Assert.Equal("TRANSACTIONAL_ID", AclIds.Name(AclResourceType.TransactionalId));
    }

    // ------------------------------------------------------------------ DeleteAcls

    /// <summary>ACLs: literal "orders", literal "*", prefixed "ord", prefixed "x", literal "other", a group ACL.</summary>
    private static (ControllerCluster, QuorumController) WithSampleAcls()
    {
        var (cluster, active) = NewActive();
        var response = Create(cluster, active,
            Acl(AclResourceType.Topic, "orders"),
            Acl(AclResourceType.Topic, "*", principal: "User:bob", operation: AclOperation.Write),
            Acl(AclResourceType.Topic, "ord", AclPatternType.Prefixed, permission: AclPermissionType.Deny),
            Acl(AclResourceType.Topic, "x", AclPatternType.Prefixed),
            Acl(AclResourceType.Topic, "other", host: "10.0.0.1"),
            Acl(AclResourceType.Group, "orders"));
        Assert.All(response.Results, r => Assert.Equal(0, r.ErrorCode));
        return (cluster, active);
    }

    private static List<string> Names(DeleteAclsResponse.DeleteAclsFilterResult result) =>
        [.. result.MatchingAcls.Select(a => $"{(AclResourceType)a.ResourceType}:{(AclPatternType)a.PatternType}:{a.ResourceName}").Order(StringComparer.Ordinal)];

    private static List<string> Remaining(ControllerCluster cluster, QuorumController active) =>
        [.. cluster.Committed(active, s => s.Acls.Values.Select(a => $"{(AclResourceType)a.ResourceType}:{(AclPatternType)a.PatternType}:{a.ResourceName}")).Order(StringComparer.Ordinal)];

    [Fact]
    public void A_MATCH_filter_deletes_the_literal_the_wildcard_and_covering_prefixes()
    {
        var (cluster, active) = WithSampleAcls();
        var result = Assert.Single(Delete(cluster, active, Filter(AclResourceType.Topic, "orders", AclPatternType.Match)).FilterResults);
        Assert.Equal(0, result.ErrorCode);
        Assert.Null(result.ErrorMessage);
        Assert.Equal(["Topic:Literal:*", "Topic:Literal:orders", "Topic:Prefixed:ord"], Names(result));
        Assert.Equal(["Group:Literal:orders", "Topic:Literal:other", "Topic:Prefixed:x"], Remaining(cluster, active));
        Assert.Equal(3, Batches(cluster.Raft[1])[^1].OfType<RemoveAccessControlEntryRecord>().Count());
    }

    [Fact]
    public void ANY_and_exact_pattern_filters_match_the_name_exactly()
    {
        var (cluster, active) = WithSampleAcls();
        var response = Delete(cluster, active,
            Filter(AclResourceType.Topic, "ord", AclPatternType.Any),
            Filter(AclResourceType.Any, "orders", AclPatternType.Literal),
            Filter(AclResourceType.Topic, "x", AclPatternType.Literal));
        Assert.Equal(["Topic:Prefixed:ord"], Names(response.FilterResults[0]));
        Assert.Equal(["Group:Literal:orders", "Topic:Literal:orders"], Names(response.FilterResults[1]));
        Assert.Empty(response.FilterResults[2].MatchingAcls);
        Assert.Equal(["Topic:Literal:*", "Topic:Literal:other", "Topic:Prefixed:x"], Remaining(cluster, active));
    }

    [Fact]
    public void Entry_filters_match_principal_host_operation_and_permission()
    {
        var (cluster, active) = WithSampleAcls();
        var response = Delete(cluster, active,
            Filter(principal: "User:bob"),
            Filter(host: "10.0.0.1"),
            Filter(permission: AclPermissionType.Deny),
            Filter(operation: AclOperation.Alter));
        Assert.Equal(["Topic:Literal:*"], Names(response.FilterResults[0]));
        Assert.Equal(["Topic:Literal:other"], Names(response.FilterResults[1]));
        Assert.Equal(["Topic:Prefixed:ord"], Names(response.FilterResults[2]));
        Assert.Empty(response.FilterResults[3].MatchingAcls);
        Assert.Equal(["Group:Literal:orders", "Topic:Literal:orders", "Topic:Prefixed:x"], Remaining(cluster, active));
    }

    [Fact]
    public void Overlapping_filters_each_list_the_acl_and_it_is_removed_once()
    {
        var (cluster, active) = WithSampleAcls();
        var response = Delete(cluster, active, Filter(AclResourceType.Topic), Filter(AclResourceType.Any, "orders"));
        Assert.Equal(5, response.FilterResults[0].MatchingAcls.Count);
        Assert.Equal(["Group:Literal:orders", "Topic:Literal:orders"], Names(response.FilterResults[1]));
        var batch = Batches(cluster.Raft[1])[^1];
        Assert.Equal(6, batch.Count);
        Assert.Equal(6, batch.Cast<RemoveAccessControlEntryRecord>().Select(r => r.Id).Distinct().Count());
        Assert.Empty(Remaining(cluster, active));
    }

    [Fact]
    public void Filters_with_an_unknown_component_are_INVALID_REQUEST()
    {
        var (cluster, active) = WithSampleAcls();
        var response = Delete(cluster, active,
            Filter(AclResourceType.Unknown),
            Filter(pattern: AclPatternType.Unknown),
            Filter(operation: (AclOperation)77),
            Filter(permission: AclPermissionType.Unknown),
            Filter(AclResourceType.Topic, "x", AclPatternType.Prefixed));
        Assert.Equal([(short)ErrorCode.InvalidRequest, (short)ErrorCode.InvalidRequest, (short)ErrorCode.InvalidRequest, (short)ErrorCode.InvalidRequest, (short)0],
            response.FilterResults.Select(r => r.ErrorCode));
        Assert.Equal("Unknown patternFilter.", response.FilterResults[0].ErrorMessage);
        Assert.Equal("Unknown entryFilter.", response.FilterResults[2].ErrorMessage);
        Assert.Equal(5, Remaining(cluster, active).Count);
    }

    [Fact]
    public void Deleting_nothing_writes_nothing()
    {
        var (cluster, active) = WithSampleAcls();
        int batches = Batches(cluster.Raft[1]).Count;
        Assert.Empty(Assert.Single(Delete(cluster, active, Filter(AclResourceType.User)).FilterResults).MatchingAcls);
        Assert.Equal(batches, Batches(cluster.Raft[1]).Count);
    }

    [Fact]
    public void Matching_reads_like_DescribeAcls()
    {
        var (cluster, active) = WithSampleAcls();
        var matched = cluster.Committed(active, s => AclControlManager.Matching(s,
            new AclFilter(AclResourceType.Topic, "orders-eu", AclPatternType.Match, null, null, AclOperation.Any, AclPermissionType.Any)).Select(m => m.Acl.ResourceName).Order(StringComparer.Ordinal).ToList());
        Assert.Equal(["*", "ord"], matched);
    }

    [Fact]
    public void A_standby_replays_acls_and_a_snapshot_rebuilds_them()
    {
        var cluster = NewCluster(3);
        var active = cluster.ElectActive();
        Create(cluster, active, Acl(AclResourceType.Topic, "a"), Acl(AclResourceType.Topic, "b", AclPatternType.Prefixed), Acl(AclResourceType.Group, "g"));
        Delete(cluster, active, Filter(AclResourceType.Group));
        Assert.True(cluster.Raft.RunUntil(() => cluster.Controllers.Values.All(c => c.LastCommittedOffset >= active.LastCommittedOffset)));
        var expected = cluster.Committed(active, s => s.Acls);
        Assert.Equal(2, expected.Count);
        foreach (var c in cluster.Controllers.Values)
            Assert.Equal(expected.OrderBy(a => a.Key.ToString()), cluster.Committed(c, s => s.Acls).OrderBy(a => a.Key.ToString()));
        var state = cluster.Committed(active, s => s);
        var rebuilt = state.ToRecords().Aggregate(ControllerState.Empty, (s, r) => s.Replay(r.Message));
        Assert.Equal(expected.OrderBy(a => a.Key.ToString()), rebuilt.Acls.OrderBy(a => a.Key.ToString()));
    }

    [Fact]
    public void Replay_refuses_a_reused_id_and_the_removal_of_an_unknown_one()
    {
        var id = new Uuid(1, 2);
        var state = ControllerState.Empty.Replay(new AccessControlEntryRecord { Id = id, ResourceType = 2, ResourceName = "t", PatternType = 3, Principal = "User:a", Host = "*", Operation = 3, PermissionType = 3 });
        Assert.Throws<InvalidOperationException>(() => state.Replay(new AccessControlEntryRecord { Id = id, ResourceType = 2, ResourceName = "u", PatternType = 3, Principal = "User:a", Host = "*", Operation = 3, PermissionType = 3 }));
        Assert.Throws<InvalidOperationException>(() => state.Replay(new RemoveAccessControlEntryRecord { Id = new Uuid(3, 4) }));
        Assert.Empty(state.Replay(new RemoveAccessControlEntryRecord { Id = id }).Acls);
    }

    // ------------------------------------------------------------------ AclAuthorizer (tests: Fjord.Metadata.Tests)

    private static readonly AclResource Orders = new(AclResourceType.Topic, "orders");

    [Fact]
    public void The_authorizer_runs_over_the_controller_state()
    {
        var (cluster, active) = NewActive();
        Create(cluster, active, Acl(AclResourceType.Topic, "orders", principal: "User:alice", operation: AclOperation.Write));
        var authorizer = cluster.Committed(active, s => new AclAuthorizer(s.Acls.Values));
        Assert.Equal(AuthorizationResult.Allowed, authorizer.Authorize("User:alice", "1.2.3.4", AclOperation.Describe, Orders));
        Assert.Equal(AuthorizationResult.Denied, authorizer.Authorize("User:alice", "1.2.3.4", AclOperation.Read, Orders));
    }
}
