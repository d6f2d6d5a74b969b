using System.Globalization;

namespace Fjord.Storage;

/// <summary>A partition of a topic; its log directory is <c>&lt;topic&gt;-&lt;partition&gt;</c>.</summary>
public readonly record struct TopicPartition(string Topic, int Partition)
{
    public string DirectoryName => $"{Topic}-{Partition.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Parses a log directory name; the topic may itself contain dashes, the partition is after the last one.</summary>
    public static bool TryParseDirectoryName(string name, out TopicPartition topicPartition)
    {
        topicPartition = default;
        int dash = name.LastIndexOf('-');
        if (dash <= 0 || dash == name.Length - 1) return false;
        if (!int.TryParse(name.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int partition)) return false;
        topicPartition = new TopicPartition(name[..dash], partition);
        return true;
    }

    public override string ToString() => DirectoryName;
}

/// <summary>A storage failure that an operator must act on: a corrupt checkpoint, an unusable
/// directory, an append that breaks the log's order. The message names the file or directory.</summary>
public sealed class StorageException(string message, Exception? inner = null) : Exception(message, inner);
