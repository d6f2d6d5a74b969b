using System.Collections.Concurrent;

namespace Fjord.Controller;

/// <summary>
/// Where <see cref="QuorumController"/> runs its events: one at a time, in the order they were
/// posted, never concurrently. The controller's state is touched only from inside these events.
/// </summary>
public interface IControllerEventQueue : IDisposable
{
    void Post(Action action);
}

/// <summary>A queue the caller pumps (<see cref="RunPending"/>): deterministic, for tests and the
/// in-memory harness. Posting from inside an event queues behind it (no re-entrancy).</summary>
public sealed class ManualEventQueue : IControllerEventQueue
{
    private readonly ConcurrentQueue<Action> _queue = new();
    private bool _running;

    public void Post(Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        _queue.Enqueue(action);
    }

    public int Pending => _queue.Count;

    /// <summary>Runs every event posted so far and those they post; returns how many ran. A call
    /// made from inside an event returns 0 (the outer call runs the rest).</summary>
    public int RunPending()
    {
        if (_running) return 0;
        _running = true;
        int count = 0;
        try
        {
            while (_queue.TryDequeue(out var action))
            {
                action();
                count++;
            }
        }
        finally
        {
            _running = false;
        }
        return count;
    }

    public void Dispose() => _queue.Clear();
}

/// <summary>A dedicated thread draining a queue (production). An event that throws stops nothing:
/// the exception goes to <paramref name="onError"/> and the loop goes on.</summary>
public sealed class ThreadEventQueue : IControllerEventQueue
{
    private readonly BlockingCollection<Action> _queue = [];
    private readonly Thread _thread;
    private readonly Action<Exception> _onError;

    public ThreadEventQueue(string name, Action<Exception>? onError = null)
    {
        _onError = onError ?? (_ => { });
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public void Post(Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        try
        {
            _queue.Add(action);
        }
        catch (InvalidOperationException)
        {
            // disposed: events posted after shutdown are dropped
        }
    }

    private void Loop()
    {
        foreach (var action in _queue.GetConsumingEnumerable())
        {
            try
            {
                action();
            }
#pragma warning disable CA1031 // the loop must survive a failing event; the error is reported
            catch (Exception e)
#pragma warning restore CA1031
            {
                _onError(e);
            }
        }
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        if (Thread.CurrentThread != _thread) _thread.Join();
        _queue.Dispose();
    }
}
