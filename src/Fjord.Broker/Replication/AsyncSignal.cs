namespace Fjord.Broker.Replication;

/// <summary>
/// A level-triggered wake-up for one waiter: <see cref="Set"/> completes the current wait (or the
/// next one, if nobody waits yet); <see cref="Reset"/> arms a new one. A waiter calls Reset, then
/// looks at the state it waits on, then awaits <see cref="WaitAsync"/> — a Set between the look
/// and the wait is never lost. Continuations run asynchronously, so Set may be called under locks.
/// </summary>
internal sealed class AsyncSignal
{
    private TaskCompletionSource _tcs = NewSource();

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Set() => Volatile.Read(ref _tcs).TrySetResult();

    public void Reset()
    {
        var current = Volatile.Read(ref _tcs);
        if (current.Task.IsCompleted) Interlocked.CompareExchange(ref _tcs, NewSource(), current);
    }

    /// <summary>True when set within <paramref name="timeoutMs"/>; false on timeout. Throws on cancellation.</summary>
    public async Task<bool> WaitAsync(long timeoutMs, CancellationToken cancellationToken)
    {
        var task = Volatile.Read(ref _tcs).Task;
        if (task.IsCompleted) return true;
        if (timeoutMs <= 0) return false;
        try
        {
            await task.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(timeoutMs, int.MaxValue)), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }
}
