using System.Globalization;
using System.Text;

namespace Fjord.Storage;

/// <summary>
/// Kafka's text checkpoint of one offset per partition, kept per log directory
/// (<see cref="RecoveryPointFileName"/>, <see cref="LogStartOffsetFileName"/>):
/// <code>
/// 0                      version
/// 2                      number of entries
/// orders 0 1234          topic, partition, offset, separated by one space
/// orders 1 987
/// </code>
/// </summary>
/// <remarks>
/// Invariants: a file is replaced whole through <see cref="AtomicFile"/>, so a reader sees the old
/// or the new version, never a torn one. Reading is strict: a wrong version, a count that does not
/// match the entry lines, an unparsable or duplicated entry, or a negative offset throws
/// <see cref="StorageException"/> naming the file and the 1-based line. A missing file, or an
/// empty one (Kafka creates empty checkpoint files), reads as no entries. Entries are written in
/// (topic, partition) order so the bytes depend only on the contents.
/// </remarks>
public static class OffsetCheckpointFile
{
    public const string RecoveryPointFileName = "recovery-point-offset-checkpoint";
    public const string LogStartOffsetFileName = "log-start-offset-checkpoint";
    public const int CurrentVersion = 0;

    /// <summary>Replaces <paramref name="path"/> with <paramref name="offsets"/>, durably.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<TopicPartition, long>> offsets)
    {
        var entries = offsets.ToList();
        entries.Sort((a, b) =>
        {
            int byTopic = string.CompareOrdinal(a.Key.Topic, b.Key.Topic);
            return byTopic != 0 ? byTopic : a.Key.Partition.CompareTo(b.Key.Partition);
        });
        var text = new StringBuilder();
        text.Append(CurrentVersion.ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append(entries.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (var (tp, offset) in entries)
        {
            if (tp.Topic.Length == 0 || tp.Topic.Any(char.IsWhiteSpace))
                throw new ArgumentException($"topic name '{tp.Topic}' cannot be written to a checkpoint file", nameof(offsets));
            if (tp.Partition < 0 || offset < 0)
                throw new ArgumentException($"{tp}: partition and offset must not be negative (offset {offset})", nameof(offsets));
            text.Append(tp.Topic).Append(' ')
                .Append(tp.Partition.ToString(CultureInfo.InvariantCulture)).Append(' ')
                .Append(offset.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        try
        {
            AtomicFile.WriteText(path, text.ToString());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException($"cannot write checkpoint file {path}: {e.Message}", e);
        }
    }

    /// <summary>The offsets in <paramref name="path"/>; empty when the file is missing or empty.</summary>
    public static Dictionary<TopicPartition, long> Read(string path)
    {
        string[] lines;
        try
        {
            if (!File.Exists(path)) return [];
            lines = File.ReadAllText(path, Encoding.UTF8).Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException($"cannot read checkpoint file {path}: {e.Message}", e);
        }
        // A final newline leaves one empty element after the split.
        int lineCount = lines.Length > 0 && lines[^1].Length == 0 ? lines.Length - 1 : lines.Length;
        if (lineCount == 0) return [];

        int version = ParseInt(path, lines, 0, "version");
        if (version != CurrentVersion)
            throw Malformed(path, 1, $"version {version} is not {CurrentVersion}");
        if (lineCount < 2) throw Malformed(path, 2, "the entry count is missing");
        int expected = ParseInt(path, lines, 1, "entry count");
        if (expected < 0) throw Malformed(path, 2, $"negative entry count {expected}");
        if (lineCount - 2 != expected)
            throw Malformed(path, Math.Min(lineCount, expected + 2) + 1,
                $"the file declares {expected} entries but holds {lineCount - 2}");

        var offsets = new Dictionary<TopicPartition, long>(expected);
        for (int i = 2; i < lineCount; i++)
        {
            var (tp, offset) = ParseEntry(path, lines[i], i + 1);
            if (!offsets.TryAdd(tp, offset)) throw Malformed(path, i + 1, $"{tp} appears twice");
        }
        return offsets;
    }

    private static (TopicPartition, long) ParseEntry(string path, string line, int lineNumber)
    {
        var parts = line.Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0)
            throw Malformed(path, lineNumber, $"expected '<topic> <partition> <offset>' but found '{line}'");
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int partition))
            throw Malformed(path, lineNumber, $"partition '{parts[1]}' is not a non-negative integer");
        if (!long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out long offset))
            throw Malformed(path, lineNumber, $"offset '{parts[2]}' is not a non-negative integer");
        return (new TopicPartition(parts[0], partition), offset);
    }

    private static int ParseInt(string path, string[] lines, int index, string what)
    {
        var text = lines[index];
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value))
            throw Malformed(path, index + 1, $"{what} '{text}' is not an integer");
        return value;
    }

    private static StorageException Malformed(string path, int lineNumber, string problem) =>
        new($"malformed checkpoint file {path}, line {lineNumber}: {problem}");
}
