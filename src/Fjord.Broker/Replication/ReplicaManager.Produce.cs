using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Storage;

namespace Fjord.Broker.Replication;

public sealed partial class ReplicaManager
{
    /// <summary>
    /// Produce (v0-13): per partition, the topic by name (v13: by id — UNKNOWN_TOPIC_ID), the partition
    /// (UNKNOWN_TOPIC_OR_PARTITION when the image has none, NOT_LEADER_OR_FOLLOWER when this broker does
    /// not lead it, with CurrentLeader), the batches (v3+: exactly one; CRC/format/max.message.bytes by the
    /// log; compressed batches as they are; no control batches), acks (0, 1, -1 else INVALID_REQUIRED_ACKS;
    /// -1 needs ISR ≥ min.insync.replicas before the append, NOT_ENOUGH_REPLICAS otherwise), the
    /// idempotent-producer and transaction rules (<see cref="ProducerStateTable"/>: an older epoch is
    /// INVALID_PRODUCER_EPOCH at every version, a non-transactional batch of a producer with an open
    /// transaction INVALID_TXN_STATE, a transactional batch without producer id or sequence
    /// INVALID_RECORD; a transactional batch opens the producer's transaction). Answers base offset, log-append time
    /// (-1 under CreateTime) and log start offset. acks=-1 waits until the HW passes the last appended
    /// offset — NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR is then below min.insync.replicas,
    /// REQUEST_TIMED_OUT after TimeoutMs. For acks=0 the caller sends no answer.
    /// </summary>
    public async Task<ProduceResponse> ProduceAsync(ProduceRequest request, short version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var image = _image;
        short acks = request.Acks;
        var response = new ProduceResponse();
        var waits = new List<(string Topic, ProduceResponse.PartitionProduceResponse Answer, TaskCompletionSource<ErrorCode> Wait)>();
        foreach (var topicData in request.TopicData)
        {
            var topic = version >= 13 ? image.Topics.Topic(topicData.TopicId) : image.Topics.Topic(topicData.Name);
            var topicAnswer = new ProduceResponse.TopicProduceResponse
            {
                Name = topic?.Name ?? topicData.Name,
                TopicId = topic?.Id ?? topicData.TopicId,
            };
            response.Responses.Add(topicAnswer);
            foreach (var partitionData in topicData.PartitionData)
            {
                var answer = new ProduceResponse.PartitionProduceResponse { Index = partitionData.Index, BaseOffset = -1, LogAppendTimeMs = -1, LogStartOffset = -1 };
                topicAnswer.PartitionResponses.Add(answer);
                ErrorCode error;
                string? message = null;
                Partition? partition = null;
                if (acks is not (0 or 1 or -1)) error = ErrorCode.InvalidRequiredAcks;
                else if (topic is null) error = version >= 13 ? ErrorCode.UnknownTopicId : ErrorCode.UnknownTopicOrPartition;
                else if (topic.Partition(partitionData.Index) is null) error = ErrorCode.UnknownTopicOrPartition;
                else if (Stopped || (partition = GetPartition(new TopicPartition(topic.Name, partitionData.Index))) is null || partition.TopicId != topic.Id)
                    error = ErrorCode.NotLeaderOrFollower;
                else
                {
                    var outcome = partition.AppendAsLeader(partitionData.Records ?? ReadOnlyMemory<byte>.Empty, acks, requireOneBatch: version >= 3);
                    error = outcome.Error;
                    message = outcome.Message;
                    if (error == ErrorCode.None)
                    {
                        answer.BaseOffset = outcome.BaseOffset;
                        answer.LogAppendTimeMs = outcome.LogAppendTime;
                        answer.LogStartOffset = outcome.LogStartOffset;
                        if (acks == -1) waits.Add((topic.Name, answer, partition.WaitForHighWatermark(outcome.LastOffset + 1)));
                    }
                }
                SetError(answer, error, message, topic?.Partition(partitionData.Index), version);
                if (error != ErrorCode.None) NoteProduceError(topicAnswer.Name ?? "?", partitionData.Index, error, message);
            }
        }
        if (waits.Count > 0)
        {
            var all = Task.WhenAll(waits.Select(w => w.Wait.Task));
            try
            {
                await all.WaitAsync(TimeSpan.FromMilliseconds(Math.Max(0, request.TimeoutMs)), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            foreach (var (topicName, answer, wait) in waits)
            {
                // A waiter still pending timed out; completing it here lets its partition forget it.
                wait.TrySetResult(ErrorCode.RequestTimedOut);
                var error = wait.Task.Result;
                if (error == ErrorCode.None) continue;
                answer.ErrorCode = (short)error;
                NoteProduceError(topicName, answer.Index, error, "after the append, waiting for the replicas");
            }
        }
        return response;
    }

    /// <summary>(partition, error) → when it was last logged and how many were not logged since (a produce
    /// error is logged at most once per <see cref="ProduceErrorLogIntervalMs"/> per partition and error).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Topic, int Partition, ErrorCode Error), (long LoggedMs, int Quiet)> _produceErrors = new();
    private const long ProduceErrorLogIntervalMs = 5_000;

    /// <summary>Logs a produce answered with an error, rate-limited: an operator sees why a producer is stuck
    /// (e.g. NOT_LEADER_OR_FOLLOWER or REQUEST_TIMED_OUT repeating) without a line per request.</summary>
    private void NoteProduceError(string topic, int partition, ErrorCode error, string? message)
    {
        long now = _clock.MonotonicMs;
        var key = (topic, partition, error);
        var (logged, quiet) = _produceErrors.GetValueOrDefault(key, (long.MinValue, 0));
        if (logged != long.MinValue && now - logged < ProduceErrorLogIntervalMs)
        {
            _produceErrors[key] = (logged, quiet + 1);
            return;
        }
        _produceErrors[key] = (now, 0);
        _log($"{topic}-{partition}: produce answered {error}{(message is null ? "" : $" ({message})")}{(quiet > 0 ? $"; {quiet} more since the last such line" : "")}");
    }

    private static void SetError(ProduceResponse.PartitionProduceResponse answer, ErrorCode error, string? message,
        Metadata.PartitionRegistration? registration, short version)
    {
        if (error == ErrorCode.None) return;
        answer.ErrorCode = (short)error;
        answer.BaseOffset = -1;
        answer.LogAppendTimeMs = -1;
        answer.LogStartOffset = -1;
        if (version >= 8) answer.ErrorMessage = message;
        if (version >= 10 && error is ErrorCode.NotLeaderOrFollower && registration is not null)
            answer.CurrentLeader = new ProduceResponse.LeaderIdAndEpoch { LeaderId = registration.Leader, LeaderEpoch = registration.LeaderEpoch };
    }
}
