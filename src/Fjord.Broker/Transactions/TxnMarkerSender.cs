using Fjord.Broker.Replication;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Storage;

namespace Fjord.Broker.Transactions;

/// <summary>
/// <see cref="ITxnMarkerSender"/> by partition leader, from the metadata image: partitions this
/// broker leads get their markers in process (<see cref="ReplicaManager.WriteTxnMarkersAsync"/>),
/// the others through one WriteTxnMarkers (v1) per leader broker via <paramref name="remote"/>
/// (the composition root's inter-broker channel). A topic missing from the image is answered
/// UNKNOWN_TOPIC_OR_PARTITION, a partition without a leader NOT_LEADER_OR_FOLLOWER, a failed
/// remote call NETWORK_EXCEPTION for its partitions.
/// </summary>
public sealed class TxnMarkerSender(int brokerId, Func<MetadataImage> image, ReplicaManager? local,
    Func<int, WriteTxnMarkersRequest, CancellationToken, Task<WriteTxnMarkersResponse>>? remote, Action<string>? log = null) : ITxnMarkerSender
{
    /// <summary>The WriteTxnMarkers version sent to other brokers.</summary>
    public const short Version = 1;

    public async Task<IReadOnlyDictionary<TopicPartition, ErrorCode>> SendAsync(TxnMarkerRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var result = new Dictionary<TopicPartition, ErrorCode>();
        var byLeader = new Dictionary<int, List<TopicPartition>>();
        var topics = image().Topics;
        foreach (var tp in request.Partitions)
        {
            var registration = topics.Topic(tp.Topic)?.Partition(tp.Partition);
            if (registration is null) result[tp] = ErrorCode.UnknownTopicOrPartition;
            else if (registration.Leader < 0) result[tp] = ErrorCode.NotLeaderOrFollower;
            else
            {
                if (!byLeader.TryGetValue(registration.Leader, out var list)) byLeader[registration.Leader] = list = [];
                list.Add(tp);
            }
        }
        var calls = byLeader.Select(async kv =>
        {
            var (leader, partitions) = (kv.Key, kv.Value);
            var body = Request(request, partitions);
            try
            {
                WriteTxnMarkersResponse response;
                if (leader == brokerId && local is not null) response = await local.WriteTxnMarkersAsync(body, Version, cancellationToken).ConfigureAwait(false);
                else if (remote is not null) response = await remote(leader, body, cancellationToken).ConfigureAwait(false);
                else return partitions.Select(tp => (tp, ErrorCode.NotLeaderOrFollower)).ToList();
                var answers = new List<(TopicPartition, ErrorCode)>();
                foreach (var marker in response.Markers)
                    foreach (var t in marker.Topics)
                        foreach (var p in t.Partitions)
                            answers.Add((new TopicPartition(t.Name, p.PartitionIndex), (ErrorCode)p.ErrorCode));
                return answers;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                log?.Invoke($"WriteTxnMarkers to broker {leader} failed: {e.Message}");
                return partitions.Select(tp => (tp, ErrorCode.NetworkException)).ToList();
            }
        }).ToList();
        foreach (var answers in await Task.WhenAll(calls).ConfigureAwait(false))
            foreach (var (tp, code) in answers)
                if (request.Partitions.Contains(tp)) result[tp] = code;
        return result;
    }

    private static WriteTxnMarkersRequest Request(TxnMarkerRequest request, List<TopicPartition> partitions)
    {
        var marker = new WriteTxnMarkersRequest.WritableTxnMarker
        {
            ProducerId = request.ProducerId,
            ProducerEpoch = request.ProducerEpoch,
            TransactionResult = request.Commit,
            CoordinatorEpoch = request.CoordinatorEpoch,
        };
        foreach (var group in partitions.GroupBy(tp => tp.Topic))
            marker.Topics.Add(new WriteTxnMarkersRequest.WritableTxnMarkerTopic { Name = group.Key, PartitionIndexes = [.. group.Select(tp => tp.Partition)] });
        return new WriteTxnMarkersRequest { Markers = [marker] };
    }
}
