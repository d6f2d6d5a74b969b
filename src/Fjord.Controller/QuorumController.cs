using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using Fjord.Raft;

namespace Fjord.Controller;

/// <summary>
/// The controller: a single-threaded event loop over <see cref="ControllerState"/> (see
/// docs/controller.md). Every input — a request, a committed batch, a leadership change, a timer
/// tick — is an event on <see cref="IControllerEventQueue"/>; only events touch the state.
/// </summary>
/// <remarks>
/// A write operation is a function of the current state giving (records, response). On the active
/// controller the records are replayed into the current state at once (the next operation sees
/// them), appended to the log as one atomic batch, and the response completes only once the high
/// watermark has passed the batch's last offset, so any number of operations may be in flight.
/// An operation that writes nothing still waits for every earlier append to commit (its answer may
/// depend on them). The state after each uncommitted append is kept; losing leadership fails every
/// operation in flight with NOT_CONTROLLER and goes back to the last committed state. A standby
/// replays committed batches into the same state, so it takes over without reloading anything:
/// it becomes active once it leads the Raft epoch and has replayed a committed batch of that epoch
/// (the leader's LeaderChange batch), i.e. everything committed before the epoch.
/// </remarks>
public sealed class QuorumController : IMetadataLogListener, IDisposable
{
    private const int MaxBatchBytes = 64 * 1024 * 1024;

    private readonly IMetadataLog _log;
    private readonly IControllerEventQueue _queue;
    private readonly Func<long> _now;
    private readonly ControllerConfig _config;
    private readonly Action<string> _trace;

    // ---- event loop only ----
    private ControllerState _state = ControllerState.Empty;
    private ControllerState _committedState = ControllerState.Empty;
    private long _lastCommittedOffset = -1;
    private int _lastCommittedEpoch = -1;
    private LeaderAndEpoch _raftLeader = new(null, 0);
    private int _activeEpoch = -1;
    private long _lastAppendedOffset = -1;
    private readonly List<(long LastOffset, ControllerState State)> _uncommitted = [];
    private readonly List<Deferred> _deferred = [];
    private long _nextNoOpMs;

    // ---- published for any thread ----
    private volatile int _publishedActiveEpoch = -1;
    private long _publishedCommittedOffset = -1;

    public QuorumController(ControllerConfig config, IMetadataLog log, IControllerEventQueue queue, Func<long> nowMs, Action<string>? trace = null)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _queue = queue ?? throw new ArgumentNullException(nameof(queue));
        _now = nowMs ?? throw new ArgumentNullException(nameof(nowMs));
        _trace = trace ?? (_ => { });
        Cluster = new ClusterControlManager(config);
        Features = new FeatureControlManager(config);
        ProducerIds = new ProducerIdControlManager(config);
        Replication = new ReplicationControlManager(config);
        Configuration = new ConfigurationControlManager();
        AclControl = new AclControlManager(config);
        Cluster.LeadsPartitions = ReplicationControlManager.LeadsPartitions;
        _log.Register(this);
    }

    public int NodeId => _log.NodeId;
    public ClusterControlManager Cluster { get; }
    public FeatureControlManager Features { get; }
    public ProducerIdControlManager ProducerIds { get; }
    public ReplicationControlManager Replication { get; }
    public ConfigurationControlManager Configuration { get; }
    public AclControlManager AclControl { get; }

    /// <summary>Whether this controller is the active one (as of the last event it ran).</summary>
    public bool IsActive => _publishedActiveEpoch >= 0;

    /// <summary>The Raft epoch this controller is active in, or null.</summary>
    public int? ActiveEpoch => _publishedActiveEpoch >= 0 ? _publishedActiveEpoch : null;

    /// <summary>The last offset this controller has seen committed and replayed.</summary>
    public long LastCommittedOffset => Interlocked.Read(ref _publishedCommittedOffset);

    // ------------------------------------------------------------------ requests

    public Task<BrokerRegistrationResponse> RegisterBroker(BrokerRegistrationRequest request, short version) =>
        Write("BrokerRegistration", (state, next, now) => WithBrokerChanges(state, Cluster.RegisterBroker(state, request, version, next, now)),
            code => new BrokerRegistrationResponse { ErrorCode = (short)code, BrokerEpoch = -1 });

    public Task<BrokerHeartbeatResponse> BrokerHeartbeat(BrokerHeartbeatRequest request) =>
        Write("BrokerHeartbeat", (state, _, now) => WithBrokerChanges(state, Cluster.Heartbeat(state, request, now)),
            code => new BrokerHeartbeatResponse { ErrorCode = (short)code, IsFenced = true });

    public Task<UnregisterBrokerResponse> UnregisterBroker(UnregisterBrokerRequest request) =>
        Write("UnregisterBroker", (state, _, _) => WithBrokerChanges(state, Cluster.UnregisterBroker(state, request)),
            code => new UnregisterBrokerResponse { ErrorCode = (short)code, ErrorMessage = code.Describe() });

    public Task<ControllerRegistrationResponse> RegisterController(ControllerRegistrationRequest request) =>
        Write("ControllerRegistration", (state, _, _) => ClusterControlManager.RegisterController(state, request),
            code => new ControllerRegistrationResponse { ErrorCode = (short)code, ErrorMessage = code.Describe() });

    public Task<UpdateFeaturesResponse> UpdateFeatures(UpdateFeaturesRequest request, short version) =>
        Write("UpdateFeatures", (state, _, _) => Features.UpdateFeatures(state, request, version),
            code => ErrorFor(request, version, code));

    public Task<AllocateProducerIdsResponse> AllocateProducerIds(AllocateProducerIdsRequest request) =>
        Write("AllocateProducerIds", (state, _, _) => ProducerIds.Allocate(state, request),
            code => new AllocateProducerIdsResponse { ErrorCode = (short)code, ProducerIdStart = -1 });

    public Task<CreateTopicsResponse> CreateTopics(CreateTopicsRequest request, short version) =>
        Write("CreateTopics", (state, _, _) => Replication.CreateTopics(state, request, version), code =>
        {
            var response = new CreateTopicsResponse();
            foreach (var topic in request.Topics)
                response.Topics.Add(new CreateTopicsResponse.CreatableTopicResult { Name = topic.Name, ErrorCode = (short)code, ErrorMessage = code.Describe(), Configs = null });
            return response;
        });

    public Task<DeleteTopicsResponse> DeleteTopics(DeleteTopicsRequest request, short version) =>
        Write("DeleteTopics", (state, _, _) => Replication.DeleteTopics(state, request, version), code =>
        {
            var response = new DeleteTopicsResponse();
            if (version >= 6)
                foreach (var topic in request.Topics)
                    response.Responses.Add(new DeleteTopicsResponse.DeletableTopicResult { Name = topic.Name, TopicId = topic.TopicId, ErrorCode = (short)code, ErrorMessage = code.Describe() });
            else
                foreach (var name in request.TopicNames)
                    response.Responses.Add(new DeleteTopicsResponse.DeletableTopicResult { Name = name, ErrorCode = (short)code, ErrorMessage = code.Describe() });
            return response;
        });

    public Task<CreatePartitionsResponse> CreatePartitions(CreatePartitionsRequest request) =>
        Write("CreatePartitions", (state, _, _) => Replication.CreatePartitions(state, request), code =>
        {
            var response = new CreatePartitionsResponse();
            foreach (var topic in request.Topics)
                response.Results.Add(new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = topic.Name, ErrorCode = (short)code, ErrorMessage = code.Describe() });
            return response;
        });

    public Task<AlterPartitionResponse> AlterPartition(AlterPartitionRequest request, short version) =>
        Write("AlterPartition", (state, _, _) => ReplicationControlManager.AlterPartition(state, request, version),
            code => new AlterPartitionResponse { ErrorCode = (short)code });

    public Task<ElectLeadersResponse> ElectLeaders(ElectLeadersRequest request, short version) =>
        Write("ElectLeaders", (state, _, _) => Replication.ElectLeaders(state, request, version),
            code => new ElectLeadersResponse { ErrorCode = (short)code });

    /// <summary>AlterPartitionReassignments (KIP-455): starts, replaces or cancels (null replicas)
    /// partition reassignments; see <see cref="ReplicationControlManager"/>'s reassignment remarks.</summary>
    public Task<AlterPartitionReassignmentsResponse> AlterPartitionReassignments(AlterPartitionReassignmentsRequest request, short version) =>
        Write("AlterPartitionReassignments", (state, _, _) => Replication.AlterPartitionReassignments(state, request, version),
            code => new AlterPartitionReassignmentsResponse
            {
                ErrorCode = (short)code,
                ErrorMessage = code.Describe(),
                AllowReplicationFactorChange = version < 1 || request.AllowReplicationFactorChange,
            });

    /// <summary>ListPartitionReassignments over the committed state (NOT_CONTROLLER on a standby, as
    /// in Kafka: brokers forward it to the active controller).</summary>
    public Task<ListPartitionReassignmentsResponse> ListPartitionReassignments(ListPartitionReassignmentsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        _ = version; // v0 only
        var result = new TaskCompletionSource<ListPartitionReassignmentsResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Post(() =>
        {
            if (_activeEpoch < 0)
            {
                result.SetResult(new ListPartitionReassignmentsResponse { ErrorCode = (short)ErrorCode.NotController, ErrorMessage = ErrorCode.NotController.Describe() });
                return;
            }
            try
            {
                result.SetResult(ReplicationControlManager.ListPartitionReassignments(_committedState, request));
            }
#pragma warning disable CA1031 // answered to the caller, the loop goes on
            catch (Exception e)
#pragma warning restore CA1031
            {
                _trace($"ListPartitionReassignments failed: {e}");
                result.SetResult(new ListPartitionReassignmentsResponse { ErrorCode = (short)ErrorCode.UnknownServerError, ErrorMessage = ErrorCode.UnknownServerError.Describe() });
            }
        });
        return result.Task;
    }

    public Task<IncrementalAlterConfigsResponse> IncrementalAlterConfigs(IncrementalAlterConfigsRequest request) =>
        Write("IncrementalAlterConfigs", (state, _, _) => Configuration.IncrementalAlterConfigs(state, request), code =>
        {
            var response = new IncrementalAlterConfigsResponse();
            foreach (var resource in request.Resources)
                response.Responses.Add(new IncrementalAlterConfigsResponse.AlterConfigsResourceResponse
                {
                    ErrorCode = (short)code, ErrorMessage = code.Describe(), ResourceType = resource.ResourceType, ResourceName = resource.ResourceName,
                });
            return response;
        });

    public Task<AlterConfigsResponse> AlterConfigs(AlterConfigsRequest request) =>
        Write("AlterConfigs", (state, _, _) => Configuration.AlterConfigs(state, request), code =>
        {
            var response = new AlterConfigsResponse();
            foreach (var resource in request.Resources)
                response.Responses.Add(new AlterConfigsResponse.AlterConfigsResourceResponse
                {
                    ErrorCode = (short)code, ErrorMessage = code.Describe(), ResourceType = resource.ResourceType, ResourceName = resource.ResourceName,
                });
            return response;
        });

    public Task<AlterClientQuotasResponse> AlterClientQuotas(AlterClientQuotasRequest request) =>
        Write("AlterClientQuotas", (state, _, _) => ClientQuotaControlManager.AlterClientQuotas(state, request), code =>
        {
            var response = new AlterClientQuotasResponse();
            foreach (var entry in request.Entries)
                response.Entries.Add(new AlterClientQuotasResponse.EntryData
                {
                    ErrorCode = (short)code,
                    ErrorMessage = code.Describe(),
                    Entity = [.. entry.Entity.Select(e => new AlterClientQuotasResponse.EntityData { EntityType = e.EntityType, EntityName = e.EntityName })],
                });
            return response;
        });

    public Task<CreateAclsResponse> CreateAcls(CreateAclsRequest request) =>
        Write("CreateAcls", (state, _, _) => AclControl.CreateAcls(state, request), code =>
        {
            var response = new CreateAclsResponse();
            foreach (var _ in request.Creations)
                response.Results.Add(new CreateAclsResponse.AclCreationResult { ErrorCode = (short)code, ErrorMessage = code.Describe() });
            return response;
        });

    public Task<DeleteAclsResponse> DeleteAcls(DeleteAclsRequest request) =>
        Write("DeleteAcls", (state, _, _) => AclControlManager.DeleteAcls(state, request), code =>
        {
            var response = new DeleteAclsResponse();
            foreach (var _ in request.Filters)
                response.FilterResults.Add(new DeleteAclsResponse.DeleteAclsFilterResult { ErrorCode = (short)code, ErrorMessage = code.Describe() });
            return response;
        });

    public Task<AlterUserScramCredentialsResponse> AlterUserScramCredentials(AlterUserScramCredentialsRequest request) =>
        Write("AlterUserScramCredentials", (state, _, _) => ScramControlManager.AlterCredentials(state, request), code =>
        {
            var response = new AlterUserScramCredentialsResponse();
            foreach (var user in request.Deletions.Select(d => d.Name).Concat(request.Upsertions.Select(u => u.Name)).Distinct(StringComparer.Ordinal))
                response.Results.Add(new AlterUserScramCredentialsResponse.AlterUserScramCredentialsResult { User = user, ErrorCode = (short)code, ErrorMessage = code.Describe() });
            return response;
        });

    /// <summary>Reads the committed state (what every controller and, eventually, every broker
    /// agrees on); the answer never reveals a write that could still be lost.</summary>
    public Task<T> ReadCommitted<T>(Func<ControllerState, T> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Post(() =>
        {
            try
            {
                result.SetResult(read(_committedState));
            }
#pragma warning disable CA1031 // handed to the caller
            catch (Exception e)
#pragma warning restore CA1031
            {
                result.SetException(e);
            }
        });
        return result.Task;
    }

    /// <summary>Reads the current state: committed plus this controller's own uncommitted writes
    /// (for diagnostics and tests; answers to clients use <see cref="ReadCommitted"/>).</summary>
    public Task<T> ReadCurrent<T>(Func<ControllerState, T> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Post(() => result.SetResult(read(_state)));
        return result.Task;
    }

    /// <summary>Runs the periodic work (call it every few hundred milliseconds): fences brokers
    /// whose session expired, writes a NoOpRecord every <see cref="ControllerConfig.MaxIdleIntervalMs"/>.</summary>
    public void Tick() => _queue.Post(OnTick);

    // ------------------------------------------------------------------ log events

    void IMetadataLogListener.OnCommitted(CommittedItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        _queue.Post(() => HandleCommitted(item));
    }

    void IMetadataLogListener.OnLeaderChange(LeaderAndEpoch leader) => _queue.Post(() => HandleLeaderChange(leader));

    public void Dispose() => _queue.Post(() => Renounce("shutting down"));

    // ------------------------------------------------------------------ the loop

    private sealed record Deferred(long Offset, Action Complete, Action<ErrorCode> Fail);

    private Task<T> Write<T>(string name, Func<ControllerState, long, long, ControllerResult<T>> operation, Func<ErrorCode, T> error)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Post(() => RunWrite(name, operation, error, result));
        return result.Task;
    }

    private void RunWrite<T>(string name, Func<ControllerState, long, long, ControllerResult<T>> operation, Func<ErrorCode, T> error,
        TaskCompletionSource<T> result)
    {
        if (_activeEpoch < 0)
        {
            result.SetResult(error(ErrorCode.NotController));
            return;
        }
        ControllerResult<T> outcome;
        try
        {
            outcome = operation(_state, _lastAppendedOffset + 1, _now());
        }
#pragma warning disable CA1031 // a failing operation answers its caller, the loop goes on
        catch (Exception e)
#pragma warning restore CA1031
        {
            _trace($"{name} failed: {e}");
            result.SetResult(error(ErrorCode.UnknownServerError));
            return;
        }
        if (outcome.Records.Count > 0)
        {
            var appended = Append(name, outcome.Records, outcome.IsAtomic);
            if (appended != ErrorCode.None)
            {
                result.SetResult(error(appended));
                return;
            }
        }
        // Answer once everything appended so far — this operation's records, or for an operation
        // that wrote nothing, the writes its answer may have seen — is committed.
        Defer(_lastAppendedOffset, () => result.TrySetResult(outcome.Response), code => result.TrySetResult(error(code)));
    }

    private void Defer(long offset, Action complete, Action<ErrorCode> fail)
    {
        if (offset <= _lastCommittedOffset) complete();
        else _deferred.Add(new Deferred(offset, complete, fail));
    }

    /// <summary>
    /// Replays <paramref name="records"/> into a new current state, then appends them: as one batch
    /// when <paramref name="atomic"/>, otherwise in batches of at most
    /// <see cref="ControllerConfig.MaxRecordsPerBatch"/> records and <see cref="ControllerConfig.MaxBatchBytes"/>
    /// bytes (a batch always holds at least one record). The state after each appended batch is kept
    /// (keyed by its last offset); a refused append renounces, and batches appended before it are then
    /// replayed like anyone's if a later leader commits them.
    /// </summary>
    private ErrorCode Append(string name, IReadOnlyList<MetadataRecord> records, bool atomic = true)
    {
        ControllerState next = _state;
        var values = new byte[records.Count][];
        var batches = new List<(int Start, int Count, ControllerState After)>();
        try
        {
            int start = 0;
            long bytes = 0;
            for (int i = 0; i < records.Count; i++)
            {
                values[i] = MetadataRecordFrame.Encode(records[i]);
                if (!atomic && i > start && (i - start >= _config.MaxRecordsPerBatch || bytes + values[i].Length > _config.MaxBatchBytes))
                {
                    batches.Add((start, i - start, next));
                    start = i;
                    bytes = 0;
                }
                bytes += values[i].Length;
                next = next.Replay(records[i].Message);
            }
            batches.Add((start, records.Count - start, next));
        }
#pragma warning disable CA1031 // records that do not apply are the operation's bug: refuse it, keep going
        catch (Exception e)
#pragma warning restore CA1031
        {
            _trace($"{name}: its records do not apply: {e}");
            return ErrorCode.UnknownServerError;
        }
        foreach (var (start, count, after) in batches)
        {
            long? last = _log.Append(_activeEpoch, new ArraySegment<byte[]>(values, start, count));
            if (last is not { } lastOffset)
            {
                Renounce($"append of {name} refused: no longer the leader of epoch {_activeEpoch}");
                return ErrorCode.NotController;
            }
            if (lastOffset != _lastAppendedOffset + count)
                _trace($"{name}: appended at {lastOffset - count + 1}, expected {_lastAppendedOffset + 1} (another writer in the log?)");
            _lastAppendedOffset = lastOffset;
            _state = after;
            _uncommitted.Add((lastOffset, after));
        }
        return ErrorCode.None;
    }

    private void HandleCommitted(CommittedItem item)
    {
        switch (item)
        {
            case SnapshotLoad snapshot:
                LoadSnapshot(snapshot);
                break;
            case CommittedBatch batch:
                if (batch.LastOffset <= _lastCommittedOffset) return; // delivered again (a new Raft instance)
                if (_activeEpoch >= 0 && batch.LastOffset <= _lastAppendedOffset)
                {
                    // Our own write (or a control batch of our epoch): already in the state.
                    while (_uncommitted.Count > 0 && _uncommitted[0].LastOffset <= batch.LastOffset)
                    {
                        _committedState = _uncommitted[0].State;
                        _uncommitted.RemoveAt(0);
                    }
                }
                else if (!batch.IsControl)
                {
                    if (_activeEpoch >= 0)
                        throw new InvalidOperationException(
                            $"controller {NodeId}: committed data batch {batch.BaseOffset}-{batch.LastOffset} was not written by the active controller (last appended {_lastAppendedOffset})");
                    _state = ReplayBatch(_state, batch);
                    _committedState = _state;
                }
                else if (_activeEpoch >= 0)
                {
                    _lastAppendedOffset = batch.LastOffset; // a control batch Raft appended after ours
                }
                _lastCommittedOffset = batch.LastOffset;
                _lastCommittedEpoch = batch.Epoch;
                Interlocked.Exchange(ref _publishedCommittedOffset, _lastCommittedOffset);
                CompleteDeferred();
                MaybeClaim();
                break;
        }
    }

    private void LoadSnapshot(SnapshotLoad snapshot)
    {
        if (_activeEpoch >= 0) Renounce("loading a snapshot");
        var state = ControllerState.Empty;
        foreach (var value in snapshot.ReadValues(MaxBatchBytes)) state = state.Replay(MetadataRecordFrame.Decode(value).Message);
        _state = _committedState = state;
        _uncommitted.Clear();
        _lastCommittedOffset = snapshot.Id.Offset - 1;
        _lastCommittedEpoch = snapshot.Id.Epoch;
        Interlocked.Exchange(ref _publishedCommittedOffset, _lastCommittedOffset);
        MaybeClaim();
    }

    private static ControllerState ReplayBatch(ControllerState state, CommittedBatch batch)
    {
        var reader = new RecordBatchReader(batch.Bytes);
        while (reader.MoveNext())
        {
            using var records = reader.Current.OpenRecords(MaxBatchBytes);
            foreach (var record in records) state = state.Replay(MetadataRecordFrame.Decode(record.Value).Message);
        }
        return state;
    }

    private void CompleteDeferred()
    {
        int done = 0;
        while (done < _deferred.Count && _deferred[done].Offset <= _lastCommittedOffset) done++;
        if (done == 0) return;
        var completed = _deferred.GetRange(0, done);
        _deferred.RemoveRange(0, done);
        foreach (var d in completed) d.Complete();
    }

    private void HandleLeaderChange(LeaderAndEpoch leader)
    {
        _raftLeader = leader;
        _trace($"controller {NodeId}: Raft says {leader}");
        if (_activeEpoch >= 0 && (leader.LeaderId != NodeId || leader.Epoch != _activeEpoch))
            Renounce($"Raft moved to {leader}");
        MaybeClaim();
    }

    private void MaybeClaim()
    {
        if (_activeEpoch >= 0 || _raftLeader.LeaderId != NodeId || _lastCommittedEpoch != _raftLeader.Epoch) return;
        long now = _now();
        _activeEpoch = _raftLeader.Epoch;
        _publishedActiveEpoch = _activeEpoch;
        _lastAppendedOffset = _lastCommittedOffset;
        _uncommitted.Clear();
        _state = _committedState;
        Cluster.ResetSessions(_state, now);
        _nextNoOpMs = now + _config.MaxIdleIntervalMs;
        _trace($"controller {NodeId}: active in epoch {_activeEpoch} from offset {_lastCommittedOffset + 1}");
        if (_state.RecordCount == 0 && _config.BootstrapRecords.Count > 0)
        {
            var error = Append("bootstrap", _config.BootstrapRecords);
            if (error != ErrorCode.None) _trace($"controller {NodeId}: bootstrap records not written: {error}");
        }
    }

    private void Renounce(string reason)
    {
        if (_activeEpoch < 0) return;
        _trace($"controller {NodeId}: no longer active in epoch {_activeEpoch} ({reason}); back to offset {_lastCommittedOffset}");
        _activeEpoch = -1;
        _publishedActiveEpoch = -1;
        _state = _committedState;
        _uncommitted.Clear();
        _lastAppendedOffset = _lastCommittedOffset;
        var failed = _deferred.ToArray();
        _deferred.Clear();
        foreach (var d in failed) d.Fail(ErrorCode.NotController);
    }

    private void OnTick()
    {
        if (_activeEpoch < 0) return;
        long now = _now();
        var fence = Replication.WithBrokerChanges(_state, Cluster.FenceStaleBrokers(_state, now));
        if (fence.Count > 0)
        {
            _trace($"controller {NodeId}: fencing {fence.Count} broker(s) whose session expired");
            if (Append("fence stale brokers", fence, atomic: false) != ErrorCode.None) return;
        }
        if (_config.MaxIdleIntervalMs > 0 && now >= _nextNoOpMs)
        {
            _nextNoOpMs = now + _config.MaxIdleIntervalMs;
            Append("NoOp", [new MetadataRecord(new NoOpRecord(), 0)]);
        }
    }

    /// <summary>The cluster operation's records with the partition changes they call for (same batch).</summary>
    private ControllerResult<T> WithBrokerChanges<T>(ControllerState state, ControllerResult<T> result) =>
        result.Records.Count == 0 ? result : result with { Records = Replication.WithBrokerChanges(state, result.Records), IsAtomic = false };

    private static UpdateFeaturesResponse ErrorFor(UpdateFeaturesRequest request, short version, ErrorCode code)
    {
        var response = new UpdateFeaturesResponse { ErrorCode = (short)code, ErrorMessage = code.Describe() };
        if (version < 2)
            foreach (var update in request.FeatureUpdates)
                response.Results.Add(new UpdateFeaturesResponse.UpdatableFeatureResult { Feature = update.Feature, ErrorCode = (short)code, ErrorMessage = code.Describe() });
        return response;
    }
}
