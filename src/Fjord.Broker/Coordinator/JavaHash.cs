namespace Fjord.Broker.Coordinator;

/// <summary>Kafka's mapping of a coordinator key (group id, transactional id) to a partition.</summary>
public static class JavaHash
{
    /// <summary>Java's <c>String.hashCode</c>: over UTF-16 code units (as C# strings are), <c>h = 31·h + c</c> wrapping.</summary>
    public static int StringHashCode(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        int h = 0;
        foreach (char c in s) h = unchecked(31 * h + c);
        return h;
    }

    /// <summary>Kafka's <c>Utils.abs(key.hashCode()) % partitions</c> (<c>Utils.abs(Integer.MIN_VALUE)</c> is 0).</summary>
    public static int PartitionFor(string key, int partitions)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(partitions);
        int h = StringHashCode(key);
        int abs = h == int.MinValue ? 0 : Math.Abs(h);
        return abs % partitions;
    }
}
