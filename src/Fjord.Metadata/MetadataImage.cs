using System.Globalization;
using System.Text;
using Fjord.Common;

namespace Fjord.Metadata;

/// <summary>
/// The whole cluster metadata at one offset of <c>__cluster_metadata</c>: immutable, made of
/// sub-images that a <see cref="MetadataDelta"/> reuses (the same objects) when it does not touch
/// them. Safe to read from any thread; a new image replaces it, nothing changes it.
/// </summary>
public sealed class MetadataImage
{
    public static readonly MetadataImage Empty = new(
        MetadataProvenance.Empty, FeaturesImage.Empty, ClusterImage.Empty, TopicsImage.Empty, ConfigsImage.Empty,
        ClientQuotasImage.Empty, ProducerIdsImage.Empty, AclsImage.Empty, ScramImage.Empty, DelegationTokensImage.Empty);

    public MetadataImage(
        MetadataProvenance provenance, FeaturesImage features, ClusterImage cluster, TopicsImage topics, ConfigsImage configs,
        ClientQuotasImage clientQuotas, ProducerIdsImage producerIds, AclsImage acls, ScramImage scram, DelegationTokensImage delegationTokens)
    {
        Provenance = provenance;
        Features = features;
        Cluster = cluster;
        Topics = topics;
        Configs = configs;
        ClientQuotas = clientQuotas;
        ProducerIds = producerIds;
        Acls = acls;
        Scram = scram;
        DelegationTokens = delegationTokens;
    }

    public MetadataProvenance Provenance { get; }
    public FeaturesImage Features { get; }
    public ClusterImage Cluster { get; }
    public TopicsImage Topics { get; }
    public ConfigsImage Configs { get; }
    public ClientQuotasImage ClientQuotas { get; }
    public ProducerIdsImage ProducerIds { get; }
    public AclsImage Acls { get; }
    public ScramImage Scram { get; }
    public DelegationTokensImage DelegationTokens { get; }

    /// <summary>True when no sub-image holds anything (the provenance is not considered).</summary>
    public bool IsEmpty => Features.IsEmpty && Cluster.IsEmpty && Topics.IsEmpty && Configs.IsEmpty && ClientQuotas.IsEmpty
                           && ProducerIds.IsEmpty && Acls.IsEmpty && Scram.IsEmpty && DelegationTokens.IsEmpty;

    /// <summary>The same content at another position in the log.</summary>
    public MetadataImage WithProvenance(MetadataProvenance provenance) =>
        new(provenance, Features, Cluster, Topics, Configs, ClientQuotas, ProducerIds, Acls, Scram, DelegationTokens);

    /// <summary>
    /// Emits the records that rebuild this image from empty (see <see cref="MetadataImageWriter"/>):
    /// features (<c>metadata.version</c> first), cluster, topics and partitions, configs, quotas,
    /// producer ids, ACLs, SCRAM, delegation tokens; record versions follow the image's
    /// <c>metadata.version</c> unless <paramref name="version"/> overrides it.
    /// </summary>
    public void Write(IMetadataRecordSink sink, MetadataVersion? version = null) => MetadataImageWriter.Write(this, sink, version);

    /// <summary>
    /// A canonical, deterministic text of the content (not the provenance): equal text ⇔ equal
    /// content. Written independently of <see cref="Write"/> so the two check each other in tests.
    /// </summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        foreach (var (name, level) in Features.FinalizedLevels.OrderBy(f => f.Key, StringComparer.Ordinal))
            sb.Append(inv, $"feature {name}={level}\n");
        foreach (var b in Cluster.Brokers.Values.OrderBy(b => b.Id))
        {
            sb.Append(inv, $"broker {b.Id} epoch={b.Epoch} inc={b.IncarnationId} rack={b.Rack ?? "<null>"} fenced={b.Fenced} ics={b.InControlledShutdown} zk={b.IsMigratingZkBroker}");
            sb.Append(" listeners=").AppendJoin(';', b.Listeners.Select(e => $"{e.Name}/{e.Host}:{e.Port}/{e.SecurityProtocol}"));
            sb.Append(" features=").AppendJoin(';', b.SupportedFeatures.Select(f => $"{f.Name}:{f.MinSupportedVersion}-{f.MaxSupportedVersion}"));
            sb.Append(" dirs=").AppendJoin(';', b.LogDirs).Append('\n');
        }
        foreach (var c in Cluster.Controllers.Values.OrderBy(c => c.Id))
        {
            sb.Append(inv, $"controller {c.Id} inc={c.IncarnationId} zk={c.ZkMigrationReady}");
            sb.Append(" listeners=").AppendJoin(';', c.Listeners.Select(e => $"{e.Name}/{e.Host}:{e.Port}/{e.SecurityProtocol}"));
            sb.Append(" features=").AppendJoin(';', c.SupportedFeatures.Select(f => $"{f.Name}:{f.MinSupportedVersion}-{f.MaxSupportedVersion}")).Append('\n');
        }
        foreach (var t in Topics.TopicsById.Values.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            if (!ReferenceEquals(Topics.TopicsByName.GetValueOrDefault(t.Name), t))
                sb.Append(inv, $"INCONSISTENT name index for {t.Name}\n");
            sb.Append(inv, $"topic {t.Name} {t.Id} partitions={t.PartitionCount}\n");
            foreach (var (id, p) in t.Partitions)
            {
                sb.Append(inv, $"  p{id} leader={p.Leader} le={p.LeaderEpoch} pe={p.PartitionEpoch} lrs={p.LeaderRecoveryState}");
                sb.Append(" r=").AppendJoin(',', p.ReplicasArray).Append(" isr=").AppendJoin(',', p.IsrArray)
                  .Append(" rm=").AppendJoin(',', p.RemovingArray).Append(" add=").AppendJoin(',', p.AddingArray)
                  .Append(" dirs=").AppendJoin(',', p.DirectoriesArray)
                  .Append(" elr=").Append(p.EligibleLeaderReplicasOrNull is { } elr ? string.Join(',', elr) : "<null>")
                  .Append(" lkelr=").Append(p.LastKnownElrOrNull is { } lk ? string.Join(',', lk) : "<null>").Append('\n');
            }
        }
        if (Topics.TopicsByName.Count != Topics.TopicsById.Count) sb.Append("INCONSISTENT topic name index size\n");
        foreach (var (res, configs) in Configs.Resources.OrderBy(r => r.Key.Type).ThenBy(r => r.Key.Name, StringComparer.Ordinal))
            foreach (var (k, v) in configs.OrderBy(c => c.Key, StringComparer.Ordinal))
                sb.Append(inv, $"config {res.Type}/{res.Name} {k}={v}\n");
        foreach (var (entity, quotas) in ClientQuotas.Entities.OrderBy(e => e.Key.ToString(), StringComparer.Ordinal))
            foreach (var (k, v) in quotas.OrderBy(q => q.Key, StringComparer.Ordinal))
                sb.Append(inv, $"quota {entity} {k}={v.ToString("R", inv)}\n");
        sb.Append(inv, $"producerIds next={ProducerIds.NextProducerId}\n");
        foreach (var (id, acl) in Acls.Acls.OrderBy(a => a.Key.ToString(), StringComparer.Ordinal))
            sb.Append(inv, $"acl {id} {acl}\n");
        foreach (var (mechanism, users) in Scram.Mechanisms.OrderBy(m => m.Key))
            foreach (var (user, cred) in users.OrderBy(u => u.Key, StringComparer.Ordinal))
                sb.Append(inv, $"scram {mechanism} {user} it={cred.Iterations} salt={Convert.ToHexString(cred.Salt)} stored={Convert.ToHexString(cred.StoredKey)} server={Convert.ToHexString(cred.ServerKey)}\n");
        foreach (var (id, token) in DelegationTokens.Tokens.OrderBy(t => t.Key, StringComparer.Ordinal))
            sb.Append(inv, $"token {id} owner={token.Owner} req={token.Requester} renewers={string.Join(';', token.Renewers)} {token.IssueTimestamp}/{token.MaxTimestamp}/{token.ExpirationTimestamp}\n");
        return sb.ToString();
    }

    public override string ToString() =>
        $"MetadataImage(offset {Provenance.LastContainedOffset}, {Cluster.Brokers.Count} brokers, {Topics.TopicsById.Count} topics)";
}

/// <summary>Takes the records an image writes.</summary>
public interface IMetadataRecordSink
{
    void Accept(Fjord.Protocol.Metadata.MetadataRecord record);
}

/// <summary>A sink that keeps the records in a list.</summary>
public sealed class MetadataRecordList : IMetadataRecordSink
{
    public List<Fjord.Protocol.Metadata.MetadataRecord> Records { get; } = [];
    public void Accept(Fjord.Protocol.Metadata.MetadataRecord record) => Records.Add(record);
}

internal static class UuidOrder
{
    public static int Compare(Uuid a, Uuid b)
    {
        int c = a.MostSignificantBits.CompareTo(b.MostSignificantBits);
        return c != 0 ? c : a.LeastSignificantBits.CompareTo(b.LeastSignificantBits);
    }
}
