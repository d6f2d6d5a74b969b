using System.Collections.Immutable;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>A SCRAM credential's key: user name and mechanism id (1 SCRAM-SHA-256, 2 SCRAM-SHA-512).</summary>
public readonly record struct ScramCredentialKey(string User, sbyte Mechanism) : IComparable<ScramCredentialKey>
{
    public int CompareTo(ScramCredentialKey other)
    {
        int byUser = string.CompareOrdinal(User, other.User);
        return byUser != 0 ? byUser : Mechanism.CompareTo(other.Mechanism);
    }

    public static bool operator <(ScramCredentialKey left, ScramCredentialKey right) => left.CompareTo(right) < 0;
    public static bool operator >(ScramCredentialKey left, ScramCredentialKey right) => left.CompareTo(right) > 0;
    public static bool operator <=(ScramCredentialKey left, ScramCredentialKey right) => left.CompareTo(right) <= 0;
    public static bool operator >=(ScramCredentialKey left, ScramCredentialKey right) => left.CompareTo(right) >= 0;
}

/// <summary>Client quotas (ClientQuotaRecord), ACLs (AccessControlEntryRecord,
/// RemoveAccessControlEntryRecord) and SCRAM credentials (UserScramCredentialRecord,
/// RemoveUserScramCredentialRecord). The value types are Fjord.Metadata's, which brokers' images use too.</summary>
public sealed partial record ControllerState
{
    /// <summary>Client quotas: entity → quota key → value (only entities with at least one quota).</summary>
    public ImmutableDictionary<ClientQuotaEntity, ImmutableSortedDictionary<string, double>> ClientQuotas { get; init; } =
        ImmutableDictionary<ClientQuotaEntity, ImmutableSortedDictionary<string, double>>.Empty;

    /// <summary>ACLs by id.</summary>
    public ImmutableDictionary<Uuid, StandardAcl> Acls { get; init; } = ImmutableDictionary<Uuid, StandardAcl>.Empty;

    /// <summary>SCRAM credentials by (user, mechanism).</summary>
    public ImmutableSortedDictionary<ScramCredentialKey, ScramCredential> ScramCredentials { get; init; } =
        ImmutableSortedDictionary<ScramCredentialKey, ScramCredential>.Empty;

    /// <summary>The quotas of <paramref name="entity"/> (empty when it has none).</summary>
    public ImmutableSortedDictionary<string, double> QuotasOf(ClientQuotaEntity entity) =>
        ClientQuotas.TryGetValue(entity, out var quotas) ? quotas : ImmutableSortedDictionary<string, double>.Empty.WithComparers(StringComparer.Ordinal);

    private ControllerState ReplayClientQuota(ClientQuotaRecord r)
    {
        var entity = new ClientQuotaEntity(r.Entity.Select(e => (e.EntityType, e.EntityName)));
        var quotas = QuotasOf(entity);
        quotas = r.Remove ? quotas.Remove(r.Key) : quotas.SetItem(r.Key, r.Value);
        return this with { ClientQuotas = quotas.IsEmpty ? ClientQuotas.Remove(entity) : ClientQuotas.SetItem(entity, quotas) };
    }

    private ControllerState ReplayAcl(AccessControlEntryRecord r)
    {
        if (r.Id.IsZero) throw new InvalidOperationException("AccessControlEntryRecord without an id");
        if (Acls.ContainsKey(r.Id)) throw new InvalidOperationException($"AccessControlEntryRecord: ACL id {r.Id} is in use");
        var acl = StandardAcl.FromRecord(r);
        return this with { Acls = Acls.SetItem(r.Id, acl) };
    }

    private ControllerState ReplayRemoveAcl(RemoveAccessControlEntryRecord r) =>
        Acls.ContainsKey(r.Id)
            ? this with { Acls = Acls.Remove(r.Id) }
            : throw new InvalidOperationException($"RemoveAccessControlEntryRecord for unknown ACL id {r.Id}");

    private ControllerState ReplayScram(UserScramCredentialRecord r) => this with
    {
        ScramCredentials = ScramCredentials.SetItem(new ScramCredentialKey(r.Name, r.Mechanism),
            new ScramCredential([.. r.Salt], [.. r.StoredKey], [.. r.ServerKey], r.Iterations)),
    };

    private ControllerState ReplayRemoveScram(RemoveUserScramCredentialRecord r)
    {
        var key = new ScramCredentialKey(r.Name, r.Mechanism);
        return ScramCredentials.ContainsKey(key)
            ? this with { ScramCredentials = ScramCredentials.Remove(key) }
            : throw new InvalidOperationException($"RemoveUserScramCredentialRecord for {r.Name} mechanism {r.Mechanism}, which has no credential");
    }

    private void AddSecurityRecords(List<MetadataRecord> records)
    {
        foreach (var (entity, quotas) in ClientQuotas.OrderBy(q => q.Key.ToString(), StringComparer.Ordinal))
            foreach (var (key, value) in quotas)
                records.Add(new MetadataRecord(new ClientQuotaRecord
                {
                    Entity = [.. entity.Parts.Select(p => new ClientQuotaRecord.EntityData { EntityType = p.Type, EntityName = p.Name })],
                    Key = key,
                    Value = value,
                    Remove = false,
                }, 0));
        foreach (var (id, acl) in Acls.OrderBy(a => a.Key.ToString(), StringComparer.Ordinal))
            records.Add(new MetadataRecord(acl.ToRecord(id), 0));
        foreach (var (key, credential) in ScramCredentials)
            records.Add(new MetadataRecord(new UserScramCredentialRecord
            {
                Name = key.User,
                Mechanism = key.Mechanism,
                Salt = [.. credential.Salt],
                StoredKey = [.. credential.StoredKey],
                ServerKey = [.. credential.ServerKey],
                Iterations = credential.Iterations,
            }, 0));
    }
}
