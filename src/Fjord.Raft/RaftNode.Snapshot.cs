using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Raft;

/// <summary>
/// KIP-630 snapshots: the state machine's snapshots (<see cref="CreateSnapshot"/>), the log start
/// that follows them, loading them on start, the leader's side of FetchSnapshot, and a follower
/// fetching and installing the leader's snapshot.
/// </summary>
/// <remarks>
/// Policy: once a snapshot is frozen the log start moves to its end offset at once (the prefix and
/// older snapshots are deleted), so the log start is always 0 or the latest snapshot's end offset;
/// a replica whose fetch offset falls below the leader's log start is sent the snapshot.
/// </remarks>
public sealed partial class RaftNode
{
    /// <summary>A follower copying the leader's snapshot, chunk by chunk, in one follower state.</summary>
    private sealed class SnapshotFetch(FollowerState owner, IRaftSnapshotWriter writer)
    {
        public FollowerState Owner { get; } = owner;
        public IRaftSnapshotWriter Writer { get; } = writer;
        public long? Size { get; set; }
    }

    private SnapshotFetch? _snapshotFetch;

    /// <summary>The first offset the log holds: 0, or the end offset of the latest snapshot.</summary>
    public long LogStartOffset => _log.StartOffset;

    /// <summary>The newest complete snapshot in the log, or null.</summary>
    public OffsetAndEpoch? LatestSnapshotId => _log.LatestSnapshotId;

    /// <summary>
    /// Starts a snapshot of the state after every committed record below <paramref name="endOffset"/>;
    /// its id is (endOffset, epoch of the batch ending there). The state machine appends its state
    /// and freezes it; the node then moves its log start there. <paramref name="endOffset"/> must be
    /// at most the high watermark, above the log start and the latest snapshot's end offset, and the
    /// end of a batch; otherwise <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    public RaftSnapshotWriter CreateSnapshot(long endOffset, long now)
    {
        if (endOffset > _highWatermark)
            throw new ArgumentOutOfRangeException(nameof(endOffset), $"snapshot end offset {endOffset} is past the high watermark {_highWatermark}");
        if (endOffset <= _log.StartOffset)
            throw new ArgumentOutOfRangeException(nameof(endOffset), $"snapshot end offset {endOffset} is not above the log start {_log.StartOffset}");
        if (_log.LatestSnapshotId is { } latest && endOffset <= latest.Offset)
            throw new ArgumentOutOfRangeException(nameof(endOffset), $"snapshot end offset {endOffset} is not after the latest snapshot {latest}");
        if (BatchEndingAt(endOffset) is not { } last)
            throw new ArgumentOutOfRangeException(nameof(endOffset), $"snapshot end offset {endOffset} is not the end of a batch");
        var id = new OffsetAndEpoch(endOffset, last.PartitionLeaderEpoch);
        _trace?.Invoke($"t={now} creating snapshot {id}");
        return new RaftSnapshotWriter(_log.CreateSnapshot(id), last.MaxTimestamp, now, OnSnapshotFrozen, SnapshotVoterRecords(endOffset));
    }

    /// <summary>The batch whose last offset is <paramref name="endOffset"/> − 1, or null when no batch held ends there.</summary>
    private RecordBatch? BatchEndingAt(long endOffset)
    {
        if (endOffset <= _log.StartOffset || endOffset > _log.EndOffset) return null;
        var reader = new RecordBatchReader(_log.Read(endOffset - 1, 1, long.MaxValue).ToArray());
        return reader.MoveNext() && reader.Current.LastOffset == endOffset - 1 ? reader.Current : null;
    }

    /// <summary>A snapshot of ours was frozen: the log now starts after it (unless the log moved past it meanwhile).</summary>
    private void OnSnapshotFrozen(OffsetAndEpoch id)
    {
        if (_log.LatestSnapshotId != id || id.Offset <= _log.StartOffset || BatchEndingAt(id.Offset)?.PartitionLeaderEpoch != id.Epoch)
        {
            _trace?.Invoke($"snapshot {id} frozen; the log start stays at {_log.StartOffset}");
            return;
        }
        _log.AdvanceStartToSnapshot(id);
        _trace?.Invoke($"snapshot {id} frozen; log start advanced to {_log.StartOffset}");
        if (_nextDelivery < _log.StartOffset) QueueSnapshotLoad(id);
    }

    /// <summary>
    /// On start: a snapshot newer than the log start takes over the log's prefix — the log start
    /// moves to it when the log holds the batch ending there with the snapshot's epoch, otherwise
    /// (the log is behind it, or diverges) the log restarts empty after it. Then the latest snapshot,
    /// if any, is the first thing delivered, and the high watermark starts at its end offset.
    /// </summary>
    private void LoadSnapshotOnStart()
    {
        var snapshot = _log.LatestSnapshotId;
        if (snapshot is { } s && s.Offset > _log.StartOffset)
        {
            if (BatchEndingAt(s.Offset)?.PartitionLeaderEpoch == s.Epoch)
            {
                _trace?.Invoke($"snapshot {s} is newer than the log start {_log.StartOffset}: advancing the log start");
                _log.AdvanceStartToSnapshot(s);
            }
            else
            {
                _trace?.Invoke($"snapshot {s} is not part of the log [{_log.StartOffset}, {_log.EndOffset}): restarting the log after it");
                _log.ResetToSnapshot(s);
            }
        }
        if (_log.StartOffset > 0 && snapshot?.Offset != _log.StartOffset)
            throw new InvalidOperationException($"node {NodeId}: the log starts at {_log.StartOffset} but no snapshot ends there (latest: {snapshot?.ToString() ?? "none"})");
        _nextDelivery = _log.StartOffset;
        if (snapshot is { } load) QueueSnapshotLoad(load);
    }

    /// <summary>Queues the load of snapshot <paramref name="id"/>; delivery continues at its end
    /// offset, which is committed: the high watermark is raised to it.</summary>
    private void QueueSnapshotLoad(OffsetAndEpoch id)
    {
        var whole = _log.ReadSnapshot(id, 0, int.MaxValue) ?? throw new InvalidOperationException($"node {NodeId}: snapshot {id} vanished");
        if (whole.Bytes.Length != whole.Size)
            throw new InvalidOperationException($"node {NodeId}: snapshot {id} of {whole.Size} bytes is too large to load");
        _committed.Add(new SnapshotLoad(id, whole.Bytes.ToArray()));
        _nextDelivery = id.Offset;
        if (_highWatermark < id.Offset) _highWatermark = id.Offset;
    }

    /// <summary>
    /// The snapshot a fetcher must load instead of fetching (KIP-630), or null when the log can serve
    /// it: its fetch offset is below our log start, or at the log start with another last epoch than
    /// the snapshot's, or past it with a last epoch older than every epoch we know (its log diverges
    /// before our log start, where no batch is left to compare).
    /// </summary>
    private OffsetAndEpoch? SnapshotNeeded(long fetchOffset, int lastFetchedEpoch)
    {
        long start = _log.StartOffset;
        if (start == 0) return null;
        var latest = _log.LatestSnapshotId ?? throw new InvalidOperationException($"node {NodeId}: the log starts at {start} without a snapshot");
        if (fetchOffset < start) return latest;
        if (fetchOffset == start) return lastFetchedEpoch == latest.Epoch ? null : latest;
        return _log.EndOffsetForEpoch(lastFetchedEpoch).Epoch < 0 ? latest : null;
    }

    // ---- leader: FetchSnapshot ----

    /// <summary>
    /// Kafka's order of checks: cluster id, request shape, epoch (lower → FENCED_LEADER_EPOCH, higher →
    /// UNKNOWN_LEADER_EPOCH, ours but not leader → NOT_LEADER_OR_FOLLOWER), the snapshot
    /// (SNAPSHOT_NOT_FOUND), the position (POSITION_OUT_OF_RANGE unless inside the snapshot); then a
    /// chunk of at most the request's max bytes (and FetchSnapshotMaxBytes). A voter asking counts as
    /// following us for check-quorum.
    /// </summary>
    private void HandleFetchSnapshotRequest(RaftMessage message, FetchSnapshotRequest request, long now)
    {
        if (!ClusterMatches(request.ClusterId))
        {
            Respond(message, RaftRpc.FetchSnapshotError(ErrorCode.InconsistentClusterId));
            return;
        }
        if (RaftRpc.Single(request) is not { } p || request.MaxBytes <= 0)
        {
            Respond(message, RaftRpc.FetchSnapshotError(ErrorCode.InvalidRequest));
            return;
        }
        var id = new OffsetAndEpoch(p.SnapshotId.EndOffset, p.SnapshotId.Epoch);
        var error = p.CurrentLeaderEpoch < Epoch ? ErrorCode.FencedLeaderEpoch
            : p.CurrentLeaderEpoch > Epoch ? ErrorCode.UnknownLeaderEpoch
            : _quorum.State is not LeaderState ? ErrorCode.NotLeaderOrFollower
            : ErrorCode.None;
        if (error == ErrorCode.None)
        {
            var leader = (LeaderState)_quorum.State;
            var replica = new ReplicaKey(request.ReplicaId, p.ReplicaDirectoryId);
            if (leader.IsVoter(replica) && request.ReplicaId != NodeId)
            {
                leader.RecordVoterFetch(replica, now);
                leader.Acknowledge(request.ReplicaId);
            }
        }
        RaftSnapshotChunk? snapshot = error == ErrorCode.None && id.Offset >= 0 && id.Epoch >= 0 ? _log.ReadSnapshot(id, 0, 0) : null;
        if (error == ErrorCode.None && snapshot is null) error = ErrorCode.SnapshotNotFound;
        if (error == ErrorCode.None && (p.Position < 0 || p.Position >= snapshot!.Value.Size)) error = ErrorCode.PositionOutOfRange;
        if (error != ErrorCode.None)
        {
            Respond(message, RaftRpc.FetchSnapshotResponse(error, Epoch, _quorum.State.LeaderId, id, snapshot?.Size ?? -1, p.Position, ReadOnlyMemory<byte>.Empty));
            return;
        }
        int maxBytes = Math.Min(request.MaxBytes, _config.FetchSnapshotMaxBytes);
        var chunk = _log.ReadSnapshot(id, p.Position, maxBytes)!.Value;
        Respond(message, RaftRpc.FetchSnapshotResponse(ErrorCode.None, Epoch, NodeId, id, chunk.Size, p.Position, chunk.Bytes.ToArray()));
    }

    // ---- follower: fetching and installing the leader's snapshot ----

    /// <summary>The leader named a snapshot instead of records: fetch it (unless the answer makes no sense for our log).</summary>
    private void StartSnapshotFetch(FollowerState follower, int source, OffsetAndEpoch id, long now)
    {
        AbandonSnapshotFetch(now);
        if (id.Offset < _highWatermark || id.Offset <= _log.StartOffset)
        {
            _trace?.Invoke($"t={now} ignored snapshot {id} from {source}: our log starts at {_log.StartOffset}, high watermark {_highWatermark}");
            _requests.BackOff(source, now);
            return;
        }
        _trace?.Invoke($"t={now} leader {source} sends snapshot {id}: our log [{_log.StartOffset}, {_log.EndOffset}) is behind its log start");
        if (_log.ReadSnapshot(id, 0, 0) is not null)
        {
            InstallSnapshot(id, now); // already complete here (a copy finished before a restart)
            return;
        }
        _snapshotFetch = new SnapshotFetch(follower, _log.CreateSnapshot(id));
    }

    private void SendFetchSnapshot(int destination, SnapshotFetch fetch, long now)
    {
        if (_log.FlushedOffset < _log.EndOffset) _log.Flush();
        SendRequest(destination, RaftRpc.FetchSnapshotRequest(_clusterId, NodeId, Epoch, fetch.Writer.Id, fetch.Writer.Size, _config.FetchSnapshotMaxBytes), now);
    }

    /// <summary>
    /// Epoch news first, as for Fetch. Then, from our leader and for the snapshot being fetched: a
    /// chunk that starts where we are, within a size that does not change, is appended; once all of
    /// it is here the snapshot is installed. An error (SNAPSHOT_NOT_FOUND, POSITION_OUT_OF_RANGE, …)
    /// or an unexpected chunk abandons the copy: the next Fetch learns the leader's current snapshot.
    /// </summary>
    private void HandleFetchSnapshotResponse(int source, FetchSnapshotResponse response, long now)
    {
        if (response.ErrorCode != 0 || RaftRpc.Single(response) is not { } p)
        {
            _requests.BackOff(source, now);
            return;
        }
        var error = (ErrorCode)p.ErrorCode;
        int epoch = p.CurrentLeader.LeaderEpoch;
        if (HandleEpochOfResponse(error, RaftRpc.OptionalLeader(p.CurrentLeader.LeaderId), epoch, now)
            || _quorum.State is not FollowerState follower || follower.LeaderId != source || epoch != follower.Epoch
            || _snapshotFetch is not { } fetch || fetch.Owner != follower)
        {
            _requests.BackOff(source, now);
            return;
        }
        if (error != ErrorCode.None)
        {
            _trace?.Invoke($"t={now} fetching snapshot {fetch.Writer.Id} failed: {error}; fetching again");
            AbandonSnapshotFetch(now);
            _requests.BackOff(source, now);
            return;
        }
        follower.RecordSuccessfulFetch(now);
        var id = new OffsetAndEpoch(p.SnapshotId.EndOffset, p.SnapshotId.Epoch);
        var bytes = p.UnalignedRecords ?? ReadOnlyMemory<byte>.Empty;
        long position = fetch.Writer.Size;
        if (id != fetch.Writer.Id || p.Position != position || bytes.IsEmpty || p.Size <= 0 || fetch.Size is { } size && size != p.Size
            || position + bytes.Length > p.Size)
        {
            _trace?.Invoke($"t={now} unexpected chunk of snapshot {id} at {p.Position} (+{bytes.Length} of {p.Size}); expected {fetch.Writer.Id} at {position}: fetching again");
            AbandonSnapshotFetch(now);
            _requests.BackOff(source, now);
            return;
        }
        fetch.Size = p.Size;
        fetch.Writer.Append(bytes.Span);
        if (fetch.Writer.Size < p.Size) return;
        fetch.Writer.Freeze();
        fetch.Writer.Dispose();
        _snapshotFetch = null;
        InstallSnapshot(id, now);
    }

    /// <summary>The complete snapshot replaces our whole log, the state machine loads it, and fetching resumes from its end offset.</summary>
    private void InstallSnapshot(OffsetAndEpoch id, long now)
    {
        if (id.Offset < _highWatermark)
            throw new InvalidOperationException($"node {NodeId}: snapshot {id} would move the high watermark {_highWatermark} back");
        _log.ResetToSnapshot(id);
        OnSnapshotInstalled(id, now);
        QueueSnapshotLoad(id);
        _trace?.Invoke($"t={now} installed snapshot {id}; log restarts at {_log.StartOffset}, high watermark {_highWatermark}");
    }

    private void AbandonSnapshotFetch(long now)
    {
        if (_snapshotFetch is not { } fetch) return;
        _trace?.Invoke($"t={now} abandoned fetching snapshot {fetch.Writer.Id} at {fetch.Writer.Size} bytes");
        fetch.Writer.Dispose();
        _snapshotFetch = null;
    }
}
