using System.Globalization;

namespace Fjord.Storage;

/// <summary>
/// Names of a segment's files: the base offset as 20 zero-padded digits plus <c>.log</c>,
/// <c>.index</c> or <c>.timeindex</c> (Kafka's names, so a directory is recognisable to Kafka tools).
/// A marker suffix may follow the full name: <c>.cleaned</c> (a cleaner's output being written),
/// <c>.swap</c> (cleaned output ready to replace old segments), <c>.deleted</c> (awaiting deletion).
/// </summary>
public static class SegmentFileNames
{
    public const string LogSuffix = ".log";
    public const string OffsetIndexSuffix = ".index";
    public const string TimeIndexSuffix = ".timeindex";

    public const string CleanedSuffix = ".cleaned";
    public const string SwapSuffix = ".swap";
    public const string DeletedSuffix = ".deleted";

    /// <summary>The three file kinds of one segment, in the order they are renamed.</summary>
    public static readonly string[] FileSuffixes = [LogSuffix, OffsetIndexSuffix, TimeIndexSuffix];

    private const int OffsetDigits = 20;

    public static string Stem(long baseOffset)
    {
        if (baseOffset < 0) throw new ArgumentOutOfRangeException(nameof(baseOffset), $"negative base offset {baseOffset}");
        return baseOffset.ToString("D20", CultureInfo.InvariantCulture);
    }

    public static string LogFile(string directory, long baseOffset, string marker = "") =>
        Path.Combine(directory, Stem(baseOffset) + LogSuffix + marker);

    public static string OffsetIndexFile(string directory, long baseOffset, string marker = "") =>
        Path.Combine(directory, Stem(baseOffset) + OffsetIndexSuffix + marker);

    public static string TimeIndexFile(string directory, long baseOffset, string marker = "") =>
        Path.Combine(directory, Stem(baseOffset) + TimeIndexSuffix + marker);

    /// <summary>
    /// Parses <c>&lt;20 digits&gt;&lt;kind&gt;[marker]</c>: returns the base offset, the kind
    /// (<see cref="LogSuffix"/>, <see cref="OffsetIndexSuffix"/>, <see cref="TimeIndexSuffix"/>) and
    /// the marker ("" or one of <see cref="CleanedSuffix"/>, <see cref="SwapSuffix"/>,
    /// <see cref="DeletedSuffix"/>, <see cref="AtomicFile.TempSuffix"/>). False for any other name.
    /// </summary>
    public static bool TryParse(string fileName, out long baseOffset, out string kind, out string marker)
    {
        baseOffset = -1;
        kind = marker = "";
        if (fileName.Length <= OffsetDigits || fileName[OffsetDigits] != '.') return false;
        if (!long.TryParse(fileName.AsSpan(0, OffsetDigits), NumberStyles.None, CultureInfo.InvariantCulture, out baseOffset)) return false;
        var rest = fileName[OffsetDigits..];
        foreach (var candidate in FileSuffixes)
        {
            if (!rest.StartsWith(candidate, StringComparison.Ordinal)) continue;
            var tail = rest[candidate.Length..];
            if (tail is "" or CleanedSuffix or SwapSuffix or DeletedSuffix or AtomicFile.TempSuffix)
            {
                kind = candidate;
                marker = tail;
                return true;
            }
        }
        return false;
    }
}
