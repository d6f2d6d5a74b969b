namespace Fjord.Storage;

public sealed partial class LogManager
{
    /// <summary>
    /// Opens every partition found on start, in parallel, each with its directory's recovery point
    /// and log start offset and whether that directory was closed cleanly. If any fails, the ones
    /// opened are closed again and a <see cref="StorageException"/> names the first failure.
    /// </summary>
    private void OpenAll(List<LogDirectories.State> states)
    {
        var work = states.SelectMany(s => s.Partitions.Select(tp => (State: s, Tp: tp))).ToList();
        var failures = new OpenFailures();
        long now = _clock.MonotonicMs;
        Parallel.ForEach(work, new ParallelOptions { MaxDegreeOfParallelism = _options.RecoveryParallelism }, item =>
        {
            var (state, tp) = item;
            var path = Path.Combine(state.Directory, tp.DirectoryName);
            try
            {
                var options = new LogOpenOptions(
                    RecoveryPoint: state.RecoveryPoints.GetValueOrDefault(tp, 0),
                    LogStartOffset: state.LogStartOffsets.TryGetValue(tp, out long start) ? start : null,
                    HadCleanShutdown: state.HadCleanShutdown,
                    Log: _log);
                var log = PartitionLog.Open(path, tp, ConfigFor(tp.Topic), _clock, options);
                _logs[tp] = new Entry(log, state.Directory, now);
            }
            catch (Exception e)
            {
                failures.Add(path, e);
            }
        });
        if (failures.IsEmpty) return;

        CloseAfterFailedStart();
        var (firstPath, firstError) = failures.First();
        throw new StorageException(
            $"cannot open log {firstPath}: {firstError.Message}" + (failures.Count > 1 ? $" (and {failures.Count - 1} more logs failed)" : ""),
            firstError);
    }

    /// <summary>Closes whatever Start opened before it failed; nothing is checkpointed or marked.</summary>
    private void CloseAfterFailedStart()
    {
        foreach (var (tp, entry) in _logs)
        {
            try { entry.Log.Close(); }
            catch (Exception e) { _log($"closing {tp} after a failed start: {e.Message}"); }
        }
        _logs.Clear();
    }

    /// <summary>Failures from the parallel open, reported in a stable (path) order.</summary>
    private sealed class OpenFailures
    {
        private readonly List<(string Path, Exception Error)> _items = [];

        public bool IsEmpty
        {
            get { lock (_items) return _items.Count == 0; }
        }

        public int Count
        {
            get { lock (_items) return _items.Count; }
        }

        public void Add(string path, Exception error)
        {
            lock (_items) _items.Add((path, error));
        }

        public (string Path, Exception Error) First()
        {
            lock (_items) return _items.OrderBy(i => i.Path, StringComparer.Ordinal).First();
        }
    }
}
