using System.Collections.Concurrent;
using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Storage;

namespace Fjord.Broker.Transactions;

/// <summary>Transaction timeouts, transactional-id expiration, and DescribeTransactions / ListTransactions.</summary>
public sealed partial class TransactionCoordinator
{
    // ------------------------------------------------------------------ timeouts and expiration

    /// <summary>
    /// Aborts every ongoing transaction whose timeout has passed (start + timeout &lt; now), with the
    /// epoch bumped so the producer is fenced. Returns how many aborts were persisted.
    /// </summary>
    public async Task<int> AbortTimedOutTransactionsAsync()
    {
        long now = _clock.UnixTimeMs;
        var fences = new List<TransactionMetadata>();
        lock (_lock)
        {
            foreach (var p in _partitions.Values)
            {
                if (p.Loading) continue;
                foreach (var entry in p.Entries.Values)
                {
                    var m = entry.Current;
                    if (m.State != TransactionState.Ongoing || entry.Pending is not null || m.StartTimestampMs + m.TimeoutMs >= now) continue;
                    entry.Pending = FenceOf(m);
                    fences.Add(entry.Pending);
                }
            }
        }
        int aborted = 0;
        foreach (var fence in fences)
        {
            _log($"transaction '{fence.TransactionalId}' (producer {fence.ProducerId}) timed out after {fence.TimeoutMs} ms; aborting it with epoch {fence.ProducerEpoch}");
            var error = await EndTransactionAsync(fence.TransactionalId, fence.ProducerId, fence.ProducerEpoch, commit: false, fromClient: false, fence).ConfigureAwait(false);
            if (error == ErrorCode.None) aborted++;
            else ClearPending(fence.TransactionalId, fence);
        }
        return aborted;
    }

    /// <summary>Removes (tombstones) ids idle in Empty/CompleteCommit/CompleteAbort for <c>transactional.id.expiration.ms</c>. Returns how many.</summary>
    public async Task<int> RemoveExpiredTransactionalIdsAsync()
    {
        long now = _clock.UnixTimeMs;
        var dead = new List<(int Partition, int Epoch, TransactionMetadata Dead)>();
        lock (_lock)
        {
            foreach (var p in _partitions.Values)
            {
                if (p.Loading) continue;
                foreach (var entry in p.Entries.Values)
                {
                    var m = entry.Current;
                    if (entry.Pending is not null || m.State is not (TransactionState.Empty or TransactionState.CompleteCommit or TransactionState.CompleteAbort)
                        || m.LastUpdateTimestampMs > now - _options.TransactionalIdExpirationMs) continue;
                    entry.Pending = m with { State = TransactionState.Dead, Partitions = TransactionMetadata.NoPartitions, LastUpdateTimestampMs = now };
                    dead.Add((p.Index, p.Epoch, entry.Pending));
                }
            }
        }
        int removed = 0;
        foreach (var (partition, epoch, m) in dead)
            if (await PersistAsync(partition, epoch, m.TransactionalId, m, next: null, keepPendingOnError: false).ConfigureAwait(false) == ErrorCode.None)
                removed++;
        return removed;
    }

    /// <summary>Starts the periodic timeout and expiration checks (until <see cref="DisposeAsync"/>).</summary>
    public void Start()
    {
        lock (_lock)
        {
            if (!_timer.IsCompleted) return;
            _timer = Task.Run(TimerLoopAsync);
        }
    }

    private async Task TimerLoopAsync()
    {
        var token = _stopping.Token;
        long nextAbort = _clock.MonotonicMs + _options.AbortTimedOutTransactionsIntervalMs;
        long nextExpire = _clock.MonotonicMs + _options.RemoveExpiredTransactionalIdsIntervalMs;
        try
        {
            while (!token.IsCancellationRequested)
            {
                long wait = Math.Clamp(Math.Min(nextAbort, nextExpire) - _clock.MonotonicMs, 1, int.MaxValue);
                await Task.Delay(TimeSpan.FromMilliseconds(wait), token).ConfigureAwait(false);
                try
                {
                    if (_clock.MonotonicMs >= nextAbort)
                    {
                        await AbortTimedOutTransactionsAsync().ConfigureAwait(false);
                        nextAbort = _clock.MonotonicMs + _options.AbortTimedOutTransactionsIntervalMs;
                    }
                    if (_clock.MonotonicMs >= nextExpire)
                    {
                        await RemoveExpiredTransactionalIdsAsync().ConfigureAwait(false);
                        nextExpire = _clock.MonotonicMs + _options.RemoveExpiredTransactionalIdsIntervalMs;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _log($"transaction coordinator: periodic check failed: {e.Message}");
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    // ------------------------------------------------------------------ Describe / List

    /// <summary>DescribeTransactions v0.</summary>
    public DescribeTransactionsResponse DescribeTransactions(DescribeTransactionsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        _ = version;
        var response = new DescribeTransactionsResponse();
        lock (_lock)
        {
            foreach (var id in request.TransactionalIds)
            {
                var state = new DescribeTransactionsResponse.TransactionStateData { TransactionalId = id ?? "" };
                response.TransactionStates.Add(state);
                if (string.IsNullOrEmpty(id)) { state.ErrorCode = (short)ErrorCode.TransactionalIdNotFound; continue; }
                if (!TryOwnerLocked(id, out var p, out var error)) { state.ErrorCode = (short)error; continue; }
                if (!p.Entries.TryGetValue(id, out var entry) || entry.Current.State == TransactionState.Dead)
                {
                    state.ErrorCode = (short)ErrorCode.TransactionalIdNotFound;
                    continue;
                }
                var m = entry.Current;
                state.TransactionState = m.State.Name();
                state.TransactionTimeoutMs = m.TimeoutMs;
                state.TransactionStartTimeMs = m.StartTimestampMs;
                state.ProducerId = m.ProducerId;
                state.ProducerEpoch = m.ProducerEpoch;
                foreach (var tp in m.Partitions)
                {
                    if (state.Topics.Count == 0 || state.Topics[^1].Topic != tp.Topic)
                        state.Topics.Add(new DescribeTransactionsResponse.TopicData { Topic = tp.Topic });
                    state.Topics[^1].Partitions.Add(tp.Partition);
                }
            }
        }
        return response;
    }

    /// <summary>ListTransactions v0–1: every transaction of the loaded partitions matching the filters
    /// (state names, producer ids, running longer than DurationFilter ms); Dead ids are never listed;
    /// unknown state names are echoed in UnknownStateFilters. A partition still loading: COORDINATOR_LOAD_IN_PROGRESS.</summary>
    public ListTransactionsResponse ListTransactions(ListTransactionsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new ListTransactionsResponse();
        var states = new HashSet<TransactionState>();
        foreach (var name in request.StateFilters)
        {
            if (name is not null && TransactionStates.TryParse(name, out var s)) states.Add(s);
            else response.UnknownStateFilters.Add(name ?? "");
        }
        var producers = request.ProducerIdFilters.ToHashSet();
        long duration = version >= 1 ? request.DurationFilter : -1;
        long now = _clock.UnixTimeMs;
        lock (_lock)
        {
            if (_partitions.Values.Any(p => p.Loading))
            {
                response.ErrorCode = (short)ErrorCode.CoordinatorLoadInProgress;
                return response;
            }
            foreach (var p in _partitions.Values.OrderBy(p => p.Index))
                foreach (var (id, entry) in p.Entries.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    var m = entry.Current;
                    if (m.State == TransactionState.Dead) continue;
                    if (producers.Count > 0 && !producers.Contains(m.ProducerId)) continue;
                    if (request.StateFilters.Count > 0 && !states.Contains(m.State)) continue;
                    if (duration >= 0 && now - m.StartTimestampMs <= duration) continue;
                    response.TransactionStates.Add(new ListTransactionsResponse.TransactionStateData
                    {
                        TransactionalId = id,
                        ProducerId = m.ProducerId,
                        TransactionState = m.State.Name(),
                    });
                }
        }
        return response;
    }
}
