namespace Fjord.Storage;

public sealed partial class LogManager
{
    /// <summary>When <see cref="RunMaintenance"/> last wrote each checkpoint (null: not yet).</summary>
    private long? _lastRecoveryPointCheckpointMs, _lastLogStartCheckpointMs;

    /// <summary>
    /// What the server's timer calls: flushes logs whose <c>flush.ms</c> has passed, then writes
    /// each checkpoint whose interval (<see cref="LogManagerOptions"/>) has passed since
    /// <see cref="RunMaintenance"/> last wrote it (the first call writes both).
    /// <paramref name="nowMs"/> is <see cref="Fjord.Common.IClock.MonotonicMs"/>.
    /// </summary>
    public void RunMaintenance(long nowMs)
    {
        FlushDirtyLogs(nowMs);
        lock (_sync)
        {
            EnsureRunning();
            bool recovery = IsDue(_lastRecoveryPointCheckpointMs, nowMs, _options.RecoveryPointCheckpointIntervalMs);
            bool logStart = IsDue(_lastLogStartCheckpointMs, nowMs, _options.LogStartOffsetCheckpointIntervalMs);
            if (!recovery && !logStart) return;
            foreach (var dir in _logDirs) CheckpointDirectory(dir, recovery, logStart);
            if (recovery) _lastRecoveryPointCheckpointMs = nowMs;
            if (logStart) _lastLogStartCheckpointMs = nowMs;
        }
    }

    private static bool IsDue(long? lastMs, long nowMs, long intervalMs) => lastMs is not { } last || nowMs - last >= intervalMs;

    /// <summary>
    /// Flushes every log with unflushed data (log end offset above its recovery point) whose
    /// <c>flush.ms</c> has passed since this manager last flushed it. <paramref name="nowMs"/> is
    /// <see cref="Fjord.Common.IClock.MonotonicMs"/>. Every due log is tried; the first failure is
    /// then thrown as a <see cref="StorageException"/> naming the partition.
    /// </summary>
    public void FlushDirtyLogs(long nowMs)
    {
        StorageException? first = null;
        foreach (var (tp, entry) in _logs)
        {
            var log = entry.Log;
            if (nowMs - Volatile.Read(ref entry.LastFlushMs) < log.Config.FlushMs) continue;
            if (log.LogEndOffset <= log.RecoveryPoint) continue;
            try
            {
                log.Flush();
                Volatile.Write(ref entry.LastFlushMs, nowMs);
            }
            catch (Exception e)
            {
                // A log deleted meanwhile is closed: its failure is expected and not reported.
                if (_logs.TryGetValue(tp, out var current) && ReferenceEquals(current, entry))
                    first ??= new StorageException($"flush of {Path.Combine(entry.LogDir, tp.DirectoryName)} failed: {e.Message}", e);
            }
        }
        if (first is not null) throw first;
    }

    /// <summary>Writes both checkpoint files of every log directory from the live logs.</summary>
    public void CheckpointAll()
    {
        lock (_sync)
        {
            EnsureRunning();
            foreach (var dir in _logDirs) CheckpointDirectory(dir);
        }
    }

    /// <summary>
    /// Flushes and closes every log, writes each directory's checkpoints, then (last) its
    /// clean-shutdown marker. A directory where a log failed to close gets no marker, so its logs
    /// are recovered on the next start; the failures are then thrown together. Idempotent.
    /// </summary>
    public void Close()
    {
        lock (_sync)
        {
            if (_state is State.Closed or State.New) { _state = State.Closed; return; }
            bool wasRunning = _state == State.Running;
            _state = State.Closed;
            var errors = new List<Exception>();
            if (wasRunning)
            {
                var snapshots = CloseLogs(errors);
                foreach (var dir in _logDirs)
                {
                    if (!snapshots.TryGetValue(dir, out var snapshot)) continue; // a log there failed
                    try
                    {
                        WriteCheckpoints(dir, snapshot.RecoveryPoints, snapshot.LogStartOffsets, recovery: true, logStart: true);
                        LogDirectories.WriteCleanShutdownMarker(dir);
                    }
                    catch (Exception e)
                    {
                        errors.Add(e is StorageException ? e : new StorageException($"cannot close log directory {dir}: {e.Message}", e));
                    }
                }
            }
            _logs.Clear();
            try { PendingDeletions().Wait(); }
            catch (AggregateException e) { errors.AddRange(e.InnerExceptions); }
            if (errors.Count == 1) throw errors[0];
            if (errors.Count > 1) throw new AggregateException("log manager close failed", errors);
            _log("log manager closed");
        }
    }

    /// <summary>Offsets of one directory's logs taken just before they closed.</summary>
    private sealed record DirSnapshot(Dictionary<TopicPartition, long> RecoveryPoints, Dictionary<TopicPartition, long> LogStartOffsets);

    /// <summary>Flushes and closes every log (in parallel); returns the final offsets of each
    /// directory whose logs all closed.</summary>
    private Dictionary<string, DirSnapshot> CloseLogs(List<Exception> errors)
    {
        var snapshots = _logDirs.ToDictionary(d => d, _ => new DirSnapshot([], []), StringComparer.Ordinal);
        var failedDirs = new HashSet<string>(StringComparer.Ordinal);
        Parallel.ForEach(_logs.ToList(), new ParallelOptions { MaxDegreeOfParallelism = _options.RecoveryParallelism }, pair =>
        {
            var (tp, entry) = pair;
            try
            {
                entry.Log.Flush();
                long recoveryPoint = entry.Log.RecoveryPoint, logStart = entry.Log.LogStartOffset;
                entry.Log.Close();
                lock (snapshots)
                {
                    snapshots[entry.LogDir].RecoveryPoints[tp] = recoveryPoint;
                    snapshots[entry.LogDir].LogStartOffsets[tp] = logStart;
                }
            }
            catch (Exception e)
            {
                lock (snapshots)
                {
                    failedDirs.Add(entry.LogDir);
                    errors.Add(new StorageException($"cannot close log {Path.Combine(entry.LogDir, tp.DirectoryName)}: {e.Message}", e));
                }
            }
        });
        foreach (var dir in failedDirs) snapshots.Remove(dir);
        return snapshots;
    }

    private void CheckpointDirectory(string dir, bool recovery = true, bool logStart = true)
    {
        var recoveryPoints = new Dictionary<TopicPartition, long>();
        var logStartOffsets = new Dictionary<TopicPartition, long>();
        foreach (var (tp, entry) in _logs)
        {
            if (entry.LogDir != dir) continue;
            recoveryPoints[tp] = entry.Log.RecoveryPoint;
            logStartOffsets[tp] = entry.Log.LogStartOffset;
        }
        WriteCheckpoints(dir, recoveryPoints, logStartOffsets, recovery, logStart);
    }

    private static void WriteCheckpoints(string dir, Dictionary<TopicPartition, long> recoveryPoints,
        Dictionary<TopicPartition, long> logStartOffsets, bool recovery, bool logStart)
    {
        if (recovery) OffsetCheckpointFile.Write(Path.Combine(dir, OffsetCheckpointFile.RecoveryPointFileName), recoveryPoints);
        if (logStart) OffsetCheckpointFile.Write(Path.Combine(dir, OffsetCheckpointFile.LogStartOffsetFileName), logStartOffsets);
    }
}
