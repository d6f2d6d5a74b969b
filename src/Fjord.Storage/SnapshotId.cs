using System.Globalization;

namespace Fjord.Storage;

/// <summary>
/// Names a Raft snapshot (KIP-630): it holds the state after every log record below
/// <see cref="EndOffset"/> (exclusive), and <see cref="Epoch"/> is the epoch of the last record it
/// contains. Ordered by end offset, then epoch, as Kafka's OffsetAndEpoch.
/// </summary>
public readonly record struct SnapshotId(long EndOffset, int Epoch) : IComparable<SnapshotId>
{
    public int CompareTo(SnapshotId other)
    {
        int byOffset = EndOffset.CompareTo(other.EndOffset);
        return byOffset != 0 ? byOffset : Epoch.CompareTo(other.Epoch);
    }

    public static bool operator <(SnapshotId left, SnapshotId right) => left.CompareTo(right) < 0;
    public static bool operator >(SnapshotId left, SnapshotId right) => left.CompareTo(right) > 0;
    public static bool operator <=(SnapshotId left, SnapshotId right) => left.CompareTo(right) <= 0;
    public static bool operator >=(SnapshotId left, SnapshotId right) => left.CompareTo(right) >= 0;

    /// <summary>Throws unless both parts are non-negative (only those have a file name).</summary>
    public void EnsureValid()
    {
        if (EndOffset < 0 || Epoch < 0)
            throw new ArgumentOutOfRangeException(nameof(EndOffset), $"snapshot id {this} must have a non-negative end offset and epoch");
    }

    public override string ToString() =>
        $"(endOffset={EndOffset.ToString(CultureInfo.InvariantCulture)}, epoch={Epoch.ToString(CultureInfo.InvariantCulture)})";
}
