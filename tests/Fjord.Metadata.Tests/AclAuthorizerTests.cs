namespace Fjord.Metadata.Tests;

/// <summary>The pure authorizer (Kafka's StandardAuthorizer semantics) over a set of <see cref="StandardAcl"/>s.</summary>
public sealed class AclAuthorizerTests
{
    private static StandardAcl A(AclResourceType type, string name, AclPatternType pattern, string principal, AclOperation op, AclPermissionType permission, string host = "*") =>
        new((sbyte)type, name, (sbyte)pattern, principal, host, (sbyte)op, (sbyte)permission);

    private static readonly AclResource Orders = new(AclResourceType.Topic, "orders");

    private static AuthorizationResult Authorize(IEnumerable<StandardAcl> acls, string principal, AclOperation op, AclResource resource,
        string host = "10.0.0.1", AuthorizerSettings? settings = null) =>
        new AclAuthorizer(acls, settings).Authorize(principal, host, op, resource);

    [Fact]
    public void Allow_acls_allow_and_nothing_else_does()
    {
        StandardAcl[] acls = [A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:alice", AclOperation.Read, AclPermissionType.Allow)];
        Assert.Equal(AuthorizationResult.Allowed, Authorize(acls, "User:alice", AclOperation.Read, Orders));
        Assert.Equal(AuthorizationResult.Denied, Authorize(acls, "User:bob", AclOperation.Read, Orders));
        Assert.Equal(AuthorizationResult.Denied, Authorize(acls, "User:alice", AclOperation.Write, Orders));
        Assert.Equal(AuthorizationResult.Denied, Authorize(acls, "User:alice", AclOperation.Read, new AclResource(AclResourceType.Topic, "orders2")));
        Assert.Equal(AuthorizationResult.Denied, Authorize(acls, "User:alice", AclOperation.Read, new AclResource(AclResourceType.Group, "orders")));
    }

    [Fact]
    public void Deny_wins_over_allow()
    {
        StandardAcl[] acls =
        [
            A(AclResourceType.Topic, "*", AclPatternType.Literal, "User:*", AclOperation.All, AclPermissionType.Allow),
            A(AclResourceType.Topic, "ord", AclPatternType.Prefixed, "User:alice", AclOperation.Write, AclPermissionType.Deny),
        ];
        Assert.Equal(AuthorizationResult.Denied, Authorize(acls, "User:alice", AclOperation.Write, Orders));
        Assert.Equal(AuthorizationResult.Allowed, Authorize(acls, "User:alice", AclOperation.Read, Orders));
        Assert.Equal(AuthorizationResult.Allowed, Authorize(acls, "User:bob", AclOperation.Write, Orders));
        Assert.Equal(AuthorizationResult.Allowed, Authorize(acls, "User:alice", AclOperation.Write, new AclResource(AclResourceType.Topic, "invoices")));
        // DENY ALL denies every operation, including the implied ones.
        StandardAcl[] denyAll = [.. acls, A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:bob", AclOperation.All, AclPermissionType.Deny)];
        Assert.Equal(AuthorizationResult.Denied, Authorize(denyAll, "User:bob", AclOperation.Describe, Orders));
    }

    [Fact]
    public void Describe_is_implied_by_read_write_delete_and_alter_and_describe_configs_by_alter_configs()
    {
        foreach (var granted in new[] { AclOperation.Read, AclOperation.Write, AclOperation.Delete, AclOperation.Alter, AclOperation.Describe, AclOperation.All })
            Assert.Equal(AuthorizationResult.Allowed,
                Authorize([A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:a", granted, AclPermissionType.Allow)], "User:a", AclOperation.Describe, Orders));
        foreach (var granted in new[] { AclOperation.Create, AclOperation.AlterConfigs, AclOperation.DescribeConfigs, AclOperation.ClusterAction })
            Assert.Equal(AuthorizationResult.Denied,
                Authorize([A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:a", granted, AclPermissionType.Allow)], "User:a", AclOperation.Describe, Orders));
        Assert.Equal(AuthorizationResult.Allowed,
            Authorize([A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:a", AclOperation.AlterConfigs, AclPermissionType.Allow)], "User:a", AclOperation.DescribeConfigs, Orders));
        Assert.Equal(AuthorizationResult.Denied,
            Authorize([A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:a", AclOperation.DescribeConfigs, AclPermissionType.Allow)], "User:a", AclOperation.AlterConfigs, Orders));
        Assert.Equal(AuthorizationResult.Denied,
            Authorize([A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:a", AclOperation.Describe, AclPermissionType.Allow)], "User:a", AclOperation.Read, Orders));
        // A DENY of READ does not deny the DESCRIBE an ALLOW of READ implies.
        StandardAcl[] mixed =
        [
            A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:a", AclOperation.Read, AclPermissionType.Allow),
            A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:a", AclOperation.Read, AclPermissionType.Deny),
        ];
        Assert.Equal(AuthorizationResult.Denied, Authorize(mixed, "User:a", AclOperation.Read, Orders));
        Assert.Equal(AuthorizationResult.Allowed, Authorize(mixed, "User:a", AclOperation.Describe, Orders));
    }

    [Fact]
    public void Hosts_and_wildcard_principals()
    {
        StandardAcl[] acls =
        [
            A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:alice", AclOperation.Read, AclPermissionType.Allow, "10.0.0.1"),
            A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:*", AclOperation.Write, AclPermissionType.Allow),
        ];
        Assert.Equal(AuthorizationResult.Allowed, Authorize(acls, "User:alice", AclOperation.Read, Orders, "10.0.0.1"));
        Assert.Equal(AuthorizationResult.Denied, Authorize(acls, "User:alice", AclOperation.Read, Orders, "10.0.0.2"));
        Assert.Equal(AuthorizationResult.Allowed, Authorize(acls, "User:anyone", AclOperation.Write, Orders));
        Assert.Equal(AuthorizationResult.Allowed, Authorize(acls, "Group:ops", AclOperation.Write, Orders)); // "User:*" is Kafka's wildcard for every principal
        Assert.Equal(AuthorizationResult.Denied, Authorize(acls, "User:anyone", AclOperation.Read, Orders));
    }

    [Fact]
    public void Super_users_may_do_everything()
    {
        var settings = new AuthorizerSettings(AuthorizerSettings.ParseSuperUsers("User:admin; User:root"));
        StandardAcl[] acls = [A(AclResourceType.Topic, "orders", AclPatternType.Literal, "User:*", AclOperation.All, AclPermissionType.Deny)];
        Assert.Equal(AuthorizationResult.Allowed, Authorize(acls, "User:admin", AclOperation.Write, Orders, settings: settings));
        Assert.Equal(AuthorizationResult.Allowed, Authorize(acls, "User:root", AclOperation.Alter, AclResource.Cluster, settings: settings));
        Assert.Equal(AuthorizationResult.Denied, Authorize(acls, "User:alice", AclOperation.Write, Orders, settings: settings));
    }

    [Fact]
    public void Allow_everyone_if_no_acl_found_applies_only_when_no_acl_covers_the_resource()
    {
        var open = new AuthorizerSettings([], AllowEveryoneIfNoAclFound: true);
        StandardAcl[] acls = [A(AclResourceType.Topic, "ord", AclPatternType.Prefixed, "User:alice", AclOperation.Read, AclPermissionType.Allow)];
        Assert.Equal(AuthorizationResult.Allowed, Authorize(acls, "User:bob", AclOperation.Write, new AclResource(AclResourceType.Topic, "invoices"), settings: open));
        Assert.Equal(AuthorizationResult.Denied, Authorize(acls, "User:bob", AclOperation.Write, new AclResource(AclResourceType.Topic, "invoices")));
        // An ACL for someone else on the resource: no longer "no ACL found".
        Assert.Equal(AuthorizationResult.Denied, Authorize(acls, "User:bob", AclOperation.Read, Orders, settings: open));
        Assert.Equal(AuthorizationResult.Allowed, Authorize([], "User:bob", AclOperation.Alter, AclResource.Cluster, settings: open));
        Assert.Equal(AuthorizationResult.Denied, Authorize([], "User:bob", AclOperation.Alter, AclResource.Cluster));
    }

    [Fact]
    public void The_authorizer_runs_over_a_metadata_image()
    {
        var delta = new MetadataDelta(MetadataImage.Empty);
        delta.Replay(new Fjord.Protocol.Metadata.AccessControlEntryRecord
        {
            Id = new Fjord.Common.Uuid(1, 1),
            ResourceType = (sbyte)AclResourceType.Topic,
            ResourceName = "ord",
            PatternType = (sbyte)AclPatternType.Prefixed,
            Principal = "User:alice",
            Host = "*",
            Operation = (sbyte)AclOperation.Write,
            PermissionType = (sbyte)AclPermissionType.Allow,
        });
        var image = delta.Apply();
        var authorizer = new AclAuthorizer(image.Acls.Acls.Values);
        Assert.Equal(AuthorizationResult.Allowed, authorizer.Authorize("User:alice", "1.2.3.4", AclOperation.Describe, Orders));
        Assert.Equal(AuthorizationResult.Denied, authorizer.Authorize("User:alice", "1.2.3.4", AclOperation.Read, Orders));
        Assert.Equal(AuthorizationResult.Denied, authorizer.Authorize("User:bob", "1.2.3.4", AclOperation.Write, Orders));
    }
}
