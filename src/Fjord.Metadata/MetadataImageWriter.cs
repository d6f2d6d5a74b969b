using Fjord.Common;
using Fjord.Protocol.Metadata;

namespace Fjord.Metadata;

/// <summary>Thrown when an image holds something the chosen record versions cannot carry.</summary>
public sealed class MetadataImageWriteException(string message) : InvalidOperationException(message);

/// <summary>
/// Image → records: the records that, replayed from an empty image, give back the same content.
/// Order: features with <c>metadata.version</c> first of all, brokers then controllers (by id),
/// topics (by name) each followed by its partitions (by id), configs, client quotas, producer ids,
/// ACLs, SCRAM credentials, delegation tokens. Versions follow the <c>metadata.version</c> (as
/// Kafka's <c>MetadataVersion</c> picks them); content a version cannot carry is refused with
/// <see cref="MetadataImageWriteException"/> rather than silently dropped.
/// </summary>
public static class MetadataImageWriter
{
    public static short RegisterBrokerRecordVersion(MetadataVersion mv) =>
        mv.FeatureLevel >= 17 ? (short)3 : mv.FeatureLevel >= 8 ? (short)2 : mv.FeatureLevel >= 7 ? (short)1 : (short)0;

    public static short PartitionRecordVersion(MetadataVersion mv) =>
        mv.FeatureLevel >= 23 ? (short)2 : mv.FeatureLevel >= 17 ? (short)1 : (short)0;

    public static void Write(MetadataImage image, IMetadataRecordSink sink, MetadataVersion? version = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(sink);
        var mv = version ?? image.Features.MetadataVersion ?? MetadataVersion.LatestTesting;

        // Features: metadata.version first (everything after it is read at its level), then by name.
        var levels = image.Features.FinalizedLevels;
        if (levels.TryGetValue(MetadataVersion.FeatureName, out short mvLevel))
            sink.Accept(new(new FeatureLevelRecord { Name = MetadataVersion.FeatureName, FeatureLevel = mvLevel }, 0));
        foreach (var (name, level) in levels.Where(f => f.Key != MetadataVersion.FeatureName).OrderBy(f => f.Key, StringComparer.Ordinal))
            sink.Accept(new(new FeatureLevelRecord { Name = name, FeatureLevel = level }, 0));

        short brokerVersion = RegisterBrokerRecordVersion(mv);
        foreach (var b in image.Cluster.Brokers.Values.OrderBy(b => b.Id))
        {
            if (b.InControlledShutdown && brokerVersion < 1) Loss(mv, $"broker {b.Id}'s in-controlled-shutdown state");
            if (b.IsMigratingZkBroker && brokerVersion < 2) Loss(mv, $"broker {b.Id}'s ZooKeeper-migration flag");
            if (b.LogDirs.Length > 0 && brokerVersion < 3) Loss(mv, $"broker {b.Id}'s log directories");
            var r = new RegisterBrokerRecord
            {
                BrokerId = b.Id,
                IsMigratingZkBroker = b.IsMigratingZkBroker,
                IncarnationId = b.IncarnationId,
                BrokerEpoch = b.Epoch,
                Rack = b.Rack,
                Fenced = b.Fenced,
                InControlledShutdown = b.InControlledShutdown,
                LogDirs = [.. b.LogDirs],
            };
            foreach (var e in b.Listeners)
                r.EndPoints.Add(new RegisterBrokerRecord.BrokerEndpoint { Name = e.Name, Host = e.Host, Port = e.Port, SecurityProtocol = e.SecurityProtocol });
            foreach (var f in b.SupportedFeatures)
                r.Features.Add(new RegisterBrokerRecord.BrokerFeature { Name = f.Name, MinSupportedVersion = f.MinSupportedVersion, MaxSupportedVersion = f.MaxSupportedVersion });
            sink.Accept(new(r, brokerVersion));
        }
        foreach (var c in image.Cluster.Controllers.Values.OrderBy(c => c.Id))
        {
            var r = new RegisterControllerRecord { ControllerId = c.Id, IncarnationId = c.IncarnationId, ZkMigrationReady = c.ZkMigrationReady };
            foreach (var e in c.Listeners)
                r.EndPoints.Add(new RegisterControllerRecord.ControllerEndpoint { Name = e.Name, Host = e.Host, Port = e.Port, SecurityProtocol = e.SecurityProtocol });
            foreach (var f in c.SupportedFeatures)
                r.Features.Add(new RegisterControllerRecord.ControllerFeature { Name = f.Name, MinSupportedVersion = f.MinSupportedVersion, MaxSupportedVersion = f.MaxSupportedVersion });
            sink.Accept(new(r, 0));
        }

        short partitionVersion = PartitionRecordVersion(mv);
        foreach (var t in image.Topics.TopicsById.Values.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            sink.Accept(new(new TopicRecord { Name = t.Name, TopicId = t.Id }, 0));
            foreach (var (id, p) in t.Partitions)
                sink.Accept(new(ToRecord(t, id, p, partitionVersion, mv), partitionVersion));
        }

        foreach (var (res, configs) in image.Configs.Resources.OrderBy(r => r.Key.Type).ThenBy(r => r.Key.Name, StringComparer.Ordinal))
            foreach (var (k, v) in configs.OrderBy(c => c.Key, StringComparer.Ordinal))
                sink.Accept(new(new ConfigRecord { ResourceType = res.Type, ResourceName = res.Name, Name = k, Value = v }, 0));

        foreach (var (entity, quotas) in image.ClientQuotas.Entities.OrderBy(e => e.Key.ToString(), StringComparer.Ordinal))
            foreach (var (k, v) in quotas.OrderBy(q => q.Key, StringComparer.Ordinal))
            {
                var r = new ClientQuotaRecord { Key = k, Value = v, Remove = false };
                foreach (var (type, name) in entity.Parts) r.Entity.Add(new ClientQuotaRecord.EntityData { EntityType = type, EntityName = name });
                sink.Accept(new(r, 0));
            }

        if (image.ProducerIds.NextProducerId >= 0)
            sink.Accept(new(new ProducerIdsRecord { BrokerId = -1, BrokerEpoch = -1, NextProducerId = image.ProducerIds.NextProducerId }, 0));

        foreach (var (id, acl) in image.Acls.Acls.OrderBy(a => a.Key, Comparer<Uuid>.Create(UuidOrder.Compare)))
            sink.Accept(new(acl.ToRecord(id), 0));

        if (!image.Scram.IsEmpty && !mv.IsScramSupported) Loss(mv, "SCRAM credentials");
        foreach (var (mechanism, users) in image.Scram.Mechanisms.OrderBy(m => m.Key))
            foreach (var (user, c) in users.OrderBy(u => u.Key, StringComparer.Ordinal))
                sink.Accept(new(new UserScramCredentialRecord
                {
                    Name = user, Mechanism = mechanism, Salt = c.Salt.ToArray(), StoredKey = c.StoredKey.ToArray(),
                    ServerKey = c.ServerKey.ToArray(), Iterations = c.Iterations,
                }, 0));

        foreach (var (_, d) in image.DelegationTokens.Tokens.OrderBy(t => t.Key, StringComparer.Ordinal))
            sink.Accept(new(new DelegationTokenRecord
            {
                TokenId = d.TokenId, Owner = d.Owner, Requester = d.Requester, Renewers = [.. d.Renewers],
                IssueTimestamp = d.IssueTimestamp, MaxTimestamp = d.MaxTimestamp, ExpirationTimestamp = d.ExpirationTimestamp,
            }, 0));
    }

    private static PartitionRecord ToRecord(TopicImage t, int id, PartitionRegistration p, short version, MetadataVersion mv)
    {
        if (version < 1 && p.DirectoriesArray.Length > 0) Loss(mv, $"the log directories of {t.Name}-{id}");
        if (version < 2 && (p.EligibleLeaderReplicasOrNull is { Length: > 0 } || p.LastKnownElrOrNull is { Length: > 0 }))
            Loss(mv, $"the eligible leader replicas of {t.Name}-{id}");
        return new PartitionRecord
        {
            PartitionId = id,
            TopicId = t.Id,
            Replicas = [.. p.ReplicasArray],
            Isr = [.. p.IsrArray],
            RemovingReplicas = [.. p.RemovingArray],
            AddingReplicas = [.. p.AddingArray],
            Leader = p.Leader,
            LeaderRecoveryState = p.LeaderRecoveryState,
            LeaderEpoch = p.LeaderEpoch,
            PartitionEpoch = p.PartitionEpoch,
            Directories = version >= 1 ? [.. p.DirectoriesArray] : [],
            EligibleLeaderReplicas = version >= 2 && p.EligibleLeaderReplicasOrNull is { } elr ? [.. elr] : null,
            LastKnownElr = version >= 2 && p.LastKnownElrOrNull is { } lk ? [.. lk] : null,
        };
    }

    private static void Loss(MetadataVersion mv, string what) =>
        throw new MetadataImageWriteException($"metadata.version {mv.Describe()} cannot carry {what}; write the image at a later metadata.version");
}
