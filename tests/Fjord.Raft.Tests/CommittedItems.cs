namespace Fjord.Raft.Tests;

internal static class CommittedItems
{
    /// <summary>Drains what became committed, asserting that it is batches only (tests without snapshots).</summary>
    public static IReadOnlyList<CommittedBatch> DrainBatches(this RaftNode node) =>
        [.. node.DrainCommitted().Select(item => Assert.IsType<CommittedBatch>(item))];
}
