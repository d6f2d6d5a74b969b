namespace Fjord.Storage;

/// <summary>
/// What <see cref="LogSegment.Read"/> found: a region of whole batches starting with the batch that
/// holds the requested offset. An empty region means the first batch was there but not allowed (its
/// last offset reaches the bound, or it is larger than the byte budget): the read must stop.
/// </summary>
/// <param name="FirstBatchOffset">Base offset of the first batch (of the region, or of the batch not allowed).</param>
/// <param name="LastOffset">Last offset of the last batch in the region; -1 when the region is empty.</param>
/// <param name="ReachedSegmentEnd">The region runs to the segment's published end, so a read may go on in the next segment.</param>
public readonly record struct SegmentSlice(FileRegion Region, long FirstBatchOffset, long LastOffset, bool ReachedSegmentEnd)
{
    public bool IsEmpty => Region.Length == 0;
}
