using Fjord.Broker.Replication;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Broker.Coordinator;

/// <summary>The life of a loaded partition.</summary>
public enum CoordinatorShardState
{
    /// <summary>Its log is being replayed: requests get COORDINATOR_LOAD_IN_PROGRESS.</summary>
    Loading,
    /// <summary>Serving.</summary>
    Active,
    /// <summary>Leadership lost or the runtime stopped: requests get NOT_COORDINATOR.</summary>
    Unloaded,
}

/// <summary>
/// One partition of a coordinator topic led by this broker in one leader epoch, and its state
/// machine. Callers take <see cref="Lock"/> around every read or change of the shard and call
/// <see cref="Append"/> under it, so the log holds the records in the order the state changed.
/// </summary>
public sealed class CoordinatorShardContext<TShard> where TShard : class, ICoordinatorShard
{
    private readonly CoordinatorRuntime<TShard> _runtime;

    internal CoordinatorShardContext(CoordinatorRuntime<TShard> runtime, int partition, int epoch, TShard shard)
    {
        _runtime = runtime;
        PartitionId = partition;
        Epoch = epoch;
        Shard = shard;
    }

    public int PartitionId { get; }

    /// <summary>The partition's leader epoch this shard was loaded at (Kafka's coordinator epoch).</summary>
    public int Epoch { get; }

    public TShard Shard { get; }

    /// <summary>Guards <see cref="Shard"/> and <see cref="State"/>: the shard object itself, so the
    /// shard's own timer callbacks can take the same monitor with <c>lock (this)</c>.</summary>
    public object Lock => Shard;

    /// <summary>Read under <see cref="Lock"/> for a decision; volatile for a quick look.</summary>
    public CoordinatorShardState State { get; internal set; }

    /// <summary>
    /// Call under <see cref="Lock"/>. Appends <paramref name="records"/> as one batch to the
    /// partition log at once (before returning), and returns a task that completes when the batch is
    /// committed (the HW passed it: NONE) or failed: the produce error — NOT_LEADER_OR_FOLLOWER (also
    /// when this shard is no longer active or the partition moved to another epoch),
    /// NOT_ENOUGH_REPLICAS(_AFTER_APPEND), REQUEST_TIMED_OUT (after
    /// <see cref="CoordinatorRuntimeOptions.AppendTimeoutMs"/>), MESSAGE_TOO_LARGE… An empty list
    /// completes at once with NONE. Never throws for a produce failure.
    /// </summary>
    public Task<ErrorCode> Append(IReadOnlyList<CoordinatorRecord> records, CoordinatorBatchProducer? producer = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0) return Task.FromResult(ErrorCode.None);
        if (State != CoordinatorShardState.Active) return Task.FromResult(ErrorCode.NotLeaderOrFollower);
        return _runtime.AppendBatch(this, records, producer ?? CoordinatorBatchProducer.None);
    }
}

/// <summary>
/// The coordinator runtime of one internal topic: maps keys to partitions (Java hash), creates the
/// topic through the controller on the first lookup, loads each partition this broker becomes the
/// leader of into a new <typeparamref name="TShard"/> (replaying the log from its start to its end),
/// unloads it when leadership goes, and appends the shards' records as the partition leader with
/// acks=all semantics.
/// </summary>
/// <remarks>
/// <para>Install it in the metadata loader <b>after</b> the <see cref="ReplicaManager"/> (e.g. with
/// <see cref="ChainedPublisher"/>): it reads the replica manager's partitions to learn whether this
/// broker leads a partition, in which epoch.</para>
/// <para>Invariants: a partition has at most one context; a context's epoch is the partition's
/// leader epoch at load; a context becomes Active only after every record up to the log end at load
/// time was replayed; a context that is Unloaded never becomes Active again (a new leadership makes a
/// new context and a new shard). No record is appended for a context that is not Active.</para>
/// </remarks>
public sealed class CoordinatorRuntime<TShard> : IMetadataPublisher, ICoordinatorLocator, IDisposable where TShard : class, ICoordinatorShard
{
    private readonly ReplicaManager _replicas;
    private readonly IControllerChannel? _controller;
    private readonly Func<MetadataImage> _image;
    private readonly Func<int, int, TShard> _createShard;
    private readonly IClock _clock;
    private readonly Action<string> _log;
    private readonly Dictionary<int, CoordinatorShardContext<TShard>> _contexts = [];
    private readonly object _contextsLock = new();
    private Task? _creating;
    private bool _stopped;

    /// <param name="options">The topic and its settings.</param>
    /// <param name="replicas">The partitions (leadership, logs, produce).</param>
    /// <param name="controller">Where CreateTopics goes; null: the topic is never created here.</param>
    /// <param name="image">The broker's current metadata image (for lookups).</param>
    /// <param name="createShard">A new, empty shard for (partition, leader epoch).</param>
    /// <param name="clock">Record timestamps.</param>
    /// <param name="log">One line per load, unload and failure.</param>
    public CoordinatorRuntime(CoordinatorRuntimeOptions options, ReplicaManager replicas, IControllerChannel? controller,
        Func<MetadataImage> image, Func<int, int, TShard> createShard, IClock clock, Action<string>? log = null)
    {
        Options = options ?? throw new ArgumentNullException(nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Partitions);
        _replicas = replicas ?? throw new ArgumentNullException(nameof(replicas));
        _controller = controller;
        _image = image ?? throw new ArgumentNullException(nameof(image));
        _createShard = createShard ?? throw new ArgumentNullException(nameof(createShard));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        var sink = log ?? (_ => { });
        _log = line => sink($"[{options.TopicName} coordinator] {line}");
    }

    public CoordinatorRuntimeOptions Options { get; }

    public string Name => $"CoordinatorRuntime({Options.TopicName})";

    /// <summary>The partition of <paramref name="key"/>: <c>abs(javaHash(key)) % partitions</c>.</summary>
    public int PartitionFor(string key) => JavaHash.PartitionFor(key, Options.Partitions);

    /// <summary>Every partition with a context (loading or active).</summary>
    public IReadOnlyList<CoordinatorShardContext<TShard>> Contexts
    {
        get { lock (_contextsLock) return [.. _contexts.Values]; }
    }

    /// <summary>
    /// The context serving <paramref name="partition"/>, or null with NOT_COORDINATOR (this broker
    /// does not lead it, or it was unloaded) or COORDINATOR_LOAD_IN_PROGRESS.
    /// </summary>
    public CoordinatorShardContext<TShard>? Context(int partition, out ErrorCode error)
    {
        CoordinatorShardContext<TShard>? context;
        lock (_contextsLock) context = _contexts.GetValueOrDefault(partition);
        error = context?.State switch
        {
            null or CoordinatorShardState.Unloaded => ErrorCode.NotCoordinator,
            CoordinatorShardState.Loading => ErrorCode.CoordinatorLoadInProgress,
            _ => ErrorCode.None,
        };
        return error == ErrorCode.None ? context : null;
    }

    /// <summary>The context of <paramref name="key"/>'s partition (see <see cref="Context(int, out ErrorCode)"/>).</summary>
    public CoordinatorShardContext<TShard>? ContextFor(string key, out ErrorCode error) => Context(PartitionFor(key), out error);

    /// <summary>
    /// Appends <paramref name="records"/> to <paramref name="partition"/> if it is still loaded at
    /// <paramref name="epoch"/> (else NOT_LEADER_OR_FOLLOWER), under the context's lock; completes as
    /// <see cref="CoordinatorShardContext{TShard}.Append"/> does.
    /// </summary>
    public Task<ErrorCode> AppendAsync(int partition, int epoch, IReadOnlyList<CoordinatorRecord> records, CoordinatorBatchProducer? producer = null)
    {
        var context = Context(partition, out _);
        if (context is null || context.Epoch != epoch) return Task.FromResult(ErrorCode.NotLeaderOrFollower);
        lock (context.Lock) return context.Append(records, producer);
    }

    // ------------------------------------------------------------------ lookup and creation

    public CoordinatorLocation Locate(string key, string listenerName)
    {
        ArgumentNullException.ThrowIfNull(key);
        var image = _image();
        var topic = image.Topics.Topic(Options.TopicName);
        if (topic is null)
        {
            StartCreatingTopic();
            return CoordinatorLocation.NotAvailable($"{Options.TopicName} is being created");
        }
        var registration = topic.Partition(PartitionFor(key));
        if (registration is null || registration.Leader < 0)
            return CoordinatorLocation.NotAvailable($"{Options.TopicName}-{PartitionFor(key)} has no leader");
        var broker = image.Cluster.Broker(registration.Leader);
        if (broker is null || broker.Fenced || broker.Listener(listenerName) is not { } endpoint)
            return CoordinatorLocation.NotAvailable($"the leader of {Options.TopicName}-{PartitionFor(key)} is not available on {listenerName}");
        return new CoordinatorLocation(ErrorCode.None, registration.Leader, endpoint.Host, endpoint.Port);
    }

    /// <summary>Sends one CreateTopics for the internal topic unless one is in flight (failures are logged; the next lookup tries again).</summary>
    private void StartCreatingTopic()
    {
        if (_controller is null) return;
        lock (_contextsLock)
        {
            if (_stopped || _creating is { IsCompleted: false }) return;
            _creating = Task.Run(CreateTopicAsync);
        }
    }

    private async Task CreateTopicAsync()
    {
        var request = new CreateTopicsRequest
        {
            TimeoutMs = (int)Math.Min(int.MaxValue, Options.ControllerTimeout.TotalMilliseconds),
            Topics =
            [
                new CreateTopicsRequest.CreatableTopic
                {
                    Name = Options.TopicName,
                    NumPartitions = Options.Partitions,
                    ReplicationFactor = Options.ReplicationFactor,
                    Configs = [.. Options.TopicConfigs.Select(c => new CreateTopicsRequest.CreatableTopicConfig { Name = c.Key, Value = c.Value })],
                },
            ],
        };
        try
        {
            var response = await _controller!.SendAsync<CreateTopicsResponse>(request, 7, Options.ControllerTimeout).ConfigureAwait(false);
            var result = response.Topics.FirstOrDefault(t => t.Name == Options.TopicName);
            var code = result is null ? ErrorCode.UnknownServerError : (ErrorCode)result.ErrorCode;
            if (code is ErrorCode.None) _log($"created {Options.TopicName} ({Options.Partitions} partitions, replication factor {Options.ReplicationFactor})");
            else if (code is not ErrorCode.TopicAlreadyExists) _log($"creating {Options.TopicName} failed: {code} {result?.ErrorMessage}");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log($"creating {Options.TopicName} failed: {e.Message}");
        }
    }

    // ------------------------------------------------------------------ leadership

    /// <summary>
    /// After the replica manager applied the same update: loads the partitions of the topic this
    /// broker now leads (in a new epoch) and unloads those it no longer leads.
    /// </summary>
    public void OnMetadataUpdate(MetadataDelta delta, MetadataImage image, MetadataUpdate update)
    {
        ArgumentNullException.ThrowIfNull(image);
        var topic = image.Topics.Topic(Options.TopicName);
        var wanted = new Dictionary<int, int>();
        if (topic is not null)
            foreach (var (partitionId, registration) in topic.Partitions)
            {
                if (registration.Leader != _replicas.BrokerId) continue;
                var partition = _replicas.GetPartition(new TopicPartition(Options.TopicName, partitionId));
                if (partition is null || partition.TopicId != topic.Id) continue;
                var state = partition.State;
                if (state.Role != ReplicaRole.Leader || state.LeaderEpoch != registration.LeaderEpoch) continue;
                wanted[partitionId] = registration.LeaderEpoch;
            }
        var toLoad = new List<(CoordinatorShardContext<TShard> Context, Partition Partition)>();
        var toUnload = new List<CoordinatorShardContext<TShard>>();
        lock (_contextsLock)
        {
            if (_stopped) return;
            foreach (var (id, context) in _contexts.ToList())
                if (!wanted.TryGetValue(id, out int epoch) || epoch != context.Epoch)
                {
                    toUnload.Add(context);
                    _contexts.Remove(id);
                }
            foreach (var (id, epoch) in wanted)
            {
                if (_contexts.ContainsKey(id)) continue;
                var partition = _replicas.GetPartition(new TopicPartition(Options.TopicName, id));
                if (partition is null) continue;
                TShard shard;
                try
                {
                    shard = _createShard(id, epoch);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    _log($"partition {id}: cannot create its state machine: {e.Message}");
                    continue;
                }
                var context = new CoordinatorShardContext<TShard>(this, id, epoch, shard) { State = CoordinatorShardState.Loading };
                _contexts[id] = context;
                toLoad.Add((context, partition));
            }
        }
        foreach (var context in toUnload) Unload(context, "leadership moved");
        foreach (var (context, partition) in toLoad) _ = Task.Run(() => Load(context, partition));
    }

    private void Unload(CoordinatorShardContext<TShard> context, string reason)
    {
        lock (context.Lock)
        {
            if (context.State == CoordinatorShardState.Unloaded) return;
            bool wasActive = context.State == CoordinatorShardState.Active;
            context.State = CoordinatorShardState.Unloaded;
            if (wasActive)
            {
                try
                {
                    context.Shard.OnUnloaded();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    _log($"partition {context.PartitionId}: unloading failed: {e.Message}");
                }
            }
        }
        _log($"partition {context.PartitionId} (epoch {context.Epoch}) unloaded: {reason}");
    }

    /// <summary>Replays the log from its start to its end at the time of the load, then activates the shard.</summary>
    private void Load(CoordinatorShardContext<TShard> context, Partition partition)
    {
        long started = _clock.MonotonicMs;
        long records = 0, skipped = 0;
        try
        {
            var log = partition.Log;
            long end = log.LogEndOffset;
            long position = log.LogStartOffset;
            // Each step moves past at least one batch (minOneBatch): bounded by the number of offsets.
            while (position < end)
            {
                if (context.State != CoordinatorShardState.Loading) return;
                LogReadResult read;
                try
                {
                    read = log.Read(position, Options.LoadBufferBytes, end, minOneBatch: true);
                }
                catch (OffsetOutOfRangeException)
                {
                    position = log.LogStartOffset; // retention moved the start meanwhile
                    if (position >= end) break;
                    continue;
                }
                if (read.IsEmpty) break;
                var bytes = read.ToArray();
                long next = position;
                lock (context.Lock)
                {
                    if (context.State != CoordinatorShardState.Loading) return;
                    foreach (var batch in new RecordBatchReader(bytes))
                    {
                        next = Math.Max(next, batch.LastOffset + 1);
                        if (batch.LastOffset < position) continue;
                        ReplayBatch(context, batch, ref records, ref skipped);
                    }
                }
                if (next <= position) break; // cannot happen with whole batches; never loop forever
                position = next;
            }
            lock (context.Lock)
            {
                if (context.State != CoordinatorShardState.Loading) return;
                context.Shard.OnLoaded();
                context.State = CoordinatorShardState.Active;
            }
            _log($"partition {context.PartitionId} (epoch {context.Epoch}) loaded: {records} record(s) up to offset {end} in {_clock.MonotonicMs - started} ms"
                + (skipped > 0 ? $", {skipped} unreadable record(s) skipped" : ""));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log($"partition {context.PartitionId} (epoch {context.Epoch}): loading failed, it stays unavailable until the next leadership change: {e.Message}");
            lock (_contextsLock)
                if (_contexts.GetValueOrDefault(context.PartitionId) == context) _contexts.Remove(context.PartitionId);
            lock (context.Lock) context.State = CoordinatorShardState.Unloaded;
        }
    }

    private void ReplayBatch(CoordinatorShardContext<TShard> context, RecordBatch batch, ref long records, ref long skipped)
    {
        using var decoded = batch.OpenRecords(Options.MaxDecompressedBatchBytes);
        if (batch.IsControl)
        {
            foreach (var r in decoded)
            {
                if (!r.HasKey || r.KeySpan.Length < ControlRecordKey.Size) continue;
                var type = ControlRecordKey.Read(r.KeySpan).Type;
                if (type is ControlRecordType.Commit or ControlRecordType.Abort)
                    context.Shard.ReplayEndTransaction(batch.ProducerId, type == ControlRecordType.Commit);
            }
            return;
        }
        long producerId = batch.IsTransactional ? batch.ProducerId : -1;
        short producerEpoch = batch.IsTransactional ? batch.ProducerEpoch : (short)-1;
        foreach (var r in decoded)
        {
            if (!r.HasKey) { skipped++; continue; }
            try
            {
                // A tombstone must reach the shard as null. (`HasValue ? bytes : null` would be typed
                // byte[] and then converted to a non-null, empty ReadOnlyMemory: deleted groups and
                // offsets would come back on every load.)
                ReadOnlyMemory<byte>? value = r.HasValue ? r.Value.ToArray() : default(ReadOnlyMemory<byte>?);
                context.Shard.Replay(r.Offset, producerId, producerEpoch, r.Key.ToArray(), value);
                records++;
            }
            catch (FormatException e)
            {
                skipped++;
                _log($"partition {context.PartitionId}: record at offset {r.Offset} skipped: {e.Message}");
            }
        }
    }

    // ------------------------------------------------------------------ appends

    internal Task<ErrorCode> AppendBatch(CoordinatorShardContext<TShard> context, IReadOnlyList<CoordinatorRecord> records, CoordinatorBatchProducer producer)
    {
        var partition = _replicas.GetPartition(new TopicPartition(Options.TopicName, context.PartitionId));
        if (partition is null) return Task.FromResult(ErrorCode.NotLeaderOrFollower);
        var state = partition.State;
        if (state.Role != ReplicaRole.Leader || state.LeaderEpoch != context.Epoch) return Task.FromResult(ErrorCode.NotLeaderOrFollower);
        byte[] batch;
        using (var builder = new RecordBatchBuilder(new RecordBatchOptions
        {
            ProducerId = producer.ProducerId,
            ProducerEpoch = producer.ProducerEpoch,
            IsTransactional = producer.IsTransactional,
            BaseSequence = producer.IsTransactional ? NextCoordinatorSequence(partition, producer) : RecordBatchLayout.NoSequence,
        }))
        {
            long now = _clock.UnixTimeMs;
            foreach (var record in records) builder.Append(now, record.Key, record.Value);
            batch = builder.ToArray();
        }
        var request = new ProduceRequest
        {
            Acks = -1,
            TimeoutMs = Options.AppendTimeoutMs,
            TopicData =
            [
                new ProduceRequest.TopicProduceData
                {
                    Name = Options.TopicName,
                    PartitionData = [new ProduceRequest.PartitionProduceData { Index = context.PartitionId, Records = batch }],
                },
            ],
        };
        // ProduceAsync appends synchronously (before its first await): the caller's lock orders the log.
        var produce = _replicas.ProduceAsync(request, 9);
        return Completion(produce);

        static async Task<ErrorCode> Completion(Task<ProduceResponse> produce)
        {
            try
            {
                var response = await produce.ConfigureAwait(false);
                var answer = response.Responses.SelectMany(t => t.PartitionResponses).FirstOrDefault();
                return answer is null ? ErrorCode.UnknownServerError : (ErrorCode)answer.ErrorCode;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return ErrorCode.UnknownServerError;
            }
        }
    }

    /// <summary>
    /// The base sequence of a transactional coordinator batch (TxnOffsetCommit). The partition accepts
    /// a transactional batch only with a sequence and checks it as for a producer, so the coordinator
    /// continues the producer's sequence on this partition: the last one of the same epoch + 1, or 0
    /// for a producer (or epoch) it has not seen. An older epoch gets 0 and is refused by the epoch
    /// check (INVALID_PRODUCER_EPOCH). Called under the context lock, which orders every append of
    /// the coordinator to this partition.
    /// </summary>
    private static int NextCoordinatorSequence(Partition partition, CoordinatorBatchProducer producer)
    {
        foreach (var p in partition.ActiveProducers())
        {
            if (p.ProducerId != producer.ProducerId) continue;
            if (p.Epoch != producer.ProducerEpoch || p.LastSequence < 0) return 0;
            return p.LastSequence == int.MaxValue ? 0 : p.LastSequence + 1;
        }
        return 0;
    }

    /// <summary>Unloads every partition (the broker stops). Idempotent.</summary>
    public void Dispose()
    {
        List<CoordinatorShardContext<TShard>> all;
        lock (_contextsLock)
        {
            _stopped = true;
            all = [.. _contexts.Values];
            _contexts.Clear();
        }
        foreach (var context in all) Unload(context, "the broker stops");
    }
}

/// <summary>Hands each metadata update to several publishers in order (the replica manager first, then the coordinator runtimes).</summary>
public sealed class ChainedPublisher(params IMetadataPublisher[] publishers) : IMetadataPublisher
{
    public string Name => string.Join("+", publishers.Select(p => p.Name));

    public void OnMetadataUpdate(MetadataDelta delta, MetadataImage image, MetadataUpdate update)
    {
        foreach (var p in publishers) p.OnMetadataUpdate(delta, image, update);
    }
}
