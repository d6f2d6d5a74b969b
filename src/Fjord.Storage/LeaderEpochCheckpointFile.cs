using System.Globalization;
using System.Text;

namespace Fjord.Storage;

/// <summary>An epoch and the first offset written in it.</summary>
public readonly record struct EpochEntry(int Epoch, long StartOffset)
{
    public override string ToString() => $"EpochEntry(epoch={Epoch}, startOffset={StartOffset})";
}

/// <summary>
/// The <c>leader-epoch-checkpoint</c> file of a partition directory, in Kafka's text format:
/// <c>"0\n&lt;count&gt;\n&lt;epoch&gt; &lt;startOffset&gt;\n"…</c>, written with <see cref="AtomicFile"/>
/// (a reader finds the old file or the new one, never a torn one).
/// </summary>
public static class LeaderEpochCheckpointFile
{
    public const string FileName = "leader-epoch-checkpoint";
    public const int CurrentVersion = 0;

    public static string PathIn(string directory) => Path.Combine(directory, FileName);

    public static void Write(string path, IReadOnlyList<EpochEntry> entries)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{CurrentVersion}\n{entries.Count}\n");
        foreach (var entry in entries) text.Append(CultureInfo.InvariantCulture, $"{entry.Epoch} {entry.StartOffset}\n");
        AtomicFile.WriteText(path, text.ToString());
    }

    /// <summary>The entries of the file, or an empty list when it does not exist. A malformed file
    /// throws <see cref="StorageException"/> naming it and the line.</summary>
    public static IReadOnlyList<EpochEntry> Read(string path)
    {
        if (!File.Exists(path)) return [];
        var lines = File.ReadAllText(path).Split('\n');
        int lineCount = lines.Length > 0 && lines[^1].Length == 0 ? lines.Length - 1 : lines.Length;
        if (lineCount < 2) throw Malformed(path, 1, "missing version or count line");
        if (!int.TryParse(lines[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int version) || version != CurrentVersion)
            throw Malformed(path, 1, $"unsupported version '{lines[0]}'");
        if (!int.TryParse(lines[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count != lineCount - 2)
            throw Malformed(path, 2, $"count '{lines[1]}' does not match the {lineCount - 2} entries present");
        var entries = new List<EpochEntry>(count);
        for (int i = 0; i < count; i++)
        {
            var parts = lines[i + 2].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2
                || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int epoch)
                || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long startOffset))
                throw Malformed(path, i + 3, $"'{lines[i + 2]}' is not '<epoch> <startOffset>'");
            entries.Add(new EpochEntry(epoch, startOffset));
        }
        return entries;
    }

    private static StorageException Malformed(string path, int line, string problem) =>
        new($"malformed leader epoch checkpoint {path} at line {line}: {problem}");
}
