using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Fjord.Common;

namespace Fjord.Storage;

/// <summary>
/// One partition's log: an ordered list of <see cref="LogSegment"/>s in a directory, holding record
/// batches exactly as on the wire, with its <see cref="LeaderEpochCache"/>. See docs/storage.md.
/// </summary>
/// <remarks>
/// Threads (storage.md #3): one writer at a time — appends, rolls, truncation, log-start changes,
/// flushes, segment deletion and swaps hold <c>_writeLock</c>. Reads take no lock: they read the
/// published log end offset, then an immutable array of segments, then each segment's published
/// size, so they never see a half-written batch (#2); a read that raced a truncation or a segment
/// deletion runs again, and after repeated races under the lock.
/// Invariants: segment base offsets strictly increase and batches are ordered (#1); the last segment
/// is the active one, the only one appended to; log start ≤ log end; recovery point ≤ log end; the
/// log start offset only moves forward except when the log is truncated below it (#7).
/// Lifecycle: <see cref="Open"/> (recovers) → use → <see cref="Close"/> or <see cref="Delete"/>.
/// </remarks>
public sealed partial class PartitionLog
{
    private readonly Lock _writeLock = new();
    private readonly IClock _clock;
    private readonly Action<string> _logLine;
    private readonly SegmentDeletionQueue _deletions = new();
    private LogSegment[] _segments;
    private LogConfig _config;
    private long _logStartOffset, _logEndOffset, _recoveryPoint;
    private long _unflushedMessages, _lastFlushMs;

    /// <summary>Incremented before and after every truncation (odd while one runs): a lock-free reader
    /// that sees it move knows it may have mixed two states of the log, and reads again.</summary>
    private long _truncations;
    private bool _directoryDirty, _closed;

    /// <summary>The background fsync of the segments the last roll left behind (see ScheduleRollFlush).</summary>
    private Task _rollFlush = Task.CompletedTask;

    /// <summary>Completes when the background flushes of every roll so far have run.</summary>
    internal Task RollFlushes => _rollFlush;

    private PartitionLog(string directory, TopicPartition topicPartition, LogConfig config, IClock clock, LogOpenOptions options)
    {
        Directory = directory;
        TopicPartition = topicPartition;
        _config = config.Validate();
        _clock = clock;
        _logLine = options.Log ?? (_ => { });
        System.IO.Directory.CreateDirectory(directory);
        LeaderEpochs = LeaderEpochCache.Load(directory, () => LogEndOffset);
        var loaded = new LogLoader(directory, topicPartition, config, clock, options, LeaderEpochs).Load();
        _segments = loaded.Segments;
        _logStartOffset = loaded.LogStartOffset;
        _logEndOffset = loaded.LogEndOffset;
        _recoveryPoint = loaded.RecoveryPoint;
        _lastFlushMs = clock.MonotonicMs;
    }

    /// <summary>Opens (creating when absent) and recovers the log in <paramref name="directory"/>.</summary>
    public static PartitionLog Open(string directory, TopicPartition topicPartition, LogConfig config, IClock clock, LogOpenOptions options) =>
        new(directory, topicPartition, config, clock, options);

    public TopicPartition TopicPartition { get; }
    public string Directory { get; }
    public LeaderEpochCache LeaderEpochs { get; }

    /// <summary>The topic config; a new value applies from the next append (segment.bytes, flush.*, …).</summary>
    public LogConfig Config
    {
        get => Volatile.Read(ref _config);
        set => Volatile.Write(ref _config, value.Validate());
    }

    /// <summary>The first offset a reader may ask for.</summary>
    public long LogStartOffset => Volatile.Read(ref _logStartOffset);

    /// <summary>The offset the next appended record gets.</summary>
    public long LogEndOffset => Volatile.Read(ref _logEndOffset);

    /// <summary>Every batch below this offset is on disk (fsynced).</summary>
    public long RecoveryPoint => Volatile.Read(ref _recoveryPoint);

    public long SizeInBytes => Volatile.Read(ref _segments).Sum(s => (long)s.Size);
    public int SegmentCount => Volatile.Read(ref _segments).Length;

    /// <summary>Segments renamed <c>.deleted</c> whose files are kept open for file.delete.delay.ms.</summary>
    public int PendingDeletionCount
    {
        get { lock (_writeLock) return _deletions.Count; }
    }

    /// <summary>The segments, oldest first, as an immutable snapshot (the last is the active one).</summary>
    internal IReadOnlyList<LogSegment> SegmentsSnapshot => ImmutableCollectionsMarshal.AsImmutableArray(Volatile.Read(ref _segments));

    private LogSegment ActiveSegment => _segments[^1];

    /// <summary>fsyncs every segment with data below the log end offset and raises the recovery point to it.</summary>
    public void Flush() => Flush(long.MaxValue);

    /// <summary>
    /// fsyncs the segments holding offsets in [recovery point, <paramref name="upToOffsetExclusive"/>)
    /// and raises the recovery point to min(<paramref name="upToOffsetExclusive"/>, log end offset) (#4).
    /// </summary>
    public void Flush(long upToOffsetExclusive)
    {
        lock (_writeLock)
        {
            ThrowIfClosed();
            FlushLocked(upToOffsetExclusive);
        }
    }

    private void FlushLocked(long upToOffsetExclusive)
    {
        long upTo = Math.Min(upToOffsetExclusive, _logEndOffset);
        if (upTo > _recoveryPoint)
        {
            var segments = _segments;
            for (int i = 0; i < segments.Length; i++)
            {
                long segmentEnd = i + 1 < segments.Length ? segments[i + 1].BaseOffset : long.MaxValue;
                if (segments[i].BaseOffset < upTo && segmentEnd > _recoveryPoint) segments[i].Flush();
            }
            Volatile.Write(ref _recoveryPoint, upTo);
        }
        if (_directoryDirty)
        {
            AtomicFile.FsyncDirectory(Directory);
            _directoryDirty = false;
        }
        if (upTo >= _logEndOffset) _unflushedMessages = 0;
        _lastFlushMs = _clock.MonotonicMs;
    }

    /// <summary>Closes and deletes the segments whose file.delete.delay.ms has passed.</summary>
    public int DeletePendingSegments()
    {
        lock (_writeLock)
        {
            return _closed ? 0 : _deletions.RunDue(_clock.MonotonicMs);
        }
    }

    /// <summary>
    /// Flushes everything, writes the final time-index entry of the active segment and the epoch
    /// checkpoint, deletes segments awaiting deletion and closes every file. The LogManager writes the
    /// clean-shutdown marker afterwards. Idempotent.
    /// </summary>
    public void Close()
    {
        lock (_writeLock)
        {
            if (_closed) return;
            var active = ActiveSegment;
            active.OnBecomeInactive();
            FlushLocked(long.MaxValue);
            active.Flush();
            LeaderEpochs.Persist();
            _deletions.DrainAll();
            foreach (var segment in _segments) segment.Dispose();
            AtomicFile.FsyncDirectory(Directory);
            _closed = true;
        }
    }

    /// <summary>Closes the log and removes its directory.</summary>
    public void Delete()
    {
        lock (_writeLock)
        {
            Close();
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    public bool IsClosed
    {
        get { lock (_writeLock) return _closed; }
    }

    private void ThrowIfClosed()
    {
        if (_closed) throw new ObjectDisposedException(nameof(PartitionLog), $"the log of {TopicPartition} in {Directory} is closed");
    }

    /// <summary>Called first under the write lock by every mutating operation.</summary>
    private void BeginWrite()
    {
        ThrowIfClosed();
        _deletions.RunDue(_clock.MonotonicMs);
    }

    private void Publish(LogSegment[] segments) => Volatile.Write(ref _segments, segments);

    private void ScheduleDeletion(LogSegment segment)
    {
        _deletions.Schedule(segment, _clock.MonotonicMs, Config.FileDeleteDelayMs);
        _directoryDirty = true;
    }

    public override string ToString() =>
        $"PartitionLog({TopicPartition}, offsets=[{LogStartOffset}, {LogEndOffset}), segments={SegmentCount}, recoveryPoint={RecoveryPoint})";
}
