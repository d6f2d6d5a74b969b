using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>
/// ACLs (Kafka's AclControlManager): CreateAcls and DeleteAcls over <see cref="ControllerState.Acls"/>
/// (AccessControlEntryRecord / RemoveAccessControlEntryRecord). ACL ids come from a random source
/// seeded from <see cref="ControllerConfig.RandomSeed"/> (deterministic in tests).
/// </summary>
public sealed class AclControlManager
{
    private readonly Random _random;

    public AclControlManager(ControllerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        // Its own stream, distinct from the one topic ids are drawn from.
        _random = config.RandomSeed is { } seed ? new Random(unchecked(seed * 31 + 0x41434c)) : new Random();
    }

    // ------------------------------------------------------------------ CreateAcls

    /// <summary>Creates every valid ACL of the request (an invalid one gets INVALID_REQUEST, the others
    /// are still created: one batch). An ACL equal to an existing one, or to an earlier one of the
    /// request, succeeds without a new record.</summary>
    public ControllerResult<CreateAclsResponse> CreateAcls(ControllerState state, CreateAclsRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var response = new CreateAclsResponse();
        var records = new List<MetadataRecord>();
        var existing = new HashSet<StandardAcl>(state.Acls.Values);
        foreach (var creation in request.Creations)
        {
            var acl = new StandardAcl(creation.ResourceType, creation.ResourceName, creation.ResourcePatternType,
                creation.Principal, creation.Host, creation.Operation, creation.PermissionType);
            var error = ValidateNewAcl(acl);
            response.Results.Add(new CreateAclsResponse.AclCreationResult
            {
                ErrorCode = (short)(error is null ? ErrorCode.None : ErrorCode.InvalidRequest),
                ErrorMessage = error,
            });
            if (error is not null || !existing.Add(acl)) continue;
            records.Add(new MetadataRecord(acl.ToRecord(NewId(state, records)), 0));
        }
        return new ControllerResult<CreateAclsResponse>(records, response);
    }

    /// <summary>Kafka's checks on a new ACL; null when valid, else the INVALID_REQUEST message.</summary>
    public static string? ValidateNewAcl(StandardAcl acl)
    {
        ArgumentNullException.ThrowIfNull(acl);
        var type = AclIds.ResourceType(acl.ResourceType);
        if (type is AclResourceType.Unknown or AclResourceType.Any) return $"Invalid resourceType {AclIds.Name(type)}";
        var pattern = AclIds.PatternType(acl.PatternType);
        if (pattern is not (AclPatternType.Literal or AclPatternType.Prefixed)) return $"Invalid patternType {AclIds.Name(pattern)}";
        var operation = AclIds.Operation(acl.Operation);
        if (operation is AclOperation.Unknown or AclOperation.Any) return $"Invalid operation {AclIds.Name(operation)}";
        var permission = AclIds.Permission(acl.PermissionType);
        if (permission is not (AclPermissionType.Allow or AclPermissionType.Deny)) return $"Invalid permissionType {AclIds.Name(permission)}";
        if (string.IsNullOrEmpty(acl.ResourceName)) return "Resource name should not be empty";
        if (type == AclResourceType.Cluster && acl.ResourceName != AclIds.ClusterResourceName)
            return $"The only valid name for the CLUSTER resource is {AclIds.ClusterResourceName}";
        if (!acl.Principal.Contains(':', StringComparison.Ordinal))
            return $"Could not parse principal from `{acl.Principal}` (no colon is present separating the principal type from the principal name)";
        return null;
    }

    private Uuid NewId(ControllerState state, List<MetadataRecord> pending)
    {
        while (true)
        {
            var id = ControllerIds.RandomUuid(_random);
            if (!state.Acls.ContainsKey(id) && !pending.Any(r => ((AccessControlEntryRecord)r.Message).Id == id)) return id;
        }
    }

    // ------------------------------------------------------------------ DeleteAcls

    /// <summary>Deletes the ACLs matching each filter; each filter's result lists the ACLs it matched
    /// (an ACL matched by several filters is listed by each, removed once). A filter with an UNKNOWN
    /// component gets INVALID_REQUEST.</summary>
    public static ControllerResult<DeleteAclsResponse> DeleteAcls(ControllerState state, DeleteAclsRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var response = new DeleteAclsResponse();
        var removed = new List<Uuid>();
        var ordered = state.Acls.OrderBy(a => a.Key.ToString(), StringComparer.Ordinal).ToList();
        foreach (var f in request.Filters)
        {
            var filter = ToFilter(f);
            var result = new DeleteAclsResponse.DeleteAclsFilterResult { ErrorMessage = null };
            response.FilterResults.Add(result);
            if (filter.IsUnknown)
            {
                result.ErrorCode = (short)ErrorCode.InvalidRequest;
                result.ErrorMessage = filter.ResourceType == AclResourceType.Unknown || filter.PatternType == AclPatternType.Unknown
                    ? "Unknown patternFilter."
                    : "Unknown entryFilter.";
                continue;
            }
            foreach (var (id, acl) in ordered.Where(a => filter.Matches(a.Value)))
            {
                result.MatchingAcls.Add(new DeleteAclsResponse.DeleteAclsMatchingAcl
                {
                    ErrorMessage = null,
                    ResourceType = acl.ResourceType,
                    ResourceName = acl.ResourceName,
                    PatternType = acl.PatternType,
                    Principal = acl.Principal,
                    Host = acl.Host,
                    Operation = acl.Operation,
                    PermissionType = acl.PermissionType,
                });
                if (!removed.Contains(id)) removed.Add(id);
            }
        }
        return new ControllerResult<DeleteAclsResponse>(
            [.. removed.Select(id => new MetadataRecord(new RemoveAccessControlEntryRecord { Id = id }, 0))], response);
    }

    /// <summary>The ACLs matching <paramref name="filter"/> (a DescribeAcls-style read).</summary>
    public static IEnumerable<(Uuid Id, StandardAcl Acl)> Matching(ControllerState state, AclFilter filter)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(filter);
        return state.Acls.Where(a => filter.Matches(a.Value)).OrderBy(a => a.Key.ToString(), StringComparer.Ordinal).Select(a => (a.Key, a.Value));
    }

    public static AclFilter ToFilter(DeleteAclsRequest.DeleteAclsFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return new AclFilter(AclIds.ResourceType(filter.ResourceTypeFilter), filter.ResourceNameFilter, AclIds.PatternType(filter.PatternTypeFilter),
            filter.PrincipalFilter, filter.HostFilter, AclIds.Operation(filter.Operation), AclIds.Permission(filter.PermissionType));
    }
}
