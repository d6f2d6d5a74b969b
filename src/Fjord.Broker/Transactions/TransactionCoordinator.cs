using System.Collections.Concurrent;
using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Storage;

namespace Fjord.Broker.Transactions;

/// <summary>
/// Kafka's transaction coordinator for the transactional ids whose <c>__transaction_state</c>
/// partition this broker leads: InitProducerId (with a transactional id), AddPartitionsToTxn,
/// AddOffsetsToTxn, EndTxn, DescribeTransactions, ListTransactions, transaction timeouts and
/// transactional-id expiration. State lives in memory per loaded partition; every change is first
/// appended to the partition (<see cref="ITransactionLogAppender"/>, acks=all) and applied only once
/// the append succeeded, so replaying the partition (<see cref="LoadPartition"/>) rebuilds it.
/// </summary>
/// <remarks>
/// <para><b>One change at a time per transactional id.</b> A change is computed under the
/// coordinator's lock from the current state, recorded as the id's <i>pending</i> state, appended
/// outside the lock, then applied (success) or dropped (failure). While a pending state exists
/// every other request for that id is answered CONCURRENT_TRANSACTIONS (retriable). The pending
/// state of a completing transaction (Complete* while its markers are written) counts too.</para>
/// <para><b>EndTxn.</b> The Prepare state is persisted and the client answered; the markers are
/// then written in the background to every partition of the transaction
/// (<see cref="ITxnMarkerSender"/>, retried with backoff while this broker still coordinates the id at
/// the same coordinator epoch), and last the Complete state is persisted. A coordinator that loads
/// a partition finishes every transaction it finds in a Prepare state the same way.</para>
/// <para><b>Fencing.</b> InitProducerId for an id with an ongoing transaction, and the timeout of
/// an ongoing transaction, abort it with the epoch bumped by one (the transient PrepareEpochFence
/// state, never persisted); InitProducerId then answers CONCURRENT_TRANSACTIONS and the client's
/// retry bumps the epoch again (or rotates to a new producer id when the epoch is exhausted).</para>
/// <para><b>Coordinator epoch.</b> Each loaded partition carries the leader epoch it was loaded at;
/// an append that completes after the partition was unloaded or reloaded answers NOT_COORDINATOR
/// and changes nothing; marker writing stops.</para>
/// <para>Time: <see cref="IClock.UnixTimeMs"/> for every timestamp and timeout (as Kafka's
/// <c>time.milliseconds()</c>).</para>
/// </remarks>
public sealed partial class TransactionCoordinator : IAsyncDisposable
{
    private sealed class Entry(TransactionMetadata current)
    {
        public TransactionMetadata Current = current;
        public TransactionMetadata? Pending;
    }

    private sealed class CoordinatorPartition(int index, int epoch)
    {
        public readonly int Index = index;
        public readonly int Epoch = epoch;
        public bool Loading = true;
        public readonly Dictionary<string, Entry> Entries = new(StringComparer.Ordinal);
    }

    private readonly TransactionCoordinatorOptions _options;
    private readonly ITransactionLogAppender _appender;
    private readonly ITxnMarkerSender _markers;
    private readonly Func<CancellationToken, Task<long>> _nextProducerId;
    private readonly Func<TopicPartition, bool> _partitionExists;
    private readonly IClock _clock;
    private readonly Action<string> _log;
    private readonly object _lock = new();
    private readonly Dictionary<int, CoordinatorPartition> _partitions = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, byte> _background = new();
    private Task _timer = Task.CompletedTask;

    /// <param name="options">Settings.</param>
    /// <param name="appender">Appends to <c>__transaction_state</c> partitions.</param>
    /// <param name="markers">Writes transaction markers.</param>
    /// <param name="nextProducerId">A new producer id (e.g. <c>ProducerIdManager.NextProducerIdAsync</c>), or -1 when none is available now.</param>
    /// <param name="clock">Time.</param>
    /// <param name="partitionExists">Whether a partition exists in the current metadata (AddPartitionsToTxn refuses others; markers to them are dropped). Null: all exist.</param>
    /// <param name="log">Diagnostics.</param>
    public TransactionCoordinator(TransactionCoordinatorOptions options, ITransactionLogAppender appender, ITxnMarkerSender markers,
        Func<CancellationToken, Task<long>> nextProducerId, IClock clock, Func<TopicPartition, bool>? partitionExists = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(appender);
        ArgumentNullException.ThrowIfNull(markers);
        ArgumentNullException.ThrowIfNull(nextProducerId);
        ArgumentNullException.ThrowIfNull(clock);
        _options = options;
        _appender = appender;
        _markers = markers;
        _nextProducerId = nextProducerId;
        _clock = clock;
        _partitionExists = partitionExists ?? (_ => true);
        _log = log ?? (_ => { });
    }

    public TransactionCoordinatorOptions Options => _options;

    /// <summary>The <c>__transaction_state</c> partition of a transactional id.</summary>
    public int PartitionFor(string transactionalId) => TransactionLog.PartitionFor(transactionalId, _options.TransactionStateLogPartitions);

    // ------------------------------------------------------------------ partitions

    /// <summary>This broker became leader of <paramref name="partition"/> at <paramref name="coordinatorEpoch"/>:
    /// requests for its ids are answered COORDINATOR_LOAD_IN_PROGRESS until <see cref="CompleteLoading"/>.
    /// Ignored when the partition is already known at a higher epoch.</summary>
    public void BeginLoading(int partition, int coordinatorEpoch)
    {
        lock (_lock)
        {
            if (_partitions.TryGetValue(partition, out var p) && p.Epoch > coordinatorEpoch) return;
            _partitions[partition] = new CoordinatorPartition(partition, coordinatorEpoch);
        }
    }

    /// <summary>
    /// Replays the partition's records (in log order) and starts serving its ids; transactions found
    /// in PrepareCommit/PrepareAbort get their markers written and are completed. Returns false
    /// (nothing changed) when the partition was unloaded or reloaded at another epoch meanwhile.
    /// </summary>
    public bool CompleteLoading(int partition, int coordinatorEpoch, IEnumerable<TransactionLogRecord> records)
    {
        var replayed = TransactionLog.Replay(records, _log);
        var toComplete = new List<(string Id, TransactionMetadata Prepare, TransactionMetadata Complete)>();
        long now = _clock.UnixTimeMs;
        lock (_lock)
        {
            if (!_partitions.TryGetValue(partition, out var p) || p.Epoch != coordinatorEpoch || !p.Loading) return false;
            foreach (var (id, m) in replayed)
            {
                if (PartitionFor(id) != partition)
                {
                    _log($"{TransactionLog.TopicName}-{partition}: ignoring transactional id '{id}', which belongs to partition {PartitionFor(id)}");
                    continue;
                }
                if (m.State is TransactionState.Dead or TransactionState.PrepareEpochFence) continue;
                var entry = new Entry(m);
                if (m.State is TransactionState.PrepareCommit or TransactionState.PrepareAbort)
                {
                    entry.Pending = CompleteOf(m, now);
                    toComplete.Add((id, m, entry.Pending));
                }
                p.Entries[id] = entry;
            }
            p.Loading = false;
        }
        foreach (var (id, prepare, complete) in toComplete) Track(CompleteTransactionAsync(partition, coordinatorEpoch, id, prepare, complete));
        _log($"{TransactionLog.TopicName}-{partition}: loaded {replayed.Count} transactional ids at coordinator epoch {coordinatorEpoch}, {toComplete.Count} to complete");
        return true;
    }

    /// <summary><see cref="BeginLoading"/> then <see cref="CompleteLoading"/>.</summary>
    public bool LoadPartition(int partition, int coordinatorEpoch, IEnumerable<TransactionLogRecord> records)
    {
        BeginLoading(partition, coordinatorEpoch);
        return CompleteLoading(partition, coordinatorEpoch, records);
    }

    /// <summary>This broker no longer leads <paramref name="partition"/>: its state is dropped (when
    /// <paramref name="coordinatorEpoch"/> is given, only if loaded at that epoch or before).</summary>
    public void UnloadPartition(int partition, int? coordinatorEpoch = null)
    {
        lock (_lock)
        {
            if (_partitions.TryGetValue(partition, out var p) && (coordinatorEpoch is not { } e || p.Epoch <= e))
                _partitions.Remove(partition);
        }
    }

    /// <summary>The partitions this coordinator has (loaded or loading), with their epochs.</summary>
    public IReadOnlyDictionary<int, (int Epoch, bool Loading)> Partitions
    {
        get { lock (_lock) return _partitions.ToDictionary(kv => kv.Key, kv => (kv.Value.Epoch, kv.Value.Loading)); }
    }

    /// <summary>The persisted (last applied) state of an id, or null when unknown here.</summary>
    public TransactionMetadata? Get(string transactionalId)
    {
        lock (_lock)
            return _partitions.TryGetValue(PartitionFor(transactionalId), out var p) && p.Entries.TryGetValue(transactionalId, out var e) ? e.Current : null;
    }

    /// <summary>The change in progress for an id (null when none).</summary>
    public TransactionMetadata? GetPending(string transactionalId)
    {
        lock (_lock)
            return _partitions.TryGetValue(PartitionFor(transactionalId), out var p) && p.Entries.TryGetValue(transactionalId, out var e) ? e.Pending : null;
    }

    /// <summary>The applied state of every id of a loaded partition.</summary>
    public IReadOnlyDictionary<string, TransactionMetadata> Snapshot(int partition)
    {
        lock (_lock)
            return _partitions.TryGetValue(partition, out var p)
                ? p.Entries.ToDictionary(kv => kv.Key, kv => kv.Value.Current, StringComparer.Ordinal)
                : new Dictionary<string, TransactionMetadata>();
    }

    // ------------------------------------------------------------------ InitProducerId

    /// <summary>InitProducerId v0–5 with a transactional id (PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH before v4).</summary>
    public async Task<InitProducerIdResponse> InitProducerIdAsync(InitProducerIdRequest request, short version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (error, producerId, epoch) = await InitProducerIdAsync(request.TransactionalId, request.TransactionTimeoutMs,
            version >= 3 ? request.ProducerId : -1, version >= 3 ? request.ProducerEpoch : (short)-1, cancellationToken).ConfigureAwait(false);
        if (error == ErrorCode.ProducerFenced && version < 4) error = ErrorCode.InvalidProducerEpoch;
        return error == ErrorCode.None
            ? new InitProducerIdResponse { ProducerId = producerId, ProducerEpoch = epoch }
            : new InitProducerIdResponse { ErrorCode = (short)error, ProducerId = -1, ProducerEpoch = -1 };
    }

    /// <summary>The state machine of InitProducerId: the id and epoch to use, or the error.</summary>
    public async Task<(ErrorCode Error, long ProducerId, short ProducerEpoch)> InitProducerIdAsync(string? transactionalId, int transactionTimeoutMs,
        long expectedProducerId, short expectedEpoch, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(transactionalId)) return (ErrorCode.InvalidRequest, -1, -1);
        if (transactionTimeoutMs <= 0 || transactionTimeoutMs > _options.TransactionMaxTimeoutMs) return (ErrorCode.InvalidTransactionTimeout, -1, -1);
        bool hasExpected = expectedProducerId != -1 || expectedEpoch != -1;
        if (hasExpected && (expectedProducerId < 0 || expectedEpoch < 0)) return (ErrorCode.InvalidRequest, -1, -1);
        string id = transactionalId;
        long freshId = -1;
        // A round either decides, or finds it needs a new producer id (asked outside the lock); two suffice.
        for (int round = 0; round < 3; round++)
        {
            bool needId = false;
            TransactionMetadata? transit = null, fence = null;
            int partition = 0, coordinatorEpoch = 0;
            long now = _clock.UnixTimeMs;
            lock (_lock)
            {
                if (!TryOwnerLocked(id, out var p, out var error)) return (error, -1, -1);
                if (!p.Entries.TryGetValue(id, out var entry))
                {
                    if (freshId < 0) needId = true;
                    else
                    {
                        entry = new Entry(new TransactionMetadata(id, freshId, -1, -1, -1, transactionTimeoutMs, TransactionState.Empty,
                            TransactionMetadata.NoPartitions, -1, now));
                        p.Entries[id] = entry;
                        freshId = -1;
                    }
                }
                if (entry is not null)
                {
                    var m = entry.Current;
                    if (entry.Pending is not null) return (ErrorCode.ConcurrentTransactions, -1, -1);
                    // KIP-360: a producer that says who it was must be the current one (or retrying a rotation).
                    if (hasExpected && !(m.ProducerEpoch == -1 || expectedProducerId == m.ProducerId
                        || (expectedProducerId == m.PreviousProducerId && TransactionStates.IsEpochExhausted(expectedEpoch))))
                        return (ErrorCode.ProducerFenced, -1, -1);
                    switch (m.State)
                    {
                        case TransactionState.PrepareCommit or TransactionState.PrepareAbort:
                            return (ErrorCode.ConcurrentTransactions, -1, -1);
                        case TransactionState.Empty or TransactionState.CompleteCommit or TransactionState.CompleteAbort:
                            if (TransactionStates.IsEpochExhausted(m.ProducerEpoch) && (!hasExpected || expectedEpoch == m.ProducerEpoch))
                            {
                                if (freshId < 0) { needId = true; break; }
                                transit = m with
                                {
                                    ProducerId = freshId, PreviousProducerId = m.ProducerId, ProducerEpoch = 0,
                                    LastProducerEpoch = hasExpected ? m.ProducerEpoch : (short)-1, TimeoutMs = transactionTimeoutMs,
                                    State = TransactionState.Empty, Partitions = TransactionMetadata.NoPartitions, StartTimestampMs = -1, LastUpdateTimestampMs = now,
                                };
                                freshId = -1;
                            }
                            else
                            {
                                short bumped = (short)(m.ProducerEpoch + 1);
                                (short next, short last) epochs;
                                if (!hasExpected) epochs = (bumped, -1);
                                else if (m.ProducerEpoch == -1 || expectedEpoch == m.ProducerEpoch) epochs = (bumped, m.ProducerEpoch);
                                else if (expectedEpoch == m.LastProducerEpoch) epochs = (m.ProducerEpoch, m.LastProducerEpoch); // a retry of a bump that succeeded
                                else return (ErrorCode.ProducerFenced, -1, -1);
                                transit = m with
                                {
                                    ProducerEpoch = epochs.next, LastProducerEpoch = epochs.last, TimeoutMs = transactionTimeoutMs,
                                    State = TransactionState.Empty, Partitions = TransactionMetadata.NoPartitions, StartTimestampMs = -1, LastUpdateTimestampMs = now,
                                };
                            }
                            break;
                        case TransactionState.Ongoing:
                            fence = FenceOf(m);
                            entry.Pending = fence;
                            break;
                        default:
                            return (ErrorCode.InvalidTxnState, -1, -1);
                    }
                    if (transit is not null)
                    {
                        entry.Pending = transit;
                        partition = p.Index;
                        coordinatorEpoch = p.Epoch;
                    }
                }
            }
            if (needId)
            {
                freshId = await _nextProducerId(cancellationToken).ConfigureAwait(false);
                if (freshId < 0) return (ErrorCode.CoordinatorLoadInProgress, -1, -1);
                continue;
            }
            if (fence is not null)
            {
                // Abort the open transaction with the bumped epoch; the client retries and gets the next bump.
                var error = await EndTransactionAsync(id, fence.ProducerId, fence.ProducerEpoch, commit: false, fromClient: false, fence).ConfigureAwait(false);
                if (error != ErrorCode.None) ClearPending(id, fence);
                return (error == ErrorCode.None ? ErrorCode.ConcurrentTransactions : error, -1, -1);
            }
            var result = await PersistAsync(partition, coordinatorEpoch, id, transit!, next: null, keepPendingOnError: false).ConfigureAwait(false);
            return result == ErrorCode.None ? (ErrorCode.None, transit!.ProducerId, transit.ProducerEpoch) : (result, -1, -1);
        }
        return (ErrorCode.ConcurrentTransactions, -1, -1);
    }

    // ------------------------------------------------------------------ AddPartitionsToTxn / AddOffsetsToTxn

    /// <summary>
    /// AddPartitionsToTxn: v0–3 (one transaction, from the client); v4+ batches (VerifyOnly entries
    /// answer NONE for partitions in the transaction, INVALID_TXN_STATE for others; the rest are added).
    /// A partition that does not exist fails the whole transaction's request: UNKNOWN_TOPIC_OR_PARTITION
    /// for it, OPERATION_NOT_ATTEMPTED for the others.
    /// </summary>
    public async Task<AddPartitionsToTxnResponse> AddPartitionsToTxnAsync(AddPartitionsToTxnRequest request, short version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new AddPartitionsToTxnResponse();
        if (version < 4)
        {
            response.ResultsByTopicV3AndBelow = await AddPartitionsOneAsync(request.V3AndBelowTransactionalId, request.V3AndBelowProducerId,
                request.V3AndBelowProducerEpoch, request.V3AndBelowTopics, verifyOnly: false, version, cancellationToken).ConfigureAwait(false);
            return response;
        }
        foreach (var txn in request.Transactions)
            response.ResultsByTransaction.Add(new AddPartitionsToTxnResponse.AddPartitionsToTxnResult
            {
                TransactionalId = txn.TransactionalId,
                TopicResults = await AddPartitionsOneAsync(txn.TransactionalId, txn.ProducerId, txn.ProducerEpoch, txn.Topics, txn.VerifyOnly, version,
                    cancellationToken).ConfigureAwait(false),
            });
        return response;
    }

    private async Task<List<AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult>> AddPartitionsOneAsync(string? transactionalId, long producerId,
        short producerEpoch, List<AddPartitionsToTxnRequest.AddPartitionsToTxnTopic> topics, bool verifyOnly, short version, CancellationToken cancellationToken)
    {
        var all = new List<TopicPartition>();
        foreach (var t in topics)
            foreach (int p in t.Partitions) all.Add(new TopicPartition(t.Name ?? "", p));
        var codes = new Dictionary<TopicPartition, ErrorCode>();
        var unknown = all.Where(tp => tp.Partition < 0 || !_partitionExists(tp)).ToHashSet();
        if (unknown.Count > 0)
            foreach (var tp in all) codes[tp] = unknown.Contains(tp) ? ErrorCode.UnknownTopicOrPartition : ErrorCode.OperationNotAttempted;
        else if (verifyOnly)
        {
            var (error, inTxn) = Verify(transactionalId, producerId, producerEpoch);
            foreach (var tp in all) codes[tp] = error != ErrorCode.None ? error : inTxn.Contains(tp) ? ErrorCode.None : ErrorCode.InvalidTxnState;
        }
        else
        {
            var error = all.Count == 0 ? ErrorCode.None
                : await AddPartitionsAsync(transactionalId, producerId, producerEpoch, all, cancellationToken).ConfigureAwait(false);
            if (error == ErrorCode.ProducerFenced && version < 2) error = ErrorCode.InvalidProducerEpoch;
            foreach (var tp in all) codes[tp] = error;
        }
        var results = new List<AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult>();
        foreach (var t in topics)
        {
            var r = results.FirstOrDefault(x => x.Name == (t.Name ?? ""));
            if (r is null) results.Add(r = new AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult { Name = t.Name ?? "" });
            foreach (int p in t.Partitions)
                if (r.ResultsByPartition.All(x => x.PartitionIndex != p))
                    r.ResultsByPartition.Add(new AddPartitionsToTxnResponse.AddPartitionsToTxnPartitionResult
                    {
                        PartitionIndex = p,
                        PartitionErrorCode = (short)codes[new TopicPartition(t.Name ?? "", p)],
                    });
        }
        return results;
    }

    private (ErrorCode Error, IReadOnlySet<TopicPartition> Partitions) Verify(string? transactionalId, long producerId, short producerEpoch)
    {
        if (string.IsNullOrEmpty(transactionalId)) return (ErrorCode.InvalidRequest, new HashSet<TopicPartition>());
        lock (_lock)
        {
            if (!TryOwnerLocked(transactionalId, out var p, out var error)) return (error, new HashSet<TopicPartition>());
            if (!p.Entries.TryGetValue(transactionalId, out var entry) || entry.Current.ProducerId != producerId)
                return (ErrorCode.InvalidProducerIdMapping, new HashSet<TopicPartition>());
            if (entry.Current.ProducerEpoch != producerEpoch) return (ErrorCode.ProducerFenced, new HashSet<TopicPartition>());
            return (ErrorCode.None, entry.Current.State == TransactionState.Ongoing ? entry.Current.Partitions : new HashSet<TopicPartition>());
        }
    }

    /// <summary>AddOffsetsToTxn: adds the group's <c>__consumer_offsets</c> partition to the transaction.</summary>
    public async Task<AddOffsetsToTxnResponse> AddOffsetsToTxnAsync(AddOffsetsToTxnRequest request, short version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var partition = new TopicPartition(ConsumerOffsetsTopic, TransactionLog.PartitionFor(request.GroupId ?? "", _options.OffsetsTopicPartitions));
        var error = await AddPartitionsAsync(request.TransactionalId, request.ProducerId, request.ProducerEpoch, [partition], cancellationToken)
            .ConfigureAwait(false);
        if (error == ErrorCode.ProducerFenced && version < 2) error = ErrorCode.InvalidProducerEpoch;
        return new AddOffsetsToTxnResponse { ErrorCode = (short)error };
    }

    /// <summary>The offsets topic.</summary>
    public const string ConsumerOffsetsTopic = "__consumer_offsets";

    /// <summary>The state machine of AddPartitionsToTxn: NONE once the partitions are in the (now Ongoing) transaction.</summary>
    public async Task<ErrorCode> AddPartitionsAsync(string? transactionalId, long producerId, short producerEpoch, IReadOnlyCollection<TopicPartition> partitions,
        CancellationToken cancellationToken = default)
    {
        _ = cancellationToken; // the append is not abandoned when the client goes away
        if (string.IsNullOrEmpty(transactionalId)) return ErrorCode.InvalidRequest;
        TransactionMetadata transit;
        int partition, coordinatorEpoch;
        lock (_lock)
        {
            if (!TryOwnerLocked(transactionalId, out var p, out var error)) return error;
            if (!p.Entries.TryGetValue(transactionalId, out var entry)) return ErrorCode.InvalidProducerIdMapping;
            var m = entry.Current;
            if (m.ProducerId != producerId) return ErrorCode.InvalidProducerIdMapping;
            if (m.ProducerEpoch != producerEpoch) return ErrorCode.ProducerFenced;
            if (entry.Pending is not null) return ErrorCode.ConcurrentTransactions;
            switch (m.State)
            {
                case TransactionState.PrepareCommit or TransactionState.PrepareAbort:
                    return ErrorCode.ConcurrentTransactions;
                case TransactionState.Ongoing when partitions.All(m.Partitions.Contains):
                    return ErrorCode.None;
                case TransactionState.Ongoing or TransactionState.Empty or TransactionState.CompleteCommit or TransactionState.CompleteAbort:
                    break;
                default:
                    return ErrorCode.InvalidTxnState;
            }
            long now = _clock.UnixTimeMs;
            transit = m with
            {
                State = TransactionState.Ongoing,
                Partitions = m.State == TransactionState.Ongoing ? m.Partitions.Union(partitions) : TransactionMetadata.NoPartitions.Union(partitions),
                StartTimestampMs = m.State == TransactionState.Ongoing ? m.StartTimestampMs : now,
                LastUpdateTimestampMs = now,
            };
            entry.Pending = transit;
            partition = p.Index;
            coordinatorEpoch = p.Epoch;
        }
        return await PersistAsync(partition, coordinatorEpoch, transactionalId, transit, next: null, keepPendingOnError: false).ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ EndTxn

    /// <summary>EndTxn v0–4: NONE once the Prepare state is persisted (markers follow in the background).</summary>
    public async Task<EndTxnResponse> EndTxnAsync(EndTxnRequest request, short version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        _ = cancellationToken;
        var error = await EndTransactionAsync(request.TransactionalId, request.ProducerId, request.ProducerEpoch, request.Committed, fromClient: true, fence: null)
            .ConfigureAwait(false);
        if (error == ErrorCode.ProducerFenced && version < 2) error = ErrorCode.InvalidProducerEpoch;
        return new EndTxnResponse { ErrorCode = (short)error };
    }

    /// <summary>The state machine of EndTxn (and of the coordinator's own aborts: <paramref name="fromClient"/> false,
    /// <paramref name="fence"/> the pending PrepareEpochFence state whose bumped epoch the abort takes).</summary>
    public Task<ErrorCode> EndTransactionAsync(string? transactionalId, long producerId, short producerEpoch, bool commit) =>
        EndTransactionAsync(transactionalId, producerId, producerEpoch, commit, fromClient: true, fence: null);

    private async Task<ErrorCode> EndTransactionAsync(string? transactionalId, long producerId, short producerEpoch, bool commit, bool fromClient,
        TransactionMetadata? fence)
    {
        if (string.IsNullOrEmpty(transactionalId)) return ErrorCode.InvalidRequest;
        TransactionMetadata prepare, complete;
        int partition, coordinatorEpoch;
        lock (_lock)
        {
            if (!TryOwnerLocked(transactionalId, out var p, out var error)) return error;
            if (!p.Entries.TryGetValue(transactionalId, out var entry)) return ErrorCode.InvalidProducerIdMapping;
            var m = entry.Current;
            if (m.ProducerId != producerId) return ErrorCode.InvalidProducerIdMapping;
            // Clients must use the current epoch; the coordinator's own aborts use a bumped one.
            if ((fromClient && producerEpoch != m.ProducerEpoch) || producerEpoch < m.ProducerEpoch) return ErrorCode.ProducerFenced;
            bool isFence = fence is not null && ReferenceEquals(entry.Pending, fence);
            if (entry.Pending is not null && !isFence) return ErrorCode.ConcurrentTransactions;
            switch (m.State)
            {
                case TransactionState.Ongoing:
                    if (isFence && commit) return ErrorCode.InvalidTxnState;
                    long now = _clock.UnixTimeMs;
                    prepare = m with
                    {
                        State = commit ? TransactionState.PrepareCommit : TransactionState.PrepareAbort,
                        ProducerEpoch = isFence ? producerEpoch : m.ProducerEpoch,
                        LastProducerEpoch = isFence ? (short)-1 : m.LastProducerEpoch,
                        LastUpdateTimestampMs = now,
                    };
                    complete = CompleteOf(prepare, now);
                    break;
                case TransactionState.CompleteCommit:
                    return commit ? ErrorCode.None : ErrorCode.InvalidTxnState; // a retried EndTxn
                case TransactionState.CompleteAbort:
                    return commit ? ErrorCode.InvalidTxnState : ErrorCode.None;
                case TransactionState.PrepareCommit:
                    return commit ? ErrorCode.ConcurrentTransactions : ErrorCode.InvalidTxnState;
                case TransactionState.PrepareAbort:
                    return commit ? ErrorCode.InvalidTxnState : ErrorCode.ConcurrentTransactions;
                default: // Empty (nothing to end), Dead, PrepareEpochFence
                    return ErrorCode.InvalidTxnState;
            }
            entry.Pending = prepare;
            partition = p.Index;
            coordinatorEpoch = p.Epoch;
        }
        var result = await PersistAsync(partition, coordinatorEpoch, transactionalId, prepare, next: complete, keepPendingOnError: false).ConfigureAwait(false);
        if (result == ErrorCode.None) Track(CompleteTransactionAsync(partition, coordinatorEpoch, transactionalId, prepare, complete));
        return result;
    }

    private static TransactionMetadata CompleteOf(TransactionMetadata prepare, long now) => prepare with
    {
        State = prepare.State == TransactionState.PrepareCommit ? TransactionState.CompleteCommit : TransactionState.CompleteAbort,
        Partitions = TransactionMetadata.NoPartitions,
        LastUpdateTimestampMs = now,
    };

    private static TransactionMetadata FenceOf(TransactionMetadata m) => m with
    {
        State = TransactionState.PrepareEpochFence,
        ProducerEpoch = m.ProducerEpoch == short.MaxValue ? m.ProducerEpoch : (short)(m.ProducerEpoch + 1),
        LastProducerEpoch = -1,
    };

    /// <summary>Writes the markers of a persisted Prepare state, then persists its Complete state.</summary>
    private async Task CompleteTransactionAsync(int partition, int coordinatorEpoch, string transactionalId, TransactionMetadata prepare, TransactionMetadata complete)
    {
        var token = _stopping.Token;
        bool commit = prepare.State == TransactionState.PrepareCommit;
        var remaining = new SortedSet<TopicPartition>(prepare.Partitions, TopicPartitionComparer.Instance);
        int backoff = Math.Max(1, _options.MarkerRetryBackoffMs);
        try
        {
            while (remaining.Count > 0)
            {
                if (!IsPending(partition, coordinatorEpoch, transactionalId, complete)) return;
                IReadOnlyDictionary<TopicPartition, ErrorCode>? answer = null;
                try
                {
                    answer = await _markers.SendAsync(new TxnMarkerRequest(prepare.ProducerId, prepare.ProducerEpoch, commit, coordinatorEpoch, [.. remaining]), token)
                        .ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    _log($"transaction '{transactionalId}': sending {(commit ? "commit" : "abort")} markers failed: {e.Message}");
                }
                foreach (var tp in remaining.ToList())
                {
                    var code = answer is not null && answer.TryGetValue(tp, out var c) ? c : ErrorCode.RequestTimedOut;
                    switch (code)
                    {
                        case ErrorCode.None:
                            remaining.Remove(tp);
                            break;
                        case ErrorCode.InvalidProducerEpoch or ErrorCode.TransactionCoordinatorFenced:
                            // A newer coordinator (or producer epoch) owns the transaction: stop here.
                            _log($"transaction '{transactionalId}': marker for {tp} refused with {code}; another coordinator owns it");
                            return;
                        case ErrorCode.UnknownTopicOrPartition or ErrorCode.NotLeaderOrFollower or ErrorCode.NotEnoughReplicas
                            or ErrorCode.NotEnoughReplicasAfterAppend or ErrorCode.RequestTimedOut or ErrorCode.KafkaStorageError
                            or ErrorCode.LeaderNotAvailable or ErrorCode.UnknownServerError or ErrorCode.NetworkException:
                            if (!_partitionExists(tp))
                            {
                                _log($"transaction '{transactionalId}': {tp} no longer exists; no marker for it");
                                remaining.Remove(tp);
                            }
                            break;
                        default:
                            _log($"transaction '{transactionalId}': marker for {tp} cannot be written ({code}); left out");
                            remaining.Remove(tp);
                            break;
                    }
                }
                if (remaining.Count == 0) break;
                await Task.Delay(backoff, token).ConfigureAwait(false);
                backoff = Math.Min(backoff * 2, Math.Max(1, _options.MarkerRetryBackoffMs) * 10);
            }
            backoff = Math.Max(1, _options.MarkerRetryBackoffMs);
            while (true)
            {
                if (!IsPending(partition, coordinatorEpoch, transactionalId, complete)) return;
                var error = await PersistAsync(partition, coordinatorEpoch, transactionalId, complete, next: null, keepPendingOnError: true).ConfigureAwait(false);
                if (error is ErrorCode.None or ErrorCode.NotCoordinator) return;
                await Task.Delay(backoff, token).ConfigureAwait(false);
                backoff = Math.Min(backoff * 2, Math.Max(1, _options.MarkerRetryBackoffMs) * 10);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    // ------------------------------------------------------------------ helpers

    private bool TryOwnerLocked(string transactionalId, out CoordinatorPartition partition, out ErrorCode error)
    {
        if (!_partitions.TryGetValue(PartitionFor(transactionalId), out partition!))
        {
            error = ErrorCode.NotCoordinator;
            return false;
        }
        error = partition.Loading ? ErrorCode.CoordinatorLoadInProgress : ErrorCode.None;
        return !partition.Loading;
    }

    private bool IsPending(int partition, int coordinatorEpoch, string transactionalId, TransactionMetadata pending)
    {
        lock (_lock)
            return _partitions.TryGetValue(partition, out var p) && p.Epoch == coordinatorEpoch && !p.Loading
                && p.Entries.TryGetValue(transactionalId, out var e) && ReferenceEquals(e.Pending, pending);
    }

    private void ClearPending(string transactionalId, TransactionMetadata pending)
    {
        lock (_lock)
            if (_partitions.TryGetValue(PartitionFor(transactionalId), out var p) && p.Entries.TryGetValue(transactionalId, out var e)
                && ReferenceEquals(e.Pending, pending))
                e.Pending = null;
    }

    /// <summary>
    /// Appends <paramref name="transit"/> (the id's pending state) and applies it when the append
    /// succeeded and the partition is still loaded at the same epoch; then <paramref name="next"/>
    /// becomes the pending state. On failure the pending state is dropped (unless
    /// <paramref name="keepPendingOnError"/>) and the error is mapped as Kafka maps it for clients.
    /// </summary>
    private async Task<ErrorCode> PersistAsync(int partition, int coordinatorEpoch, string transactionalId, TransactionMetadata transit,
        TransactionMetadata? next, bool keepPendingOnError)
    {
        ErrorCode appended;
        try
        {
            appended = await _appender.AppendAsync(partition, coordinatorEpoch, TransactionLog.Record(transit), _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            if (e is not OperationCanceledException) _log($"transaction '{transactionalId}': appending to {TransactionLog.TopicName}-{partition} failed: {e.Message}");
            appended = ErrorCode.CoordinatorNotAvailable;
        }
        lock (_lock)
        {
            if (!_partitions.TryGetValue(partition, out var p) || p.Epoch != coordinatorEpoch || p.Loading
                || !p.Entries.TryGetValue(transactionalId, out var entry) || !ReferenceEquals(entry.Pending, transit))
                return ErrorCode.NotCoordinator;
            if (appended != ErrorCode.None)
            {
                if (!keepPendingOnError) entry.Pending = null;
                return MapAppendError(appended);
            }
            entry.Current = transit;
            entry.Pending = next;
            if (transit.State == TransactionState.Dead) p.Entries.Remove(transactionalId);
            return ErrorCode.None;
        }
    }

    /// <summary>Kafka's mapping of a failed state append to the error the client sees.</summary>
    public static ErrorCode MapAppendError(ErrorCode error) => error switch
    {
        ErrorCode.UnknownTopicOrPartition or ErrorCode.NotEnoughReplicas or ErrorCode.NotEnoughReplicasAfterAppend or ErrorCode.RequestTimedOut
            => ErrorCode.CoordinatorNotAvailable,
        ErrorCode.NotLeaderOrFollower or ErrorCode.KafkaStorageError => ErrorCode.NotCoordinator,
        ErrorCode.MessageTooLarge or ErrorCode.RecordListTooLarge => ErrorCode.UnknownServerError,
        _ => error,
    };

    private void Track(Task task)
    {
        _background[task] = 0;
        _ = task.ContinueWith(t => _background.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Stops the timers and the marker writers (their transactions stay in a Prepare state and are completed by the next load).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested) await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _timer.ConfigureAwait(false);
            await Task.WhenAll(_background.Keys.ToArray()).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
