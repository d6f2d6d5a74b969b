using System.Buffers.Binary;
using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Broker.Replication;

public sealed partial class ReplicaManager
{
    /// <summary>
    /// Called once per marker of a WriteTxnMarkers request, after its markers are committed (the HW
    /// passed them), with the producer id, whether it committed, and the partitions that succeeded
    /// (of every topic: the group coordinator picks its <c>__consumer_offsets</c> partitions to apply
    /// or drop the transaction's pending offset commits). Runs on the request's thread; an exception
    /// is logged and does not change the answer.
    /// </summary>
    public Action<long, bool, IReadOnlyList<TopicPartition>>? TransactionMarkersWritten { get; set; }

    /// <summary>
    /// WriteTxnMarkers (v0-1; v2's TransactionVersion is not served): the transaction coordinator asks
    /// this broker to end a producer's transaction on the partitions it leads. Per marker and
    /// partition: UNKNOWN_TOPIC_OR_PARTITION when the image has none, NOT_LEADER_OR_FOLLOWER when this
    /// broker does not lead it, NOT_ENOUGH_REPLICAS when the ISR is below min.insync.replicas,
    /// INVALID_PRODUCER_EPOCH when the marker's producer epoch is older than the partition's state,
    /// TRANSACTION_COORDINATOR_FENCED when its coordinator epoch is older, INVALID_REQUEST for a
    /// negative producer id or epoch; otherwise a control batch (COMMIT/ABORT, coordinator epoch,
    /// producer id and epoch) is appended as leader and answered once the HW passes it (acks=all) —
    /// REQUEST_TIMED_OUT after <see cref="ReplicaManagerOptions.TxnMarkerTimeoutMs"/>,
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND / NOT_LEADER_OR_FOLLOWER as for a produce. Every error is
    /// retriable for the coordinator except the epoch ones (the transaction is already over there).
    /// </summary>
    public async Task<WriteTxnMarkersResponse> WriteTxnMarkersAsync(WriteTxnMarkersRequest request, short version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        _ = version;
        var image = _image;
        var response = new WriteTxnMarkersResponse();
        var waits = new List<(WriteTxnMarkersResponse.WritableTxnMarkerPartitionResult Answer, TaskCompletionSource<ErrorCode> Wait, int Marker, TopicPartition Tp)>();
        for (int m = 0; m < request.Markers.Count; m++)
        {
            var marker = request.Markers[m];
            var markerAnswer = new WriteTxnMarkersResponse.WritableTxnMarkerResult { ProducerId = marker.ProducerId };
            response.Markers.Add(markerAnswer);
            foreach (var topicRequest in marker.Topics)
            {
                var topicAnswer = new WriteTxnMarkersResponse.WritableTxnMarkerTopicResult { Name = topicRequest.Name };
                markerAnswer.Topics.Add(topicAnswer);
                foreach (int index in topicRequest.PartitionIndexes)
                {
                    var answer = new WriteTxnMarkersResponse.WritableTxnMarkerPartitionResult { PartitionIndex = index };
                    topicAnswer.Partitions.Add(answer);
                    var (error, partition, _) = LocatePartition(image, topicRequest.Name, index, leaderOnly: true, -1);
                    if (error == ErrorCode.None)
                    {
                        var outcome = partition!.AppendTxnMarker(marker.ProducerId, marker.ProducerEpoch, marker.CoordinatorEpoch, marker.TransactionResult);
                        error = outcome.Error;
                        if (error == ErrorCode.None)
                            waits.Add((answer, partition.WaitForHighWatermark(outcome.LastOffset + 1), m, partition.TopicPartition));
                        else if (error is not (ErrorCode.NotLeaderOrFollower or ErrorCode.NotEnoughReplicas))
                            _log($"{partition.TopicPartition}: {(marker.TransactionResult ? "COMMIT" : "ABORT")} marker of producer {marker.ProducerId} refused: {error} {outcome.Message}");
                    }
                    answer.ErrorCode = (short)error;
                }
            }
        }
        if (waits.Count == 0) return response;
        try
        {
            await Task.WhenAll(waits.Select(w => w.Wait.Task))
                .WaitAsync(TimeSpan.FromMilliseconds(_options.TxnMarkerTimeoutMs), cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        var written = new Dictionary<int, List<TopicPartition>>();
        foreach (var (answer, wait, m, tp) in waits)
        {
            wait.TrySetResult(ErrorCode.RequestTimedOut); // a waiter still pending timed out; its partition forgets it
            var error = wait.Task.Result;
            answer.ErrorCode = (short)error;
            if (error != ErrorCode.None) continue;
            if (!written.TryGetValue(m, out var list)) written[m] = list = [];
            list.Add(tp);
        }
        if (TransactionMarkersWritten is { } callback)
            foreach (var (m, partitions) in written.OrderBy(w => w.Key))
            {
                var marker = request.Markers[m];
                try
                {
                    callback(marker.ProducerId, marker.TransactionResult, partitions);
                }
                catch (Exception e)
                {
                    _log($"transaction-marker callback failed for producer {marker.ProducerId}: {e}");
                }
            }
        return response;
    }

    /// <summary>
    /// DescribeProducers (v0): per partition (leader only: NOT_LEADER_OR_FOLLOWER otherwise;
    /// UNKNOWN_TOPIC_OR_PARTITION when the image has none), every producer the partition has state
    /// for: id, epoch, last sequence (-1 when only markers were seen), last timestamp, coordinator
    /// epoch of its last marker (-1 before any), first offset of its open transaction (-1 when none).
    /// </summary>
    public DescribeProducersResponse DescribeProducers(DescribeProducersRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(request);
        _ = version;
        var image = _image;
        var response = new DescribeProducersResponse();
        foreach (var topicRequest in request.Topics)
        {
            var topicAnswer = new DescribeProducersResponse.TopicResponse { Name = topicRequest.Name };
            response.Topics.Add(topicAnswer);
            foreach (int index in topicRequest.PartitionIndexes)
            {
                var answer = new DescribeProducersResponse.PartitionResponse { PartitionIndex = index };
                topicAnswer.Partitions.Add(answer);
                var (error, partition, _) = LocatePartition(image, topicRequest.Name, index, leaderOnly: true, -1);
                answer.ErrorCode = (short)error;
                if (error != ErrorCode.None)
                {
                    answer.ErrorMessage = error.ToString();
                    continue;
                }
                foreach (var p in partition!.ActiveProducers())
                    answer.ActiveProducers.Add(new DescribeProducersResponse.ProducerState
                    {
                        ProducerId = p.ProducerId,
                        ProducerEpoch = p.Epoch,
                        LastSequence = p.LastSequence,
                        LastTimestamp = p.LastTimestamp,
                        CoordinatorEpoch = p.CoordinatorEpoch,
                        CurrentTxnStartOffset = p.CurrentTxnStartOffset,
                    });
            }
        }
        return response;
    }

    /// <summary>Aborted transactions above which a READ_COMMITTED fetch finds the exact end of its data to send fewer.</summary>
    private const int AbortedListRefineThreshold = 8;

    /// <summary>
    /// The AbortedTransactions of a READ_COMMITTED answer: those whose marker is at or after the fetch
    /// offset and whose first offset is below the end of the data returned (at most
    /// <paramref name="bound"/>, the LSO the read was bounded by). Sending more than needed is safe
    /// (clients act on an entry only when they meet its producer's batches); fewer would not be.
    /// </summary>
    private static List<FetchResponse.AbortedTransaction> AbortedTransactionsFor(Partition partition, long fetchOffset, long bound, LogReadResult read)
    {
        var aborted = partition.AbortedTransactions(fetchOffset, bound);
        if (aborted.Count > AbortedListRefineThreshold && NextOffsetAfter(read) is { } end && end < bound)
            aborted = aborted.Where(a => a.FirstOffset < end).ToList();
        return aborted.Select(a => new FetchResponse.AbortedTransaction { ProducerId = a.ProducerId, FirstOffset = a.FirstOffset }).ToList();
    }

    /// <summary>
    /// The offset after the last batch of <paramref name="read"/> (each region holds whole batches), by
    /// walking the batch headers; null when the regions cannot be read (the caller keeps its bound).
    /// </summary>
    internal static long? NextOffsetAfter(LogReadResult read)
    {
        if (read.IsEmpty) return null;
        Span<byte> header = stackalloc byte[RecordBatchLayout.LastOffsetDelta + 4];
        try
        {
            long? next = null;
            foreach (var region in read.Regions)
            {
                long position = region.Position;
                long end = region.Position + region.Length;
                // Each round moves past one batch of at least the minimum batch size: bounded by the region's length.
                while (position + header.Length <= end)
                {
                    if (RandomAccess.Read(region.Handle, header, position) < header.Length) return null;
                    long baseOffset = BinaryPrimitives.ReadInt64BigEndian(header);
                    int length = BinaryPrimitives.ReadInt32BigEndian(header[RecordBatchLayout.BatchLength..]);
                    int lastDelta = BinaryPrimitives.ReadInt32BigEndian(header[RecordBatchLayout.LastOffsetDelta..]);
                    if (length < RecordBatchLayout.MinBatchLength) return null;
                    next = baseOffset + lastDelta + 1;
                    position += RecordBatchLayout.LogOverhead + (long)length;
                }
            }
            return next;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
