using Fjord.Common;
using Fjord.Protocol.Records;
using Fjord.Storage.CrashWriter;

namespace Fjord.Storage.Tests.Crash;

/// <summary>
/// Random damage to the newest segment or to the index files, then a reopen without a clean
/// shutdown: the log must come back as the longest valid prefix of what was written (for index
/// damage: everything), readable by offset and by timestamp.
/// </summary>
public sealed class CorruptionRecoveryTests
{
    private const int Batches = 120;
    private static readonly LogConfig Config = LogConfig.Default with { SegmentBytes = 16 * 1024, IndexIntervalBytes = 512, FileDeleteDelayMs = 0 };
    private static readonly TopicPartition Partition = new("damaged", 0);

    public static TheoryData<int> Seeds()
    {
        var data = new TheoryData<int>();
        for (int seed = 1; seed <= 25; seed++) data.Add(seed);
        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void A_truncated_last_segment_recovers_to_the_whole_batches_before_the_cut(int seed)
    {
        using var dir = new TempDirectory("trunc");
        var (logDir, lastSegment, batchStarts) = WriteLog(dir.Path);
        var random = new Random(seed);
        long length = new FileInfo(lastSegment).Length;
        long cut = random.NextInt64(0, length);
        using (var f = File.Open(lastSegment, FileMode.Open)) f.SetLength(cut);

        int expected = batchStarts.Count(s => s.Segment == lastSegment && s.End <= cut) + batchStarts.Count(s => s.Segment != lastSegment);
        AssertRecoversTo(logDir, expected);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void A_flipped_byte_in_the_last_segment_drops_that_batch_and_all_after_it(int seed)
    {
        using var dir = new TempDirectory("flip");
        var (logDir, lastSegment, batchStarts) = WriteLog(dir.Path);
        var random = new Random(seed);
        var inLast = batchStarts.Where(s => s.Segment == lastSegment).ToList();
        var victim = inLast[random.Next(inLast.Count)];
        // Flip a byte the batch checks cover: the length (8..11), magic (16), the CRC (17..20) or
        // anything the CRC covers (21..). The base offset and leader epoch are not checksummed in
        // Kafka's format, so damage there is not detectable by any reader.
        long position;
        do position = victim.Start + random.NextInt64(8, victim.End - victim.Start);
        while (position - victim.Start is >= 12 and < 16);
        using (var f = File.Open(lastSegment, FileMode.Open))
        {
            f.Position = position;
            int b = f.ReadByte();
            f.Position = position;
            f.WriteByte((byte)(b ^ (1 << random.Next(8))));
        }
        int expected = batchStarts.IndexOf(victim);
        AssertRecoversTo(logDir, expected);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Damaged_or_missing_indexes_are_rebuilt_and_lose_nothing(int seed)
    {
        using var dir = new TempDirectory("index");
        var (logDir, _, batchStarts) = WriteLog(dir.Path);
        var random = new Random(seed);
        var indexes = Directory.GetFiles(logDir, "*.index").Concat(Directory.GetFiles(logDir, "*.timeindex")).Order().ToList();
        foreach (var index in indexes.Where(_ => random.Next(3) == 0).DefaultIfEmpty(indexes[^1]))
        {
            switch (random.Next(4))
            {
                case 0: File.Delete(index); break;
                case 1: using (var f = File.Open(index, FileMode.Open)) f.SetLength(random.NextInt64(0, f.Length + 1)); break;
                case 2: // garbage bytes at a random place
                    var bytes = File.ReadAllBytes(index);
                    if (bytes.Length > 0) for (int i = 0; i < 8; i++) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                    File.WriteAllBytes(index, bytes);
                    break;
                default: // an index longer than its segment could ever need, pointing past the end
                    using (var f = File.Open(index, FileMode.Append)) f.Write([0x7F, 0xFF, 0xFF, 0xF0, 0x7F, 0xFF, 0xFF, 0xF0, 0, 0, 0, 1]);
                    break;
            }
        }
        AssertRecoversTo(logDir, batchStarts.Count, log => ReadsLandOnTheRightBatch(log, batchStarts, random));
    }

    private static void ReadsLandOnTheRightBatch(PartitionLog log, List<BatchPlace> batchStarts, Random random)
    {
        // Reads by offset land on the right batch everywhere, and time lookups still work.
        for (int i = 0; i < 40; i++)
        {
            long offset = random.NextInt64(0, log.LogEndOffset);
            var bytes = log.Read(offset, 1, log.LogEndOffset).ToArray();
            var batch = new RecordBatch(bytes.AsMemory(0, new RecordBatchReader(bytes).MoveNextAndSize()));
            Assert.InRange(offset, batch.BaseOffset, batch.LastOffset);
        }
        int sequence = random.Next(Batches);
        var found = log.OffsetForTimestamp(1_700_000_000_000 + sequence);
        Assert.NotNull(found);
        Assert.Equal(batchStarts[sequence].BaseOffset, found.Value.Offset);
    }

    private static void AssertRecoversTo(string logDir, int expectedBatches, Action<PartitionLog>? more = null)
    {
        var lines = new List<string>();
        var log = PartitionLog.Open(logDir, Partition, Config, SystemClock.Instance, new LogOpenOptions(HadCleanShutdown: false, Log: lines.Add));
        try
        {
            int survived = LogContents.AssertCrashBatches(log, atLeast: expectedBatches);
            Assert.Equal(expectedBatches, survived);
            log.AppendAsLeader(CrashBatches.Build(survived), leaderEpoch: 3);
            Assert.Equal(survived + 1, LogContents.AssertCrashBatches(log, atLeast: survived + 1));
            more?.Invoke(log);
        }
        finally
        {
            log.Close();
        }
    }

    private sealed record BatchPlace(string Segment, long Start, long End, long BaseOffset);

    /// <summary>Writes CrashBatches 0..Batches-1 over several segments, closes the log, and returns
    /// where each batch sits on disk.</summary>
    private static (string LogDir, string LastSegment, List<BatchPlace> Places) WriteLog(string root)
    {
        var logDir = Path.Combine(root, Partition.DirectoryName);
        var log = PartitionLog.Open(logDir, Partition, Config, SystemClock.Instance, new LogOpenOptions());
        for (int sequence = 0; sequence < Batches; sequence++)
            log.AppendAsLeader(CrashBatches.Build(sequence), leaderEpoch: 1);
        log.Close();
        var places = new List<BatchPlace>();
        var segments = Directory.GetFiles(logDir, "*.log").Order().ToList();
        Assert.True(segments.Count >= 3, $"only {segments.Count} segments");
        foreach (var segment in segments)
        {
            var bytes = File.ReadAllBytes(segment);
            var reader = new RecordBatchReader(bytes);
            while (reader.MoveNext())
                places.Add(new BatchPlace(segment, reader.Position - reader.Current.SizeInBytes, reader.Position, reader.Current.BaseOffset));
        }
        Assert.Equal(Batches, places.Count);
        return (logDir, segments[^1], places);
    }
}

internal static class RecordBatchReaderExtensions
{
    /// <summary>The size of the first batch in the buffer.</summary>
    public static int MoveNextAndSize(this RecordBatchReader reader)
    {
        Assert.True(reader.MoveNext());
        return reader.Current.SizeInBytes;
    }
}
