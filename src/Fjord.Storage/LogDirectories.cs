namespace Fjord.Storage;

/// <summary>
/// What <see cref="LogManager"/> does to a log directory before opening its logs: make sure it is a
/// usable directory, take its checkpoints and clean-shutdown marker, and find its partitions.
/// </summary>
internal static class LogDirectories
{
    /// <summary>The directory of the KRaft metadata log (<c>__cluster_metadata-0</c>), which may share a
    /// log dir with data partitions but belongs to the Raft layer: the log manager never opens it.</summary>
    public const string MetadataLogDirectoryName = "__cluster_metadata-0";

    public const string CleanShutdownFileName = ".fjord-clean-shutdown";
    public const string DeleteSuffix = "-delete";
    private const string WriteProbeFileName = ".fjord-write-probe";
    private const int MaxTopicLength = 249;

    /// <summary>What one directory held on start.</summary>
    public sealed record State(
        string Directory,
        bool HadCleanShutdown,
        Dictionary<TopicPartition, long> RecoveryPoints,
        Dictionary<TopicPartition, long> LogStartOffsets,
        List<TopicPartition> Partitions,
        List<string> PendingDeletions);

    /// <summary>Creates <paramref name="directory"/> if missing and proves it writable; throws
    /// <see cref="StorageException"/> naming it otherwise.</summary>
    public static void EnsureUsable(string directory)
    {
        if (File.Exists(directory)) throw new StorageException($"log directory {directory} is a file, not a directory");
        try
        {
            Directory.CreateDirectory(directory);
            var probe = Path.Combine(directory, WriteProbeFileName);
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
            File.Delete(probe); // in case DeleteOnClose is not honoured
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException($"log directory {directory} is not writable: {e.Message}", e);
        }
    }

    /// <summary>
    /// Reads the checkpoints and the clean-shutdown marker of <paramref name="directory"/> and lists
    /// its partition directories. The marker is deleted (durably) as soon as it has been seen, so a
    /// crash before the next clean close is noticed on the next start. An unreadable checkpoint is
    /// logged and ignored (see below), never fatal.
    /// </summary>
    public static State Load(string directory, Action<string> log)
    {
        var recoveryPath = Path.Combine(directory, OffsetCheckpointFile.RecoveryPointFileName);
        var startPath = Path.Combine(directory, OffsetCheckpointFile.LogStartOffsetFileName);
        var markerPath = Path.Combine(directory, CleanShutdownFileName);
        foreach (var path in new[] { recoveryPath, startPath, markerPath }) AtomicFile.DeleteLeftoverTemp(path);

        // As Kafka does, an unreadable checkpoint costs time, not availability: without recovery
        // points every log is recovered in full (and the marker is not trusted); without log start
        // offsets each log starts at its first segment.
        var recoveryPoints = ReadOrEmpty(recoveryPath, "recovering every log of the directory in full", log, out bool recoveryOk);
        var logStartOffsets = ReadOrEmpty(startPath, "log start offsets fall back to the first segments", log, out _);
        bool marker = File.Exists(markerPath);
        if (marker)
        {
            File.Delete(markerPath);
            AtomicFile.FsyncDirectory(directory);
        }
        bool clean = marker && recoveryOk;

        var partitions = new List<TopicPartition>();
        var deletions = new List<string>();
        foreach (var path in Directory.EnumerateDirectories(directory))
        {
            var name = Path.GetFileName(path);
            if (name.EndsWith(DeleteSuffix, StringComparison.Ordinal))
            {
                log($"log directory {directory}: {name} was being deleted; deleting it");
                deletions.Add(path);
            }
            else if (name == MetadataLogDirectoryName)
                continue; // the KRaft metadata log: opened by the Raft layer, never a data partition
            else if (TopicPartition.TryParseDirectoryName(name, out var tp) && tp.DirectoryName == name && IsLegalTopic(tp.Topic))
                partitions.Add(tp);
            else
                log($"log directory {directory}: skipping {name}, which is not a <topic>-<partition> directory");
        }
        partitions.Sort((a, b) => string.CompareOrdinal(a.DirectoryName, b.DirectoryName));
        return new State(directory, clean, recoveryPoints, logStartOffsets, partitions, deletions);
    }

    private static Dictionary<TopicPartition, long> ReadOrEmpty(string path, string consequence, Action<string> log, out bool ok)
    {
        try
        {
            ok = true;
            return OffsetCheckpointFile.Read(path);
        }
        catch (StorageException e)
        {
            log($"{e.Message}; ignoring it, {consequence}");
            ok = false;
            return [];
        }
    }

    /// <summary>Kafka's topic name rule: 1–249 of [a-zA-Z0-9._-], and neither "." nor "..".</summary>
    public static bool IsLegalTopic(string topic)
    {
        if (topic.Length is 0 or > MaxTopicLength || topic is "." or "..") return false;
        foreach (char c in topic)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')) return false;
        return true;
    }

    /// <summary>Writes the marker that tells the next start this directory was closed cleanly.</summary>
    public static void WriteCleanShutdownMarker(string directory) =>
        AtomicFile.WriteText(Path.Combine(directory, CleanShutdownFileName), "");

    /// <summary>The name a deleted partition directory is renamed to before it is removed.</summary>
    public static string DeletedName(TopicPartition tp) => $"{tp.DirectoryName}.{Guid.NewGuid():N}{DeleteSuffix}";
}
