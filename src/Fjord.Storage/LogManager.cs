using System.Collections.Concurrent;
using Fjord.Common;

namespace Fjord.Storage;

/// <summary>
/// Owns every partition log of a node across its <c>log.dirs</c> (JBOD): finds and opens them on
/// <see cref="Start"/>, places new partitions, deletes them, and keeps the per-directory
/// checkpoints (<c>recovery-point-offset-checkpoint</c>, <c>log-start-offset-checkpoint</c>) and
/// the clean-shutdown marker (<c>.fjord-clean-shutdown</c>).
/// </summary>
/// <remarks>
/// <para>Lifecycle: construct → <see cref="Start"/> once → use → <see cref="Close"/> once. Start
/// opens logs in parallel (at most <see cref="LogManagerOptions.RecoveryParallelism"/> at a time);
/// everything else runs on the caller's thread. No timers inside: the server calls
/// <see cref="RunMaintenance"/> (or <see cref="FlushDirtyLogs"/>/<see cref="CheckpointAll"/>) on its own.</para>
/// <para>Invariants: a partition lives in exactly one directory (two copies stop Start, naming
/// both); a checkpoint lists exactly the live logs of its directory when written (a deleted log's
/// entries go with it, so a re-created partition never inherits an old recovery point); the
/// clean-shutdown marker exists only between a successful <see cref="Close"/> of every log in its
/// directory and the next <see cref="Start"/>, and is the last thing Close writes there.</para>
/// <para>Thread-safety: <see cref="Get"/> is lock-free; creation, deletion, checkpoints and close
/// serialise on one lock; flushes run outside it (each log guards its own writes).</para>
/// </remarks>
public sealed partial class LogManager : IDisposable
{
    private readonly IReadOnlyList<string> _logDirs;
    private readonly LogConfig _defaultConfig;
    private readonly Func<string, LogConfig?> _topicConfig;
    private readonly IClock _clock;
    private readonly Action<string> _log;
    private readonly LogManagerOptions _options;
    private readonly ConcurrentDictionary<TopicPartition, Entry> _logs = new();
    private readonly List<Task> _deletions = [];
    private readonly object _sync = new();
    private State _state = State.New;

    /// <param name="logDirs">The <c>log.dirs</c>; order matters only to break placement ties.</param>
    /// <param name="defaultConfig">The broker-level log config.</param>
    /// <param name="topicConfig">A topic's own config, or null for <paramref name="defaultConfig"/>.</param>
    /// <param name="clock">Time for the logs, and the base of <see cref="RunMaintenance"/>'s <c>nowMs</c>.</param>
    /// <param name="log">Receives one line per notable event (recovery, skipped directories, deletions).</param>
    public LogManager(IReadOnlyList<string> logDirs, LogConfig defaultConfig, Func<string, LogConfig?> topicConfig,
        IClock clock, Action<string>? log = null, LogManagerOptions? options = null)
    {
        if (logDirs.Count == 0) throw new ArgumentException("at least one log directory is needed", nameof(logDirs));
        var full = logDirs.Select(d => Path.TrimEndingDirectorySeparator(Path.GetFullPath(d))).ToList();
        var repeated = full.GroupBy(d => d, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null) throw new ArgumentException($"log directory {repeated.Key} is listed twice", nameof(logDirs));
        _logDirs = full;
        _defaultConfig = defaultConfig;
        _topicConfig = topicConfig;
        _clock = clock;
        _log = log ?? (_ => { });
        _options = (options ?? LogManagerOptions.Default).Validate();
    }

    private enum State { New, Running, Failed, Closed }

    /// <summary>One open log and where it lives.</summary>
    private sealed class Entry(PartitionLog log, string logDir, long lastFlushMs)
    {
        public PartitionLog Log { get; } = log;
        public string LogDir { get; } = logDir;
        public long LastFlushMs = lastFlushMs;
    }

    /// <summary>The log directories as full paths, in the order given.</summary>
    public IReadOnlyList<string> LogDirs => _logDirs;

    /// <summary>Every partition with an open log.</summary>
    public IReadOnlyCollection<TopicPartition> Partitions => _logs.Keys.ToList();

    /// <summary>A snapshot of every open log (for the server's retention and cleaner timers).</summary>
    public IReadOnlyDictionary<TopicPartition, PartitionLog> Logs => _logs.ToDictionary(p => p.Key, p => p.Value.Log);

    /// <summary>The log of <paramref name="tp"/>, or null when this node has none.</summary>
    public PartitionLog? Get(TopicPartition tp) => _logs.TryGetValue(tp, out var entry) ? entry.Log : null;

    /// <summary>The log directory (one of <see cref="LogDirs"/>) holding <paramref name="tp"/>, or null.</summary>
    public string? LogDirOf(TopicPartition tp) => _logs.TryGetValue(tp, out var entry) ? entry.LogDir : null;

    /// <summary>
    /// Prepares every directory (created if missing; <see cref="StorageException"/> naming it if it
    /// is not writable), reads its checkpoints and clean-shutdown marker, and opens every partition
    /// found. On failure every log opened so far is closed again and the manager is unusable.
    /// </summary>
    public void Start()
    {
        lock (_sync)
        {
            if (_state != State.New) throw new InvalidOperationException($"LogManager is {_state}; Start runs once");
            _state = State.Failed; // until everything below succeeds
            foreach (var dir in _logDirs) LogDirectories.EnsureUsable(dir);
            var states = _logDirs.Select(LoadDirectory).ToList();
            RejectDuplicates(states);
            foreach (var state in states)
                foreach (var path in state.PendingDeletions) ScheduleDeletion(path);
            OpenAll(states);
            try
            {
                // Drop entries of partitions that are gone, so a re-created one cannot inherit them.
                foreach (var dir in _logDirs) CheckpointDirectory(dir);
            }
            catch
            {
                CloseAfterFailedStart();
                throw;
            }
            _state = State.Running;
            _log($"log manager started: {_logs.Count} logs in {_logDirs.Count} directories");
        }
    }

    /// <summary>
    /// The log of <paramref name="tp"/>, created if this node has none: in the log directory holding
    /// the fewest partitions (the first such in <see cref="LogDirs"/> on a tie), with
    /// <paramref name="config"/> or else the topic's config.
    /// </summary>
    public PartitionLog GetOrCreateLog(TopicPartition tp, LogConfig? config = null)
    {
        if (_logs.TryGetValue(tp, out var existing)) return existing.Log;
        if (!LogDirectories.IsLegalTopic(tp.Topic) || tp.Partition < 0)
            throw new ArgumentException($"'{tp.Topic}' partition {tp.Partition} is not a legal topic partition", nameof(tp));
        lock (_sync)
        {
            EnsureRunning();
            if (_logs.TryGetValue(tp, out existing)) return existing.Log;
            var logDir = LeastLoadedDirectory();
            var path = Path.Combine(logDir, tp.DirectoryName);
            try
            {
                Directory.CreateDirectory(path);
                AtomicFile.FsyncDirectory(logDir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StorageException($"cannot create log directory {path}: {e.Message}", e);
            }
            PartitionLog log;
            try
            {
                log = PartitionLog.Open(path, tp, config ?? ConfigFor(tp.Topic), _clock, new LogOpenOptions(Log: _log));
            }
            catch
            {
                TryRemoveEmptyDirectory(path);
                throw;
            }
            _logs[tp] = new Entry(log, logDir, _clock.MonotonicMs);
            _log($"created log {path}");
            return log;
        }
    }

    /// <summary>
    /// Closes and removes the log of <paramref name="tp"/>: its directory is renamed to
    /// <c>&lt;topic&gt;-&lt;partition&gt;.&lt;uuid&gt;-delete</c> at once (a restart finishes the job)
    /// and removed in the background; the directory's checkpoints are rewritten without it.
    /// Returns false when this node has no such log.
    /// </summary>
    public bool DeleteLog(TopicPartition tp)
    {
        lock (_sync)
        {
            EnsureRunning();
            if (!_logs.TryRemove(tp, out var entry)) return false;
            var source = Path.Combine(entry.LogDir, tp.DirectoryName);
            var target = Path.Combine(entry.LogDir, LogDirectories.DeletedName(tp));
            entry.Log.Close();
            try
            {
                Directory.Move(source, target);
                AtomicFile.FsyncDirectory(entry.LogDir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new StorageException($"cannot rename {source} to {target} for deletion: {e.Message}", e);
            }
            CheckpointDirectory(entry.LogDir);
            ScheduleDeletion(target);
            _log($"deleted log {source} (removing {Path.GetFileName(target)} in the background)");
            return true;
        }
    }

    /// <summary>Completes when every background directory removal started so far has finished.</summary>
    public Task PendingDeletions()
    {
        lock (_deletions) return Task.WhenAll(_deletions);
    }

    public void Dispose() => Close();

    private LogConfig ConfigFor(string topic) => _topicConfig(topic) ?? _defaultConfig;

    private void EnsureRunning()
    {
        if (_state != State.Running) throw new InvalidOperationException($"LogManager is {_state}");
    }

    private string LeastLoadedDirectory()
    {
        var counts = _logDirs.ToDictionary(d => d, _ => 0, StringComparer.Ordinal);
        foreach (var entry in _logs.Values) counts[entry.LogDir]++;
        var best = _logDirs[0];
        foreach (var dir in _logDirs)
            if (counts[dir] < counts[best]) best = dir;
        return best;
    }

    private LogDirectories.State LoadDirectory(string dir)
    {
        try
        {
            return LogDirectories.Load(dir, _log);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException($"cannot load log directory {dir}: {e.Message}", e);
        }
    }

    private static void RejectDuplicates(List<LogDirectories.State> states)
    {
        var seen = new Dictionary<TopicPartition, string>();
        foreach (var state in states)
            foreach (var tp in state.Partitions)
                if (!seen.TryAdd(tp, state.Directory))
                    throw new StorageException(
                        $"partition {tp} is in two log directories: {Path.Combine(seen[tp], tp.DirectoryName)} and {Path.Combine(state.Directory, tp.DirectoryName)}");
    }

    private static void TryRemoveEmptyDirectory(string path)
    {
        try
        {
            if (Directory.Exists(path) && !Directory.EnumerateFileSystemEntries(path).Any()) Directory.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // An empty leftover opens as an empty log on the next start: harmless.
        }
    }

    private void ScheduleDeletion(string path)
    {
        var task = Task.Run(() =>
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log($"could not remove deleted log {path} (the next start retries): {e.Message}");
            }
        });
        lock (_deletions)
        {
            _deletions.RemoveAll(t => t.IsCompleted);
            _deletions.Add(task);
        }
    }
}
