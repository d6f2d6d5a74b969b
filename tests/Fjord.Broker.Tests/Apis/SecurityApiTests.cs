using Fjord.Broker.Apis;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using static Fjord.Broker.Tests.Apis.ApiTestSupport;

namespace Fjord.Broker.Tests.Apis;

public sealed class SecurityApiTests
{
    // ResourceType TOPIC 2, GROUP 3; PatternType LITERAL 3, PREFIXED 4; Operation READ 3, WRITE 4; Permission DENY 2, ALLOW 3.
    private static AccessControlEntryRecord Acl(long id, sbyte type, string name, sbyte pattern, string principal, sbyte op, sbyte permission = 3, string host = "*") => new()
    {
        Id = Id(700 + id), ResourceType = type, ResourceName = name, PatternType = pattern, Principal = principal, Host = host, Operation = op, PermissionType = permission,
    };

    private static MetadataImage Acls() => Image(
        Mv(),
        Acl(1, 2, "orders", 3, "User:alice", 3),
        Acl(2, 2, "orders", 3, "User:bob", 4),
        Acl(3, 2, "ord", 4, "User:carol", 3),
        Acl(4, 2, "*", 3, "User:dave", 3, permission: 2),
        Acl(5, 3, "group1", 3, "User:alice", 3, host: "10.0.0.1"));

    private static BrokerMetadataApis Apis(MetadataImage image) => new(Options(), () => image);

    private static DescribeAclsRequest Filter(sbyte type = 1, string? name = null, sbyte pattern = 1, string? principal = null, string? host = null, sbyte op = 1, sbyte permission = 1) => new()
    {
        ResourceTypeFilter = type, ResourceNameFilter = name, PatternTypeFilter = pattern, PrincipalFilter = principal, HostFilter = host, Operation = op, PermissionType = permission,
    };

    private static List<string> Principals(DescribeAclsResponse r) => [.. r.Resources.SelectMany(res => res.Acls.Select(a => $"{res.ResourceName}/{res.PatternType}:{a.Principal}"))];

    [Fact]
    public void Describe_acls_with_any_literal_prefixed_and_match_filters()
    {
        var apis = Apis(Acls());
        var all = RoundTrip(apis.DescribeAcls(Filter(), 3), 3);
        Assert.Equal(0, all.ErrorCode);
        Assert.Equal(["*/3:User:dave", "ord/4:User:carol", "orders/3:User:alice", "orders/3:User:bob", "group1/3:User:alice"], Principals(all));

        Assert.Equal(["orders/3:User:alice", "orders/3:User:bob"], Principals(apis.DescribeAcls(Filter(type: 2, name: "orders", pattern: 3), 1)));
        Assert.Equal(["ord/4:User:carol"], Principals(apis.DescribeAcls(Filter(pattern: 4), 1)));
        // MATCH: everything that applies to topic "orders": literal, wildcard and prefix.
        Assert.Equal(["*/3:User:dave", "ord/4:User:carol", "orders/3:User:alice", "orders/3:User:bob"],
            Principals(apis.DescribeAcls(Filter(type: 2, name: "orders", pattern: 2), 1)));
        Assert.Equal(["orders/3:User:bob"], Principals(apis.DescribeAcls(Filter(op: 4), 1)));
        Assert.Equal(["*/3:User:dave"], Principals(apis.DescribeAcls(Filter(permission: 2), 1)));
        Assert.Equal(["group1/3:User:alice"], Principals(apis.DescribeAcls(Filter(host: "10.0.0.1"), 1)));
        Assert.Equal(["orders/3:User:alice", "group1/3:User:alice"], Principals(apis.DescribeAcls(Filter(principal: "User:alice"), 1)));
    }

    [Fact]
    public void Describe_acls_v0_is_literal_only_and_unknown_filters_are_invalid()
    {
        var apis = Apis(Acls());
        var v0 = RoundTrip(apis.DescribeAcls(Filter(), 0), 0);
        Assert.DoesNotContain("ord/4:User:carol", Principals(v0));
        Assert.Equal(4, Principals(v0).Count);
        var invalid = apis.DescribeAcls(Filter(op: 0), 2);
        Assert.Equal((short)ErrorCode.InvalidRequest, invalid.ErrorCode);
        Assert.Empty(invalid.Resources);
    }

    private static ClientQuotaRecord Quota(string key, double value, params (string Type, string? Name)[] entity) => new()
    {
        Entity = [.. entity.Select(e => new ClientQuotaRecord.EntityData { EntityType = e.Type, EntityName = e.Name })],
        Key = key,
        Value = value,
    };

    private static MetadataImage Quotas() => Image(
        Mv(),
        Quota("producer_byte_rate", 1000, ("user", "alice")),
        Quota("consumer_byte_rate", 2000, ("user", "alice")),
        Quota("producer_byte_rate", 500, ("user", null)),
        Quota("request_percentage", 50, ("user", "alice"), ("client-id", "app")),
        Quota("connection_creation_rate", 10, ("ip", "10.0.0.1")));

    private static DescribeClientQuotasRequest Quotas(bool strict, params (string Type, sbyte Match, string? Name)[] components) => new()
    {
        Components = [.. components.Select(c => new DescribeClientQuotasRequest.ComponentData { EntityType = c.Type, MatchType = c.Match, Match = c.Name })],
        Strict = strict,
    };

    private static List<string> Entities(DescribeClientQuotasResponse r) =>
        [.. r.Entries!.Select(e => string.Join(",", e.Entity.Select(p => $"{p.EntityType}={p.EntityName ?? "<default>"}")))];

    [Fact]
    public void Describe_client_quotas_by_match_type_and_strictness()
    {
        var apis = Apis(Quotas());
        var alice = RoundTrip(apis.DescribeClientQuotas(Quotas(true, ("user", 0, "alice")), 1), 1);
        var entry = Assert.Single(alice.Entries!);
        Assert.Equal([("consumer_byte_rate", 2000d), ("producer_byte_rate", 1000d)], entry.Values.Select(v => (v.Key, v.Value)));

        Assert.Equal(["client-id=app,user=alice", "user=alice"], Entities(apis.DescribeClientQuotas(Quotas(false, ("user", 0, "alice")), 1)));
        Assert.Equal(["user=<default>"], Entities(apis.DescribeClientQuotas(Quotas(false, ("user", 1, null)), 1)));
        Assert.Equal(["user=<default>", "user=alice"], Entities(apis.DescribeClientQuotas(Quotas(true, ("user", 2, null)), 0)));
        Assert.Equal(["client-id=app,user=alice"], Entities(apis.DescribeClientQuotas(Quotas(false, ("client-id", 2, null)), 1)));
        Assert.Equal(["ip=10.0.0.1"], Entities(apis.DescribeClientQuotas(Quotas(false, ("ip", 2, null)), 1)));
        Assert.Equal(5 - 1, Entities(apis.DescribeClientQuotas(Quotas(false), 1)).Count); // no component: every entity
    }

    [Fact]
    public void Describe_client_quotas_rejects_bad_filters()
    {
        var apis = Apis(Quotas());
        void Check(ErrorCode code, DescribeClientQuotasRequest request)
        {
            var r = RoundTrip(apis.DescribeClientQuotas(request, 1), 1);
            Assert.Equal((short)code, r.ErrorCode);
            Assert.Null(r.Entries);
            Assert.NotNull(r.ErrorMessage);
        }
        Check(ErrorCode.InvalidRequest, Quotas(false, ("user", 0, null)));
        Check(ErrorCode.InvalidRequest, Quotas(false, ("user", 1, "x")));
        Check(ErrorCode.InvalidRequest, Quotas(false, ("user", 2, "x")));
        Check(ErrorCode.InvalidRequest, Quotas(false, ("user", 2, null), ("user", 0, "a")));
        Check(ErrorCode.InvalidRequest, Quotas(false, ("", 2, null)));
        Check(ErrorCode.InvalidRequest, Quotas(false, ("ip", 2, null), ("user", 2, null)));
        Check(ErrorCode.UnsupportedVersion, Quotas(false, ("group", 2, null)));
        Check(ErrorCode.UnsupportedVersion, Quotas(false, ("user", 7, null)));
    }

    private static UserScramCredentialRecord Scram(string user, sbyte mechanism, int iterations) => new()
    {
        Name = user, Mechanism = mechanism, Salt = [1, 2], StoredKey = [3, 4], ServerKey = [5, 6], Iterations = iterations,
    };

    [Fact]
    public void Describe_scram_credentials()
    {
        var apis = Apis(Image(Mv(), Scram("bob", 2, 8192), Scram("alice", 1, 4096), Scram("alice", 2, 4096)));
        var all = RoundTrip(apis.DescribeUserScramCredentials(new DescribeUserScramCredentialsRequest { Users = null }, 0), 0);
        Assert.Equal(["alice", "bob"], all.Results.Select(r => r.User));
        Assert.Equal([((sbyte)1, 4096), ((sbyte)2, 4096)], all.Results[0].CredentialInfos.Select(c => (c.Mechanism, c.Iterations)));

        var named = apis.DescribeUserScramCredentials(new DescribeUserScramCredentialsRequest
        {
            Users = [new() { Name = "bob" }, new() { Name = "nobody" }, new() { Name = "alice" }, new() { Name = "alice" }],
        }, 0);
        Assert.Equal([("bob", (short)0), ("nobody", (short)ErrorCode.ResourceNotFound), ("alice", (short)ErrorCode.DuplicateResource)],
            named.Results.Select(r => (r.User, r.ErrorCode)));
        Assert.Empty(named.Results[1].CredentialInfos);
    }
}
