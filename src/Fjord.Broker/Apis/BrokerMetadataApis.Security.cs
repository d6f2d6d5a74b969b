using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Apis;

public sealed partial class BrokerMetadataApis
{
    // Kafka's wire enums: ResourceType ANY 1; PatternType ANY 1, MATCH 2, LITERAL 3, PREFIXED 4;
    // AclOperation ANY 1; AclPermissionType ANY 1; 0 is UNKNOWN in each.
    private const sbyte Any = 1, Match = 2, Literal = 3, Prefixed = 4;

    // ---- DescribeAcls (29) -------------------------------------------------------------------

    /// <summary>
    /// DescribeAcls v0–3: the image's ACL bindings matching the filter (Kafka's AclBindingFilter:
    /// ANY matches everything; a null name/principal/host matches any; pattern MATCH finds the
    /// literal, wildcard "*" and prefixed bindings that apply to the name), grouped by resource
    /// pattern, sorted. A filter with an UNKNOWN (0) enum value is INVALID_REQUEST. v0 knows only
    /// LITERAL patterns, so it filters LITERAL and sees only LITERAL bindings.
    /// </summary>
    public DescribeAclsResponse DescribeAcls(DescribeAclsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        sbyte patternFilter = version >= 1 ? request.PatternTypeFilter : Literal;
        if (request.ResourceTypeFilter == 0 || patternFilter == 0 || request.Operation == 0 || request.PermissionType == 0)
            return new DescribeAclsResponse { ErrorCode = (short)ErrorCode.InvalidRequest, ErrorMessage = "The ACL filter has an UNKNOWN resource type, pattern type, operation or permission type" };
        var matching = _image().Acls.Acls.Values
            .Where(a => version >= 1 || a.PatternType == Literal)
            .Where(a => PatternMatches(request.ResourceTypeFilter, request.ResourceNameFilter, patternFilter, a)
                        && (request.PrincipalFilter is null || request.PrincipalFilter == a.Principal)
                        && (request.HostFilter is null || request.HostFilter == a.Host)
                        && (request.Operation == Any || request.Operation == a.Operation)
                        && (request.PermissionType == Any || request.PermissionType == a.PermissionType));
        var response = new DescribeAclsResponse { ErrorMessage = null };
        foreach (var group in matching.GroupBy(a => (a.ResourceType, a.ResourceName, a.PatternType))
                     .OrderBy(g => g.Key.ResourceType).ThenBy(g => g.Key.ResourceName, StringComparer.Ordinal).ThenBy(g => g.Key.PatternType))
        {
            response.Resources.Add(new DescribeAclsResponse.DescribeAclsResource
            {
                ResourceType = group.Key.ResourceType,
                ResourceName = group.Key.ResourceName,
                PatternType = group.Key.PatternType,
                Acls = [.. group.OrderBy(a => a.Principal, StringComparer.Ordinal).ThenBy(a => a.Host, StringComparer.Ordinal)
                    .ThenBy(a => a.Operation).ThenBy(a => a.PermissionType)
                    .Select(a => new DescribeAclsResponse.AclDescription { Principal = a.Principal, Host = a.Host, Operation = a.Operation, PermissionType = a.PermissionType })],
            });
        }
        return response;
    }

    /// <summary>Kafka's ResourcePatternFilter.matches.</summary>
    private static bool PatternMatches(sbyte resourceType, string? name, sbyte patternType, StandardAcl acl)
    {
        if (resourceType != Any && resourceType != acl.ResourceType) return false;
        if (patternType != Any && patternType != Match && patternType != acl.PatternType) return false;
        if (name is null) return true;
        if (patternType == Any || patternType == acl.PatternType) return name == acl.ResourceName;
        return acl.PatternType switch
        {
            Literal => name == acl.ResourceName || acl.ResourceName == "*",
            Prefixed => name.StartsWith(acl.ResourceName, StringComparison.Ordinal),
            _ => false,
        };
    }

    // ---- DescribeClientQuotas (48) -----------------------------------------------------------

    private const string UserEntity = "user", ClientIdEntity = "client-id", IpEntity = "ip";

    /// <summary>
    /// DescribeClientQuotas v0–1, as Kafka's KRaft image answers it. Each component names an entity
    /// type (user, client-id, ip; once each) and a match type: 0 EXACT (that name; Match required),
    /// 1 DEFAULT (the default entity; Match null), 2 ANY (any entity of that type, default
    /// included; Match null). An entity matches when it has every component as asked; with
    /// <c>Strict</c> it must have no other types. An empty or repeated type, a bad match type or
    /// Match, or ip combined with user/client-id → INVALID_REQUEST; an unknown type →
    /// UNSUPPORTED_VERSION (Entries null on error).
    /// </summary>
    public DescribeClientQuotasResponse DescribeClientQuotas(DescribeClientQuotasRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var exact = new Dictionary<string, string?>(StringComparer.Ordinal);
        var any = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in request.Components)
        {
            string? problem = null;
            var code = ErrorCode.InvalidRequest;
            if (string.IsNullOrEmpty(c.EntityType)) problem = "Invalid empty entity type.";
            else if (exact.ContainsKey(c.EntityType) || any.Contains(c.EntityType)) problem = $"Entity type {c.EntityType} cannot appear more than once in the filter.";
            else if (c.EntityType is not (UserEntity or ClientIdEntity or IpEntity)) (code, problem) = (ErrorCode.UnsupportedVersion, $"Unsupported entity type {c.EntityType}");
            else switch (c.MatchType)
            {
                case 0 when c.Match is null: problem = "Request specified MATCH_TYPE_EXACT, but set match string to null."; break;
                case 0: exact[c.EntityType] = c.Match; break;
                case 1 when c.Match is not null: problem = "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."; break;
                case 1: exact[c.EntityType] = null; break;
                case 2 when c.Match is not null: problem = "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."; break;
                case 2: any.Add(c.EntityType); break;
                default: (code, problem) = (ErrorCode.UnsupportedVersion, $"Unknown match type {c.MatchType}"); break;
            }
            if (problem is not null) return new DescribeClientQuotasResponse { ErrorCode = (short)code, ErrorMessage = problem, Entries = null };
        }
        bool HasType(string t) => exact.ContainsKey(t) || any.Contains(t);
        if (HasType(IpEntity) && (HasType(UserEntity) || HasType(ClientIdEntity)))
            return new DescribeClientQuotasResponse
            {
                ErrorCode = (short)ErrorCode.InvalidRequest,
                ErrorMessage = "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.",
                Entries = null,
            };

        var response = new DescribeClientQuotasResponse { ErrorMessage = null, Entries = [] };
        foreach (var (entity, quotas) in _image().ClientQuotas.Entities.OrderBy(e => e.Key.ToString(), StringComparer.Ordinal))
        {
            var parts = entity.Parts.ToDictionary(p => p.Type, p => p.Name, StringComparer.Ordinal);
            if (request.Strict && parts.Count != exact.Count + any.Count) continue;
            if (exact.Any(e => !parts.TryGetValue(e.Key, out var n) || n != e.Value)) continue;
            if (any.Any(t => !parts.ContainsKey(t))) continue;
            response.Entries.Add(new DescribeClientQuotasResponse.EntryData
            {
                Entity = [.. entity.Parts.Select(p => new DescribeClientQuotasResponse.EntityData { EntityType = p.Type, EntityName = p.Name })],
                Values = [.. quotas.OrderBy(q => q.Key, StringComparer.Ordinal).Select(q => new DescribeClientQuotasResponse.ValueData { Key = q.Key, Value = q.Value })],
            });
        }
        return response;
    }

    // ---- DescribeUserScramCredentials (50) ---------------------------------------------------

    /// <summary>
    /// DescribeUserScramCredentials v0: the mechanisms and iterations (never salts or keys) of the
    /// named users, or of every user with a credential when <c>Users</c> is null or empty (sorted by
    /// user). A user named twice → DUPLICATE_RESOURCE for that user; a user without credentials →
    /// RESOURCE_NOT_FOUND.
    /// </summary>
    public DescribeUserScramCredentialsResponse DescribeUserScramCredentials(DescribeUserScramCredentialsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var scram = _image().Scram;
        var byUser = new SortedDictionary<string, List<(sbyte Mechanism, int Iterations)>>(StringComparer.Ordinal);
        foreach (var (mechanism, users) in scram.Mechanisms)
            foreach (var (user, credential) in users)
            {
                if (!byUser.TryGetValue(user, out var list)) byUser[user] = list = [];
                list.Add((mechanism, credential.Iterations));
            }
        var response = new DescribeUserScramCredentialsResponse { ErrorMessage = null };
        if (request.Users is null || request.Users.Count == 0)
        {
            foreach (var (user, list) in byUser) response.Results.Add(Result(user, list));
            return response;
        }
        var counts = request.Users.GroupBy(u => u.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var answered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var u in request.Users)
        {
            if (!answered.Add(u.Name)) continue;
            if (counts[u.Name] > 1)
                response.Results.Add(new DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult
                {
                    User = u.Name, ErrorCode = (short)ErrorCode.DuplicateResource,
                    ErrorMessage = "Cannot describe SCRAM credentials for the same user twice in a single request",
                });
            else if (byUser.TryGetValue(u.Name, out var list)) response.Results.Add(Result(u.Name, list));
            else
                response.Results.Add(new DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult
                {
                    User = u.Name, ErrorCode = (short)ErrorCode.ResourceNotFound,
                    ErrorMessage = "Attempt to describe a user credential that does not exist",
                });
        }
        return response;

        static DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult Result(string user, List<(sbyte Mechanism, int Iterations)> list) => new()
        {
            User = user,
            ErrorMessage = null,
            CredentialInfos = [.. list.OrderBy(c => c.Mechanism).Select(c => new DescribeUserScramCredentialsResponse.CredentialInfo { Mechanism = c.Mechanism, Iterations = c.Iterations })],
        };
    }
}
