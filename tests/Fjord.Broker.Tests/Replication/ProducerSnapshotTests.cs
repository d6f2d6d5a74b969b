using System.Diagnostics;
using Fjord.Broker.Replication;
using Fjord.Common;
using Fjord.Protocol.Records;
using Fjord.Storage;
using Xunit.Abstractions;

namespace Fjord.Broker.Tests.Replication;

/// <summary>
/// Producer-state snapshot files: the format, and the invariant that (newest usable snapshot + replay of
/// the log after it) gives the same table as a full scan of the log — for random workloads with
/// transactions and aborts, with corrupt snapshots, after truncation and after the log start moved.
/// </summary>
public sealed class ProducerSnapshotTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TopicPartition Tp = new("snap", 0);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fjord-psnap-" + Guid.NewGuid().ToString("N"));
    private readonly List<string> _lines = [];

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private PartitionLog OpenLog(int segmentBytes = 2048) =>
        PartitionLog.Open(_dir, Tp, LogConfig.Default with { SegmentBytes = segmentBytes, FileDeleteDelayMs = 0 }, SystemClock.Instance,
            new LogOpenOptions(Log: _lines.Add));

    private ProducerSnapshotFiles Files() => new(_dir, Tp.ToString(), _lines.Add);

    /// <summary>
    /// Appends <paramref name="count"/> workload batches, keeping <paramref name="live"/> current and,
    /// as the partition does, writing a snapshot whenever an append rolled a segment.
    /// </summary>
    private static void Append(PartitionLog log, ProducerWorkload workload, ProducerStateTable live, ProducerSnapshotFiles files, int count)
    {
        for (int i = 0; i < count; i++)
        {
            int segments = log.SegmentCount;
            long end = log.LogEndOffset;
            log.AppendAsLeader(workload.Next(), 0);
            if (log.SegmentCount != segments) files.Write(live, end, sync: false);
            live.ApplyAppended(log.Read(end, int.MaxValue, log.LogEndOffset).ToArray());
        }
    }

    private (ProducerSnapshotFiles.LoadOutcome Outcome, string State) Load(PartitionLog log)
    {
        var table = new ProducerStateTable();
        var outcome = Files().LoadInto(table, log);
        return (outcome, table.Describe());
    }

    // ------------------------------------------------------------------ format

    [Fact]
    public void The_format_round_trips_and_refuses_any_damage()
    {
        var table = new ProducerStateTable();
        table.Record(7, 2, 0, 4, 10, 14, 1000);
        table.Record(7, 2, 5, 5, 15, 15, 1001);
        table.Record(9, 0, 0, 0, 16, 16, 1002, isTransactional: true);
        table.RecordMarker(11, 1, 3, commit: false, 17, 1003);
        var bytes = table.ToSnapshot(18);
        Assert.Equal(ProducerStateSnapshot.Version, (short)(bytes[0] << 8 | bytes[1]));

        var loaded = new ProducerStateTable();
        loaded.LoadSnapshot(ProducerStateSnapshot.Decode(bytes, 18));
        Assert.Equal(table.Describe(), loaded.Describe());
        Assert.Equal(16, loaded.LastStableOffset(100, 0)); // the open transaction holds the LSO

        Assert.Throws<FormatException>(() => ProducerStateSnapshot.Decode(bytes, 17));                 // name and contents disagree
        Assert.Throws<FormatException>(() => ProducerStateSnapshot.Decode(bytes.AsSpan(0, bytes.Length - 1), 18));
        Assert.Throws<FormatException>(() => ProducerStateSnapshot.Decode(bytes.AsSpan(0, 10), 18));
        for (int i = 0; i < bytes.Length; i++)
        {
            var damaged = (byte[])bytes.Clone();
            damaged[i] ^= 0x40;
            Assert.Throws<FormatException>(() => ProducerStateSnapshot.Decode(damaged, 18));
        }

        Assert.Equal("00000000000000000042.snapshot", ProducerStateSnapshot.FileName(42));
        Assert.Equal(42, ProducerStateSnapshot.ParseFileName("00000000000000000042.snapshot"));
        Assert.Null(ProducerStateSnapshot.ParseFileName("00000000000000000042.snapshot.tmp"));
        Assert.Null(ProducerStateSnapshot.ParseFileName("00000000000000000042.log"));
    }

    // ------------------------------------------------------------------ snapshot + replay == full scan

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Snapshot_plus_replay_equals_a_full_scan_for_random_workloads(int seed)
    {
        var random = new Random(seed);
        var workload = new ProducerWorkload(seed, producers: 3 + seed * 3);
        var live = new ProducerStateTable();
        var first = OpenLog();
        try
        {
            var files = Files();
            for (int round = 0; round < 8; round++)
            {
                Append(first, workload, live, files, 40 + random.Next(60));
                // Now and then a snapshot at an arbitrary log end, not only at rolls.
                if (random.Next(3) == 0) files.Write(live, first.LogEndOffset, sync: false);

                string scan = ProducerStateAssert.FullScan(first);
                Assert.Equal(scan, live.Describe()); // the incremental table is the scanned one
                var (outcome, loaded) = Load(first);
                Assert.Equal(scan, loaded);
                Assert.Equal(files.Offsets.Count > 0 ? files.Offsets[^1] : null, outcome.SnapshotOffset);
                Assert.True(files.Offsets.Count <= ProducerSnapshotFiles.Retained);
            }
            Assert.True(first.SegmentCount > 5, "the workload rolls segments");
            Assert.True(workload.Markers > 5, "the workload ends transactions");
            Assert.Contains("A ", live.Describe());                // some aborted
            Assert.NotNull(Load(first).Outcome.SnapshotOffset);
        }
        finally
        {
            first.Close();
        }
        // The directory with snapshot files opens as a log again (the storage layer leaves them alone).
        var reopened = OpenLog();
        try
        {
            Assert.NotEmpty(Directory.GetFiles(_dir, "*.snapshot"));
            var (outcome, loaded) = Load(reopened);
            Assert.NotNull(outcome.SnapshotOffset);
            Assert.Equal(ProducerStateAssert.FullScan(reopened), loaded);
        }
        finally
        {
            reopened.Close();
        }
    }

    [Fact]
    public void A_corrupt_snapshot_is_ignored_for_the_next_older_one_then_for_a_full_scan()
    {
        var log = OpenLog();
        try
        {
            var workload = new ProducerWorkload(11, 8);
            var live = new ProducerStateTable();
            var files = Files();
            Append(log, workload, live, files, 150);
            files.Write(live, log.LogEndOffset, sync: false);
            Append(log, workload, live, files, 3);
            var offsets = files.Offsets;
            Assert.Equal(2, offsets.Count);
            string scan = ProducerStateAssert.FullScan(log);

            // Newest damaged in the middle: the older one is used, the damaged one deleted.
            var newest = files.PathOf(offsets[1]);
            var bytes = File.ReadAllBytes(newest);
            bytes[bytes.Length / 2] ^= 0xFF;
            File.WriteAllBytes(newest, bytes);
            var (outcome, loaded) = Load(log);
            Assert.Equal(offsets[0], outcome.SnapshotOffset);
            Assert.Equal(scan, loaded);
            Assert.False(File.Exists(newest));
            Assert.Contains(_lines, l => l.Contains("ignored", StringComparison.Ordinal) && l.Contains("CRC", StringComparison.Ordinal));

            // The other one cut short (a torn write): a full scan, same table.
            var older = files.PathOf(offsets[0]);
            File.WriteAllBytes(older, File.ReadAllBytes(older)[..20]);
            (outcome, loaded) = Load(log);
            Assert.Null(outcome.SnapshotOffset);
            Assert.Equal(scan, loaded);
            Assert.Empty(Directory.GetFiles(_dir, "*.snapshot"));

            // An unknown version and an empty file are ignored too; a leftover .tmp goes when the files are listed.
            File.WriteAllBytes(files.PathOf(5), [0, 9, 0, 0, 0, 0]);
            File.WriteAllBytes(files.PathOf(6), []);
            File.WriteAllBytes(files.PathOf(7) + ".tmp", [1, 2, 3]);
            (outcome, loaded) = Load(log);
            Assert.Null(outcome.SnapshotOffset);
            Assert.Equal(scan, loaded);
            Assert.Empty(Directory.GetFiles(_dir, "*.snapshot*"));
        }
        finally
        {
            log.Close();
        }
    }

    [Fact]
    public void After_a_truncation_below_a_snapshot_that_snapshot_is_never_used()
    {
        var log = OpenLog(segmentBytes: 1 << 20); // no rolls: the test chooses the snapshots
        try
        {
            var workload = new ProducerWorkload(21, 6);
            var live = new ProducerStateTable();
            var files = Files();
            Append(log, workload, live, files, 80);
            long low = log.LogEndOffset;
            files.Write(live, low, sync: false);
            Append(log, workload, live, files, 80);
            long high = log.LogEndOffset;
            files.Write(live, high, sync: false);
            Assert.Equal([low, high], files.Offsets);

            // A log cut between the two (as log recovery after a crash does): the one above the end is deleted, the lower one used.
            long cut = low + (high - low) / 2;
            log.Truncate(cut);
            Assert.True(log.LogEndOffset < high);
            var (outcome, loaded) = Load(log);
            Assert.Equal(low, outcome.SnapshotOffset);
            Assert.Equal(ProducerStateAssert.FullScan(log), loaded);
            Assert.False(File.Exists(files.PathOf(high)));

            // A follower's truncation below both (what Partition does: delete above the end, then load), then other batches
            // past the old offsets: the table still equals a full scan, so no deleted snapshot came back.
            var again = Files();
            log.Truncate(low - 1);
            again.DeleteAbove(log.LogEndOffset);
            var rebuilt = new ProducerStateTable();
            Assert.Null(again.LoadInto(rebuilt, log).SnapshotOffset);
            Append(log, new ProducerWorkload(99, 4, firstProducerId: 5000), rebuilt, again, 120);
            Assert.True(log.LogEndOffset > high);
            (outcome, loaded) = Load(log);
            Assert.Equal(ProducerStateAssert.FullScan(log), loaded);
            Assert.Equal(again.Offsets.Count > 0 ? again.Offsets[^1] : null, outcome.SnapshotOffset);
        }
        finally
        {
            log.Close();
        }
    }

    [Fact]
    public void Snapshots_below_the_log_start_are_deleted_and_only_the_newest_two_are_kept()
    {
        var log = OpenLog(segmentBytes: 1024);
        try
        {
            var workload = new ProducerWorkload(31, 5);
            var live = new ProducerStateTable();
            var files = Files();
            for (int i = 0; i < 5; i++)
            {
                Append(log, workload, live, files, 10);
                files.Write(live, log.LogEndOffset, sync: false);
                Assert.True(files.Offsets.Count <= 2);
            }
            Assert.Equal(2, Directory.GetFiles(_dir, "*.snapshot").Length);
            Append(log, workload, live, files, 10); // rolls may write newer ones: still two
            var offsets = files.Offsets;
            Assert.Equal(2, offsets.Count);
            Assert.True(log.LogEndOffset > offsets[1] + 1);

            Assert.True(log.AdvanceLogStartOffset(offsets[0] + 1));
            Assert.Equal(1, files.DeleteBelow(log.LogStartOffset));
            Assert.Equal([offsets[1]], files.Offsets);
            Assert.Single(Directory.GetFiles(_dir, "*.snapshot"));

            // A restart that finds one below the log start (deleted before the maintenance ran) does not use it either.
            Assert.True(log.AdvanceLogStartOffset(offsets[1] + 1));
            var (outcome, _) = Load(log);
            Assert.Null(outcome.SnapshotOffset);
            Assert.Empty(Directory.GetFiles(_dir, "*.snapshot"));
        }
        finally
        {
            log.Close();
        }
    }

    // ------------------------------------------------------------------ measurement

    /// <summary>
    /// Load time of a partition with many records from 1000 producers: full scan against the snapshot at
    /// the log end (what a clean shutdown leaves). Asserts equal tables; prints the times.
    /// FJORD_PRODUCER_SNAPSHOT_RECORDS sets the record count (default 20000, kept small for the suite).
    /// </summary>
    [Fact]
    public void Load_time_full_scan_against_snapshot()
    {
        int records = int.TryParse(Environment.GetEnvironmentVariable("FJORD_PRODUCER_SNAPSHOT_RECORDS"), out int n) && n > 0 ? n : 20_000;
        const int producers = 1000;
        var log = OpenLog(segmentBytes: 16 * 1024 * 1024);
        try
        {
            var sequences = new int[producers];
            var value = new byte[100];
            var build = Stopwatch.StartNew();
            for (int i = 0; i < records; i++)
            {
                int p = i % producers;
                using var builder = new RecordBatchBuilder(new RecordBatchOptions { ProducerId = 10_000 + p, ProducerEpoch = 0, BaseSequence = sequences[p]++ });
                builder.Append(1_700_000_000_000 + i, null, value);
                log.AppendAsLeader(builder.ToArray(), 0);
            }
            build.Stop();

            var files = Files();
            var scan = Stopwatch.StartNew();
            var scanned = new ProducerStateTable();
            long batches = scanned.Rebuild(log);
            scan.Stop();
            Assert.Equal(records, batches);
            Assert.Equal(producers, scanned.Count);

            var write = Stopwatch.StartNew();
            Assert.True(files.Write(scanned, log.LogEndOffset, sync: true));
            write.Stop();

            var load = Stopwatch.StartNew();
            var fromSnapshot = new ProducerStateTable();
            var outcome = Files().LoadInto(fromSnapshot, log);
            load.Stop();
            Assert.Equal(log.LogEndOffset, outcome.SnapshotOffset);
            Assert.Equal(0, outcome.BatchesReplayed);
            Assert.Equal(scanned.Describe(), fromSnapshot.Describe());

            long snapshotBytes = new FileInfo(files.PathOf(log.LogEndOffset)).Length;
            output.WriteLine($"{records} records (one per batch) from {producers} producers, log {log.SizeInBytes / 1024} KiB (written in {build.ElapsedMilliseconds} ms)");
            output.WriteLine($"full scan: {scan.Elapsed.TotalMilliseconds:F1} ms; snapshot ({snapshotBytes / 1024} KiB) write {write.Elapsed.TotalMilliseconds:F1} ms, load {load.Elapsed.TotalMilliseconds:F1} ms");
        }
        finally
        {
            log.Close();
        }
    }
}
