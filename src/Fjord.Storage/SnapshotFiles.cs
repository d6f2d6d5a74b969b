using System.Collections.Concurrent;
using System.Globalization;

namespace Fjord.Storage;

/// <summary>
/// The Raft snapshot files of one partition directory (the metadata log's), named as Kafka names
/// them: <c>&lt;endOffset, 20 digits&gt;-&lt;epoch, 10 digits&gt;.checkpoint</c>, e.g.
/// <c>00000000000000001234-0000000005.checkpoint</c>. A snapshot being written is
/// <c>&lt;same name&gt;.part</c> until <see cref="SnapshotWriter.Freeze"/> renames it.
/// </summary>
/// <remarks>
/// Invariants: a <c>.checkpoint</c> file only ever appears through an fsynced file and a rename, so
/// one that exists is complete unless the disk corrupted it (<see cref="SnapshotReader"/> checks).
/// <see cref="List"/> deletes <c>.part</c> files left by a crash, but never one that a live
/// <see cref="SnapshotWriter"/> in this process is still writing. Thread-safe.
/// </remarks>
public static class SnapshotFiles
{
    public const string Suffix = ".checkpoint";
    public const string PartialSuffix = ".checkpoint.part";
    private const int OffsetWidth = 20;
    private const int EpochWidth = 10;
    private const int StemLength = OffsetWidth + 1 + EpochWidth;

    /// <summary>Full paths of <c>.part</c> files open in a <see cref="SnapshotWriter"/>.</summary>
    private static readonly ConcurrentDictionary<string, byte> InProgress = new(StringComparer.Ordinal);

    public static string FileName(SnapshotId id)
    {
        id.EnsureValid();
        return id.EndOffset.ToString("D20", CultureInfo.InvariantCulture) + "-" +
               id.Epoch.ToString("D10", CultureInfo.InvariantCulture) + Suffix;
    }

    public static string PathOf(string directory, SnapshotId id) => Path.Combine(directory, FileName(id));

    public static string PartialPathOf(string directory, SnapshotId id) => PathOf(directory, id) + ".part";

    /// <summary>Parses a complete snapshot's file name (not a path); false for anything else.</summary>
    public static bool TryParseFileName(string fileName, out SnapshotId id) => TryParse(fileName, Suffix, out id);

    /// <summary>The complete snapshots in <paramref name="directory"/>, by end offset then epoch.
    /// Deletes leftover <c>.part</c> files (not ones being written). A missing directory has none.</summary>
    public static IReadOnlyList<SnapshotId> List(string directory)
    {
        var ids = new List<SnapshotId>();
        if (!Directory.Exists(directory)) return ids;
        foreach (var path in Directory.EnumerateFiles(directory))
        {
            var name = Path.GetFileName(path);
            if (TryParse(name, Suffix, out var id)) ids.Add(id);
            else if (TryParse(name, PartialSuffix, out _) && !InProgress.ContainsKey(Path.GetFullPath(path)))
                TryDelete(path);
        }
        ids.Sort();
        return ids;
    }

    /// <summary>The newest complete snapshot, or null when there is none.</summary>
    public static SnapshotId? Latest(string directory)
    {
        var ids = List(directory);
        return ids.Count == 0 ? null : ids[^1];
    }

    /// <summary>Deletes every snapshot ordered before <paramref name="keep"/> (which itself stays);
    /// returns the ids deleted, oldest first. The directory is fsynced when anything was deleted.</summary>
    public static IReadOnlyList<SnapshotId> DeleteBefore(string directory, SnapshotId keep)
    {
        var deleted = new List<SnapshotId>();
        foreach (var id in List(directory))
        {
            if (id >= keep) break;
            var path = PathOf(directory, id);
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StorageException($"cannot delete snapshot {path}: {e.Message}", e);
            }
            deleted.Add(id);
        }
        if (deleted.Count > 0) AtomicFile.FsyncDirectory(directory);
        return deleted;
    }

    internal static void MarkInProgress(string partialPath)
    {
        if (!InProgress.TryAdd(Path.GetFullPath(partialPath), 0))
            throw new StorageException($"snapshot {partialPath} is already being written");
    }

    internal static void UnmarkInProgress(string partialPath) => InProgress.TryRemove(Path.GetFullPath(partialPath), out _);

    private static bool TryParse(string fileName, string suffix, out SnapshotId id)
    {
        id = default;
        if (fileName.Length != StemLength + suffix.Length || !fileName.EndsWith(suffix, StringComparison.Ordinal)) return false;
        if (fileName[OffsetWidth] != '-') return false;
        var offsetText = fileName.AsSpan(0, OffsetWidth);
        var epochText = fileName.AsSpan(OffsetWidth + 1, EpochWidth);
        if (!long.TryParse(offsetText, NumberStyles.None, CultureInfo.InvariantCulture, out long offset)) return false;
        if (!int.TryParse(epochText, NumberStyles.None, CultureInfo.InvariantCulture, out int epoch)) return false;
        id = new SnapshotId(offset, epoch);
        return true;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover we cannot remove is harmless: it is never read. The next listing retries.
        }
    }
}
