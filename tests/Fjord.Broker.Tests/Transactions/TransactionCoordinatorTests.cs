using System.Collections.Concurrent;
using Fjord.Broker.Transactions;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Storage;

namespace Fjord.Broker.Tests.Transactions;

internal sealed class TxnClock : IClock
{
    public long Now = 1_700_000_000_000;
    public long UnixTimeMs => Interlocked.Read(ref Now);
    public long MonotonicMs => Interlocked.Read(ref Now);
    public void Advance(long ms) => Interlocked.Add(ref Now, ms);
}

/// <summary>Appends to in-memory partitions; an error or a held completion can be injected.</summary>
internal sealed class FakeTxnLog : ITransactionLogAppender
{
    public readonly ConcurrentDictionary<int, List<TransactionLogRecord>> Records = new();
    public volatile ErrorCode NextError = ErrorCode.None;
    public TaskCompletionSource? Hold;

    public async Task<ErrorCode> AppendAsync(int partition, int coordinatorEpoch, TransactionLogRecord record, CancellationToken cancellationToken)
    {
        if (Hold is { } hold) await hold.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
        var error = NextError;
        if (error != ErrorCode.None) return error;
        var list = Records.GetOrAdd(partition, _ => []);
        lock (list) list.Add(record);
        return ErrorCode.None;
    }

    public List<TransactionLogRecord> Of(int partition)
    {
        var list = Records.GetOrAdd(partition, _ => []);
        lock (list) return [.. list];
    }
}

internal sealed class FakeMarkers : ITxnMarkerSender
{
    public readonly ConcurrentQueue<TxnMarkerRequest> Sent = new();
    /// <summary>Answers for the next calls (then NONE for everything).</summary>
    public readonly ConcurrentQueue<ErrorCode> Failures = new();

    public Task<IReadOnlyDictionary<TopicPartition, ErrorCode>> SendAsync(TxnMarkerRequest request, CancellationToken cancellationToken)
    {
        Sent.Enqueue(request);
        var code = Failures.TryDequeue(out var f) ? f : ErrorCode.None;
        IReadOnlyDictionary<TopicPartition, ErrorCode> answer = request.Partitions.ToDictionary(tp => tp, _ => code);
        return Task.FromResult(answer);
    }
}

public sealed class TransactionCoordinatorTests : IAsyncLifetime
{
    private const string Txn = "txn-a";
    private readonly TxnClock _clock = new();
    private readonly FakeTxnLog _log = new();
    private readonly FakeMarkers _markers = new();
    private long _nextPid = 1000;
    private readonly HashSet<string> _missingTopics = [];
    private TransactionCoordinator _coordinator = null!;
    private static readonly TopicPartition Foo0 = new("foo", 0), Foo1 = new("foo", 1), Bar0 = new("bar", 0);

    public Task InitializeAsync()
    {
        _coordinator = NewCoordinator();
        _coordinator.LoadPartition(_coordinator.PartitionFor(Txn), 5, []);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _coordinator.DisposeAsync();

    private TransactionCoordinator NewCoordinator() => new(new TransactionCoordinatorOptions { MarkerRetryBackoffMs = 1, TransactionalIdExpirationMs = 60_000 },
        _log, _markers, _ => Task.FromResult(Interlocked.Increment(ref _nextPid)), _clock, tp => !_missingTopics.Contains(tp.Topic));

    private int Partition => _coordinator.PartitionFor(Txn);

    private static async Task WaitFor(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(5);
        }
    }

    private async Task<(long Pid, short Epoch)> Init(string id = Txn, int timeoutMs = 60_000)
    {
        var (error, pid, epoch) = await _coordinator.InitProducerIdAsync(id, timeoutMs, -1, -1);
        Assert.Equal(ErrorCode.None, error);
        return (pid, epoch);
    }

    private Task WaitState(TransactionState state, string id = Txn) =>
        WaitFor(() => _coordinator.Get(id)?.State == state && _coordinator.GetPending(id) is null, $"{id} reaches {state}");

    [Fact]
    public async Task Init_new_id_gets_a_producer_id_with_epoch_0_and_again_bumps_the_epoch()
    {
        var (pid, epoch) = await Init();
        Assert.Equal(1001, pid);
        Assert.Equal(0, epoch);
        var (pid2, epoch2) = await Init();
        Assert.Equal(pid, pid2);
        Assert.Equal(1, epoch2);
        var m = _coordinator.Get(Txn)!;
        Assert.Equal(TransactionState.Empty, m.State);
        Assert.Equal(60_000, m.TimeoutMs);
        Assert.Equal(2, _log.Of(Partition).Count);
    }

    [Fact]
    public async Task Commit_writes_prepare_then_markers_to_every_partition_then_complete()
    {
        var (pid, epoch) = await Init();
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0, Foo1]));
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Bar0]));
        int before = _log.Of(Partition).Count;
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0])); // already in: nothing written
        Assert.Equal(before, _log.Of(Partition).Count);
        var ongoing = _coordinator.Get(Txn)!;
        Assert.Equal(TransactionState.Ongoing, ongoing.State);
        Assert.Equal([Bar0, Foo0, Foo1], ongoing.Partitions.ToList());

        Assert.Equal(ErrorCode.None, await _coordinator.EndTransactionAsync(Txn, pid, epoch, commit: true));
        await WaitState(TransactionState.CompleteCommit);
        var marker = Assert.Single(_markers.Sent);
        Assert.True(marker.Commit);
        Assert.Equal(pid, marker.ProducerId);
        Assert.Equal(epoch, marker.ProducerEpoch);
        Assert.Equal(5, marker.CoordinatorEpoch);
        Assert.Equal([Bar0, Foo0, Foo1], marker.Partitions.ToList());
        var states = TransactionLog.Replay(_log.Of(Partition).TakeLast(2).Take(1));
        Assert.Equal(TransactionState.PrepareCommit, states[Txn].State);
        Assert.Empty(_coordinator.Get(Txn)!.Partitions);
        // A retried EndTxn(commit) is fine; abort now is not.
        Assert.Equal(ErrorCode.None, await _coordinator.EndTransactionAsync(Txn, pid, epoch, commit: true));
        Assert.Equal(ErrorCode.InvalidTxnState, await _coordinator.EndTransactionAsync(Txn, pid, epoch, commit: false));
        // The next transaction starts from CompleteCommit.
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo1]));
        Assert.Equal([Foo1], _coordinator.Get(Txn)!.Partitions.ToList());
    }

    [Fact]
    public async Task Abort_completes_with_abort_markers()
    {
        var (pid, epoch) = await Init();
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0]));
        Assert.Equal(ErrorCode.None, await _coordinator.EndTransactionAsync(Txn, pid, epoch, commit: false));
        await WaitState(TransactionState.CompleteAbort);
        Assert.False(Assert.Single(_markers.Sent).Commit);
        Assert.Equal(ErrorCode.InvalidTxnState, await _coordinator.EndTransactionAsync(Txn, pid, epoch, commit: true));
    }

    [Fact]
    public async Task Init_during_an_ongoing_transaction_aborts_it_with_a_bumped_epoch_and_fences_the_old_producer()
    {
        var (pid, epoch) = await Init();
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0]));
        var (error, _, _) = await _coordinator.InitProducerIdAsync(Txn, 60_000, -1, -1);
        Assert.Equal(ErrorCode.ConcurrentTransactions, error);
        await WaitState(TransactionState.CompleteAbort);
        var marker = Assert.Single(_markers.Sent);
        Assert.False(marker.Commit);
        Assert.Equal(epoch + 1, marker.ProducerEpoch);
        var (pid2, epoch2) = await Init();
        Assert.Equal(pid, pid2);
        Assert.Equal(epoch + 2, epoch2);
        // The old producer is fenced; before v2 clients see INVALID_PRODUCER_EPOCH.
        Assert.Equal(ErrorCode.ProducerFenced, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0]));
        var old = await _coordinator.EndTxnAsync(new EndTxnRequest { TransactionalId = Txn, ProducerId = pid, ProducerEpoch = epoch, Committed = true }, 1);
        Assert.Equal((short)ErrorCode.InvalidProducerEpoch, old.ErrorCode);
        var v3 = await _coordinator.EndTxnAsync(new EndTxnRequest { TransactionalId = Txn, ProducerId = pid, ProducerEpoch = epoch, Committed = true }, 3);
        Assert.Equal((short)ErrorCode.ProducerFenced, v3.ErrorCode);
    }

    [Fact]
    public async Task Timed_out_transaction_is_aborted_with_an_epoch_bump()
    {
        var (pid, epoch) = await Init(timeoutMs: 1000);
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0]));
        _clock.Advance(1000);
        Assert.Equal(0, await _coordinator.AbortTimedOutTransactionsAsync()); // exactly at the timeout: not yet
        _clock.Advance(1);
        Assert.Equal(1, await _coordinator.AbortTimedOutTransactionsAsync());
        await WaitState(TransactionState.CompleteAbort);
        Assert.Equal(epoch + 1, _coordinator.Get(Txn)!.ProducerEpoch);
        Assert.Equal(epoch + 1, Assert.Single(_markers.Sent).ProducerEpoch);
        Assert.Equal(ErrorCode.ProducerFenced, await _coordinator.EndTransactionAsync(Txn, pid, epoch, commit: true));
        Assert.Equal(ErrorCode.ProducerFenced, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0]));
    }

    [Fact]
    public async Task Errors_of_the_state_machine()
    {
        Assert.Equal(ErrorCode.InvalidProducerIdMapping, await _coordinator.AddPartitionsAsync(Txn, 1, 0, [Foo0]));
        Assert.Equal(ErrorCode.InvalidTransactionTimeout, (await _coordinator.InitProducerIdAsync(Txn, 900_001, -1, -1)).Error);
        Assert.Equal(ErrorCode.InvalidTransactionTimeout, (await _coordinator.InitProducerIdAsync(Txn, 0, -1, -1)).Error);
        Assert.Equal(ErrorCode.InvalidRequest, (await _coordinator.InitProducerIdAsync("", 1000, -1, -1)).Error);
        Assert.Equal(ErrorCode.InvalidRequest, (await _coordinator.InitProducerIdAsync(Txn, 1000, 5, -1)).Error);
        var (pid, epoch) = await Init();
        Assert.Equal(ErrorCode.InvalidProducerIdMapping, await _coordinator.AddPartitionsAsync(Txn, pid + 1, epoch, [Foo0]));
        Assert.Equal(ErrorCode.InvalidTxnState, await _coordinator.EndTransactionAsync(Txn, pid, epoch, commit: true)); // Empty
        Assert.Equal(ErrorCode.InvalidProducerIdMapping, await _coordinator.EndTransactionAsync(Txn, pid + 1, epoch, commit: true));
        Assert.Equal(ErrorCode.ProducerFenced, await _coordinator.EndTransactionAsync(Txn, pid, (short)(epoch + 1), commit: true));

        // An id of a partition not led here, and of one still loading.
        string other = Enumerable.Range(0, 1000).Select(i => $"other-{i}").First(s => _coordinator.PartitionFor(s) != Partition);
        Assert.Equal(ErrorCode.NotCoordinator, (await _coordinator.InitProducerIdAsync(other, 1000, -1, -1)).Error);
        _coordinator.BeginLoading(_coordinator.PartitionFor(other), 1);
        Assert.Equal(ErrorCode.CoordinatorLoadInProgress, (await _coordinator.InitProducerIdAsync(other, 1000, -1, -1)).Error);

        // A failed append changes nothing and maps the error as Kafka does.
        _log.NextError = ErrorCode.NotEnoughReplicas;
        Assert.Equal(ErrorCode.CoordinatorNotAvailable, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0]));
        _log.NextError = ErrorCode.NotLeaderOrFollower;
        Assert.Equal(ErrorCode.NotCoordinator, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0]));
        _log.NextError = ErrorCode.None;
        Assert.Equal(TransactionState.Empty, _coordinator.Get(Txn)!.State);
        Assert.Null(_coordinator.GetPending(Txn));
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0]));
    }

    [Fact]
    public async Task A_change_in_flight_makes_other_requests_answer_concurrent_transactions()
    {
        var (pid, epoch) = await Init();
        _log.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var add = _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0]);
        await WaitFor(() => _coordinator.GetPending(Txn) is not null, "the add is pending");
        Assert.Equal(ErrorCode.ConcurrentTransactions, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo1]));
        Assert.Equal(ErrorCode.ConcurrentTransactions, (await _coordinator.InitProducerIdAsync(Txn, 1000, -1, -1)).Error);
        Assert.Equal(ErrorCode.ConcurrentTransactions, await _coordinator.EndTransactionAsync(Txn, pid, epoch, commit: true));
        _log.Hold.SetResult();
        Assert.Equal(ErrorCode.None, await add);
        _log.Hold = null;
        Assert.Equal(TransactionState.Ongoing, _coordinator.Get(Txn)!.State);
    }

    [Fact]
    public async Task Kip360_recovery_with_producer_id_and_epoch()
    {
        var (pid, epoch) = await Init();
        var bumped = await _coordinator.InitProducerIdAsync(Txn, 60_000, pid, epoch);
        Assert.Equal((ErrorCode.None, pid, (short)(epoch + 1)), bumped);
        // The same request again (the answer was lost): the current epoch, no second bump.
        var retried = await _coordinator.InitProducerIdAsync(Txn, 60_000, pid, epoch);
        Assert.Equal((ErrorCode.None, pid, (short)(epoch + 1)), retried);
        // A producer that is neither current nor retrying is fenced.
        Assert.Equal(ErrorCode.ProducerFenced, (await _coordinator.InitProducerIdAsync(Txn, 60_000, pid + 7, 0)).Error);
        Assert.Equal(ErrorCode.ProducerFenced, (await _coordinator.InitProducerIdAsync(Txn, 60_000, pid, (short)(epoch + 5))).Error);
    }

    [Fact]
    public async Task An_exhausted_epoch_rotates_to_a_new_producer_id()
    {
        var exhausted = new TransactionMetadata(Txn, 77, -1, short.MaxValue - 1, -1, 60_000, TransactionState.CompleteCommit,
            TransactionMetadata.NoPartitions, 5, 6);
        _coordinator.LoadPartition(Partition, 6, [TransactionLog.Record(exhausted)]);
        var (error, pid, epoch) = await _coordinator.InitProducerIdAsync(Txn, 60_000, 77, short.MaxValue - 1);
        Assert.Equal(ErrorCode.None, error);
        Assert.NotEqual(77, pid);
        Assert.Equal(0, epoch);
        Assert.Equal(77, _coordinator.Get(Txn)!.PreviousProducerId);
        // A retry of that rotation gets the new id and epoch again.
        Assert.Equal((ErrorCode.None, pid, (short)0), await _coordinator.InitProducerIdAsync(Txn, 60_000, 77, short.MaxValue - 1));
    }

    [Fact]
    public async Task Replay_of_the_records_rebuilds_the_same_state()
    {
        var ids = Enumerable.Range(0, 400).Select(i => $"t{i}").Where(s => _coordinator.PartitionFor(s) == Partition).Take(4).ToList();
        Assert.Equal(4, ids.Count);
        var producers = new List<(long, short)>();
        foreach (var id in ids) producers.Add(await Init(id));
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(ids[0], producers[0].Item1, producers[0].Item2, [Foo0, Bar0]));
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(ids[1], producers[1].Item1, producers[1].Item2, [Foo1]));
        Assert.Equal(ErrorCode.None, await _coordinator.EndTransactionAsync(ids[1], producers[1].Item1, producers[1].Item2, commit: true));
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(ids[2], producers[2].Item1, producers[2].Item2, [Foo1]));
        Assert.Equal(ErrorCode.None, await _coordinator.EndTransactionAsync(ids[2], producers[2].Item1, producers[2].Item2, commit: false));
        await WaitState(TransactionState.CompleteCommit, ids[1]);
        await WaitState(TransactionState.CompleteAbort, ids[2]);
        _clock.Advance(120_000);
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(ids[3], producers[3].Item1, producers[3].Item2, [Bar0]));
        Assert.Equal(ErrorCode.None, await _coordinator.EndTransactionAsync(ids[3], producers[3].Item1, producers[3].Item2, commit: true));
        await WaitState(TransactionState.CompleteCommit, ids[3]);

        var live = _coordinator.Snapshot(Partition);
        await using var replayed = NewCoordinator();
        Assert.True(replayed.LoadPartition(Partition, 9, _log.Of(Partition)));
        var rebuilt = replayed.Snapshot(Partition);
        Assert.Equal(live.Count, rebuilt.Count);
        foreach (var (id, m) in live) Assert.Equal(m.Persisted, rebuilt[id]);
    }

    [Fact]
    public async Task Loading_a_prepared_transaction_writes_its_markers_and_completes_it()
    {
        var prepared = new TransactionMetadata(Txn, 42, -1, 3, -1, 60_000, TransactionState.PrepareCommit,
            TransactionMetadata.NoPartitions.Add(Foo0).Add(Foo1), 10, 11);
        _markers.Failures.Enqueue(ErrorCode.NotLeaderOrFollower); // the first attempt fails: retried
        Assert.True(_coordinator.LoadPartition(Partition, 7, [TransactionLog.Record(prepared)]));
        await WaitState(TransactionState.CompleteCommit);
        Assert.Equal(2, _markers.Sent.Count);
        Assert.All(_markers.Sent, m => Assert.Equal((42L, (short)3, true, 7), (m.ProducerId, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch)));
        var last = TransactionLog.Replay(_log.Of(Partition))[Txn];
        Assert.Equal(TransactionState.CompleteCommit, last.State);
    }

    [Fact]
    public async Task Markers_for_a_deleted_topic_are_dropped_and_unload_stops_the_coordinator()
    {
        var (pid, epoch) = await Init();
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0, Bar0]));
        _missingTopics.Add("bar");
        _markers.Failures.Enqueue(ErrorCode.UnknownTopicOrPartition);
        Assert.Equal(ErrorCode.None, await _coordinator.EndTransactionAsync(Txn, pid, epoch, commit: true));
        await WaitState(TransactionState.CompleteCommit);
        Assert.Equal([Foo0], _markers.Sent.Last().Partitions.ToList());

        _coordinator.UnloadPartition(Partition, 5);
        Assert.Equal(ErrorCode.NotCoordinator, (await _coordinator.InitProducerIdAsync(Txn, 1000, -1, -1)).Error);
        Assert.Null(_coordinator.Get(Txn));
    }

    [Fact]
    public async Task AddPartitionsToTxn_request_versions_and_unknown_partitions()
    {
        var (pid, epoch) = await Init();
        _missingTopics.Add("nope");
        var request = new AddPartitionsToTxnRequest
        {
            V3AndBelowTransactionalId = Txn, V3AndBelowProducerId = pid, V3AndBelowProducerEpoch = epoch,
            V3AndBelowTopics =
            [
                new AddPartitionsToTxnRequest.AddPartitionsToTxnTopic { Name = "foo", Partitions = [0, 1] },
                new AddPartitionsToTxnRequest.AddPartitionsToTxnTopic { Name = "nope", Partitions = [0] },
            ],
        };
        var refused = await _coordinator.AddPartitionsToTxnAsync(request, 3);
        var codes = refused.ResultsByTopicV3AndBelow.SelectMany(t => t.ResultsByPartition.Select(p => (t.Name, p.PartitionIndex, (ErrorCode)p.PartitionErrorCode))).ToList();
        Assert.Equal([("foo", 0, ErrorCode.OperationNotAttempted), ("foo", 1, ErrorCode.OperationNotAttempted), ("nope", 0, ErrorCode.UnknownTopicOrPartition)], codes);
        Assert.Equal(TransactionState.Empty, _coordinator.Get(Txn)!.State);

        request.V3AndBelowTopics.RemoveAt(1);
        var ok = await _coordinator.AddPartitionsToTxnAsync(request, 3);
        Assert.All(ok.ResultsByTopicV3AndBelow.SelectMany(t => t.ResultsByPartition), p => Assert.Equal(0, p.PartitionErrorCode));

        // v4: a verify-only batch from a broker.
        var verify = new AddPartitionsToTxnRequest
        {
            Transactions =
            [
                new AddPartitionsToTxnRequest.AddPartitionsToTxnTransaction
                {
                    TransactionalId = Txn, ProducerId = pid, ProducerEpoch = epoch, VerifyOnly = true,
                    Topics = [new AddPartitionsToTxnRequest.AddPartitionsToTxnTopic { Name = "foo", Partitions = [1, 2] }],
                },
            ],
        };
        var verified = await _coordinator.AddPartitionsToTxnAsync(verify, 4);
        var result = Assert.Single(verified.ResultsByTransaction);
        Assert.Equal([(short)0, (short)ErrorCode.InvalidTxnState], result.TopicResults[0].ResultsByPartition.Select(p => p.PartitionErrorCode));
    }

    [Fact]
    public async Task AddOffsetsToTxn_adds_the_groups_offsets_partition()
    {
        var (pid, epoch) = await Init();
        var response = await _coordinator.AddOffsetsToTxnAsync(new AddOffsetsToTxnRequest { TransactionalId = Txn, ProducerId = pid, ProducerEpoch = epoch, GroupId = "hello" }, 3);
        Assert.Equal(0, response.ErrorCode);
        // Java: abs("hello".hashCode()) % 50 = 99162322 % 50 = 22.
        Assert.Equal([new TopicPartition("__consumer_offsets", 22)], _coordinator.Get(Txn)!.Partitions.ToList());
    }

    [Fact]
    public async Task Describe_and_list_transactions()
    {
        var (pid, epoch) = await Init(timeoutMs: 30_000);
        Assert.Equal(ErrorCode.None, await _coordinator.AddPartitionsAsync(Txn, pid, epoch, [Foo0, Foo1]));
        long started = _clock.UnixTimeMs;
        _clock.Advance(5_000);
        var described = _coordinator.DescribeTransactions(new DescribeTransactionsRequest { TransactionalIds = [Txn, "unknown-x"] }, 0);
        var d = described.TransactionStates[0];
        Assert.Equal((0, "Ongoing", 30_000, started, pid, epoch), (d.ErrorCode, d.TransactionState, d.TransactionTimeoutMs, d.TransactionStartTimeMs, d.ProducerId, d.ProducerEpoch));
        Assert.Equal("foo", Assert.Single(d.Topics).Topic);
        Assert.Equal([0, 1], d.Topics[0].Partitions.ToList());
        short notFound = described.TransactionStates[1].ErrorCode;
        Assert.True(notFound is (short)ErrorCode.TransactionalIdNotFound or (short)ErrorCode.NotCoordinator);

        ListTransactionsResponse List(string[] states, long[] pids, long duration) =>
            _coordinator.ListTransactions(new ListTransactionsRequest { StateFilters = [.. states], ProducerIdFilters = [.. pids], DurationFilter = duration }, 1);
        Assert.Single(List([], [], -1).TransactionStates);
        Assert.Single(List(["Ongoing"], [], -1).TransactionStates);
        Assert.Empty(List(["Empty"], [], -1).TransactionStates);
        Assert.Empty(List([], [pid + 1], -1).TransactionStates);
        Assert.Single(List([], [pid], 4_000).TransactionStates);
        Assert.Empty(List([], [], 5_000).TransactionStates);
        var unknown = List(["Bogus", "Ongoing"], [], -1);
        Assert.Equal(["Bogus"], unknown.UnknownStateFilters);
        Assert.Equal(Txn, Assert.Single(unknown.TransactionStates).TransactionalId);
    }

    [Fact]
    public async Task Idle_ids_expire_with_a_tombstone()
    {
        await Init();
        _clock.Advance(59_999);
        Assert.Equal(0, await _coordinator.RemoveExpiredTransactionalIdsAsync());
        _clock.Advance(1);
        Assert.Equal(1, await _coordinator.RemoveExpiredTransactionalIdsAsync());
        Assert.Null(_coordinator.Get(Txn));
        var records = _log.Of(Partition);
        Assert.Equal(2, records.Count);
        Assert.False(records[^1].Value.HasValue);
        Assert.Empty(TransactionLog.Replay(_log.Of(Partition)));
    }

    [Fact]
    public void Log_records_use_kafkas_layout()
    {
        Assert.Equal(22, TransactionLog.PartitionFor("hello", 50));
        Assert.Equal(99162322, TransactionLog.JavaHashCode("hello"));
        var m = new TransactionMetadata("x", 5, -1, 2, -1, 1000, TransactionState.Ongoing, TransactionMetadata.NoPartitions.Add(Foo1).Add(Foo0), 3, 4);
        var record = TransactionLog.Record(m);
        // key: version 0, then the string "x" (int16 length 1).
        Assert.Equal(new byte[] { 0, 0, 0, 1, (byte)'x' }, record.Key.ToArray());
        var value = record.Value!.Value.ToArray();
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 2 }, value[..12]); // version 0, producer id 5, epoch 2
        Assert.Equal(m, TransactionLog.ReadValue("x", value));
        Assert.False(TransactionLog.Record(m with { State = TransactionState.Dead }).Value.HasValue);
        // Empty: a null partition list.
        var empty = TransactionLog.Record(m with { State = TransactionState.Empty, Partitions = TransactionMetadata.NoPartitions });
        var decoded = KafkaMessages.Deserialize<TransactionLogValue>(empty.Value!.Value[2..], 0);
        Assert.Null(decoded.TransactionPartitions);
        // v1 (flexible, tagged previous producer id) is read too.
        var v1 = new TransactionLogValue { ProducerId = 9, PreviousProducerId = 8, ProducerEpoch = 1, TransactionTimeoutMs = 10, TransactionStatus = 4,
            TransactionLastUpdateTimestampMs = 2, TransactionStartTimestampMs = 1 };
        var bytes = new byte[] { 0, 1 }.Concat(v1.Serialize(1)).ToArray();
        var read = TransactionLog.ReadValue("y", bytes);
        Assert.Equal((9L, 8L, TransactionState.CompleteCommit), (read.ProducerId, read.PreviousProducerId, read.State));
        // Garbage is skipped by replay, never thrown.
        var bad = new List<string>();
        Assert.Empty(TransactionLog.Replay([new TransactionLogRecord(new byte[] { 0, 0, 0, 9 }, new byte[] { 1 })], bad.Add));
        Assert.Single(bad);
    }
}
