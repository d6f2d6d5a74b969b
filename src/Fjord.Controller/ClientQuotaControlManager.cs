using System.Net;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>
/// Client quotas (Kafka's ClientQuotaControlManager): AlterClientQuotas over
/// <see cref="ControllerState.ClientQuotas"/> (ClientQuotaRecords), and the DescribeClientQuotas
/// matching as a pure read (<see cref="Describe"/>). Entities are combinations of user and
/// client-id, or an ip alone; a null name is the type's default entity.
/// </summary>
public sealed class ClientQuotaControlManager
{
    public const string User = "user", ClientId = "client-id", Ip = "ip";

    public const string ProducerByteRate = "producer_byte_rate";
    public const string ConsumerByteRate = "consumer_byte_rate";
    public const string RequestPercentage = "request_percentage";
    public const string ControllerMutationRate = "controller_mutation_rate";
    public const string ConnectionCreationRate = "connection_creation_rate";

    /// <summary>DescribeClientQuotas match types.</summary>
    public const sbyte MatchExact = 0, MatchDefault = 1, MatchSpecified = 2;

    /// <summary>The quota keys of user / client-id entities, with their types.</summary>
    private static readonly Dictionary<string, ConfigType> ClientKeys = new(StringComparer.Ordinal)
    {
        [ProducerByteRate] = ConfigType.Long,
        [ConsumerByteRate] = ConfigType.Long,
        [RequestPercentage] = ConfigType.Double,
        [ControllerMutationRate] = ConfigType.Double,
    };

    /// <summary>The quota keys of ip entities.</summary>
    private static readonly Dictionary<string, ConfigType> IpKeys = new(StringComparer.Ordinal)
    {
        [ConnectionCreationRate] = ConfigType.Int,
    };

    // ------------------------------------------------------------------ AlterClientQuotas

    /// <summary>Each entry is all-or-nothing (INVALID_REQUEST for a bad entity, a key not valid for
    /// it, a key given twice, a value ≤ 0 or not integral for an integer key, an entity given twice
    /// in the request); valid entries are written together in one batch. Only changes are written
    /// (removing an absent quota or setting the same value writes nothing).</summary>
    public static ControllerResult<AlterClientQuotasResponse> AlterClientQuotas(ControllerState state, AlterClientQuotasRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var response = new AlterClientQuotasResponse();
        var records = new List<MetadataRecord>();
        var entities = request.Entries.Select(e => TryEntity(e.Entity)).ToList();
        var repeated = entities.Where(e => e is not null).GroupBy(e => e!).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet();
        for (int i = 0; i < request.Entries.Count; i++)
        {
            var entry = request.Entries[i];
            var (code, message, entryRecords) = entities[i] is { } entity && repeated.Contains(entity)
                ? (ErrorCode.InvalidRequest, $"Entity {entity} is given more than once.", [])
                : Alter(state, entry);
            response.Entries.Add(new AlterClientQuotasResponse.EntryData
            {
                ErrorCode = (short)code,
                ErrorMessage = code == ErrorCode.None ? null : message,
                Entity = [.. entry.Entity.Select(e => new AlterClientQuotasResponse.EntityData { EntityType = e.EntityType, EntityName = e.EntityName })],
            });
            if (code == ErrorCode.None && !request.ValidateOnly) records.AddRange(entryRecords);
        }
        return new ControllerResult<AlterClientQuotasResponse>(records, response);
    }

    private static (ErrorCode, string, List<MetadataRecord>) Alter(ControllerState state, AlterClientQuotasRequest.EntryData entry)
    {
        var (entityError, isIp) = ValidateEntity(entry.Entity);
        if (entityError is not null) return (ErrorCode.InvalidRequest, entityError, []);
        var entity = new ClientQuotaEntity(entry.Entity.Select(e => (e.EntityType, e.EntityName)));
        var keys = isIp ? IpKeys : ClientKeys;
        var current = state.QuotasOf(entity);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var records = new List<MetadataRecord>();
        foreach (var op in entry.Ops)
        {
            if (!seen.Add(op.Key)) return (ErrorCode.InvalidRequest, $"Configuration key {op.Key} is given more than once.", []);
            if (!keys.TryGetValue(op.Key, out var type)) return (ErrorCode.InvalidRequest, $"Invalid configuration key {op.Key}", []);
            bool exists = current.TryGetValue(op.Key, out double was);
            if (op.Remove)
            {
                if (exists) records.Add(Record(entity, op.Key, 0, remove: true));
                continue;
            }
            if (!(op.Value > 0) || double.IsInfinity(op.Value)) return (ErrorCode.InvalidRequest, $"Quota {op.Key} must be greater than 0", []);
            if (type == ConfigType.Long && (op.Value != Math.Floor(op.Value) || op.Value > long.MaxValue))
                return (ErrorCode.InvalidRequest, $"Configuration {op.Key} must be a Long value", []);
            if (type == ConfigType.Int && (op.Value != Math.Floor(op.Value) || op.Value > int.MaxValue))
                return (ErrorCode.InvalidRequest, $"Configuration {op.Key} must be an Integer value", []);
            if (!exists || was != op.Value) records.Add(Record(entity, op.Key, op.Value, remove: false));
        }
        return (ErrorCode.None, "", records);
    }

    /// <summary>Kafka's entity rules: at least one part; types user, client-id, ip, each at most
    /// once; names non-empty (null = default); an ip name a literal IP address; ip not combined with
    /// user or client-id. Returns the INVALID_REQUEST message (or null) and whether it is an ip entity.</summary>
    private static (string? Error, bool IsIp) ValidateEntity(IReadOnlyList<AlterClientQuotasRequest.EntityData> parts)
    {
        if (parts.Count == 0) return ("Invalid empty client quota entity", false);
        var types = new HashSet<string>(StringComparer.Ordinal);
        foreach (var part in parts)
        {
            if (!types.Add(part.EntityType)) return ($"Invalid client quota entity: duplicate entity entry {part.EntityType}", false);
            if (part.EntityType is not (User or ClientId or Ip)) return ($"Unhandled client quota entity type: {part.EntityType}", false);
            if (part.EntityName is { Length: 0 }) return ($"Empty {part.EntityType} not supported", false);
            if (part.EntityType == Ip && part.EntityName is { } address && !IPAddress.TryParse(address, out _))
                return ($"{address} is not a valid IP or resolvable host.", false);
        }
        bool ip = types.Contains(Ip);
        if (ip && types.Count > 1)
            return ("Invalid quota entity combination, IP entity should not be combined with User or ClientId", true);
        return (null, ip);
    }

    private static ClientQuotaEntity? TryEntity(IReadOnlyList<AlterClientQuotasRequest.EntityData> parts)
    {
        try
        {
            return new ClientQuotaEntity(parts.Select(p => (p.EntityType, p.EntityName)));
        }
        catch (ArgumentException)
        {
            return null; // repeated types: the entry fails its own validation
        }
    }

    private static MetadataRecord Record(ClientQuotaEntity entity, string key, double value, bool remove) => new(new ClientQuotaRecord
    {
        Entity = [.. entity.Parts.Select(p => new ClientQuotaRecord.EntityData { EntityType = p.Type, EntityName = p.Name })],
        Key = key,
        Value = value,
        Remove = remove,
    }, 0);

    // ------------------------------------------------------------------ DescribeClientQuotas

    /// <summary>
    /// DescribeClientQuotas over <paramref name="state"/>: each component constrains one entity
    /// type — EXACT a name (non-null), DEFAULT the default entity (match null), SPECIFIED any entity
    /// having that type (match null); <c>Strict</c> also excludes entities with other types.
    /// Invalid filters: INVALID_REQUEST (repeated or empty type, bad match, ip with user/client-id),
    /// UNSUPPORTED_VERSION (unknown entity or match type).
    /// </summary>
    public static DescribeClientQuotasResponse Describe(ControllerState state, DescribeClientQuotasRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var exact = new Dictionary<string, string?>(StringComparer.Ordinal);
        var any = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in request.Components)
        {
            ErrorCode code = ErrorCode.None;
            string message = "";
            if (c.EntityType.Length == 0) (code, message) = (ErrorCode.InvalidRequest, "Invalid empty entity type.");
            else if (exact.ContainsKey(c.EntityType) || any.Contains(c.EntityType))
                (code, message) = (ErrorCode.InvalidRequest, $"Entity type {c.EntityType} cannot appear more than once in the filter.");
            else if (c.EntityType is not (User or ClientId or Ip)) (code, message) = (ErrorCode.UnsupportedVersion, $"Unsupported entity type {c.EntityType}");
            else if (c.MatchType == MatchExact && c.Match is null)
                (code, message) = (ErrorCode.InvalidRequest, "Request specified MATCH_TYPE_EXACT, but set match string to null.");
            else if (c.MatchType == MatchDefault && c.Match is not null)
                (code, message) = (ErrorCode.InvalidRequest, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.");
            else if (c.MatchType == MatchSpecified && c.Match is not null)
                (code, message) = (ErrorCode.InvalidRequest, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.");
            else if (c.MatchType is not (MatchExact or MatchDefault or MatchSpecified))
                (code, message) = (ErrorCode.UnsupportedVersion, $"Unknown match type {c.MatchType}");
            if (code != ErrorCode.None) return Error(code, message);
            if (c.MatchType == MatchSpecified) any.Add(c.EntityType);
            else exact[c.EntityType] = c.MatchType == MatchExact ? c.Match : null;
        }
        bool Has(string type) => exact.ContainsKey(type) || any.Contains(type);
        if (Has(Ip) && (Has(User) || Has(ClientId)))
            return Error(ErrorCode.InvalidRequest,
                "Invalid entity filter component combination, IP filter component should not be used with user or clientId filter component.");

        var response = new DescribeClientQuotasResponse { ErrorMessage = null, Entries = [] };
        foreach (var (entity, quotas) in state.ClientQuotas.OrderBy(q => q.Key.ToString(), StringComparer.Ordinal))
        {
            var parts = entity.Parts.ToDictionary(p => p.Type, p => p.Name, StringComparer.Ordinal);
            if (exact.Any(e => !parts.TryGetValue(e.Key, out var name) || name != e.Value)) continue;
            if (any.Any(t => !parts.ContainsKey(t))) continue;
            if (request.Strict && parts.Count != exact.Count + any.Count) continue;
            response.Entries.Add(new DescribeClientQuotasResponse.EntryData
            {
                Entity = [.. entity.Parts.Select(p => new DescribeClientQuotasResponse.EntityData { EntityType = p.Type, EntityName = p.Name })],
                Values = [.. quotas.Select(q => new DescribeClientQuotasResponse.ValueData { Key = q.Key, Value = q.Value })],
            });
        }
        return response;

        static DescribeClientQuotasResponse Error(ErrorCode code, string message) =>
            new() { ErrorCode = (short)code, ErrorMessage = message, Entries = null };
    }
}
