using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Raft;

/// <summary>
/// KIP-853 dynamic voters: the voter set as data of the log (<see cref="VoterSetHistory"/>), the
/// leader's AddRaftVoter / RemoveRaftVoter / UpdateRaftVoter, and a voter keeping its own entry
/// current.
/// </summary>
/// <remarks>
/// A set takes effect on this node as soon as its KRAFT_VOTERS record is in the log (appended,
/// not committed) and is reverted when the log is truncated below it. The leader accepts one
/// change at a time: a new one only once the previous one is committed and the high watermark is
/// in its own epoch.
/// </remarks>
public sealed partial class RaftNode
{
    /// <summary>A voter change the leader appended and has not seen committed; <c>Request</c> is answered then (null: already answered).</summary>
    private sealed record PendingVoterChange(long Offset, RaftMessage? Request);

    private PendingVoterChange? _pendingVoterChange;
    private long _nextVoterUpdateAt;

    /// <summary>The voter set in force on this node (the latest in its log, or the static one).</summary>
    public VoterSet Voters => _history.Voters;

    /// <summary>The finalized kraft.version as the log says (0: static quorum).</summary>
    public short KRaftVersion => _history.KRaftVersion;

    /// <summary>This node's id and directory id.</summary>
    public ReplicaKey LocalKey => _membership.Key;

    private bool Dynamic => _membership.IsDynamic;

    /// <summary>On start (dynamic quorum): the set of the snapshot the log starts after, then every
    /// KRAFT_VERSION / KRAFT_VOTERS record of the log in order.</summary>
    private void LoadVoterHistory()
    {
        if (!Dynamic) return;
        if (_log.LatestSnapshotId is { } snapshot && snapshot.Offset == _log.StartOffset) ResetHistoryFromSnapshot(snapshot);
        long offset = _log.StartOffset;
        while (offset < _log.EndOffset)
        {
            var bytes = _log.Read(offset, _config.FetchMaxBytes, _log.EndOffset);
            if (bytes.IsEmpty) break;
            long next = offset;
            var reader = new RecordBatchReader(bytes, allowTruncatedTail: true);
            while (reader.MoveNext()) next = Math.Max(next, reader.Current.LastOffset + 1);
            foreach (var change in VoterRecords.Scan(bytes))
                if (change.Offset >= offset && change.Offset > _history.LatestOffset) _history.Add(change.Offset, change.Voters, change.KRaftVersion);
            if (next == offset) break;
            offset = next;
        }
        _quorum.VoterSet = _history.Voters;
        _quorum.CommittedVoterSet = _history.InForceBefore(_highWatermark).Voters;
        _trace?.Invoke($"voters {_history.Voters} (kraft.version {_history.KRaftVersion}, set at {_history.LatestOffset})");
    }

    /// <summary>The history restarts with the set a snapshot holds (kept as it was when the snapshot holds none).</summary>
    private void ResetHistoryFromSnapshot(OffsetAndEpoch id)
    {
        var whole = _log.ReadSnapshot(id, 0, int.MaxValue) ?? throw new InvalidOperationException($"node {NodeId}: snapshot {id} vanished");
        VoterSet? voters = null;
        short? kraftVersion = null;
        foreach (var change in VoterRecords.Scan(whole.Bytes))
        {
            voters = change.Voters ?? voters;
            kraftVersion = change.KRaftVersion ?? kraftVersion;
        }
        var before = _history.InForceBefore(id.Offset);
        _history.Reset(new VoterSetHistory.Entry(id.Offset - 1, voters ?? before.Voters, kraftVersion ?? (voters is null ? before.KRaftVersion : (short)1)));
    }

    /// <summary>Batches from the leader were appended: their voter records take effect now.</summary>
    private void OnFollowerAppended(ReadOnlyMemory<byte> batches, long now)
    {
        if (!Dynamic) return;
        bool changed = false;
        foreach (var change in VoterRecords.Scan(batches))
        {
            if (change.Offset <= _history.LatestOffset) continue;
            _history.Add(change.Offset, change.Voters, change.KRaftVersion);
            changed = true;
        }
        if (changed) OnVoterSetChanged(now);
    }

    /// <summary>The log was truncated to <paramref name="endOffset"/>: sets recorded past it no longer hold.</summary>
    private void OnTruncated(long endOffset, long now)
    {
        if (Dynamic && _history.TruncateTo(endOffset)) OnVoterSetChanged(now);
    }

    /// <summary>The log restarted after snapshot <paramref name="id"/>: its set holds.</summary>
    private void OnSnapshotInstalled(OffsetAndEpoch id, long now)
    {
        if (!Dynamic) return;
        ResetHistoryFromSnapshot(id);
        OnVoterSetChanged(now);
    }

    private void OnVoterSetChanged(long now)
    {
        _quorum.VoterSet = _history.Voters;
        _quorum.CommittedVoterSet = _history.InForceBefore(_highWatermark).Voters;
        _trace?.Invoke($"t={now} voters now {_history.Voters} (set at {_history.LatestOffset}); this node is {(IsVoter ? "a voter" : "an observer")}");
        if (_quorum.State is LeaderState leader && leader.UpdateVoters(_history.Voters, now)) OnLeaderHighWatermarkAdvanced(leader, now);
    }

    /// <summary>Leader: appends <paramref name="voters"/> as a KRAFT_VOTERS batch (in force at once) and sends it to parked fetches.</summary>
    private long AppendVotersAsLeader(LeaderState leader, VoterSet voters, long now)
    {
        long offset = _log.EndOffset;
        AppendAsLeader(leader, VoterRecords.VotersBatch(leader.Epoch, voters, now));
        _history.Add(offset, voters, null);
        OnVoterSetChanged(now);
        CompleteAllParkedFetches(now);
        return offset;
    }

    /// <summary>
    /// A new leader whose voter set is known only from the bootstrap snapshot (0-0: the log does not
    /// hold it, so fetchers never see it) writes it into the log, KRAFT_VERSION and KRAFT_VOTERS in
    /// one control batch, as Kafka does at the start of the epoch.
    /// </summary>
    private void AppendBootstrapVoters(LeaderState leader, long now)
    {
        long offset = _log.EndOffset;
        using (var builder = new RecordBatchBuilder(new RecordBatchOptions { PartitionLeaderEpoch = leader.Epoch, IsControl = true }))
        {
            long timestamp = Math.Max(0, now);
            builder.Append(timestamp, new ControlRecordKey(ControlRecordType.KRaftVersion).ToArray(), VoterRecords.KRaftVersionValue(_history.KRaftVersion));
            builder.Append(timestamp, new ControlRecordKey(ControlRecordType.KRaftVoters).ToArray(), VoterRecords.VotersValue(_history.Voters));
            AppendAsLeader(leader, builder.ToArray());
        }
        _history.Add(offset + 1, _history.Voters, _history.KRaftVersion);
        _trace?.Invoke($"t={now} wrote the bootstrap voter set {_history.Voters} into the log at {offset}");
    }

    /// <summary>Called whenever the leader's high watermark advanced: a pending change that is now committed is answered.</summary>
    private void CompletePendingVoterChange(long now)
    {
        if (_pendingVoterChange is not { } pending || _highWatermark <= pending.Offset) return;
        _pendingVoterChange = null;
        _trace?.Invoke($"t={now} voter change at {pending.Offset} committed");
        if (pending.Request is { } request) Respond(request, VoterChangeResponse(request, ErrorCode.None, null));
    }

    /// <summary>Leadership lost: a change still awaiting its commit is answered NOT_LEADER_OR_FOLLOWER.</summary>
    private void FailPendingVoterChange(long now)
    {
        if (_pendingVoterChange is not { } pending) return;
        _pendingVoterChange = null;
        _trace?.Invoke($"t={now} voter change at {pending.Offset} not committed before leadership was lost");
        if (pending.Request is { } request)
            Respond(request, VoterChangeResponse(request, ErrorCode.NotLeaderOrFollower, "The leader lost its leadership before the voter change was committed."));
    }

    /// <summary>A leader that removed itself leads until that removal is committed, then resigns.</summary>
    private bool ShouldResignAfterRemoval(LeaderState leader) =>
        Dynamic && !leader.IsLocalVoter && _pendingVoterChange is null && _history.LatestOffset >= 0 && _highWatermark > _history.LatestOffset;

    private static IKafkaMessage VoterChangeResponse(RaftMessage request, ErrorCode error, string? message) => request.Body switch
    {
        AddRaftVoterRequest => new AddRaftVoterResponse { ErrorCode = RaftRpc.Code(error), ErrorMessage = message ?? (error == ErrorCode.None ? null : error.Describe()) },
        RemoveRaftVoterRequest => new RemoveRaftVoterResponse { ErrorCode = RaftRpc.Code(error), ErrorMessage = message ?? (error == ErrorCode.None ? null : error.Describe()) },
        _ => throw new InvalidOperationException($"not a voter change: {request}"),
    };

    /// <summary>Why the leader cannot take a voter change now (null: it can). Kafka answers these REQUEST_TIMED_OUT (retriable).</summary>
    private string? VoterChangeBlocked(LeaderState leader)
    {
        if (leader.HighWatermark is null) return "Request timed out waiting for the leader to establish its high watermark and fence earlier voter changes.";
        if (_pendingVoterChange is not null || _history.LatestOffset >= _highWatermark)
            return "Request timed out waiting for the previous voter change to be committed.";
        return null;
    }

    private string? UnsupportedKRaftVersion(string what) =>
        !Dynamic || _history.KRaftVersion < 1
            ? $"Cluster doesn't support {what} because the kraft.version feature is {_history.KRaftVersion} (a static quorum, controller.quorum.voters)."
            : null;

    /// <summary>
    /// AddRaftVoter, in this order: cluster id; NOT_LEADER_OR_FOLLOWER; INVALID_REQUEST (no directory id
    /// or no listener); UNSUPPORTED_VERSION (kraft.version 0); REQUEST_TIMED_OUT (no high watermark in
    /// this epoch yet, or a change not yet committed); DUPLICATE_VOTER; REQUEST_TIMED_OUT unless the
    /// replica is an observer that fetched with this id and directory id within the fetch timeout and
    /// has reached the high watermark. Then the new set is appended and the answer waits for its commit
    /// (unless AckWhenCommitted is false).
    /// </summary>
    private void HandleAddRaftVoter(RaftMessage message, AddRaftVoterRequest request, long now)
    {
        if (!ClusterMatches(request.ClusterId)) { Reply(ErrorCode.InconsistentClusterId, null); return; }
        if (_quorum.State is not LeaderState leader) { Reply(ErrorCode.NotLeaderOrFollower, null); return; }
        if (request.VoterId < 0 || request.VoterDirectoryId.IsZero || request.Listeners.Count == 0)
        {
            Reply(ErrorCode.InvalidRequest, "AddRaftVoter needs a voter id, a directory id and at least one listener.");
            return;
        }
        if (UnsupportedKRaftVersion("adding voters") is { } unsupported) { Reply(ErrorCode.UnsupportedVersion, unsupported); return; }
        if (VoterChangeBlocked(leader) is { } blocked) { Reply(ErrorCode.RequestTimedOut, blocked); return; }
        var key = new ReplicaKey(request.VoterId, request.VoterDirectoryId);
        if (_history.Voters.Contains(request.VoterId))
        {
            Reply(ErrorCode.DuplicateVoter, $"The voter id for {key} is already part of the set of voters {_history.Voters}.");
            return;
        }
        var observer = leader.Observer(key);
        if (observer is null || now - observer.LastFetchTimestamp > _config.FetchTimeoutMs || observer.EndOffset < _highWatermark)
        {
            Reply(ErrorCode.RequestTimedOut, observer is null
                ? $"Replica {key} is not fetching from the leader as an observer."
                : $"Replica {key} is not caught up: it fetched at {observer.EndOffset}, the high watermark is {_highWatermark}.");
            return;
        }
        var listeners = request.Listeners.Select(l => new RaftEndpoint(l.Name, l.Host, l.Port)).ToList();
        var voters = _history.Voters.Add(new VoterInfo(key, listeners))!;
        _trace?.Invoke($"t={now} adding voter {key}: voters {voters}");
        long offset = AppendVotersAsLeader(leader, voters, now);
        if (request.AckWhenCommitted) _pendingVoterChange = new PendingVoterChange(offset, message);
        else
        {
            _pendingVoterChange = new PendingVoterChange(offset, null);
            Reply(ErrorCode.None, null);
        }

        void Reply(ErrorCode error, string? text) => Respond(message, VoterChangeResponse(message, error, text));
    }

    /// <summary>RemoveRaftVoter: as AddRaftVoter for leadership, kraft.version and a pending change; then
    /// VOTER_NOT_FOUND unless the key is a voter (and not the only one); the set without it is appended
    /// and the answer waits for its commit. A leader removing itself leads until then, and then resigns.</summary>
    private void HandleRemoveRaftVoter(RaftMessage message, RemoveRaftVoterRequest request, long now)
    {
        if (!ClusterMatches(request.ClusterId)) { Reply(ErrorCode.InconsistentClusterId, null); return; }
        if (_quorum.State is not LeaderState leader) { Reply(ErrorCode.NotLeaderOrFollower, null); return; }
        if (UnsupportedKRaftVersion("removing voters") is { } unsupported) { Reply(ErrorCode.UnsupportedVersion, unsupported); return; }
        if (VoterChangeBlocked(leader) is { } blocked) { Reply(ErrorCode.RequestTimedOut, blocked); return; }
        var key = new ReplicaKey(request.VoterId, request.VoterDirectoryId);
        if (_history.Voters.Remove(key) is not { } voters)
        {
            Reply(ErrorCode.VoterNotFound, $"Cannot remove voter {key} from the set of voters {_history.Voters}.");
            return;
        }
        _trace?.Invoke($"t={now} removing voter {key}: voters {voters}");
        _pendingVoterChange = new PendingVoterChange(AppendVotersAsLeader(leader, voters, now), message);

        void Reply(ErrorCode error, string? text) => Respond(message, VoterChangeResponse(message, error, text));
    }

    /// <summary>UpdateRaftVoter: a voter's endpoints and kraft.version range. Epoch checks as for Fetch,
    /// then leadership, kraft.version, a pending change, VOTER_NOT_FOUND; a set that differs is appended
    /// (answered at once: the voter sees the record when it fetches).</summary>
    private UpdateRaftVoterResponse HandleUpdateRaftVoter(UpdateRaftVoterRequest request, long now)
    {
        if (!ClusterMatches(request.ClusterId)) return UpdateReply(ErrorCode.InconsistentClusterId);
        if (request.CurrentLeaderEpoch > Epoch) return UpdateReply(ErrorCode.UnknownLeaderEpoch);
        if (request.CurrentLeaderEpoch >= 0 && request.CurrentLeaderEpoch < Epoch) return UpdateReply(ErrorCode.FencedLeaderEpoch);
        if (_quorum.State is not LeaderState leader) return UpdateReply(ErrorCode.NotLeaderOrFollower);
        if (UnsupportedKRaftVersion("updating voters") is not null) return UpdateReply(ErrorCode.UnsupportedVersion);
        if (request.Listeners.Count == 0 || request.KRaftVersionFeature.MinSupportedVersion > request.KRaftVersionFeature.MaxSupportedVersion)
            return UpdateReply(ErrorCode.InvalidRequest);
        if (VoterChangeBlocked(leader) is not null) return UpdateReply(ErrorCode.RequestTimedOut);
        var key = new ReplicaKey(request.VoterId, request.VoterDirectoryId);
        if (_history.Voters.Find(request.VoterId) is not { } existing || !existing.Key.Matches(key)) return UpdateReply(ErrorCode.VoterNotFound);
        var updated = new VoterInfo(existing.Key.DirectoryId.IsZero ? key : existing.Key,
            [.. request.Listeners.Select(l => new RaftEndpoint(l.Name, l.Host, l.Port))],
            request.KRaftVersionFeature.MinSupportedVersion, request.KRaftVersionFeature.MaxSupportedVersion);
        if (!updated.SameAs(existing))
        {
            _trace?.Invoke($"t={now} updating voter {updated}");
            _pendingVoterChange = new PendingVoterChange(AppendVotersAsLeader(leader, _history.Voters.Update(updated)!, now), null);
        }
        return UpdateReply(ErrorCode.None);
    }

    private UpdateRaftVoterResponse UpdateReply(ErrorCode error)
    {
        var response = new UpdateRaftVoterResponse { ErrorCode = RaftRpc.Code(error) };
        response.CurrentLeader.LeaderId = RaftRpc.LeaderOrNone(_quorum.State.LeaderId);
        response.CurrentLeader.LeaderEpoch = Epoch;
        if (LeaderEndpoint(_quorum.State.LeaderId) is { } e)
        {
            response.CurrentLeader.Host = e.Host;
            response.CurrentLeader.Port = e.Port;
        }
        return response;
    }

    private void HandleUpdateRaftVoterResponse(int source, UpdateRaftVoterResponse response, long now)
    {
        var error = (ErrorCode)response.ErrorCode;
        if (error != ErrorCode.None)
        {
            _trace?.Invoke($"t={now} UpdateRaftVoter answered {error}");
            HandleEpochOfResponse(error, RaftRpc.OptionalLeader(response.CurrentLeader.LeaderId), response.CurrentLeader.LeaderEpoch, now);
            _nextVoterUpdateAt = now + _config.RequestTimeoutMs;
            _requests.BackOff(source, now);
            return;
        }
        _nextVoterUpdateAt = now + _config.FetchTimeoutMs; // the new set reaches us with the next fetches
    }

    /// <summary>What this voter's entry in the set should say, when it says something else (null: nothing to update).</summary>
    private VoterInfo? VoterUpdateNeeded(FollowerState follower, long now)
    {
        if (!Dynamic || _history.KRaftVersion < 1 || _membership.LocalEndpoints.Count == 0 || now < _nextVoterUpdateAt
            || follower.LastSuccessfulFetch is null || !IsVoter || _history.Voters.Find(NodeId) is not { } current)
            return null;
        var desired = new VoterInfo(current.Key, _membership.LocalEndpoints, _membership.MinKRaftVersion, _membership.MaxKRaftVersion);
        return desired.SameAs(current) ? null : desired;
    }

    private void SendUpdateRaftVoter(int leaderId, VoterInfo desired, long now)
    {
        _nextVoterUpdateAt = now + _config.RequestTimeoutMs;
        var request = new UpdateRaftVoterRequest
        {
            ClusterId = _clusterId,
            CurrentLeaderEpoch = Epoch,
            VoterId = NodeId,
            VoterDirectoryId = _membership.DirectoryId,
            Listeners = [.. desired.Endpoints.Select(e => new UpdateRaftVoterRequest.Listener { Name = e.Name, Host = e.Host, Port = (ushort)e.Port })],
        };
        request.KRaftVersionFeature.MinSupportedVersion = desired.MinKRaftVersion;
        request.KRaftVersionFeature.MaxSupportedVersion = desired.MaxKRaftVersion;
        _trace?.Invoke($"t={now} asking leader {leaderId} to update our voter entry to {desired}");
        SendRequest(leaderId, request, now);
    }

    /// <summary>Where the leader <paramref name="leaderId"/> is reached: our own endpoints, or its entry in the voter set.</summary>
    private RaftEndpoint? LeaderEndpoint(int? leaderId)
    {
        if (leaderId is not { } id) return null;
        if (id == NodeId) return _membership.LocalEndpoints.Count > 0 ? _membership.LocalEndpoints[0] : null;
        return _history.Voters.Find(id) is { Endpoints: [var first, ..] } ? first : null;
    }

    /// <summary>Snapshot header control records: the set in force at its end offset (dynamic quorums only).</summary>
    private IReadOnlyList<(ControlRecordType Type, byte[] Value)> SnapshotVoterRecords(long endOffset)
    {
        if (!Dynamic) return [];
        var entry = _history.InForceBefore(endOffset);
        if (entry.KRaftVersion < 1 && entry.Voters.IsEmpty) return [];
        return [(ControlRecordType.KRaftVersion, VoterRecords.KRaftVersionValue(entry.KRaftVersion)), (ControlRecordType.KRaftVoters, VoterRecords.VotersValue(entry.Voters))];
    }
}
