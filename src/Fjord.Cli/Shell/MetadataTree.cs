using System.Globalization;
using System.Text;
using System.Text.Json;
using Fjord.Common;
using Fjord.Metadata;

namespace Fjord.Cli.Shell;

/// <summary>A node of the shell's virtual file system: a directory or a file with text content.</summary>
public abstract class ShellNode(string name)
{
    public string Name { get; } = name;
}

/// <summary>A file: its content is what <c>cat</c> prints (without a trailing newline).</summary>
public sealed class ShellFile(string name, string content) : ShellNode(name)
{
    public string Content { get; } = content;
}

/// <summary>A directory: children by name, listed in <see cref="NaturalOrder"/> (numbers by value, the rest ordinally).</summary>
public sealed class ShellDirectory(string name) : ShellNode(name)
{
    private readonly SortedDictionary<string, ShellNode> _children = new(NaturalOrder.Instance);

    public IEnumerable<ShellNode> Children => _children.Values;
    public int Count => _children.Count;

    public ShellNode? Child(string name) => _children.GetValueOrDefault(name);

    /// <summary>The subdirectory <paramref name="name"/>, created when missing.</summary>
    public ShellDirectory Dir(string name)
    {
        if (_children.TryGetValue(name, out var existing)) return existing as ShellDirectory ?? throw new InvalidOperationException($"{name} is a file");
        var dir = new ShellDirectory(name);
        _children[name] = dir;
        return dir;
    }

    public void File(string name, string content) => _children[name] = new ShellFile(name, content);
}

/// <summary>Numbers by value (so broker 10 follows broker 9), everything else ordinally; numbers first.</summary>
public sealed class NaturalOrder : IComparer<string>
{
    public static readonly NaturalOrder Instance = new();

    public int Compare(string? x, string? y)
    {
        bool xn = long.TryParse(x, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long a);
        bool yn = long.TryParse(y, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long b);
        if (xn && yn) return a != b ? a.CompareTo(b) : string.CompareOrdinal(x, y);
        if (xn != yn) return xn ? -1 : 1;
        return string.CompareOrdinal(x, y);
    }
}

/// <summary>
/// Builds the shell's file system from a <see cref="LoadedMetadata"/>. The layout (every file's content is
/// JSON or a single value):
/// <code>
/// /brokers/&lt;id&gt;/registration, isFenced, inControlledShutdown
/// /controllers/&lt;id&gt;/registration
/// /topics/&lt;name&gt;/id, name, &lt;partition&gt;/data
/// /topicIds/&lt;id&gt;/name
/// /configs/&lt;topic|broker|broker_logger|client_metrics|group&gt;/&lt;name or &lt;default&gt;&gt;/&lt;key&gt;
/// /acls/byId/&lt;id&gt;
/// /clientQuotas/&lt;type=name,...&gt;/&lt;quota key&gt;
/// /features/&lt;name&gt;
/// /producerIds/nextProducerId
/// /scram/&lt;mechanism&gt;/&lt;user&gt;   (iterations only: no salts or keys)
/// /delegationTokens/&lt;token id&gt;
/// /metadataQuorum/leader, offset, epoch, highWatermark
/// /local/source, offset, epoch, snapshot, batches, version
/// </code>
/// </summary>
public static class MetadataTree
{
    public const string DefaultEntity = "<default>";

    public static ShellDirectory Build(LoadedMetadata loaded, string fjordVersion)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        var image = loaded.Image;
        var root = new ShellDirectory("");
        var inv = CultureInfo.InvariantCulture;

        var brokers = root.Dir("brokers");
        foreach (var b in image.Cluster.Brokers.Values)
        {
            var dir = brokers.Dir(b.Id.ToString(inv));
            dir.File("registration", Json(w => WriteBroker(w, b)));
            dir.File("isFenced", b.Fenced ? "true" : "false");
            dir.File("inControlledShutdown", b.InControlledShutdown ? "true" : "false");
        }
        var controllers = root.Dir("controllers");
        foreach (var c in image.Cluster.Controllers.Values)
            controllers.Dir(c.Id.ToString(inv)).File("registration", Json(w => WriteController(w, c)));

        var topics = root.Dir("topics");
        var topicIds = root.Dir("topicIds");
        foreach (var t in image.Topics.TopicsById.Values)
        {
            var dir = topics.Dir(t.Name);
            dir.File("id", t.Id.ToString());
            dir.File("name", t.Name);
            foreach (var (id, p) in t.Partitions)
                dir.Dir(id.ToString(inv)).File("data", Json(w => WritePartition(w, t, id, p)));
            var byId = topicIds.Dir(t.Id.ToString());
            byId.File("name", t.Name);
        }

        var configs = root.Dir("configs");
        foreach (var (resource, values) in image.Configs.Resources)
        {
            var dir = configs.Dir(ConfigTypeName(resource.Type)).Dir(resource.Name.Length == 0 ? DefaultEntity : resource.Name);
            foreach (var (key, value) in values) dir.File(key, value);
        }

        var acls = root.Dir("acls").Dir("byId");
        foreach (var (id, acl) in image.Acls.Acls)
            acls.File(id.ToString(), Json(w => WriteAcl(w, id, acl)));

        var quotas = root.Dir("clientQuotas");
        foreach (var (entity, values) in image.ClientQuotas.Entities)
        {
            var dir = quotas.Dir(string.Join(",", entity.Parts.Select(p => $"{p.Type}={p.Name ?? DefaultEntity}")));
            foreach (var (key, value) in values) dir.File(key, value.ToString("R", inv));
        }

        var features = root.Dir("features");
        foreach (var (name, level) in image.Features.FinalizedLevels) features.File(name, level.ToString(inv));

        if (!image.ProducerIds.IsEmpty) root.Dir("producerIds").File("nextProducerId", image.ProducerIds.NextProducerId.ToString(inv));

        var scram = root.Dir("scram");
        foreach (var (mechanism, users) in image.Scram.Mechanisms)
        {
            var dir = scram.Dir(mechanism switch { 1 => "SCRAM-SHA-256", 2 => "SCRAM-SHA-512", _ => $"mechanism-{mechanism}" });
            foreach (var (user, credential) in users) dir.File(user, Json(w =>
            {
                w.WriteStartObject();
                w.WriteNumber("iterations", credential.Iterations);
                w.WriteEndObject();
            }));
        }

        var tokens = root.Dir("delegationTokens");
        foreach (var (id, token) in image.DelegationTokens.Tokens)
            tokens.File(id, Json(w =>
            {
                w.WriteStartObject();
                w.WriteString("tokenId", token.TokenId);
                w.WriteString("owner", token.Owner);
                w.WriteString("requester", token.Requester);
                w.WriteStartArray("renewers");
                foreach (var r in token.Renewers) w.WriteStringValue(r);
                w.WriteEndArray();
                w.WriteNumber("issueTimestamp", token.IssueTimestamp);
                w.WriteNumber("maxTimestamp", token.MaxTimestamp);
                w.WriteNumber("expirationTimestamp", token.ExpirationTimestamp);
                w.WriteEndObject();
            }));

        var quorum = root.Dir("metadataQuorum");
        quorum.File("leader", Json(w =>
        {
            w.WriteStartObject();
            if (loaded.LeaderId is { } leader) w.WriteNumber("leaderId", leader); else w.WriteNull("leaderId");
            w.WriteNumber("leaderEpoch", loaded.LeaderEpoch);
            w.WriteEndObject();
        }, indented: false));
        quorum.File("offset", image.Provenance.LastContainedOffset.ToString(inv));
        quorum.File("epoch", image.Provenance.LastContainedEpoch.ToString(inv));
        quorum.File("highWatermark", loaded.HighWatermark.ToString(inv));

        var local = root.Dir("local");
        local.File("source", loaded.Source);
        local.File("offset", loaded.LastOffset.ToString(inv));
        local.File("epoch", loaded.LastEpoch.ToString(inv));
        local.File("snapshot", loaded.SnapshotId is { } s ? $"{s.Offset}-{s.Epoch}" : "none");
        local.File("batches", loaded.Batches.ToString(inv));
        local.File("version", fjordVersion);
        return root;
    }

    /// <summary>Kafka's ConfigResource type names, lower case as the shell shows them.</summary>
    public static string ConfigTypeName(sbyte type) => type switch
    {
        ConfigResourceTypes.Topic => "topic",
        ConfigResourceTypes.Broker => "broker",
        ConfigResourceTypes.BrokerLogger => "broker_logger",
        ConfigResourceTypes.ClientMetrics => "client_metrics",
        ConfigResourceTypes.Group => "group",
        _ => $"type-{type}",
    };

    private static string Json(Action<Utf8JsonWriter> write, bool indented = true)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
            write(json);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteEndpoints(Utf8JsonWriter w, IEnumerable<Endpoint> endpoints)
    {
        w.WriteStartArray("listeners");
        foreach (var e in endpoints)
        {
            w.WriteStartObject();
            w.WriteString("name", e.Name);
            w.WriteString("host", e.Host);
            w.WriteNumber("port", e.Port);
            w.WriteNumber("securityProtocol", e.SecurityProtocol);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteFeatures(Utf8JsonWriter w, IEnumerable<SupportedFeature> features)
    {
        w.WriteStartObject("supportedFeatures");
        foreach (var f in features.OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            w.WriteStartObject(f.Name);
            w.WriteNumber("minSupportedVersion", f.MinSupportedVersion);
            w.WriteNumber("maxSupportedVersion", f.MaxSupportedVersion);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    private static void WriteBroker(Utf8JsonWriter w, BrokerRegistration b)
    {
        w.WriteStartObject();
        w.WriteNumber("brokerId", b.Id);
        w.WriteNumber("brokerEpoch", b.Epoch);
        w.WriteString("incarnationId", b.IncarnationId.ToString());
        WriteEndpoints(w, b.Listeners);
        WriteFeatures(w, b.SupportedFeatures);
        if (b.Rack is null) w.WriteNull("rack"); else w.WriteString("rack", b.Rack);
        w.WriteBoolean("fenced", b.Fenced);
        w.WriteBoolean("inControlledShutdown", b.InControlledShutdown);
        w.WriteBoolean("isMigratingZkBroker", b.IsMigratingZkBroker);
        WriteUuids(w, "logDirs", b.LogDirs);
        w.WriteEndObject();
    }

    private static void WriteController(Utf8JsonWriter w, ControllerRegistration c)
    {
        w.WriteStartObject();
        w.WriteNumber("controllerId", c.Id);
        w.WriteString("incarnationId", c.IncarnationId.ToString());
        w.WriteBoolean("zkMigrationReady", c.ZkMigrationReady);
        WriteEndpoints(w, c.Listeners);
        WriteFeatures(w, c.SupportedFeatures);
        w.WriteEndObject();
    }

    private static void WriteUuids(Utf8JsonWriter w, string name, IEnumerable<Uuid> ids)
    {
        w.WriteStartArray(name);
        foreach (var id in ids) w.WriteStringValue(id.ToString());
        w.WriteEndArray();
    }

    private static void WriteInts(Utf8JsonWriter w, string name, ReadOnlySpan<int> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    private static void WritePartition(Utf8JsonWriter w, TopicImage topic, int partitionId, PartitionRegistration p)
    {
        w.WriteStartObject();
        w.WriteString("topicName", topic.Name);
        w.WriteString("topicId", topic.Id.ToString());
        w.WriteNumber("partitionId", partitionId);
        WriteInts(w, "replicas", p.Replicas);
        WriteInts(w, "isr", p.Isr);
        WriteInts(w, "removingReplicas", p.RemovingReplicas);
        WriteInts(w, "addingReplicas", p.AddingReplicas);
        if (p.EligibleLeaderReplicasOrNull is { } elr) WriteInts(w, "eligibleLeaderReplicas", elr);
        if (p.LastKnownElrOrNull is { } lastKnown) WriteInts(w, "lastKnownElr", lastKnown);
        w.WriteNumber("leader", p.Leader);
        w.WriteNumber("leaderRecoveryState", p.LeaderRecoveryState);
        w.WriteNumber("leaderEpoch", p.LeaderEpoch);
        w.WriteNumber("partitionEpoch", p.PartitionEpoch);
        var directories = new List<Uuid>();
        foreach (var d in p.Directories) directories.Add(d);
        WriteUuids(w, "directories", directories);
        w.WriteEndObject();
    }

    private static void WriteAcl(Utf8JsonWriter w, Uuid id, StandardAcl acl)
    {
        w.WriteStartObject();
        w.WriteString("id", id.ToString());
        w.WriteNumber("resourceType", acl.ResourceType);
        w.WriteString("resourceName", acl.ResourceName);
        w.WriteNumber("patternType", acl.PatternType);
        w.WriteString("principal", acl.Principal);
        w.WriteString("host", acl.Host);
        w.WriteNumber("operation", acl.Operation);
        w.WriteNumber("permissionType", acl.PermissionType);
        w.WriteEndObject();
    }
}
