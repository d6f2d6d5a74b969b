using Fjord.Common;

namespace Fjord.Storage;

/// <summary>How often <see cref="LogMaintenance"/> does each job (Kafka's names and defaults).</summary>
public sealed record LogMaintenanceOptions
{
    /// <summary>How often the loop wakes to check what is due.</summary>
    public int TickMs { get; init; } = 1_000;

    /// <summary><c>log.retention.check.interval.ms</c>.</summary>
    public long RetentionCheckIntervalMs { get; init; } = 300_000;

    /// <summary><c>log.cleaner.backoff.ms</c>: the pause between compaction passes.</summary>
    public long CleanerBackoffMs { get; init; } = 15_000;
}

/// <summary>
/// The upkeep of every log of a <see cref="LogManager"/>, on one background task: flushes and
/// checkpoints as configured, retention for logs whose cleanup.policy has <c>delete</c>, compaction
/// for those with <c>compact</c>, and closing segments whose deletion was deferred.
/// </summary>
/// <remarks>
/// Invariant: retention and compaction never run on the same log at the same time — they run one
/// after the other on this single task. A failure on one log is logged and does not stop the others
/// or the loop. The high watermark of each partition comes from the owner (the broker knows it;
/// storage does not), and nothing at or above it is deleted.
/// </remarks>
public sealed class LogMaintenance : IAsyncDisposable
{
    private readonly LogManager _manager;
    private readonly LogCleaner _cleaner;
    private readonly Func<TopicPartition, long> _highWatermark;
    private readonly IClock _clock;
    private readonly LogMaintenanceOptions _options;
    private readonly Action<string> _log;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private long? _lastRetentionMs, _lastCleaningMs;

    public LogMaintenance(LogManager manager, LogCleaner cleaner, Func<TopicPartition, long> highWatermark, IClock clock,
        LogMaintenanceOptions? options = null, Action<string>? log = null)
    {
        _manager = manager;
        _cleaner = cleaner;
        _highWatermark = highWatermark;
        _clock = clock;
        _options = options ?? new LogMaintenanceOptions();
        _log = log ?? (_ => { });
    }

    /// <summary>Segments deleted by retention and compaction passes completed, since construction.</summary>
    public int RetentionSegmentsDeleted { get; private set; }
    public int CleaningPasses { get; private set; }

    public void Start() => _loop ??= Task.Run(LoopAsync);

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try { RunOnce(); }
            catch (Exception ex) { _log($"log maintenance: {ex.GetType().Name}: {ex.Message}"); }
            try { await Task.Delay(_options.TickMs, _stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>One pass: whatever is due at the clock's current time.</summary>
    public void RunOnce()
    {
        long now = _clock.MonotonicMs;
        _manager.RunMaintenance(now);
        bool retentionDue = IsDue(_lastRetentionMs, now, _options.RetentionCheckIntervalMs);
        bool cleaningDue = IsDue(_lastCleaningMs, now, _options.CleanerBackoffMs);
        foreach (var (tp, log) in _manager.Logs)
        {
            if (_stop.IsCancellationRequested) return;
            try
            {
                long highWatermark = _highWatermark(tp);
                if (retentionDue && log.Config.CleanupPolicy.HasFlag(CleanupPolicy.Delete))
                {
                    var result = LogRetention.Apply(log, highWatermark, _clock.UnixTimeMs);
                    if (result.SegmentsDeleted > 0)
                    {
                        RetentionSegmentsDeleted += result.SegmentsDeleted;
                        _log(result.ToString());
                    }
                }
                if (cleaningDue && log.Config.CleanupPolicy.HasFlag(CleanupPolicy.Compact))
                {
                    var cleaned = _cleaner.CleanIfNeeded(log, highWatermark);
                    if (cleaned is not null)
                    {
                        CleaningPasses++;
                        _log(cleaned.ToString());
                    }
                }
                log.DeletePendingSegments();
            }
            catch (Exception ex) when (ex is StorageException or IOException or LogCleaningAbortedException)
            {
                _log($"log maintenance of {tp} failed: {ex.Message}");
            }
        }
        if (retentionDue) _lastRetentionMs = now;
        if (cleaningDue) _lastCleaningMs = now;
    }

    private static bool IsDue(long? lastMs, long nowMs, long intervalMs) => lastMs is not { } last || nowMs - last >= intervalMs;

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_loop is not null) await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
