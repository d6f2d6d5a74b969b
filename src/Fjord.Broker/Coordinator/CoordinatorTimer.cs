namespace Fjord.Broker.Coordinator;

/// <summary>A scheduled action; <see cref="Cancel"/> makes sure it does not run (if it has not started).</summary>
public interface ITimerHandle
{
    void Cancel();
}

/// <summary>
/// Runs actions after a delay (session expiry, rebalance delays, retention checks). Actions run on
/// some pool thread, never inline in <see cref="Schedule"/>; each takes its own locks.
/// </summary>
public interface ICoordinatorTimer
{
    ITimerHandle Schedule(long delayMs, Action action);
}

/// <summary>
/// One scheduler for many timers: a priority queue of deadlines and a single
/// <see cref="System.Threading.Timer"/> armed for the earliest. No thread sleeps or polls; a
/// cancelled entry is dropped when it comes due. Thread-safe.
/// </summary>
public sealed class CoordinatorScheduler : ICoordinatorTimer, IDisposable
{
    private readonly PriorityQueue<Entry, (long Deadline, long Seq)> _queue = new();
    private readonly Timer _timer;
    private readonly Func<long> _nowMs;
    private readonly Action<string> _log;
    private long _seq;
    private long _armedFor = long.MaxValue;
    private bool _disposed;

    public CoordinatorScheduler(Func<long>? monotonicNowMs = null, Action<string>? log = null)
    {
        _nowMs = monotonicNowMs ?? (() => Environment.TickCount64);
        _log = log ?? (_ => { });
        _timer = new Timer(_ => Fire(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>How many entries (cancelled ones included until they come due) are queued.</summary>
    public int Pending
    {
        get { lock (_queue) return _queue.Count; }
    }

    public ITimerHandle Schedule(long delayMs, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        var entry = new Entry(action);
        lock (_queue)
        {
            if (_disposed) return entry;
            long deadline = _nowMs() + Math.Max(0, delayMs);
            _queue.Enqueue(entry, (deadline, _seq++));
            ArmLocked();
        }
        return entry;
    }

    private void ArmLocked()
    {
        if (_disposed || !_queue.TryPeek(out _, out var head)) return;
        if (head.Deadline >= _armedFor) return;
        _armedFor = head.Deadline;
        long due = Math.Max(0, head.Deadline - _nowMs());
        _timer.Change(Math.Min(due, int.MaxValue - 1), Timeout.Infinite);
    }

    private void Fire()
    {
        var due = new List<Entry>();
        lock (_queue)
        {
            if (_disposed) return;
            _armedFor = long.MaxValue;
            long now = _nowMs();
            while (_queue.TryPeek(out var entry, out var key) && key.Deadline <= now)
            {
                _queue.Dequeue();
                if (!entry.Cancelled) due.Add(entry);
            }
            ArmLocked();
        }
        foreach (var entry in due)
        {
            if (entry.Cancelled) continue;
            try
            {
                entry.Action();
            }
            catch (Exception e)
            {
                _log($"coordinator timer action failed: {e}");
            }
        }
    }

    public void Dispose()
    {
        lock (_queue)
        {
            _disposed = true;
            _queue.Clear();
        }
        _timer.Dispose();
    }

    private sealed class Entry(Action action) : ITimerHandle
    {
        private volatile bool _cancelled;
        public Action Action { get; } = action;
        public bool Cancelled => _cancelled;
        public void Cancel() => _cancelled = true;
    }
}

/// <summary>A timer driven by hand (tests): <see cref="Advance"/> runs what comes due, in deadline order, on the caller's thread.</summary>
public sealed class ManualCoordinatorTimer : ICoordinatorTimer
{
    private readonly PriorityQueue<Entry, (long Deadline, long Seq)> _queue = new();
    private long _seq;

    public long NowMs { get; private set; }

    public ITimerHandle Schedule(long delayMs, Action action)
    {
        var entry = new Entry(action);
        lock (_queue) _queue.Enqueue(entry, (NowMs + Math.Max(0, delayMs), _seq++));
        return entry;
    }

    /// <summary>Moves time forward by <paramref name="ms"/>, running every action due by then (also those scheduled meanwhile).</summary>
    public void Advance(long ms)
    {
        long target = NowMs + ms;
        for (int i = 0; i < 1_000_000; i++)
        {
            Entry? next = null;
            lock (_queue)
            {
                if (_queue.TryPeek(out var e, out var key) && key.Deadline <= target)
                {
                    _queue.Dequeue();
                    NowMs = Math.Max(NowMs, key.Deadline);
                    next = e;
                }
            }
            if (next is null) break;
            if (!next.Cancelled) next.Action();
        }
        NowMs = target;
    }

    private sealed class Entry(Action action) : ITimerHandle
    {
        public Action Action { get; } = action;
        public bool Cancelled { get; private set; }
        public void Cancel() => Cancelled = true;
    }
}
