using Fjord.Raft;
using Fjord.Storage;

namespace Fjord.Server.Raft;

/// <summary>
/// <see cref="IRaftLog"/> over the <see cref="PartitionLog"/> of <c>__cluster_metadata-0</c>.
/// Durability: <see cref="FlushedOffset"/> is the log's recovery point, which <see cref="Flush"/>
/// raises to the log end offset and truncation lowers with it.
/// </summary>
/// <remarks>
/// Contract mapping (compare <see cref="InMemoryRaftLog"/>):
/// <list type="bullet">
/// <item><see cref="EndOffsetForEpoch"/> is computed from the leader-epoch cache's entries, not from
/// <see cref="LeaderEpochCache.EndOffsetFor(int)"/>, whose Kafka OffsetsForLeaderEpoch semantics
/// differ from the Raft contract in two cases: an epoch above the latest answers (-1, -1) there but
/// (log end, latest epoch) here; an epoch below every entry answers (requested, first start offset)
/// there but (-1, -1) here.</item>
/// <item><see cref="Read"/> at or past the log end answers empty (the in-memory log does;
/// <see cref="PartitionLog.Read"/> would throw past the end).</item>
/// <item><see cref="LastEpoch"/> is 0 for an empty cache (the cache says -1).</item>
/// </list>
/// </remarks>
public sealed class PartitionLogRaftLog(PartitionLog log) : IRaftLog
{
    /// <summary><c>__cluster_metadata-0</c>.</summary>
    public static readonly TopicPartition MetadataPartition = new("__cluster_metadata", 0);

    public PartitionLog Log { get; } = log ?? throw new ArgumentNullException(nameof(log));

    /// <summary>
    /// Opens (creating when absent and recovering) the metadata log in <paramref name="directory"/>,
    /// then flushes it: a freshly opened PartitionLog has its recovery point at the one passed in
    /// (0 here), so without this <see cref="FlushedOffset"/> would claim nothing recovered is durable.
    /// Fsyncing what recovery kept makes it so (the in-memory log keeps its flushed offset across a crash).
    /// </summary>
    public static PartitionLogRaftLog Open(string directory, LogConfig? config = null, Fjord.Common.IClock? clock = null)
    {
        var log = PartitionLog.Open(directory, MetadataPartition, config ?? LogConfig.Default,
            clock ?? Fjord.Common.SystemClock.Instance, new LogOpenOptions());
        log.Flush();
        return new PartitionLogRaftLog(log);
    }

    public long StartOffset => Log.LogStartOffset;
    public long EndOffset => Log.LogEndOffset;
    public long FlushedOffset => Log.RecoveryPoint;
    public int LastEpoch => Math.Max(0, Log.LeaderEpochs.LatestEpoch);

    public OffsetAndEpoch EndOffsetForEpoch(int epoch)
    {
        var entries = Log.LeaderEpochs.Entries;
        long logEnd = Log.LogEndOffset;
        for (int i = entries.Count - 1; i >= 0; i--)
        {
            if (entries[i].Epoch > epoch) continue;
            long end = i + 1 < entries.Count ? entries[i + 1].StartOffset : logEnd;
            return new OffsetAndEpoch(end, entries[i].Epoch);
        }
        return new OffsetAndEpoch(-1, -1);
    }

    public void AppendAsLeader(ReadOnlyMemory<byte> batches, int epoch) => Log.AppendAsLeader(batches, epoch);

    public void AppendAsFollower(ReadOnlyMemory<byte> batches)
    {
        if (batches.IsEmpty) return;
        // The Raft contract is stricter than a Kafka follower's: no gaps, and epochs never go back.
        var reader = new Fjord.Protocol.Records.RecordBatchReader(batches);
        long expected = Log.LogEndOffset;
        int lastEpoch = LastEpoch;
        while (reader.MoveNext())
        {
            var batch = reader.Current;
            if (batch.BaseOffset != expected)
                throw new InvalidOperationException($"batch at {batch.BaseOffset} does not continue the log ending at {expected}");
            if (batch.PartitionLeaderEpoch < lastEpoch)
                throw new InvalidOperationException($"batch epoch {batch.PartitionLeaderEpoch} is below the log's last epoch {lastEpoch}");
            expected = batch.LastOffset + 1;
            lastEpoch = batch.PartitionLeaderEpoch;
        }
        Log.AppendAsFollower(batches);
    }

    public ReadOnlyMemory<byte> Read(long startOffset, int maxBytes, long endOffsetExclusive)
    {
        if (startOffset >= Log.LogEndOffset) return ReadOnlyMemory<byte>.Empty;
        return Log.Read(startOffset, Math.Max(0, maxBytes), endOffsetExclusive).ToArray();
    }

    public void TruncateTo(long offset) => Log.Truncate(offset);

    public void Flush() => Log.Flush();

    /// <summary>Flushes and closes the underlying log.</summary>
    public void Close() => Log.Close();
}
