namespace Fjord.Storage;

/// <summary>
/// What one cleaning round did, for a log line and for tests. Offsets: the round indexed keys in
/// [<see cref="FirstDirtyOffset"/>, <see cref="EndOffset"/>) and rewrote every closed segment below
/// <see cref="EndOffset"/>, which is the new cleaner checkpoint. <see cref="MapFull"/> means the key
/// map filled before <see cref="FirstUncleanableOffset"/>: the next round continues from
/// <see cref="EndOffset"/>.
/// </summary>
public sealed record CleanResult(
    TopicPartition TopicPartition,
    long FirstDirtyOffset,
    long EndOffset,
    long FirstUncleanableOffset,
    bool MapFull,
    int SegmentsBefore,
    int SegmentsAfter,
    long BytesBefore,
    long BytesAfter,
    long RecordsRead,
    long RecordsKept,
    long TombstonesDropped,
    int KeysIndexed,
    long ElapsedMs)
{
    public override string ToString() =>
        $"{TopicPartition}: cleaned offsets below {EndOffset} (dirty from {FirstDirtyOffset}, uncleanable from {FirstUncleanableOffset}" +
        $"{(MapFull ? ", key map full" : "")}): {SegmentsBefore} segment(s) of {BytesBefore} bytes -> {SegmentsAfter} of {BytesAfter} bytes, " +
        $"{RecordsKept}/{RecordsRead} records kept, {TombstonesDropped} tombstones removed, {KeysIndexed} keys indexed, {ElapsedMs} ms";
}
