namespace Fjord.Storage.Tests;

public sealed class LogManagerTests : IDisposable
{
    private const string Marker = ".fjord-clean-shutdown";
    private readonly string _root = Directory.CreateTempSubdirectory("fjord-logmanager-").FullName;
    private readonly FakeClock _clock = new();
    private readonly List<string> _lines = [];
    private readonly Dictionary<string, LogConfig> _topicConfigs = [];
    private readonly List<LogManager> _managers = [];

    public void Dispose()
    {
        foreach (var manager in _managers)
        {
            try { manager.PendingDeletions().Wait(); }
            catch (AggregateException) { }
        }
        MakeWritable(_root);
        Directory.Delete(_root, recursive: true);
    }

    private string Dir(int i) => Path.Combine(_root, $"data{i}");
    private string[] Dirs(int count) => Enumerable.Range(0, count).Select(Dir).ToArray();

    private LogManager NewManager(string[] dirs, LogManagerOptions? options = null)
    {
        var manager = new LogManager(dirs, LogConfig.Default, topic => _topicConfigs.GetValueOrDefault(topic), _clock,
            line => { lock (_lines) _lines.Add(line); }, options);
        _managers.Add(manager);
        return manager;
    }

    private LogManager Started(string[] dirs, LogManagerOptions? options = null)
    {
        var manager = NewManager(dirs, options);
        manager.Start();
        return manager;
    }

    [Fact]
    public void StartCreatesMissingDirectories()
    {
        var dirs = Dirs(3);
        Started(dirs).Close();
        Assert.All(dirs, d => Assert.True(Directory.Exists(d)));
    }

    [Fact]
    public void NewPartitionsGoToTheDirectoryWithFewestPartitions()
    {
        var dirs = Dirs(3);
        var manager = Started(dirs);
        var placed = Enumerable.Range(0, 7).Select(p => manager.LogDirOf(Create(manager, "t", p))).ToList();
        Assert.Equal([dirs[0], dirs[1], dirs[2], dirs[0], dirs[1], dirs[2], dirs[0]], placed);
        Assert.True(Directory.Exists(Path.Combine(dirs[1], "t-1")));

        Assert.True(manager.DeleteLog(new TopicPartition("t", 4))); // dirs[1] now holds the fewest
        Assert.Equal(dirs[1], manager.LogDirOf(Create(manager, "u", 0)));
        Assert.Equal(dirs[1], manager.LogDirOf(Create(manager, "u", 1))); // 2,2,3 before: ties go to the first
        manager.Close();
    }

    [Fact]
    public void TheMetadataLogSharingALogDirIsNeverOpenedAsAPartition()
    {
        var dirs = Dirs(1);
        var metadata = Path.Combine(dirs[0], "__cluster_metadata-0");
        Directory.CreateDirectory(metadata);
        File.WriteAllBytes(Path.Combine(metadata, "00000000000000000000.log"), [1, 2, 3]); // not a log Storage would accept
        var manager = Started(dirs);
        Assert.Empty(manager.Partitions);
        Assert.True(File.Exists(Path.Combine(metadata, "00000000000000000000.log"))); // untouched
        manager.Close();
    }

    [Fact]
    public void GetOrCreateReturnsTheExistingLogAndGetDoesNotCreate()
    {
        var manager = Started(Dirs(2));
        var tp = new TopicPartition("orders", 3);
        Assert.Null(manager.Get(tp));
        var log = manager.GetOrCreateLog(tp);
        Assert.Same(log, manager.GetOrCreateLog(tp));
        Assert.Same(log, manager.Get(tp));
        Assert.Equal([tp], manager.Partitions);
        manager.Close();
    }

    [Fact]
    public void NewLogsTakeTheTopicConfigUnlessOneIsGiven()
    {
        var compacted = LogConfig.Default with { CleanupPolicy = CleanupPolicy.Compact };
        var explicitConfig = LogConfig.Default with { SegmentMs = 1234 };
        _topicConfigs["compacted"] = compacted;
        var manager = Started(Dirs(1));
        Assert.Equal(compacted, manager.GetOrCreateLog(new TopicPartition("compacted", 0)).Config);
        Assert.Equal(LogConfig.Default, manager.GetOrCreateLog(new TopicPartition("plain", 0)).Config);
        Assert.Equal(explicitConfig, manager.GetOrCreateLog(new TopicPartition("given", 0), explicitConfig).Config);
        manager.Close();
    }

    [Fact]
    public void ReopenFindsEveryPartitionInItsDirectory()
    {
        var dirs = Dirs(3);
        var first = Started(dirs);
        var where = new Dictionary<TopicPartition, string>();
        for (int p = 0; p < 5; p++)
        {
            var tp = new TopicPartition("events", p);
            LogManagerTestLogs.Append(first.GetOrCreateLog(tp), p + 1, _clock);
            where[tp] = first.LogDirOf(tp)!;
        }
        var meta = new TopicPartition("__consumer_offsets", 0);
        first.GetOrCreateLog(meta);
        where[meta] = first.LogDirOf(meta)!;
        first.Close();

        var second = Started(dirs);
        Assert.Equal(where.Keys.OrderBy(t => t.DirectoryName), second.Partitions.OrderBy(t => t.DirectoryName));
        foreach (var (tp, dir) in where) Assert.Equal(dir, second.LogDirOf(tp));
        for (int p = 0; p < 5; p++) Assert.Equal(p + 1, second.Get(new TopicPartition("events", p))!.LogEndOffset);
        second.Close();
    }

    [Fact]
    public void CleanShutdownMarkerExistsOnlyBetweenCloseAndTheNextStart()
    {
        var dirs = Dirs(3);
        var first = Started(dirs);
        Create(first, "t", 0);
        Assert.All(dirs, d => Assert.False(File.Exists(Path.Combine(d, Marker))));
        first.Close();
        Assert.All(dirs, d => Assert.True(File.Exists(Path.Combine(d, Marker))));

        var second = Started(dirs); // reads the markers and deletes them at once
        Assert.All(dirs, d => Assert.False(File.Exists(Path.Combine(d, Marker))));
        var log = second.Get(new TopicPartition("t", 0))!;
        LogManagerTestLogs.Append(log, 5, _clock);
        log.Flush();
        second.CheckpointAll(); // recovery point 5 on disk
        LogManagerTestLogs.Append(log, 3, _clock); // not flushed
        // Simulated crash: second is never closed.

        var third = Started(dirs);
        Assert.All(dirs, d => Assert.False(File.Exists(Path.Combine(d, Marker))));
        var recovered = third.Get(new TopicPartition("t", 0))!;
        Assert.Equal(8, recovered.LogEndOffset);
        Assert.Equal(5, recovered.RecoveryPoint); // opened as unclean, from the checkpoint (a clean open trusts the log end)
        third.Close();
        Assert.All(dirs, d => Assert.True(File.Exists(Path.Combine(d, Marker))));

        var fourth = Started(dirs);
        Assert.Equal(8, fourth.Get(new TopicPartition("t", 0))!.RecoveryPoint);
        fourth.Close();
    }

    [Fact]
    public void CheckpointsListEachDirectorysLiveLogs()
    {
        var dirs = Dirs(2);
        var manager = Started(dirs);
        var a = manager.GetOrCreateLog(new TopicPartition("a", 0)); // dirs[0]
        var b = manager.GetOrCreateLog(new TopicPartition("a", 1)); // dirs[1]
        LogManagerTestLogs.Append(a, 4, _clock);
        LogManagerTestLogs.Append(b, 2, _clock);
        a.Flush();
        manager.CheckpointAll();

        var recovery0 = OffsetCheckpointFile.Read(Path.Combine(dirs[0], OffsetCheckpointFile.RecoveryPointFileName));
        var recovery1 = OffsetCheckpointFile.Read(Path.Combine(dirs[1], OffsetCheckpointFile.RecoveryPointFileName));
        Assert.Equal(new Dictionary<TopicPartition, long> { [new("a", 0)] = a.RecoveryPoint }, recovery0);
        Assert.Equal(4, a.RecoveryPoint);
        Assert.Equal(new Dictionary<TopicPartition, long> { [new("a", 1)] = b.RecoveryPoint }, recovery1);
        Assert.Equal(new Dictionary<TopicPartition, long> { [new("a", 0)] = a.LogStartOffset },
            OffsetCheckpointFile.Read(Path.Combine(dirs[0], OffsetCheckpointFile.LogStartOffsetFileName)));

        manager.DeleteLog(new TopicPartition("a", 0)); // its entries leave with it
        Assert.Empty(OffsetCheckpointFile.Read(Path.Combine(dirs[0], OffsetCheckpointFile.RecoveryPointFileName)));
        Assert.Empty(OffsetCheckpointFile.Read(Path.Combine(dirs[0], OffsetCheckpointFile.LogStartOffsetFileName)));
        manager.Close();
    }

    [Fact]
    public void ReopenedLogsGetTheirCheckpointedOffsets()
    {
        var dirs = Dirs(1);
        var first = Started(dirs);
        var tp = new TopicPartition("t", 0);
        LogManagerTestLogs.Append(first.GetOrCreateLog(tp), 10, _clock);
        first.Close();
        var recovery = OffsetCheckpointFile.Read(Path.Combine(dirs[0], OffsetCheckpointFile.RecoveryPointFileName));
        Assert.Equal(10, recovery[tp]); // Close flushes before checkpointing
        OffsetCheckpointFile.Write(Path.Combine(dirs[0], OffsetCheckpointFile.LogStartOffsetFileName),
            new Dictionary<TopicPartition, long> { [tp] = 4 });

        var second = Started(dirs);
        var log = second.Get(tp)!;
        Assert.Equal(10, log.RecoveryPoint);
        Assert.Equal(4, log.LogStartOffset);
        Assert.Equal(10, log.LogEndOffset);
        second.Close();
    }

    [Fact]
    public void AMalformedCheckpointMeansFullRecoveryNotAFailedStart()
    {
        var dirs = Dirs(1);
        var first = Started(dirs);
        var tp = new TopicPartition("t", 0);
        LogManagerTestLogs.Append(first.GetOrCreateLog(tp), 5, _clock);
        first.Close();
        var recoveryFile = Path.Combine(dirs[0], OffsetCheckpointFile.RecoveryPointFileName);
        File.WriteAllText(recoveryFile, "0\n1\nt 0 five\n");
        File.WriteAllText(Path.Combine(dirs[0], OffsetCheckpointFile.LogStartOffsetFileName), "garbage");

        var second = Started(dirs);
        var log = second.Get(tp)!;
        Assert.Equal(5, log.LogEndOffset);
        Assert.Equal(0, log.RecoveryPoint); // recovered as after a crash, despite the marker
        Assert.Equal(0, log.LogStartOffset);
        Assert.Contains(_lines, l => l.Contains(recoveryFile, StringComparison.Ordinal) && l.Contains("line 3", StringComparison.Ordinal));
        Assert.Equal(0, OffsetCheckpointFile.Read(recoveryFile)[tp]); // rewritten, well-formed, at start
        second.Close();
    }

    [Fact]
    public void APartitionInTwoDirectoriesStopsStart()
    {
        var dirs = Dirs(3);
        Directory.CreateDirectory(Path.Combine(dirs[0], "dup-0"));
        Directory.CreateDirectory(Path.Combine(dirs[2], "dup-0"));
        Directory.CreateDirectory(Path.Combine(dirs[1], "fine-0"));
        var e = Assert.Throws<StorageException>(() => NewManager(dirs).Start());
        Assert.Contains(Path.Combine(dirs[0], "dup-0"), e.Message);
        Assert.Contains(Path.Combine(dirs[2], "dup-0"), e.Message);
    }

    [Fact]
    public async Task UnparsableAndDeletedDirectoriesAreSkipped()
    {
        var dirs = Dirs(1);
        foreach (var name in new[] { "lost+found", "no_partition", "t-01", "t-x", "bad topic-0", "t-0-future" })
            Directory.CreateDirectory(Path.Combine(dirs[0], name));
        var deleted = Path.Combine(dirs[0], "gone-3.0123456789abcdef0123456789abcdef-delete");
        Directory.CreateDirectory(deleted);
        File.WriteAllText(Path.Combine(deleted, "00000000000000000000.log"), "x");
        Directory.CreateDirectory(Path.Combine(dirs[0], "ok-2"));

        var manager = Started(dirs);
        Assert.Equal([new TopicPartition("ok", 2)], manager.Partitions);
        await manager.PendingDeletions();
        Assert.False(Directory.Exists(deleted));
        Assert.Contains(_lines, l => l.Contains("lost+found", StringComparison.Ordinal));
        Assert.Contains(_lines, l => l.Contains("t-01", StringComparison.Ordinal));
        manager.Close();
    }

    [Fact]
    public async Task DeleteLogRenamesThenRemovesTheDirectory()
    {
        var dirs = Dirs(1);
        var manager = Started(dirs);
        var tp = new TopicPartition("doomed", 0);
        LogManagerTestLogs.Append(manager.GetOrCreateLog(tp), 5, _clock);

        Assert.True(manager.DeleteLog(tp));
        Assert.Null(manager.Get(tp));
        Assert.False(Directory.Exists(Path.Combine(dirs[0], "doomed-0")));
        await manager.PendingDeletions();
        Assert.Empty(Directory.GetDirectories(dirs[0]));
        Assert.False(manager.DeleteLog(tp));

        Assert.Equal(0, manager.GetOrCreateLog(tp).LogEndOffset); // a new, empty log
        manager.Close();
    }

    [Fact]
    public void AFileInPlaceOfALogDirectoryIsRefused()
    {
        var path = Path.Combine(_root, "plain-file");
        File.WriteAllText(path, "");
        var e = Assert.Throws<StorageException>(() => NewManager([Dir(0), path]).Start());
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void AnUnwritableLogDirectoryIsRefused()
    {
        if (!OperatingSystem.IsLinux()) return;
        var dir = Dir(1);
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        if (IsWritable(dir)) dir = "/proc"; // root ignores modes; /proc refuses new files even to root
        var e = Assert.Throws<StorageException>(() => NewManager([Dir(0), dir]).Start());
        Assert.Contains(dir, e.Message);
        Assert.Contains("not writable", e.Message);
    }

    [Fact]
    public void FlushDirtyLogsHonoursFlushMs()
    {
        _topicConfigs["slow"] = LogConfig.Default with { FlushMs = 1_000 };
        var manager = Started(Dirs(1));
        var slow = manager.GetOrCreateLog(new TopicPartition("slow", 0));
        var never = manager.GetOrCreateLog(new TopicPartition("never", 0)); // flush.ms = Kafka's default, never
        long start = _clock.MonotonicMs;
        LogManagerTestLogs.Append(slow, 3, _clock);
        LogManagerTestLogs.Append(never, 3, _clock);

        manager.FlushDirtyLogs(start + 999);
        Assert.Equal(0, slow.RecoveryPoint);
        manager.FlushDirtyLogs(start + 1_000);
        Assert.Equal(3, slow.RecoveryPoint);
        Assert.Equal(0, never.RecoveryPoint);

        LogManagerTestLogs.Append(slow, 2, _clock);
        manager.FlushDirtyLogs(start + 1_500); // only 500 ms since the last flush
        Assert.Equal(3, slow.RecoveryPoint);
        manager.RunMaintenance(start + 2_000);
        Assert.Equal(5, slow.RecoveryPoint);
        manager.Close();
    }

    [Fact]
    public void RunMaintenanceCheckpointsOnItsInterval()
    {
        var dirs = Dirs(2);
        var manager = Started(dirs, new LogManagerOptions { RecoveryPointCheckpointIntervalMs = 1_000, LogStartOffsetCheckpointIntervalMs = 5_000 });
        Create(manager, "t", 0);
        var recovery = Path.Combine(dirs[0], OffsetCheckpointFile.RecoveryPointFileName);
        var logStart = Path.Combine(dirs[0], OffsetCheckpointFile.LogStartOffsetFileName);
        long t = _clock.MonotonicMs;

        manager.RunMaintenance(t); // the first run writes both
        Assert.True(File.Exists(recovery) && File.Exists(logStart));
        File.Delete(recovery);
        File.Delete(logStart);
        manager.RunMaintenance(t + 999);
        Assert.False(File.Exists(recovery) || File.Exists(logStart));
        manager.RunMaintenance(t + 1_000);
        Assert.True(File.Exists(recovery));
        Assert.False(File.Exists(logStart));
        manager.RunMaintenance(t + 5_000);
        Assert.True(File.Exists(logStart));
        manager.Close();
    }

    [Fact]
    public void LifecycleIsEnforced()
    {
        var dirs = Dirs(1);
        var manager = NewManager(dirs);
        Assert.Throws<InvalidOperationException>(() => manager.GetOrCreateLog(new TopicPartition("t", 0)));
        manager.Start();
        Assert.Throws<InvalidOperationException>(() => manager.Start());
        manager.Close();
        manager.Close(); // idempotent
        Assert.Throws<InvalidOperationException>(() => manager.GetOrCreateLog(new TopicPartition("t", 0)));
        Assert.Throws<InvalidOperationException>(() => manager.CheckpointAll());
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => NewManager([]));
        Assert.Throws<ArgumentException>(() => NewManager([Dir(0), Dir(0) + "/"]));
        var manager = Started(Dirs(1));
        foreach (var topic in new[] { "../escape", "a/b", "", ".", "..", "sp ace", new string('x', 250) })
            Assert.Throws<ArgumentException>(() => manager.GetOrCreateLog(new TopicPartition(topic, 0)));
        Assert.Throws<ArgumentException>(() => manager.GetOrCreateLog(new TopicPartition("t", -1)));
        manager.Close();
    }

    private static TopicPartition Create(LogManager manager, string topic, int partition)
    {
        var tp = new TopicPartition(topic, partition);
        manager.GetOrCreateLog(tp);
        return tp;
    }

    private static bool IsWritable(string dir)
    {
        try
        {
            var probe = Path.Combine(dir, "probe");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void MakeWritable(string root)
    {
        if (OperatingSystem.IsWindows()) return;
        foreach (var dir in Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories).Append(root))
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
