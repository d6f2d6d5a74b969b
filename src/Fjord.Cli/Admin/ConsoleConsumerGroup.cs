using Fjord.Common;
using Fjord.Network;
using Fjord.Protocol.Messages;

namespace Fjord.Cli.Admin;

/// <summary>
/// <c>fjord console-consumer --group G</c>: one member of a KIP-848 consumer group (the "consumer"
/// protocol: the broker computes the assignment; the client only heartbeats, reconciles and commits).
/// <para>The member (one loop, no background thread):</para>
/// <list type="number">
/// <item>joins with ConsumerGroupHeartbeat (v1: a member id of its own, a random UUID; v0: the broker's)
///   epoch 0, subscribed to the one topic, rebalance timeout <see cref="RebalanceTimeoutMs"/>;</item>
/// <item>heartbeats every interval the broker returns (<c>group.consumer.heartbeat.interval.ms</c>),
///   and at once after its assignment changed (to acknowledge it). Every heartbeat is a full one
///   (subscription, rebalance timeout and the partitions it owns), so every answer carries the
///   whole assignment;</item>
/// <item>for partitions newly assigned: the group's committed offset (OffsetFetch v8–9, v9 with the
///   member id and epoch), else the earliest offset with <c>--from-beginning</c> or
///   <c>auto.offset.reset=earliest</c>, else the latest;</item>
/// <item>for partitions revoked (assigned no more): it stops fetching them, commits their positions
///   and only then heartbeats without them (the broker hands them to another member only after that
///   acknowledgement, so no record is read twice by a well-behaved group);</item>
/// <item>commits (OffsetCommit v9: member id and member epoch) the positions that moved every
///   <c>auto.commit.interval.ms</c> (5000) and when it stops;</item>
/// <item>leaves (heartbeat epoch -1) when it stops: <c>--max-messages</c> reached, <c>--timeout-ms</c>
///   without a record, or Ctrl+C.</item>
/// </list>
/// A position is the offset after the last record printed, so a stop after N records commits
/// exactly what was printed. FENCED_MEMBER_EPOCH / UNKNOWN_MEMBER_ID: the member drops its
/// partitions without committing and joins again; coordinator errors: it finds the coordinator again
/// and retries; any other heartbeat error ends the command (exit 1).
/// </summary>
internal sealed class ConsoleConsumerGroup
{
    /// <summary>How long the broker waits for this member to give up revoked partitions.</summary>
    public const int RebalanceTimeoutMs = 30_000;

    private readonly AdminContext _c;
    private readonly AdminClient _client;
    private readonly string _group;
    private readonly string _topic;
    private readonly Uuid _topicId;
    private readonly bool _earliest;
    private readonly sbyte _isolation;
    private readonly short _heartbeatVersion;

    private readonly Dictionary<int, int> _leaders = new();
    private readonly SortedDictionary<int, ConsoleConsumerCommand.PartitionState> _owned = new();
    private readonly Dictionary<int, long> _committed = new();
    private KafkaClientConnection? _coordinator;
    private string _memberId;
    private int _epoch;

    public ConsoleConsumerGroup(AdminContext c, AdminClient client, string group, string topic, Uuid topicId,
        IEnumerable<(int Partition, int Leader)> partitions, bool earliest, sbyte isolation)
    {
        _c = c;
        _client = client;
        _group = group;
        _topic = topic;
        _topicId = topicId;
        _earliest = earliest;
        _isolation = isolation;
        foreach (var (p, l) in partitions) _leaders[p] = l;
        _heartbeatVersion = AdminClient.Version(client.Bootstrap, ConsumerGroupHeartbeatRequest.ApiKey, 0, 1);
        _memberId = _heartbeatVersion >= 1 ? Uuid.NewRandom().ToString() : "";
    }

    public string MemberId => _memberId;
    public int Epoch => _epoch;

    /// <summary>Milliseconds between heartbeats (the broker's answer replaces the default).</summary>
    public int HeartbeatIntervalMs { get; private set; } = 3000;

    /// <summary>The partitions being read, with their positions.</summary>
    public IReadOnlyCollection<ConsoleConsumerCommand.PartitionState> Owned => _owned.Values;

    /// <summary>Set when the assignment changed: the next heartbeat should go now, to acknowledge it.</summary>
    public bool AckNeeded { get; private set; }

    private async Task<KafkaClientConnection> CoordinatorAsync(CancellationToken ct)
    {
        if (_coordinator is { IsConnected: true } open) return open;
        _coordinator = await _client.CoordinatorAsync(_group, TimeSpan.FromSeconds(15), ct).ConfigureAwait(false);
        return _coordinator;
    }

    private static bool IsCoordinatorError(short code) =>
        code is (short)ErrorCode.NotCoordinator or (short)ErrorCode.CoordinatorNotAvailable or (short)ErrorCode.CoordinatorLoadInProgress;

    /// <summary>
    /// One heartbeat (a join while the epoch is 0), then the assignment it carries is applied.
    /// Returns false when it should be retried soon (coordinator moved, or the member was fenced and must join again).
    /// </summary>
    public async Task<bool> HeartbeatAsync(CancellationToken ct)
    {
        AckNeeded = false;
        var coordinator = await CoordinatorAsync(ct).ConfigureAwait(false);
        var request = new ConsumerGroupHeartbeatRequest
        {
            GroupId = _group,
            MemberId = _memberId,
            MemberEpoch = _epoch,
            RebalanceTimeoutMs = RebalanceTimeoutMs,
            SubscribedTopicNames = [_topic],
            TopicPartitions = _epoch == 0 || _owned.Count == 0
                ? []
                : [new ConsumerGroupHeartbeatRequest.TopicPartitionsData { TopicId = _topicId, Partitions = [.. _owned.Keys] }],
        };
        var answer = await AdminClient.SendAsync<ConsumerGroupHeartbeatResponse>(coordinator, request, _heartbeatVersion, ct).ConfigureAwait(false);
        short error = answer.ErrorCode;
        if (IsCoordinatorError(error))
        {
            _coordinator = null;
            return false;
        }
        if (error is (short)ErrorCode.FencedMemberEpoch or (short)ErrorCode.UnknownMemberId)
        {
            // The group no longer knows this member at this epoch: its partitions may already be
            // another member's, so they are dropped without a commit, and it joins again.
            _c.Err.WriteLine($"fjord console-consumer: group {_group}: {Errors.Describe(error, answer.ErrorMessage)}; joining again");
            _owned.Clear();
            _committed.Clear();
            _epoch = 0;
            if (_heartbeatVersion == 0) _memberId = "";
            return false;
        }
        if (error != 0) throw new AdminException($"cannot be a member of group '{_group}': {Errors.Describe(error, answer.ErrorMessage)}");
        if (!string.IsNullOrEmpty(answer.MemberId)) _memberId = answer.MemberId;
        _epoch = answer.MemberEpoch;
        if (answer.HeartbeatIntervalMs > 0) HeartbeatIntervalMs = answer.HeartbeatIntervalMs;
        if (answer.Assignment is { } assignment)
        {
            var assigned = new SortedSet<int>(assignment.TopicPartitions.Where(t => t.TopicId == _topicId).SelectMany(t => t.Partitions));
            await ReconcileAsync(assigned, ct).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>Revoked partitions: stop, commit; new ones: committed offset or reset. Either way the change is acknowledged at once.</summary>
    private async Task ReconcileAsync(SortedSet<int> assigned, CancellationToken ct)
    {
        var revoked = _owned.Values.Where(s => !assigned.Contains(s.Partition)).ToList();
        if (revoked.Count > 0)
        {
            await CommitAsync(revoked, ct).ConfigureAwait(false);
            foreach (var s in revoked)
            {
                _owned.Remove(s.Partition);
                _committed.Remove(s.Partition);
            }
            AckNeeded = true;
        }
        var added = assigned.Where(p => !_owned.ContainsKey(p)).ToList();
        if (added.Count == 0) return;
        if (added.Any(p => !_leaders.ContainsKey(p)))
        {
            var (_, partitions) = await _client.PartitionsAsync(_topic, autoCreate: false, ct).ConfigureAwait(false);
            foreach (var (p, l) in partitions) _leaders[p] = l;
        }
        added = [.. added.Where(_leaders.ContainsKey)];
        var committed = await CommittedAsync(added, ct).ConfigureAwait(false);
        if (committed is null) return; // the coordinator moved: the next heartbeat hands them out again
        var positions = new Dictionary<int, long>();
        foreach (var p in added)
            if (committed.TryGetValue(p, out long offset) && offset >= 0) positions[p] = offset;
        var reset = added.Where(p => !positions.ContainsKey(p)).ToList();
        foreach (var byLeader in reset.GroupBy(p => _leaders[p]))
        {
            var offsets = await ConsoleConsumerCommand.ListOffsetsAsync(_client, byLeader.Key, _topic, byLeader, _earliest ? -2 : -1, _isolation, ct).ConfigureAwait(false);
            foreach (var p in byLeader) positions[p] = offsets[p];
        }
        foreach (var p in added)
        {
            _owned[p] = new ConsoleConsumerCommand.PartitionState(p, _leaders[p], positions[p]);
            if (committed.TryGetValue(p, out long c) && c >= 0) _committed[p] = c;
        }
        AckNeeded = true;
    }

    /// <summary>The group's committed offsets of <paramref name="partitions"/> (-1: none); null when the coordinator moved.</summary>
    private async Task<Dictionary<int, long>?> CommittedAsync(List<int> partitions, CancellationToken ct)
    {
        var coordinator = await CoordinatorAsync(ct).ConfigureAwait(false);
        short version = AdminClient.Version(coordinator, OffsetFetchRequest.ApiKey, 8, 9);
        var group = new OffsetFetchRequest.OffsetFetchRequestGroup
        {
            GroupId = _group,
            Topics = [new OffsetFetchRequest.OffsetFetchRequestTopics { Name = _topic, PartitionIndexes = [.. partitions] }],
        };
        if (version >= 9)
        {
            group.MemberId = _memberId;
            group.MemberEpoch = _epoch;
        }
        var answer = await AdminClient.SendAsync<OffsetFetchResponse>(coordinator, new OffsetFetchRequest { Groups = [group], RequireStable = true }, version, ct).ConfigureAwait(false);
        var g = answer.Groups.FirstOrDefault() ?? throw new AdminException("OffsetFetch answered no group");
        if (IsCoordinatorError(g.ErrorCode) || g.ErrorCode is (short)ErrorCode.StaleMemberEpoch or (short)ErrorCode.UnknownMemberId)
        {
            if (IsCoordinatorError(g.ErrorCode)) _coordinator = null;
            return null;
        }
        if (g.ErrorCode != 0) throw new AdminException($"cannot read the committed offsets of group '{_group}': {Errors.Describe(g.ErrorCode, null)}");
        var result = new Dictionary<int, long>();
        foreach (var t in g.Topics.Where(t => t.Name == _topic))
            foreach (var p in t.Partitions)
            {
                if (p.ErrorCode is (short)ErrorCode.UnstableOffsetCommit || IsCoordinatorError(p.ErrorCode)) return null;
                if (p.ErrorCode != 0) throw new AdminException($"cannot read the committed offset of partition {p.PartitionIndex}: {Errors.Describe(p.ErrorCode, null)}");
                result[p.PartitionIndex] = p.CommittedOffset;
            }
        return result;
    }

    /// <summary>Commits every owned partition whose position moved since its last commit.</summary>
    public Task<bool> CommitAsync(CancellationToken ct) => CommitAsync(_owned.Values, ct);

    /// <summary>
    /// Commits the positions of <paramref name="states"/> that moved (OffsetCommit v9 with the member
    /// id and epoch). A failure is a warning on stderr (the positions stay uncommitted and a later
    /// commit tries again); returns whether every partition was committed.
    /// </summary>
    private async Task<bool> CommitAsync(IEnumerable<ConsoleConsumerCommand.PartitionState> states, CancellationToken ct)
    {
        var moved = states.Where(s => s.Offset >= 0 && (!_committed.TryGetValue(s.Partition, out long last) || last != s.Offset)).ToList();
        if (moved.Count == 0 || _epoch <= 0) return moved.Count == 0;
        var coordinator = await CoordinatorAsync(ct).ConfigureAwait(false);
        short version = AdminClient.Version(coordinator, OffsetCommitRequest.ApiKey, 9, 9);
        var request = new OffsetCommitRequest
        {
            GroupId = _group,
            GenerationIdOrMemberEpoch = _epoch,
            MemberId = _memberId,
            Topics =
            [
                new OffsetCommitRequest.OffsetCommitRequestTopic
                {
                    Name = _topic,
                    Partitions = [.. moved.Select(s => new OffsetCommitRequest.OffsetCommitRequestPartition { PartitionIndex = s.Partition, CommittedOffset = s.Offset, CommittedMetadata = "" })],
                },
            ],
        };
        var answer = await AdminClient.SendAsync<OffsetCommitResponse>(coordinator, request, version, ct).ConfigureAwait(false);
        var offsets = moved.ToDictionary(s => s.Partition, s => s.Offset);
        bool all = true;
        var problems = new List<string>();
        foreach (var t in answer.Topics)
            foreach (var p in t.Partitions)
            {
                if (p.ErrorCode == 0)
                {
                    if (offsets.TryGetValue(p.PartitionIndex, out long o)) _committed[p.PartitionIndex] = o;
                    continue;
                }
                all = false;
                if (IsCoordinatorError(p.ErrorCode)) _coordinator = null;
                problems.Add($"partition {p.PartitionIndex}: {Errors.Describe(p.ErrorCode, null)}");
            }
        if (problems.Count > 0) _c.Err.WriteLine($"fjord console-consumer: commit to group {_group} failed for {string.Join("; ", problems)}");
        return all && moved.All(s => _committed.TryGetValue(s.Partition, out long c) && c == s.Offset);
    }

    /// <summary>Leaves the group (heartbeat with epoch -1); a failure is a warning (the session timeout removes the member anyway).</summary>
    public async Task LeaveAsync(CancellationToken ct)
    {
        if (_epoch <= 0 && _owned.Count == 0 && string.IsNullOrEmpty(_memberId)) return;
        try
        {
            var coordinator = await CoordinatorAsync(ct).ConfigureAwait(false);
            var answer = await AdminClient.SendAsync<ConsumerGroupHeartbeatResponse>(coordinator,
                new ConsumerGroupHeartbeatRequest { GroupId = _group, MemberId = _memberId, MemberEpoch = -1 }, _heartbeatVersion, ct).ConfigureAwait(false);
            if (answer.ErrorCode != 0 && answer.ErrorCode != (short)ErrorCode.UnknownMemberId)
                _c.Err.WriteLine($"fjord console-consumer: leaving group {_group} failed: {Errors.Describe(answer.ErrorCode, answer.ErrorMessage)}");
        }
        catch (AdminException e)
        {
            _c.Err.WriteLine($"fjord console-consumer: leaving group {_group} failed: {e.Message}");
        }
        _owned.Clear();
        _epoch = 0;
    }

    /// <summary>
    /// The consumer's loop: heartbeats, commits and fetches until <paramref name="maxMessages"/>
    /// records were printed, <paramref name="timeoutMs"/> passed without one (negative: never), or
    /// the command is cancelled; then commits and leaves (both bounded by the request timeout, even
    /// after Ctrl+C). Returns the number of records printed.
    /// </summary>
    public async Task<long> RunAsync(Action<int, ConsoleConsumerCommand.Fetched> print, long maxMessages, int timeoutMs, int commitIntervalMs)
    {
        var ct = _c.Ct;
        long processed = 0;
        long lastRecord = Environment.TickCount64;
        long nextHeartbeat = 0;
        long nextCommit = Environment.TickCount64 + commitIntervalMs;
        int fetchCap = (int)Math.Clamp(_client.Timeout.TotalMilliseconds / 2, 1, 500);
        try
        {
            while (processed < maxMessages && !ct.IsCancellationRequested)
            {
                long now = Environment.TickCount64;
                if (timeoutMs >= 0 && now - lastRecord >= timeoutMs) break;
                if (now >= nextHeartbeat || AckNeeded)
                {
                    bool ok = await HeartbeatAsync(ct).ConfigureAwait(false);
                    now = Environment.TickCount64;
                    nextHeartbeat = now + (ok ? HeartbeatIntervalMs : Math.Min(200, HeartbeatIntervalMs));
                    if (AckNeeded) nextHeartbeat = now;
                }
                if (now >= nextCommit)
                {
                    await CommitAsync(ct).ConfigureAwait(false);
                    nextCommit = Environment.TickCount64 + commitIntervalMs;
                }
                long untilTimeout = timeoutMs >= 0 ? timeoutMs - (now - lastRecord) : long.MaxValue;
                long untilHeartbeat = Math.Max(0, nextHeartbeat - now);
                int waitMs = (int)Math.Clamp(Math.Min(untilTimeout, untilHeartbeat), 0, fetchCap);
                if (_owned.Count == 0)
                {
                    // Nothing assigned (yet): wait for the next heartbeat (or the end).
                    await Task.Delay(Math.Max(waitMs, 10), ct).ConfigureAwait(false);
                    continue;
                }
                var fetches = _owned.Values.GroupBy(s => s.Leader)
                    .Select(g => ConsoleConsumerCommand.FetchAsync(_client, g.Key, _topic, [.. g], waitMs, _isolation, ct)).ToList();
                foreach (var fetched in await Task.WhenAll(fetches).ConfigureAwait(false))
                {
                    foreach (var (state, record) in fetched)
                    {
                        if (processed >= maxMessages) break;
                        print(state.Partition, record);
                        state.Offset = record.Offset + 1;
                        processed++;
                        lastRecord = Environment.TickCount64;
                    }
                }
                _c.Out.Flush();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Ctrl+C: a normal end.
        }
        // The end: commit what was printed, then leave (not cancelled by Ctrl+C; each request is bounded).
        await FinalCommitAsync().ConfigureAwait(false);
        await LeaveAsync(CancellationToken.None).ConfigureAwait(false);
        return processed;
    }

    /// <summary>Commits the final positions: up to three tries (a moved coordinator is looked up again).</summary>
    private async Task FinalCommitAsync()
    {
        for (int attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                if (await CommitAsync(CancellationToken.None).ConfigureAwait(false)) return;
            }
            catch (AdminException e)
            {
                _c.Err.WriteLine($"fjord console-consumer: commit to group {_group} failed: {e.Message}");
            }
            if (_epoch <= 0) return;
        }
    }
}
