using Fjord.Common;
using Fjord.Protocol.Records;
using Fjord.Server.Raft;
using Fjord.Storage;
using Xunit.Abstractions;

namespace Fjord.Cluster.Tests;

/// <summary>The on-disk metadata logs of stopped controllers, compared batch by batch.</summary>
internal static class LogComparison
{
    /// <summary>
    /// The logs of <paramref name="ids"/> hold the same batches, byte for byte, below
    /// <paramref name="committed"/> (or below the shortest log end, if less): committed offsets and log
    /// ends are batch boundaries, so each log has a batch ending exactly there.
    /// </summary>
    public static void AssertIdentical(ClusterDirectory dir, IReadOnlyList<int> ids, long committed, ITestOutputHelper output)
    {
        var logs = ids.ToDictionary(id => id, id => PartitionLog.Open(
            Path.Combine(dir.MetadataDir(id), PartitionLogRaftLog.MetadataPartition.DirectoryName),
            PartitionLogRaftLog.MetadataPartition, LogConfig.Default, SystemClock.Instance, new LogOpenOptions()));
        try
        {
            long end = Math.Min(committed, logs.Values.Min(l => l.LogEndOffset));
            output.WriteLine($"log ends: {string.Join(", ", logs.Select(l => $"{l.Key}: {l.Value.LogEndOffset}"))}; comparing below {end}");
            Assert.True(end >= 10, $"only {end} offsets to compare");
            var batches = logs.ToDictionary(l => l.Key, l => Batches(l.Value, end));
            foreach (var id in ids) Assert.Equal(end, batches[id][^1].LastOffset + 1);
            var reference = batches[ids[0]];
            foreach (var id in ids.Skip(1))
            {
                var other = batches[id];
                Assert.Equal(reference.Count, other.Count);
                for (int i = 0; i < reference.Count; i++)
                    Assert.True(reference[i].Bytes.AsSpan().SequenceEqual(other[i].Bytes),
                        $"batch {i} at offset {reference[i].BaseOffset} differs between node {ids[0]} and node {id}");
            }
            output.WriteLine($"{reference.Count} batches identical on controllers {string.Join(", ", ids)}");
        }
        finally
        {
            foreach (var log in logs.Values) log.Close();
        }
    }

    private sealed record Batch(long BaseOffset, long LastOffset, byte[] Bytes);

    /// <summary>Every whole batch that starts below <paramref name="end"/>.</summary>
    private static List<Batch> Batches(PartitionLog log, long end)
    {
        var batches = new List<Batch>();
        long next = log.LogStartOffset;
        while (next < end)
        {
            var bytes = log.Read(next, 1 << 20, long.MaxValue).ToArray();
            var reader = new RecordBatchReader(bytes);
            bool any = false;
            while (reader.MoveNext() && reader.Current.BaseOffset < end)
            {
                var batch = reader.Current;
                batches.Add(new Batch(batch.BaseOffset, batch.LastOffset, batch.Bytes.ToArray()));
                next = batch.LastOffset + 1;
                any = true;
            }
            if (!any) break;
        }
        return batches;
    }
}
