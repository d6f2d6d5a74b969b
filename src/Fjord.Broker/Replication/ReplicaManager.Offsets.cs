using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Storage;

namespace Fjord.Broker.Replication;

public sealed partial class ReplicaManager
{
    /// <summary>ListOffsets timestamps with a meaning of their own.</summary>
    public static class ListOffsetsTimestamps
    {
        public const long Latest = -1;
        public const long Earliest = -2;
        public const long MaxTimestamp = -3;
        public const long EarliestLocal = -4;
        public const long LatestTiered = -5;
    }

    /// <summary>
    /// ListOffsets (v0-11): from the leader only (replica id -2, debug, may ask any replica), fenced by
    /// CurrentLeaderEpoch (v4+). EARLIEST (-2, and -4 without tiered storage) → log start offset;
    /// LATEST (-1) → HW for consumers (LSO under READ_COMMITTED), log end for replicas; MAX_TIMESTAMP
    /// (-3) and a timestamp → the first offset with that (or a larger) timestamp below the same bound,
    /// or -1/-1 when none. OFFSET_NOT_AVAILABLE for consumers while the HW is still below the start of
    /// this leader's epoch (a new leader whose followers have not fetched yet). Answers carry the
    /// leader epoch (v4+): the epoch of the offset found, the current leader epoch for LATEST.
    /// v0 answers in OldStyleOffsets.
    /// </summary>
    public ListOffsetsResponse ListOffsets(ListOffsetsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var image = _image;
        var response = new ListOffsetsResponse();
        bool consumer = request.ReplicaId == -1;
        sbyte isolation = version >= 2 ? request.IsolationLevel : (sbyte)0;
        foreach (var topicRequest in request.Topics)
        {
            var topicAnswer = new ListOffsetsResponse.ListOffsetsTopicResponse { Name = topicRequest.Name };
            response.Topics.Add(topicAnswer);
            foreach (var p in topicRequest.Partitions)
            {
                var answer = new ListOffsetsResponse.ListOffsetsPartitionResponse { PartitionIndex = p.PartitionIndex };
                topicAnswer.Partitions.Add(answer);
                var error = ListOffset(image, topicRequest.Name, p, consumer, request.ReplicaId == -2, isolation, version, answer);
                answer.ErrorCode = (short)error;
                if (error != ErrorCode.None)
                {
                    answer.Offset = -1;
                    answer.Timestamp = -1;
                    answer.LeaderEpoch = -1;
                }
                if (version == 0)
                {
                    if (error == ErrorCode.None && answer.Offset >= 0) answer.OldStyleOffsets = [answer.Offset];
                    answer.Offset = -1;
                    answer.Timestamp = -1;
                }
                if (version < 4) answer.LeaderEpoch = -1;
            }
        }
        return response;
    }

    private ErrorCode ListOffset(Metadata.MetadataImage image, string topicName, ListOffsetsRequest.ListOffsetsPartition request,
        bool consumer, bool debug, sbyte isolation, short version, ListOffsetsResponse.ListOffsetsPartitionResponse answer)
    {
        var (error, partition, state) = LocatePartition(image, topicName, request.PartitionIndex, leaderOnly: !debug,
            version >= 4 ? request.CurrentLeaderEpoch : -1);
        if (error != ErrorCode.None) return error;
        var log = partition!.Log;
        long bound = consumer ? (isolation == 1 ? partition.LastStableOffset : partition.HighWatermark) : log.LogEndOffset;
        if (consumer && state.Role == ReplicaRole.Leader && state.LeaderEpochStartOffset > bound && state.Isr.Count > 1)
            return ErrorCode.OffsetNotAvailable;
        long timestamp = request.Timestamp;
        switch (timestamp)
        {
            case ListOffsetsTimestamps.Latest:
                answer.Offset = bound;
                answer.Timestamp = -1;
                answer.LeaderEpoch = state.LeaderEpoch;
                return ErrorCode.None;
            case ListOffsetsTimestamps.Earliest or ListOffsetsTimestamps.EarliestLocal:
            {
                long start = log.LogStartOffset;
                answer.Offset = start;
                answer.Timestamp = -1;
                answer.LeaderEpoch = log.LeaderEpochs.EpochForOffset(start) ?? -1;
                return ErrorCode.None;
            }
            case ListOffsetsTimestamps.LatestTiered:
                answer.Offset = -1;
                answer.Timestamp = -1;
                answer.LeaderEpoch = -1;
                return ErrorCode.None;
            case < 0 and not ListOffsetsTimestamps.MaxTimestamp:
                return ErrorCode.InvalidRequest;
        }
        (long Offset, long Timestamp)? found;
        try
        {
            found = timestamp == ListOffsetsTimestamps.MaxTimestamp ? log.OffsetOfMaxTimestamp() : log.OffsetForTimestamp(timestamp);
        }
        catch (ObjectDisposedException)
        {
            return ErrorCode.NotLeaderOrFollower;
        }
        if (found is { } f && f.Offset < bound)
        {
            answer.Offset = f.Offset;
            answer.Timestamp = f.Timestamp;
            answer.LeaderEpoch = log.LeaderEpochs.EpochForOffset(f.Offset) ?? -1;
        }
        else
        {
            answer.Offset = -1;
            answer.Timestamp = -1;
            answer.LeaderEpoch = -1;
        }
        return ErrorCode.None;
    }

    /// <summary>
    /// The local partition for a request: UNKNOWN_TOPIC_OR_PARTITION when the image has none,
    /// NOT_LEADER_OR_FOLLOWER when this broker holds no replica (or not the leader, with
    /// <paramref name="leaderOnly"/>), FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH against
    /// <paramref name="currentLeaderEpoch"/> (≥ 0).
    /// </summary>
    private (ErrorCode Error, Partition? Partition, PartitionState State) LocatePartition(Metadata.MetadataImage image, string topicName,
        int partitionIndex, bool leaderOnly, int currentLeaderEpoch)
    {
        var topic = image.Topics.Topic(topicName);
        if (topic?.Partition(partitionIndex) is null) return (ErrorCode.UnknownTopicOrPartition, null, default);
        var partition = GetPartition(new TopicPartition(topicName, partitionIndex));
        if (partition is null || partition.TopicId != topic.Id || Stopped) return (ErrorCode.NotLeaderOrFollower, null, default);
        var state = partition.State;
        if (state.Role == ReplicaRole.None || (leaderOnly && state.Role != ReplicaRole.Leader)) return (ErrorCode.NotLeaderOrFollower, null, default);
        if (currentLeaderEpoch >= 0)
        {
            if (currentLeaderEpoch < state.LeaderEpoch) return (ErrorCode.FencedLeaderEpoch, null, default);
            if (currentLeaderEpoch > state.LeaderEpoch) return (ErrorCode.UnknownLeaderEpoch, null, default);
        }
        return (ErrorCode.None, partition, state);
    }

    /// <summary>
    /// OffsetForLeaderEpoch (v0-4): per partition (leader only, except replica id -2 — the default of
    /// v0-2, sent by old followers), the largest epoch ≤ the requested one and its end offset (the
    /// next epoch's start, or the log end for the latest epoch); UNDEFINED (-1, -1) for an epoch above
    /// the latest. Fenced by CurrentLeaderEpoch (v2+).
    /// </summary>
    public OffsetForLeaderEpochResponse OffsetForLeaderEpoch(OffsetForLeaderEpochRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var image = _image;
        var response = new OffsetForLeaderEpochResponse();
        bool anyReplica = version >= 3 ? request.ReplicaId == -2 : true;
        foreach (var topicRequest in request.Topics)
        {
            var topicAnswer = new OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult { Topic = topicRequest.Topic };
            response.Topics.Add(topicAnswer);
            foreach (var p in topicRequest.Partitions)
            {
                var answer = new OffsetForLeaderEpochResponse.EpochEndOffset { Partition = p.Partition, LeaderEpoch = -1, EndOffset = -1 };
                topicAnswer.Partitions.Add(answer);
                var (error, partition, _) = LocatePartition(image, topicRequest.Topic, p.Partition, leaderOnly: !anyReplica,
                    version >= 2 ? p.CurrentLeaderEpoch : -1);
                answer.ErrorCode = (short)error;
                if (error != ErrorCode.None) continue;
                var log = partition!.Log;
                var (epoch, endOffset) = log.LeaderEpochs.EndOffsetFor(p.LeaderEpoch, log.LogEndOffset);
                answer.LeaderEpoch = version >= 1 ? epoch : -1;
                answer.EndOffset = endOffset;
            }
        }
        return response;
    }

    /// <summary>
    /// DeleteRecords (v0-2): leader only; offset -1 means the HW; beyond the HW (or below -1) is
    /// OFFSET_OUT_OF_RANGE. Moves the log start offset, then waits — up to TimeoutMs, else
    /// REQUEST_TIMED_OUT — until every live replica's log start offset reached it (followers learn it
    /// from their fetches); answers the low watermark, the minimum log start over the leader and the
    /// live followers.
    /// </summary>
    public async Task<DeleteRecordsResponse> DeleteRecordsAsync(DeleteRecordsRequest request, short version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        _ = version;
        var image = _image;
        var response = new DeleteRecordsResponse();
        var waits = new List<(DeleteRecordsResponse.DeleteRecordsPartitionResult Answer, Partition Partition, long Target)>();
        foreach (var topicRequest in request.Topics)
        {
            var topicAnswer = new DeleteRecordsResponse.DeleteRecordsTopicResult { Name = topicRequest.Name };
            response.Topics.Add(topicAnswer);
            foreach (var p in topicRequest.Partitions)
            {
                var answer = new DeleteRecordsResponse.DeleteRecordsPartitionResult { PartitionIndex = p.PartitionIndex, LowWatermark = -1 };
                topicAnswer.Partitions.Add(answer);
                var (error, partition, _) = LocatePartition(image, topicRequest.Name, p.PartitionIndex, leaderOnly: true, -1);
                if (error == ErrorCode.None)
                {
                    long hw = partition!.HighWatermark;
                    long target = p.Offset == -1 ? hw : p.Offset;
                    if (target < 0 || target > hw) error = ErrorCode.OffsetOutOfRange;
                    else
                    {
                        try
                        {
                            if (partition.Log.AdvanceLogStartOffset(target))
                                _log($"{partition.TopicPartition}: log start offset moved to {target} (DeleteRecords)");
                            waits.Add((answer, partition, target));
                        }
                        catch (OffsetOutOfRangeException)
                        {
                            error = ErrorCode.OffsetOutOfRange;
                        }
                        catch (ObjectDisposedException)
                        {
                            error = ErrorCode.NotLeaderOrFollower;
                        }
                        catch (Exception e) when (e is StorageException or IOException)
                        {
                            _log($"{partition.TopicPartition}: DeleteRecords failed: {e.Message}");
                            error = ErrorCode.KafkaStorageError;
                        }
                    }
                }
                answer.ErrorCode = (short)error;
            }
        }
        if (waits.Count == 0) return response;

        var signal = new AsyncSignal();
        var watched = waits.Select(w => w.Partition).Distinct().ToList();
        foreach (var p in watched) p.AddWatcher(signal);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        try
        {
            long deadline = _clock.MonotonicMs + Math.Max(0, request.TimeoutMs);
            while (true)
            {
                signal.Reset();
                bool all = true;
                foreach (var (answer, partition, target) in waits)
                {
                    answer.LowWatermark = partition.LowWatermark(IsAlive);
                    if (answer.LowWatermark < target) all = false;
                }
                long now = _clock.MonotonicMs;
                if (all || now >= deadline || Stopped) break;
                try
                {
                    await signal.WaitAsync(deadline - now, linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
            }
        }
        finally
        {
            foreach (var p in watched) p.RemoveWatcher(signal);
        }
        foreach (var (answer, _, target) in waits)
            if (answer.LowWatermark < target) answer.ErrorCode = (short)ErrorCode.RequestTimedOut;
        return response;
    }

    /// <summary>
    /// DescribeLogDirs (v0-5): every log directory with the replicas in it (all, or the topics and
    /// partitions asked for): size in bytes, offset lag (max(0, HW − log end); no future replicas),
    /// and (v4+) the file system's total and usable bytes.
    /// </summary>
    public DescribeLogDirsResponse DescribeLogDirs(DescribeLogDirsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = new DescribeLogDirsResponse();
        Dictionary<string, HashSet<int>>? wanted = request.Topics?.GroupBy(t => t.Topic, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.SelectMany(t => t.Partitions).ToHashSet(), StringComparer.Ordinal);
        var logs = _logs.Logs;
        foreach (var dir in _logs.LogDirs)
        {
            var result = new DescribeLogDirsResponse.DescribeLogDirsResult { LogDir = dir };
            response.Results.Add(result);
            var inDir = logs.Where(l => _logs.LogDirOf(l.Key) == dir && l.Key.Topic != "__cluster_metadata")
                .Where(l => wanted is null || (wanted.TryGetValue(l.Key.Topic, out var ps) && ps.Contains(l.Key.Partition)))
                .GroupBy(l => l.Key.Topic, StringComparer.Ordinal)
                .OrderBy(g => g.Key, StringComparer.Ordinal);
            foreach (var group in inDir)
            {
                var topic = new DescribeLogDirsResponse.DescribeLogDirsTopic { Name = group.Key };
                result.Topics.Add(topic);
                foreach (var (tp, log) in group.OrderBy(l => l.Key.Partition))
                {
                    long hw = GetPartition(tp)?.HighWatermark ?? log.LogEndOffset;
                    long size;
                    try
                    {
                        size = log.SizeInBytes;
                    }
                    catch (ObjectDisposedException)
                    {
                        continue;
                    }
                    topic.Partitions.Add(new DescribeLogDirsResponse.DescribeLogDirsPartition
                    {
                        PartitionIndex = tp.Partition,
                        PartitionSize = size,
                        OffsetLag = Math.Max(0, hw - log.LogEndOffset),
                        IsFutureKey = false,
                    });
                }
            }
            if (version >= 4)
            {
                var (total, usable) = DiskSpace(dir);
                result.TotalBytes = total;
                result.UsableBytes = usable;
            }
        }
        return response;
    }

    /// <summary>Total and available bytes of the file system holding <paramref name="dir"/> (the mount with the longest matching root); (-1, -1) when unknown.</summary>
    private static (long Total, long Usable) DiskSpace(string dir)
    {
        try
        {
            var full = Path.GetFullPath(dir);
            var drive = DriveInfo.GetDrives()
                .Where(d => d.IsReady && full.StartsWith(d.RootDirectory.FullName, StringComparison.Ordinal))
                .OrderByDescending(d => d.RootDirectory.FullName.Length)
                .FirstOrDefault();
            return drive is null ? (-1, -1) : (drive.TotalSize, drive.AvailableFreeSpace);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return (-1, -1);
        }
    }
}
