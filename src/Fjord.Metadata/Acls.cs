using System.Collections.Immutable;

namespace Fjord.Metadata;

/// <summary>Kafka's ResourceType ids (as ACL records and requests carry them).</summary>
public enum AclResourceType : sbyte
{
    Unknown = 0,
    Any = 1,
    Topic = 2,
    Group = 3,
    Cluster = 4,
    TransactionalId = 5,
    DelegationToken = 6,
    User = 7,
}

/// <summary>Kafka's PatternType ids. ANY and MATCH exist in filters only.</summary>
public enum AclPatternType : sbyte
{
    Unknown = 0,
    Any = 1,
    Match = 2,
    Literal = 3,
    Prefixed = 4,
}

/// <summary>Kafka's AclOperation ids.</summary>
public enum AclOperation : sbyte
{
    Unknown = 0,
    Any = 1,
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
    CreateTokens = 13,
    DescribeTokens = 14,
    TwoPhaseCommit = 15,
}

/// <summary>Kafka's AclPermissionType ids.</summary>
public enum AclPermissionType : sbyte
{
    Unknown = 0,
    Any = 1,
    Deny = 2,
    Allow = 3,
}

/// <summary>Names and id mapping of the ACL enums; ids outside an enum read as Unknown.</summary>
public static class AclIds
{
    /// <summary>The resource name of the CLUSTER resource.</summary>
    public const string ClusterResourceName = "kafka-cluster";

    /// <summary>A resource name or host matching every one (LITERAL pattern "*", host "*").</summary>
    public const string Wildcard = "*";

    /// <summary>The principal every principal matches.</summary>
    public const string WildcardPrincipal = "User:*";

    public static AclResourceType ResourceType(sbyte id) => id is >= 0 and <= 7 ? (AclResourceType)id : AclResourceType.Unknown;
    public static AclPatternType PatternType(sbyte id) => id is >= 0 and <= 4 ? (AclPatternType)id : AclPatternType.Unknown;
    public static AclOperation Operation(sbyte id) => id is >= 0 and <= 15 ? (AclOperation)id : AclOperation.Unknown;
    public static AclPermissionType Permission(sbyte id) => id is >= 0 and <= 3 ? (AclPermissionType)id : AclPermissionType.Unknown;

    /// <summary>Kafka's upper-case name (TOPIC, PREFIXED, DESCRIBE_CONFIGS, ALLOW…).</summary>
    public static string Name<T>(T value) where T : struct, Enum =>
        string.Concat(value.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : char.ToUpperInvariant(c).ToString()));
}

/// <summary>
/// A filter over ACL bindings (Kafka's AclBindingFilter): null strings and ANY enums match
/// everything. Pattern type MATCH matches, for a given name, LITERAL ACLs of that name, the LITERAL
/// wildcard "*" and PREFIXED ACLs whose prefix starts the name; ANY matches any pattern type with
/// exactly that name; LITERAL/PREFIXED match only that type and name.
/// </summary>
public sealed record AclFilter(
    AclResourceType ResourceType,
    string? ResourceName,
    AclPatternType PatternType,
    string? Principal,
    string? Host,
    AclOperation Operation,
    AclPermissionType Permission)
{
    public static readonly AclFilter Any = new(AclResourceType.Any, null, AclPatternType.Any, null, null, AclOperation.Any, AclPermissionType.Any);

    /// <summary>Whether some component is UNKNOWN (Kafka refuses such filters).</summary>
    public bool IsUnknown => ResourceType == AclResourceType.Unknown || PatternType == AclPatternType.Unknown
        || Operation == AclOperation.Unknown || Permission == AclPermissionType.Unknown;

    public bool Matches(StandardAcl acl)
    {
        ArgumentNullException.ThrowIfNull(acl);
        return MatchesResource(acl) && MatchesEntry(acl);
    }

    private bool MatchesResource(StandardAcl acl)
    {
        var type = AclIds.ResourceType(acl.ResourceType);
        var pattern = AclIds.PatternType(acl.PatternType);
        if (ResourceType != AclResourceType.Any && ResourceType != type) return false;
        if (PatternType is not (AclPatternType.Any or AclPatternType.Match) && PatternType != pattern) return false;
        if (ResourceName is null) return true;
        if (PatternType == AclPatternType.Any || PatternType == pattern) return ResourceName == acl.ResourceName;
        return pattern switch
        {
            AclPatternType.Literal => ResourceName == acl.ResourceName || acl.ResourceName == AclIds.Wildcard,
            AclPatternType.Prefixed => ResourceName.StartsWith(acl.ResourceName, StringComparison.Ordinal),
            _ => false,
        };
    }

    private bool MatchesEntry(StandardAcl acl) =>
        (Principal is null || Principal == acl.Principal)
        && (Host is null || Host == acl.Host)
        && (Operation == AclOperation.Any || (sbyte)Operation == acl.Operation)
        && (Permission == AclPermissionType.Any || (sbyte)Permission == acl.PermissionType);
}

/// <summary>A resource an action is on (type and exact name).</summary>
public readonly record struct AclResource(AclResourceType Type, string Name)
{
    public static readonly AclResource Cluster = new(AclResourceType.Cluster, AclIds.ClusterResourceName);
}

/// <summary>The authorizer's settings.</summary>
/// <param name="SuperUsers">Principals allowed everything (<c>super.users</c>).</param>
/// <param name="AllowEveryoneIfNoAclFound"><c>allow.everyone.if.no.acl.found</c>: allow when no ACL
/// at all matches the resource.</param>
public sealed record AuthorizerSettings(ImmutableHashSet<string> SuperUsers, bool AllowEveryoneIfNoAclFound = false)
{
    public static readonly AuthorizerSettings Default = new(ImmutableHashSet<string>.Empty);

    /// <summary>Parses <c>super.users</c>: principals separated by ';' ("User:alice;User:bob").</summary>
    public static ImmutableHashSet<string> ParseSuperUsers(string? value) =>
        string.IsNullOrWhiteSpace(value)
            ? ImmutableHashSet<string>.Empty
            : [.. value.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];
}

public enum AuthorizationResult
{
    Allowed,
    Denied,
}

/// <summary>
/// Decides whether a principal from a host may perform an operation on a resource, given a set of
/// ACLs, with the semantics of Kafka's StandardAuthorizer: super users may do everything; an ACL
/// applies when its resource pattern covers the resource (LITERAL of the same name, LITERAL "*",
/// PREFIXED of a prefix of the name), its principal is the principal or "User:*", and its host is
/// the host or "*". A DENY ACL for the operation (or ALL) wins over any ALLOW. ALLOW for the
/// operation or ALL allows; so does ALLOW of READ, WRITE, DELETE or ALTER for DESCRIBE, and of
/// ALTER_CONFIGS for DESCRIBE_CONFIGS. With no ACL on the resource at all, the answer is
/// <see cref="AuthorizerSettings.AllowEveryoneIfNoAclFound"/>; otherwise denied.
/// </summary>
/// <remarks>Pure, immutable, safe for any thread. It lives in Fjord.Metadata so that brokers can run
/// it over their image (<c>AclsImage.Acls.Values</c>) and the controller over its state, without the
/// broker depending on Fjord.Controller.</remarks>
public sealed class AclAuthorizer
{
    private readonly ImmutableDictionary<sbyte, ImmutableArray<StandardAcl>> _byType;
    private readonly AuthorizerSettings _settings;

    public AclAuthorizer(IEnumerable<StandardAcl> acls, AuthorizerSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(acls);
        _byType = acls.GroupBy(a => a.ResourceType).ToImmutableDictionary(g => g.Key, g => g.ToImmutableArray());
        _settings = settings ?? AuthorizerSettings.Default;
    }

    public AuthorizationResult Authorize(string principal, string host, AclOperation operation, AclResource resource)
    {
        ArgumentNullException.ThrowIfNull(principal);
        ArgumentNullException.ThrowIfNull(host);
        if (_settings.SuperUsers.Contains(principal)) return AuthorizationResult.Allowed;
        bool anyOnResource = false, allowed = false;
        if (_byType.TryGetValue((sbyte)resource.Type, out var acls))
        {
            foreach (var acl in acls)
            {
                if (!Covers(acl, resource.Name)) continue;
                anyOnResource = true;
                if (acl.Principal != principal && acl.Principal != AclIds.WildcardPrincipal) continue;
                if (acl.Host != host && acl.Host != AclIds.Wildcard) continue;
                var aclOperation = AclIds.Operation(acl.Operation);
                switch (AclIds.Permission(acl.PermissionType))
                {
                    case AclPermissionType.Deny when aclOperation == operation || aclOperation == AclOperation.All:
                        return AuthorizationResult.Denied;
                    case AclPermissionType.Allow when Implies(aclOperation, operation):
                        allowed = true;
                        break;
                }
            }
        }
        if (allowed) return AuthorizationResult.Allowed;
        return !anyOnResource && _settings.AllowEveryoneIfNoAclFound ? AuthorizationResult.Allowed : AuthorizationResult.Denied;
    }

    private static bool Covers(StandardAcl acl, string name) => AclIds.PatternType(acl.PatternType) switch
    {
        AclPatternType.Literal => acl.ResourceName == name || acl.ResourceName == AclIds.Wildcard,
        AclPatternType.Prefixed => name.StartsWith(acl.ResourceName, StringComparison.Ordinal),
        _ => false,
    };

    /// <summary>Whether an ALLOW of <paramref name="granted"/> allows <paramref name="requested"/>.</summary>
    public static bool Implies(AclOperation granted, AclOperation requested) =>
        granted == requested || granted == AclOperation.All || requested switch
        {
            AclOperation.Describe => granted is AclOperation.Read or AclOperation.Write or AclOperation.Delete or AclOperation.Alter,
            AclOperation.DescribeConfigs => granted == AclOperation.AlterConfigs,
            _ => false,
        };
}
