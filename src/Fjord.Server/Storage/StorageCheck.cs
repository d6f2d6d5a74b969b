using Fjord.Common;

namespace Fjord.Server;

/// <summary>Start-up cannot go on with these directories; <see cref="Problems"/> lists each, naming its directory.</summary>
public sealed class StorageCheckException(IReadOnlyList<string> problems)
    : Exception(problems.Count == 1 ? problems[0] : $"{problems.Count} storage problems: {string.Join("; ", problems)}")
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>What one configured log directory holds.</summary>
public sealed record LogDirectoryState(string Path, bool Exists, MetaProperties? Meta, string? Error)
{
    public bool IsFormatted => Meta is not null;
}

/// <summary>The identity every directory agreed on, after <see cref="StorageCheck.Verify"/>.</summary>
public sealed record VerifiedStorage(string ClusterId, int NodeId, IReadOnlyDictionary<string, MetaProperties> Directories, string MetadataLogDir)
{
    public Uuid MetadataDirectoryId => Directories[MetadataLogDir].DirectoryId!.Value;
}

/// <summary>
/// The start-up check of the storage directories (Kafka's <c>MetaPropertiesEnsemble.verify</c>):
/// every log dir and the metadata log dir must have been formatted, all for the same cluster, for
/// this node's id, each with its own <c>directory.id</c>. Nothing is ever formatted here: a blank
/// directory may be an unmounted volume, and formatting it would hide that.
/// </summary>
public static class StorageCheck
{
    /// <summary>Reads every directory's <c>meta.properties</c> without judging them (for <c>storage info</c>).</summary>
    public static IReadOnlyList<LogDirectoryState> Inspect(IEnumerable<string> directories)
    {
        var states = new List<LogDirectoryState>();
        foreach (var dir in directories)
        {
            if (!Directory.Exists(dir))
            {
                states.Add(new LogDirectoryState(dir, File.Exists(dir), null, File.Exists(dir) ? $"{dir} is not a directory" : null));
                continue;
            }
            try
            {
                states.Add(new LogDirectoryState(dir, true, MetaProperties.ReadFrom(dir), null));
            }
            catch (MetaPropertiesException e)
            {
                states.Add(new LogDirectoryState(dir, true, null, e.Message));
            }
        }
        return states;
    }

    /// <summary>
    /// Checks the directories of <paramref name="config"/>; throws <see cref="StorageCheckException"/>
    /// listing every problem found, each naming its directory and, for an unformatted one, the command
    /// that formats it.
    /// </summary>
    public static VerifiedStorage Verify(ServerConfig config)
    {
        var problems = new List<string>();
        var formatted = new Dictionary<string, MetaProperties>(StringComparer.Ordinal);
        string configFile = config.Source ?? "<server.properties>";
        string fix = $"format it with 'fjord storage format --config {configFile} --cluster-id <id>' (make an id with 'fjord storage random-uuid')";

        foreach (var state in Inspect(config.AllLogDirs))
        {
            if (state.Error is not null) { problems.Add(state.Error); continue; }
            if (!state.Exists) { problems.Add($"log directory {state.Path} does not exist; {fix}"); continue; }
            if (state.Meta is null) { problems.Add($"log directory {state.Path} is not formatted (it has no {MetaProperties.FileName}); {fix}"); continue; }
            var meta = state.Meta;
            if (meta.Version != 1)
            {
                problems.Add($"log directory {state.Path} is formatted for a ZooKeeper-based cluster ({MetaProperties.FileName} version {meta.Version}); Fjord runs only in KRaft mode");
                continue;
            }
            if (meta.NodeId != config.NodeId)
                problems.Add($"log directory {state.Path} belongs to node.id {meta.NodeId}, but the configuration says node.id={config.NodeId}");
            if (meta.DirectoryId is null || meta.DirectoryId.Value.IsZero)
                problems.Add($"log directory {state.Path} has no {MetaProperties.DirectoryIdKey} in its {MetaProperties.FileName}");
            formatted[state.Path] = meta;
        }

        var clusterIds = formatted.GroupBy(p => p.Value.ClusterId).ToList();
        if (clusterIds.Count > 1)
            problems.Add("the log directories belong to different clusters: " +
                string.Join(", ", formatted.Select(p => $"{p.Key} has cluster.id {p.Value.ClusterId}")));

        foreach (var duplicate in formatted.Where(p => p.Value.DirectoryId is { IsZero: false })
                     .GroupBy(p => p.Value.DirectoryId!.Value).Where(g => g.Count() > 1))
            problems.Add($"log directories {string.Join(" and ", duplicate.Select(p => p.Key))} share directory.id {duplicate.Key}; " +
                         "each directory needs its own (was one copied from another?)");

        if (problems.Count > 0) throw new StorageCheckException(problems);
        return new VerifiedStorage(formatted.Values.First().ClusterId!, config.NodeId, formatted, config.MetadataLogDir);
    }
}
