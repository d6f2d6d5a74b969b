using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Storage;

namespace Fjord.Broker.Replication;

/// <summary>One partition of a fetch answer and, when data was read, the log's file regions (for a zero-copy sender).</summary>
public sealed record FetchedPartition(string Topic, Uuid TopicId, FetchResponse.PartitionData Data, LogReadResult? Read);

/// <summary>A fetch answer whose partitions' <c>Records</c> are still empty; <see cref="Partitions"/> holds what was read, in response order.</summary>
public sealed record FetchReadResult(FetchResponse Response, IReadOnlyList<FetchedPartition> Partitions);

public sealed partial class ReplicaManager
{
    /// <summary>
    /// Fetch (v0-18) with the records copied into the response (see <see cref="FetchWithRegionsAsync"/>).
    /// Sessionless: the whole partition list is read; the fetch-session layer sits above.
    /// </summary>
    public async Task<FetchResponse> FetchAsync(FetchRequest request, short version, CancellationToken cancellationToken = default)
    {
        var result = await FetchWithRegionsAsync(request, version, cancellationToken).ConfigureAwait(false);
        foreach (var p in result.Partitions)
            p.Data.Records = p.Read is { IsEmpty: false } read ? read.ToArray() : ReadOnlyMemory<byte>.Empty;
        return result.Response;
    }

    /// <summary>
    /// Fetch without copying: the answer, and per partition the <see cref="LogReadResult"/> whose
    /// regions the caller sends (valid for file.delete.delay.ms even if segments are deleted).
    /// </summary>
    /// <remarks>
    /// <para>Consumers (replica id -1) read only from the leader, up to the HW (READ_COMMITTED: up to the
    /// LSO, with the aborted transactions overlapping the data returned, see
    /// <see cref="Partition.LastStableOffset"/>); every answer carries the LSO (v4+); followers (ReplicaId ≤ v14, ReplicaState.ReplicaId v15+) up
    /// to the log end, and their fetch offset and log start offset update the leader's follower state
    /// (ISR expansion, HW). Replica id -2 (debug) reads to the log end without a follower state.</para>
    /// <para>Per partition: UNKNOWN_TOPIC_ID (v13+) / UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER
    /// (with CurrentLeader), FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH when CurrentLeaderEpoch is older
    /// / newer, a diverging epoch (v12+) when LastFetchedEpoch and the fetch offset are not in this
    /// leader's epoch history (no records then), OFFSET_OUT_OF_RANGE outside [log start, log end] (with
    /// the log start offset and HW filled in).</para>
    /// <para>Sizes: at most PartitionMaxBytes per partition and MaxBytes (v3+) in all, except that the
    /// first batch of the first partition with data is returned whole (v3+, KIP-74).</para>
    /// <para>Long polling: the answer waits, up to MaxWaitMs, until MinBytes are available across the
    /// partitions, a partition has an error or a diverging epoch, or (followers) the HW moved past the
    /// one last sent to that follower. Appends, HW moves and role changes wake it; nothing polls.</para>
    /// </remarks>
    public async Task<FetchReadResult> FetchWithRegionsAsync(FetchRequest request, short version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        int replicaId = version >= 15 ? request.ReplicaState.ReplicaId : request.ReplicaId;
        long replicaEpoch = version >= 15 ? request.ReplicaState.ReplicaEpoch : -1;
        var context = new FetchContext(replicaId, replicaEpoch, version >= 4 ? request.IsolationLevel : (sbyte)0, version,
            version >= 3 ? request.MaxBytes : int.MaxValue);
        var image = _image;
        var response = new FetchResponse();
        var slots = new List<FetchSlot>();
        foreach (var topicRequest in request.Topics)
        {
            var topic = version >= 13 ? image.Topics.Topic(topicRequest.TopicId) : image.Topics.Topic(topicRequest.Topic);
            var topicAnswer = new FetchResponse.FetchableTopicResponse
            {
                Topic = topic?.Name ?? topicRequest.Topic,
                TopicId = topic?.Id ?? topicRequest.TopicId,
            };
            response.Responses.Add(topicAnswer);
            foreach (var partitionRequest in topicRequest.Partitions)
            {
                var data = new FetchResponse.PartitionData { PartitionIndex = partitionRequest.Partition };
                topicAnswer.Partitions.Add(data);
                var slot = new FetchSlot(topicAnswer.Topic, topicAnswer.TopicId, partitionRequest, data);
                if (topic is null) slot.StaticError = version >= 13 ? ErrorCode.UnknownTopicId : ErrorCode.UnknownTopicOrPartition;
                else if (topic.Partition(partitionRequest.Partition) is not { } registration) slot.StaticError = ErrorCode.UnknownTopicOrPartition;
                else
                {
                    slot.Registration = registration;
                    slot.Partition = GetPartition(new TopicPartition(topic.Name, partitionRequest.Partition));
                    if (slot.Partition is null || slot.Partition.TopicId != topic.Id) slot.StaticError = ErrorCode.NotLeaderOrFollower;
                }
                slots.Add(slot);
            }
        }

        var signal = new AsyncSignal();
        var watched = slots.Select(s => s.Partition).OfType<Partition>().Distinct().ToList();
        foreach (var p in watched) p.AddWatcher(signal);
        CancellationTokenSource? linked = null;
        try
        {
            long deadline = _clock.MonotonicMs + Math.Max(0, request.MaxWaitMs);
            // Bounded in time: every round but the last waits for an event, and none starts after the deadline.
            while (true)
            {
                signal.Reset();
                var pass = ReadOnce(slots, context);
                long now = _clock.MonotonicMs;
                bool done = request.MaxWaitMs <= 0 || pass.Bytes >= request.MinBytes || pass.Complete || now >= deadline || Stopped;
                if (done) break;
                linked ??= CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
                try
                {
                    await signal.WaitAsync(deadline - now, linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // shutting down: answer with what there is
                }
            }
        }
        finally
        {
            foreach (var p in watched) p.RemoveWatcher(signal);
            linked?.Dispose();
        }
        if (context.IsFollower)
            foreach (var slot in slots)
                if (slot.Partition is not null && slot.Data.ErrorCode == 0)
                    slot.Partition.ExchangeSentHighWatermark(replicaId, slot.Data.HighWatermark);
        return new FetchReadResult(response, slots.Select(s => new FetchedPartition(s.Topic, s.TopicId, s.Data, s.Read)).ToList());
    }

    private sealed record FetchContext(int ReplicaId, long ReplicaEpoch, sbyte IsolationLevel, short Version, int MaxBytes)
    {
        public bool IsFollower => ReplicaId >= 0;

        /// <summary>Followers and the debug replica (-2) read to the log end; consumers to the HW / LSO.</summary>
        public bool ReadsToLogEnd => ReplicaId >= 0 || ReplicaId == -2;
    }

    private sealed class FetchSlot(string topic, Uuid topicId, FetchRequest.FetchPartition request, FetchResponse.PartitionData data)
    {
        public string Topic { get; } = topic;
        public Uuid TopicId { get; } = topicId;
        public FetchRequest.FetchPartition Request { get; } = request;
        public FetchResponse.PartitionData Data { get; } = data;
        public Metadata.PartitionRegistration? Registration { get; set; }
        public Partition? Partition { get; set; }
        public ErrorCode StaticError { get; set; }
        public LogReadResult? Read { get; set; }
    }

    private readonly record struct FetchPass(long Bytes, bool Complete);

    /// <summary>One read of every partition of the request. Complete: an answer is due now whatever MinBytes says.</summary>
    private FetchPass ReadOnce(List<FetchSlot> slots, FetchContext context)
    {
        long total = 0;
        bool complete = false;
        int remaining = Math.Max(0, context.MaxBytes);
        bool minOneBatch = context.Version >= 3;
        foreach (var slot in slots)
        {
            var data = slot.Data;
            data.ErrorCode = 0;
            data.HighWatermark = -1;
            data.LastStableOffset = -1;
            data.LogStartOffset = -1;
            data.DivergingEpoch = new FetchResponse.EpochEndOffset();
            data.CurrentLeader = new FetchResponse.LeaderIdAndEpoch();
            data.AbortedTransactions = context.IsolationLevel == 1 ? [] : null;
            data.Records = ReadOnlyMemory<byte>.Empty;
            slot.Read = null;
            var error = ReadPartition(slot, context, ref remaining, ref minOneBatch, ref complete);
            if (error != ErrorCode.None)
            {
                data.ErrorCode = (short)error;
                complete = true;
                if (error is ErrorCode.NotLeaderOrFollower or ErrorCode.FencedLeaderEpoch or ErrorCode.UnknownLeaderEpoch
                    && context.Version >= 12 && slot.Registration is { } r)
                    data.CurrentLeader = new FetchResponse.LeaderIdAndEpoch { LeaderId = r.Leader, LeaderEpoch = r.LeaderEpoch };
            }
            total += slot.Read?.TotalBytes ?? 0;
        }
        return new FetchPass(total, complete);
    }

    private ErrorCode ReadPartition(FetchSlot slot, FetchContext context, ref int remaining, ref bool minOneBatch, ref bool complete)
    {
        if (slot.StaticError != ErrorCode.None) return slot.StaticError;
        var partition = slot.Partition!;
        var request = slot.Request;
        var data = slot.Data;
        var state = partition.State;
        if (state.Role != ReplicaRole.Leader || Stopped) return ErrorCode.NotLeaderOrFollower;
        if (context.Version >= 9 && request.CurrentLeaderEpoch >= 0)
        {
            if (request.CurrentLeaderEpoch < state.LeaderEpoch) return ErrorCode.FencedLeaderEpoch;
            if (request.CurrentLeaderEpoch > state.LeaderEpoch) return ErrorCode.UnknownLeaderEpoch;
        }
        if (context.IsFollower && !state.Replicas.Contains(context.ReplicaId)) return ErrorCode.NotLeaderOrFollower;
        var log = partition.Log;
        if (context.Version >= 12 && request.LastFetchedEpoch >= 0)
        {
            var (epoch, endOffset) = log.LeaderEpochs.EndOffsetFor(request.LastFetchedEpoch, log.LogEndOffset);
            if (epoch < request.LastFetchedEpoch || endOffset < request.FetchOffset)
            {
                data.DivergingEpoch = new FetchResponse.EpochEndOffset { Epoch = epoch, EndOffset = endOffset };
                FillOffsets(data, partition);
                complete = true;
                return ErrorCode.None;
            }
        }
        long bound = context.ReadsToLogEnd ? long.MaxValue : context.IsolationLevel == 1 ? partition.LastStableOffset : partition.HighWatermark;
        int limit = Math.Max(0, Math.Min(request.PartitionMaxBytes, remaining));
        LogReadResult read;
        try
        {
            read = log.Read(request.FetchOffset, limit, bound, minOneBatch);
        }
        catch (OffsetOutOfRangeException)
        {
            FillOffsets(data, partition);
            return ErrorCode.OffsetOutOfRange;
        }
        catch (ObjectDisposedException)
        {
            return ErrorCode.NotLeaderOrFollower;
        }
        if (context.IsFollower)
        {
            var update = partition.UpdateFollowerFetchState(context.ReplicaId, request.FetchOffset,
                context.Version >= 5 ? request.LogStartOffset : -1, context.ReplicaEpoch, read.LogEndOffset, IsEligible);
            if (update.IsrChange is { } change) SendAlterPartition(partition, change);
            if (update.Error != ErrorCode.None) return update.Error;
        }
        FillOffsets(data, partition);
        if (context.IsFollower && data.HighWatermark > partition.ExchangeSentHighWatermark(context.ReplicaId, null)) complete = true;
        if (!read.IsEmpty)
        {
            minOneBatch = false;
            remaining = Math.Max(0, remaining - read.TotalBytes);
        }
        if (!context.ReadsToLogEnd && context.IsolationLevel == 1 && !read.IsEmpty)
            data.AbortedTransactions = AbortedTransactionsFor(partition, request.FetchOffset, bound, read);
        slot.Read = read;
        return ErrorCode.None;
    }

    private static void FillOffsets(FetchResponse.PartitionData data, Partition partition)
    {
        data.HighWatermark = partition.HighWatermark;
        data.LastStableOffset = partition.LastStableOffset;
        data.LogStartOffset = partition.Log.LogStartOffset;
    }
}
