using System.Globalization;

namespace Fjord.Storage;

/// <summary>
/// The per-partition <c>cleaner-offset-checkpoint</c>: the first offset the cleaner has not yet
/// indexed (everything below it is "clean"). Text, written through <see cref="AtomicFile"/>:
/// <c>"0\n&lt;offset&gt;\n"</c> (version, offset).
/// </summary>
/// <remarks>
/// A missing file means the log was never cleaned. The value is only a hint for where the dirty
/// section starts: callers clamp it to the log (a truncated or advanced log invalidates it), and
/// losing it only means re-indexing clean data, never losing records.
/// </remarks>
public static class CleanerCheckpoint
{
    public const string FileName = "cleaner-offset-checkpoint";
    private const int Version = 0;

    public static string PathIn(string partitionDirectory) => Path.Combine(partitionDirectory, FileName);

    /// <summary>The checkpointed offset, or null when the log has none. A malformed file is a
    /// <see cref="StorageException"/> naming it.</summary>
    public static long? Read(string partitionDirectory)
    {
        var path = PathIn(partitionDirectory);
        AtomicFile.DeleteLeftoverTemp(path);
        if (!File.Exists(path)) return null;
        var lines = File.ReadAllText(path).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length != 2 || lines[0].Trim() != Version.ToString(CultureInfo.InvariantCulture)
            || !long.TryParse(lines[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long offset))
            throw new StorageException($"{path} is not a version {Version} cleaner checkpoint (\"0\\n<offset>\\n\"); delete it to re-clean the log from its start");
        return offset;
    }

    /// <summary>Lowers the checkpoint to <paramref name="offset"/> when it is above it: what a
    /// truncation of the log to <paramref name="offset"/> must do, so data appended again there is
    /// indexed by the next round.</summary>
    public static void ClampTo(string partitionDirectory, long offset)
    {
        if (Read(partitionDirectory) is { } current && current > offset) Write(partitionDirectory, offset);
    }

    public static void Write(string partitionDirectory, long offset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        AtomicFile.WriteText(PathIn(partitionDirectory), string.Create(CultureInfo.InvariantCulture, $"{Version}\n{offset}\n"));
    }
}
