using System.Globalization;
using Fjord.Common;
using Fjord.Storage;

namespace Fjord.Server;

/// <summary>A <c>meta.properties</c> file that cannot be read or makes no sense.</summary>
public sealed class MetaPropertiesException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The identity of one log directory: Kafka's <c>meta.properties</c>, written by <c>storage format</c>
/// into every log dir and the metadata log dir. Version 1 (KRaft) holds <c>cluster.id</c>,
/// <c>node.id</c> and <c>directory.id</c>; version 0 is the ZooKeeper-era format (<c>broker.id</c>),
/// read only so that it can be refused with a clear message.
/// </summary>
/// <remarks>
/// Written as Java's <c>Properties.store</c> writes it (a <c>#</c> line, a date comment, then the
/// keys) through <see cref="AtomicFile"/>, so a crash leaves the old file or the new one. Immutable.
/// </remarks>
public sealed record MetaProperties(int Version, string? ClusterId, int? NodeId, Uuid? DirectoryId)
{
    public const string FileName = "meta.properties";
    public const string VersionKey = "version";
    public const string ClusterIdKey = "cluster.id";
    public const string NodeIdKey = "node.id";
    public const string BrokerIdKey = "broker.id";
    public const string DirectoryIdKey = "directory.id";

    /// <summary>A version-1 (KRaft) file.</summary>
    public static MetaProperties V1(string clusterId, int nodeId, Uuid directoryId) => new(1, clusterId, nodeId, directoryId);

    public static string PathIn(string directory) => Path.Combine(directory, FileName);

    /// <summary>The keys and values as written, in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ToProperties()
    {
        var props = new List<KeyValuePair<string, string>>();
        if (ClusterId is not null) props.Add(new(ClusterIdKey, ClusterId));
        if (DirectoryId is { } dir) props.Add(new(DirectoryIdKey, dir.ToString()));
        if (NodeId is { } id) props.Add(new(Version == 0 ? BrokerIdKey : NodeIdKey, id.ToString(CultureInfo.InvariantCulture)));
        props.Add(new(VersionKey, Version.ToString(CultureInfo.InvariantCulture)));
        return props;
    }

    /// <summary>One line: <c>cluster.id=…, directory.id=…, node.id=…, version=1</c>.</summary>
    public override string ToString() => string.Join(", ", ToProperties().Select(p => $"{p.Key}={p.Value}"));

    /// <summary>The text of the file, dated <paramref name="now"/> in the comment as Java dates it.</summary>
    public string ToFileText(DateTimeOffset now) =>
        PropertiesFile.Format(ToProperties(), ["", JavaDate(now)]);

    /// <summary>Writes <c>meta.properties</c> into <paramref name="directory"/> atomically (which must exist).</summary>
    public void WriteTo(string directory)
    {
        var path = PathIn(directory);
        try
        {
            AtomicFile.WriteText(path, ToFileText(DateTimeOffset.UtcNow));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MetaPropertiesException($"cannot write {path}: {e.Message}", e);
        }
    }

    /// <summary>Reads <c>meta.properties</c> from <paramref name="directory"/>; null when the file does not exist.</summary>
    public static MetaProperties? ReadFrom(string directory)
    {
        var path = PathIn(directory);
        return File.Exists(path) ? Read(path) : null;
    }

    /// <summary>Reads and checks one <c>meta.properties</c> file.</summary>
    public static MetaProperties Read(string path)
    {
        PropertiesFile file;
        try
        {
            file = PropertiesFile.Load(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MetaPropertiesException($"cannot read {path}: {e.Message}", e);
        }
        catch (PropertiesFormatException e)
        {
            throw new MetaPropertiesException($"cannot parse {e.Message}", e);
        }
        return FromProperties(file.ToDictionary(), path);
    }

    /// <summary>Interprets the keys of a <c>meta.properties</c> (Kafka's rules: version 0 if absent).</summary>
    public static MetaProperties FromProperties(IReadOnlyDictionary<string, string> props, string path)
    {
        string versionText = Get(props, VersionKey) ?? "0";
        if (versionText is not ("0" or "1"))
            throw new MetaPropertiesException($"{path}: unknown {VersionKey} '{versionText}' (expected 0 or 1)");
        int version = versionText == "1" ? 1 : 0;
        string? clusterId = Get(props, ClusterIdKey);
        int? nodeId = null;
        string idKey = version == 0 ? BrokerIdKey : NodeIdKey;
        var idText = Get(props, idKey);
        if (idText is not null)
        {
            if (!int.TryParse(idText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int id))
                throw new MetaPropertiesException($"{path}: {idKey} '{idText}' is not a base-10 number");
            nodeId = id;
        }
        Uuid? directoryId = null;
        var dirText = Get(props, DirectoryIdKey);
        if (dirText is not null)
        {
            if (!Uuid.TryParse(dirText, out var dir))
                throw new MetaPropertiesException($"{path}: {DirectoryIdKey} '{dirText}' is not a Kafka Uuid");
            directoryId = dir;
        }
        if (version == 1)
        {
            if (clusterId is null) throw new MetaPropertiesException($"{path}: {ClusterIdKey} was not found");
            if (nodeId is null) throw new MetaPropertiesException($"{path}: {NodeIdKey} was not found");
        }
        return new MetaProperties(version, clusterId, nodeId, directoryId);
    }

    private static string? Get(IReadOnlyDictionary<string, string> props, string key) =>
        props.TryGetValue(key, out var value) ? value.Trim() : null;

    /// <summary>Java's <c>Date.toString()</c> in UTC: <c>Tue Mar 05 10:00:00 UTC 2024</c>.</summary>
    internal static string JavaDate(DateTimeOffset time)
    {
        var utc = time.UtcDateTime;
        return utc.ToString("ddd MMM dd HH:mm:ss 'UTC' yyyy", CultureInfo.InvariantCulture);
    }
}
