using Fjord.Broker.Transactions;
using Fjord.Common;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Tests.Transactions;

/// <summary>
/// AddPartitionsToTxn v5 (KIP-890): the v4 fields, plus the TRANSACTION_ABORTABLE error code in answers.
/// Frames at v5 round-trip, and the coordinator answers a request decoded from a v5 frame as it answers v4.
/// </summary>
public sealed class AddPartitionsToTxnV5Tests
{
    private static AddPartitionsToTxnRequest Batch(string id, long pid, short epoch, bool verifyOnly, params (string Topic, int[] Partitions)[] topics) => new()
    {
        Transactions =
        [
            new AddPartitionsToTxnRequest.AddPartitionsToTxnTransaction
            {
                TransactionalId = id, ProducerId = pid, ProducerEpoch = epoch, VerifyOnly = verifyOnly,
                Topics = [.. topics.Select(t => new AddPartitionsToTxnRequest.AddPartitionsToTxnTopic { Name = t.Topic, Partitions = [.. t.Partitions] })],
            },
        ],
    };

    private static byte[] RequestFrame(AddPartitionsToTxnRequest request, short version, int correlationId = 7) =>
        Frames.EncodeRequest(new RequestHeader
        {
            RequestApiKey = AddPartitionsToTxnRequest.ApiKey, RequestApiVersion = version, CorrelationId = correlationId, ClientId = "broker-2",
        }, request)[Frames.SizePrefixBytes..];

    private static AddPartitionsToTxnResponse ResponseRoundTrip(AddPartitionsToTxnResponse response, short version)
    {
        var frame = Frames.EncodeResponse(9, AddPartitionsToTxnRequest.ApiKey, version, response)[Frames.SizePrefixBytes..];
        var (header, body) = Frames.DecodeResponse(AddPartitionsToTxnRequest.ApiKey, version, frame);
        Assert.Equal(9, header.CorrelationId);
        return Assert.IsType<AddPartitionsToTxnResponse>(body);
    }

    private static List<(string Id, string Topic, int Partition, ErrorCode Code)> Codes(AddPartitionsToTxnResponse r) =>
        r.ResultsByTransaction.SelectMany(t => t.TopicResults.SelectMany(tr => tr.ResultsByPartition.Select(p =>
            (t.TransactionalId ?? "", tr.Name ?? "", p.PartitionIndex, (ErrorCode)p.PartitionErrorCode)))).ToList();

    [Fact]
    public void V5_request_and_response_round_trip_with_the_v4_fields_and_TRANSACTION_ABORTABLE()
    {
        var request = Batch("txn-1", 4242, 3, verifyOnly: true, ("orders", [0, 2]), ("audit", [1]));
        var decoded = Frames.DecodeRequest(RequestFrame(request, 5));
        Assert.Equal(5, decoded.ApiVersion);
        Assert.Equal(7, decoded.CorrelationId);
        var body = Assert.IsType<AddPartitionsToTxnRequest>(decoded.Body);
        var txn = Assert.Single(body.Transactions);
        Assert.Equal(("txn-1", 4242L, (short)3, true), (txn.TransactionalId, txn.ProducerId, txn.ProducerEpoch, txn.VerifyOnly));
        Assert.Equal([("orders", new[] { 0, 2 }), ("audit", new[] { 1 })], txn.Topics.Select(t => (t.Name!, t.Partitions.ToArray())));
        // Same bytes as v4 for the body: v5 adds no field.
        Assert.Equal(RequestFrame(request, 4)[4..].Length, RequestFrame(request, 5)[4..].Length);

        var response = new AddPartitionsToTxnResponse
        {
            ThrottleTimeMs = 5,
            ErrorCode = 0,
            ResultsByTransaction =
            [
                new AddPartitionsToTxnResponse.AddPartitionsToTxnResult
                {
                    TransactionalId = "txn-1",
                    TopicResults =
                    [
                        new AddPartitionsToTxnResponse.AddPartitionsToTxnTopicResult
                        {
                            Name = "orders",
                            ResultsByPartition =
                            [
                                new AddPartitionsToTxnResponse.AddPartitionsToTxnPartitionResult { PartitionIndex = 0, PartitionErrorCode = (short)ErrorCode.TransactionAbortable },
                                new AddPartitionsToTxnResponse.AddPartitionsToTxnPartitionResult { PartitionIndex = 2, PartitionErrorCode = 0 },
                            ],
                        },
                    ],
                },
            ],
        };
        var back = ResponseRoundTrip(response, 5);
        Assert.Equal(5, back.ThrottleTimeMs);
        Assert.Equal([("txn-1", "orders", 0, ErrorCode.TransactionAbortable), ("txn-1", "orders", 2, ErrorCode.None)], Codes(back));
    }

    [Fact]
    public async Task The_coordinator_answers_a_v5_frame_as_v4()
    {
        var clock = new TxnClock();
        long nextPid = 500;
        await using var coordinator = new TransactionCoordinator(new TransactionCoordinatorOptions { MarkerRetryBackoffMs = 1 }, new FakeTxnLog(), new FakeMarkers(),
            _ => Task.FromResult(Interlocked.Increment(ref nextPid)), clock, tp => tp.Topic != "missing");
        const string id = "txn-v5";
        coordinator.LoadPartition(coordinator.PartitionFor(id), 1, []);
        var (error, pid, epoch) = await coordinator.InitProducerIdAsync(id, 60_000, -1, -1);
        Assert.Equal(ErrorCode.None, error);

        foreach (short version in new short[] { 4, 5 })
        {
            // A broker's batch: add orders-0 (not verify-only), then verify orders-0 and orders-1.
            var add = (AddPartitionsToTxnRequest)Frames.DecodeRequest(RequestFrame(Batch(id, pid, epoch, verifyOnly: false, ("orders", [0])), version)).Body;
            var added = ResponseRoundTrip(await coordinator.AddPartitionsToTxnAsync(add, version), version);
            Assert.Equal([(id, "orders", 0, ErrorCode.None)], Codes(added));

            var verify = (AddPartitionsToTxnRequest)Frames.DecodeRequest(RequestFrame(Batch(id, pid, epoch, verifyOnly: true, ("orders", [0, 1])), version)).Body;
            var verified = ResponseRoundTrip(await coordinator.AddPartitionsToTxnAsync(verify, version), version);
            Assert.Equal([(id, "orders", 0, ErrorCode.None), (id, "orders", 1, ErrorCode.InvalidTxnState)], Codes(verified));

            // Errors as at v4: a stale epoch is PRODUCER_FENCED, an unknown partition fails the transaction's request.
            var fenced = (AddPartitionsToTxnRequest)Frames.DecodeRequest(RequestFrame(Batch(id, pid, (short)(epoch - 1), verifyOnly: false, ("orders", [3])), version)).Body;
            Assert.Equal([(id, "orders", 3, ErrorCode.ProducerFenced)], Codes(ResponseRoundTrip(await coordinator.AddPartitionsToTxnAsync(fenced, version), version)));
            var unknown = (AddPartitionsToTxnRequest)Frames.DecodeRequest(RequestFrame(Batch(id, pid, epoch, verifyOnly: false, ("orders", [4]), ("missing", [0])), version)).Body;
            Assert.Equal([(id, "orders", 4, ErrorCode.OperationNotAttempted), (id, "missing", 0, ErrorCode.UnknownTopicOrPartition)],
                Codes(ResponseRoundTrip(await coordinator.AddPartitionsToTxnAsync(unknown, version), version)));
        }
    }
}
