using Fjord.Broker;
using Fjord.Broker.Apis;
using Fjord.Broker.FetchSessions;
using Fjord.Broker.Groups;
using Fjord.Broker.Transactions;
using Fjord.Broker.Replication;
using Fjord.Metadata;
using Fjord.Network;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Server.Node;

/// <summary>
/// The broker's client APIs: which component answers each API key, at which versions. The
/// ApiVersions answer is derived from this table (and the finalized features of the image), so a
/// client is offered exactly what is served.
/// </summary>
public static class BrokerApiRegistry
{
    public static ApiHandlerRegistry Create(ReplicaManager replicas, BrokerMetadataApis apis, AdminForwarding forwarding,
        ProducerIdManager producerIds, IControllerChannel controller, FetchSessionCache sessions, Func<MetadataImage> image,
        GroupCoordinator? groups = null, TransactionCoordinator? transactions = null)
    {
        var registry = new ApiHandlerRegistry();
        // Data plane. Produce v0-2 and Fetch v0-3 carry the old message formats (magic 0/1), which
        // this broker neither stores nor converts; clients of the last decade use newer versions.
        // Produce is nevertheless ADVERTISED from v0 (as Kafka 4.0 does, KAFKA-18659): librdkafka
        // before 2.10 enables gzip/snappy/lz4 only if the broker lists Produce v0, and otherwise
        // silently sends those batches uncompressed. A v0-2 request is answered UNSUPPORTED_VERSION.
        registry.Register<ProduceRequest>(0, short.MaxValue, async (ctx, request) =>
        {
            var response = ctx.ApiVersion < MinServedProduceVersion
                ? UnsupportedProduce(request)
                : await replicas.ProduceAsync(request, ctx.ApiVersion, ctx.ConnectionClosed).ConfigureAwait(false);
            return request.Acks == 0 ? ApiResponse.None : ApiResponse.Of(response);
        });
        registry.Register<FetchRequest>(4, short.MaxValue, (ctx, request) => FetchAsync(replicas, sessions, image, ctx, request));
        registry.Register<ListOffsetsRequest>(0, short.MaxValue, (ctx, request) => Answer(replicas.ListOffsets(request, ctx.ApiVersion)));
        registry.Register<OffsetForLeaderEpochRequest>(0, short.MaxValue, (ctx, request) => Answer(replicas.OffsetForLeaderEpoch(request, ctx.ApiVersion)));
        registry.Register<DeleteRecordsRequest>(0, short.MaxValue, async (ctx, request) =>
            ApiResponse.Of(await replicas.DeleteRecordsAsync(request, ctx.ApiVersion, ctx.ConnectionClosed).ConfigureAwait(false)));
        registry.Register<DescribeLogDirsRequest>(0, short.MaxValue, (ctx, request) => Answer(replicas.DescribeLogDirs(request, ctx.ApiVersion)));
        // Transaction markers from the transaction coordinator; v2 (KIP-890 TransactionVersion) is not served.
        registry.Register<WriteTxnMarkersRequest>(0, 1, async (ctx, request) =>
            ApiResponse.Of(await replicas.WriteTxnMarkersAsync(request, ctx.ApiVersion, ctx.ConnectionClosed).ConfigureAwait(false)));
        registry.Register<DescribeProducersRequest>(0, 0, (ctx, request) => Answer(replicas.DescribeProducers(request, ctx.ApiVersion)));
        // v6 exists in the schema but Kafka marks it unstable: not advertised.
        // A transactional id goes to the transaction coordinator; without one, a plain producer id.
        registry.Register<InitProducerIdRequest>(0, 5, async (ctx, request) =>
            ApiResponse.Of(request.TransactionalId is not null && transactions is not null
                ? await transactions.InitProducerIdAsync(request, ctx.ApiVersion, ctx.ConnectionClosed).ConfigureAwait(false)
                : await producerIds.InitProducerIdAsync(request, ctx.ApiVersion, ctx.ConnectionClosed).ConfigureAwait(false)));
        if (transactions is not null) RegisterTransactions(registry, transactions);

        // Answered from the metadata image.
        registry.Register<MetadataRequest>(0, short.MaxValue, async (ctx, request) =>
            ApiResponse.Of(await apis.MetadataAsync(request, ctx.ApiVersion, ctx.ListenerName, ctx.ConnectionClosed).ConfigureAwait(false)));
        registry.Register<DescribeClusterRequest>(0, short.MaxValue, (ctx, request) => Answer(apis.DescribeCluster(request, ctx.ApiVersion, ctx.ListenerName)));
        registry.Register<DescribeTopicPartitionsRequest>(0, short.MaxValue, (ctx, request) =>
            Answer(apis.DescribeTopicPartitions(request, ctx.ApiVersion, ctx.ListenerName)));
        registry.Register<DescribeConfigsRequest>(0, short.MaxValue, (ctx, request) => Answer(apis.DescribeConfigs(request, ctx.ApiVersion)));
        registry.Register<DescribeAclsRequest>(0, short.MaxValue, (ctx, request) => Answer(apis.DescribeAcls(request, ctx.ApiVersion)));
        registry.Register<DescribeClientQuotasRequest>(0, short.MaxValue, (ctx, request) => Answer(apis.DescribeClientQuotas(request, ctx.ApiVersion)));
        registry.Register<DescribeUserScramCredentialsRequest>(0, short.MaxValue, (ctx, request) =>
            Answer(apis.DescribeUserScramCredentials(request, ctx.ApiVersion)));
        registry.FeaturesSupplier = () =>
        {
            var features = apis.Features(3);
            return new Fjord.Network.ApiVersionsFeatures(
                [.. features.Supported.Select(f => new Fjord.Network.SupportedFeature(f.Name, f.MinVersion, f.MaxVersion))],
                [.. features.Finalized.Select(f => new Fjord.Network.FinalizedFeature(f.Name, f.MinVersionLevel, f.MaxVersionLevel))],
                features.FinalizedEpoch);
        };

        // Admin requests: forwarded to the active controller, answered once committed there.
        foreach (var key in AdminForwarding.ApiKeys)
            registry.Register(key, 0, short.MaxValue, async (ctx, request) =>
                ApiResponse.Of(await forwarding.ForwardAsync(request, ctx.ApiVersion, ctx.ConnectionClosed).ConfigureAwait(false)));
        if (groups is null)
            registry.Register<FindCoordinatorRequest>(0, short.MaxValue, (ctx, request) => Answer(NoCoordinator(request, ctx.ApiVersion)));
        else
            RegisterGroups(registry, groups);
        registry.Register<DescribeQuorumRequest>(0, short.MaxValue, async (ctx, request) =>
            ApiResponse.Of(await controller.SendAsync<DescribeQuorumResponse>(request, ctx.ApiVersion, forwarding.ForwardingTimeout, ctx.ConnectionClosed)
                .ConfigureAwait(false)));
        return registry;
    }

    private static ValueTask<ApiResponse> Answer(IKafkaMessage response) => ValueTask.FromResult(ApiResponse.Of(response));

    /// <summary>
    /// The transaction coordinator's APIs (<see cref="TransactionCoordinator"/>): AddPartitionsToTxn
    /// v0-5 (v4+: broker batches; v5 = v4 plus the TRANSACTION_ABORTABLE error, answered as v4),
    /// AddOffsetsToTxn v0-4, EndTxn v0-4 (v5's per-transaction epoch bump belongs to transaction
    /// version 2, not served), DescribeTransactions v0, ListTransactions v0-1.
    /// </summary>
    private static void RegisterTransactions(ApiHandlerRegistry registry, TransactionCoordinator transactions)
    {
        registry.Register<AddPartitionsToTxnRequest>(0, 5, async (ctx, request) =>
            ApiResponse.Of(await transactions.AddPartitionsToTxnAsync(request, ctx.ApiVersion, ctx.ConnectionClosed).ConfigureAwait(false)));
        registry.Register<AddOffsetsToTxnRequest>(0, 4, async (ctx, request) =>
            ApiResponse.Of(await transactions.AddOffsetsToTxnAsync(request, ctx.ApiVersion, ctx.ConnectionClosed).ConfigureAwait(false)));
        registry.Register<EndTxnRequest>(0, 4, async (ctx, request) =>
            ApiResponse.Of(await transactions.EndTxnAsync(request, ctx.ApiVersion, ctx.ConnectionClosed).ConfigureAwait(false)));
        registry.Register<DescribeTransactionsRequest>(0, 0, (ctx, request) => Answer(transactions.DescribeTransactions(request, ctx.ApiVersion)));
        registry.Register<ListTransactionsRequest>(0, 1, (ctx, request) => Answer(transactions.ListTransactions(request, ctx.ApiVersion)));
    }

    /// <summary>
    /// The classic group coordinator's APIs (<see cref="GroupCoordinator"/>): FindCoordinator v0-6
    /// (GROUP keys; TRANSACTION keys through <see cref="GroupCoordinator.TransactionLocator"/>),
    /// JoinGroup v0-9, SyncGroup v0-5, Heartbeat v0-4, LeaveGroup v0-5, OffsetCommit v0-9 (v10 needs
    /// topic ids the clients of today do not send; not advertised), OffsetFetch v0-9, OffsetDelete v0,
    /// ListGroups v0-5, DescribeGroups v0-5, DeleteGroups v0-2, TxnOffsetCommit v0-4.
    /// </summary>
    private static void RegisterGroups(ApiHandlerRegistry registry, GroupCoordinator groups)
    {
        static string Host(RequestContext ctx) => "/" + ctx.ClientAddress.Address;
        registry.Register<FindCoordinatorRequest>(0, 6, (ctx, request) => Answer(groups.FindCoordinator(request, ctx.ApiVersion, ctx.ListenerName)));
        registry.Register<JoinGroupRequest>(0, 9, async (ctx, request) =>
            ApiResponse.Of(await groups.JoinGroupAsync(request, ctx.ApiVersion, ctx.ClientId ?? "", Host(ctx)).ConfigureAwait(false)));
        registry.Register<SyncGroupRequest>(0, 5, async (ctx, request) =>
            ApiResponse.Of(await groups.SyncGroupAsync(request, ctx.ApiVersion).ConfigureAwait(false)));
        registry.Register<HeartbeatRequest>(0, 4, (ctx, request) => Answer(groups.Heartbeat(request, ctx.ApiVersion)));
        registry.Register<LeaveGroupRequest>(0, 5, (ctx, request) => Answer(groups.LeaveGroup(request, ctx.ApiVersion)));
        registry.Register<OffsetCommitRequest>(0, 9, async (ctx, request) =>
            ApiResponse.Of(await groups.OffsetCommitAsync(request, ctx.ApiVersion).ConfigureAwait(false)));
        registry.Register<OffsetFetchRequest>(0, 9, (ctx, request) => Answer(groups.OffsetFetch(request, ctx.ApiVersion)));
        // v5 (KIP-890 transaction version 2) is not served.
        registry.Register<TxnOffsetCommitRequest>(0, 4, async (ctx, request) =>
            ApiResponse.Of(await groups.TxnOffsetCommitAsync(request, ctx.ApiVersion).ConfigureAwait(false)));
        registry.Register<OffsetDeleteRequest>(0, 0, async (ctx, request) =>
            ApiResponse.Of(await groups.OffsetDeleteAsync(request, ctx.ApiVersion).ConfigureAwait(false)));
        registry.Register<ListGroupsRequest>(0, 5, (ctx, request) => Answer(groups.ListGroups(request, ctx.ApiVersion)));
        registry.Register<DescribeGroupsRequest>(0, 5, (ctx, request) => Answer(groups.DescribeGroups(request, ctx.ApiVersion)));
        registry.Register<DeleteGroupsRequest>(0, 2, async (ctx, request) =>
            ApiResponse.Of(await groups.DeleteGroupsAsync(request, ctx.ApiVersion).ConfigureAwait(false)));
        // KIP-848 consumer groups (Fjord.Broker.Groups.Consumer through GroupShard).
        registry.Register<ConsumerGroupHeartbeatRequest>(0, 1, async (ctx, request) =>
            ApiResponse.Of(await groups.ConsumerGroupHeartbeatAsync(request, ctx.ApiVersion, ctx.ClientId ?? "", Host(ctx)).ConfigureAwait(false)));
        registry.Register<ConsumerGroupDescribeRequest>(0, 1, (ctx, request) => Answer(groups.ConsumerGroupDescribe(request, ctx.ApiVersion)));
    }

    /// <summary>The lowest Produce version really served (message format 2); lower ones are only advertised.</summary>
    public const short MinServedProduceVersion = 3;

    /// <summary>UNSUPPORTED_VERSION for every partition of a Produce v0-2 request (nothing is appended).</summary>
    private static ProduceResponse UnsupportedProduce(ProduceRequest request)
    {
        var response = new ProduceResponse();
        foreach (var topic in request.TopicData)
        {
            var t = new ProduceResponse.TopicProduceResponse { Name = topic.Name, TopicId = topic.TopicId };
            foreach (var p in topic.PartitionData)
                t.PartitionResponses.Add(new ProduceResponse.PartitionProduceResponse
                {
                    Index = p.Index,
                    ErrorCode = (short)Fjord.Common.ErrorCode.UnsupportedVersion,
                    BaseOffset = -1,
                });
            response.Responses.Add(t);
        }
        return response;
    }

    /// <summary>
    /// No group or transaction coordinator runs on this broker yet, so every key is answered
    /// COORDINATOR_NOT_AVAILABLE (retriable; the client asks again later). The API is served anyway
    /// because librdkafka before 2.10 enables LZ4 only when the broker lists FindCoordinator v0 (its
    /// probe for "a broker of 0.8.2 or later"); without it lz4 batches go out uncompressed.
    /// </summary>
    private static FindCoordinatorResponse NoCoordinator(FindCoordinatorRequest request, short version)
    {
        const string message = "no coordinator runs on this broker yet";
        var response = new FindCoordinatorResponse();
        if (version < 4)
        {
            response.ErrorCode = (short)Fjord.Common.ErrorCode.CoordinatorNotAvailable;
            response.ErrorMessage = message;
            response.NodeId = -1;
            response.Host = "";
            response.Port = -1;
            return response;
        }
        foreach (var key in request.CoordinatorKeys)
            response.Coordinators.Add(new FindCoordinatorResponse.Coordinator
            {
                Key = key,
                NodeId = -1,
                Host = "",
                Port = -1,
                ErrorCode = (short)Fjord.Common.ErrorCode.CoordinatorNotAvailable,
                ErrorMessage = message,
            });
        return response;
    }

    /// <summary>
    /// A fetch through the session cache (KIP-227): the cache says which partitions the request
    /// stands for (a session's, for an incremental fetch), the replica manager reads them all (and
    /// long-polls on all of them), and the cache builds the answer (only what changed, for an
    /// incremental session).
    /// </summary>
    private static async ValueTask<ApiResponse> FetchAsync(ReplicaManager replicas, FetchSessionCache sessions, Func<MetadataImage> image,
        RequestContext ctx, FetchRequest request)
    {
        short version = ctx.ApiVersion;
        int replicaId = version >= 15 ? request.ReplicaState.ReplicaId : request.ReplicaId;
        var topics = image().Topics;
        var context = sessions.NewContext(request, version, replicaId >= 0,
            name => topics.Topic(name)?.Id, id => topics.Topic(id)?.Name, Environment.TickCount64);
        if (context.Kind == FetchContextKind.SessionError)
            return ApiResponse.Of(context.BuildResponse(new Dictionary<FetchPartitionKey, FetchResponse.PartitionData>(), Environment.TickCount64));

        var full = new FetchRequest
        {
            ClusterId = request.ClusterId,
            ReplicaId = request.ReplicaId,
            ReplicaState = request.ReplicaState,
            MaxWaitMs = request.MaxWaitMs,
            MinBytes = request.MinBytes,
            MaxBytes = request.MaxBytes,
            IsolationLevel = request.IsolationLevel,
            SessionId = 0,
            SessionEpoch = -1,
            RackId = request.RackId,
        };
        var keys = new Dictionary<(string? Topic, Fjord.Common.Uuid TopicId, int Partition), FetchPartitionKey>();
        FetchRequest.FetchTopic? current = null;
        foreach (var p in context.Partitions)
        {
            if (p.UnknownTopicId) continue;
            var topicKey = context.UsesTopicIds ? (null, p.TopicId) : (p.Topic, default(Fjord.Common.Uuid));
            keys[(topicKey.Item1, topicKey.Item2, p.Partition)] = p.Key;
            if (current is null || current.Topic != topicKey.Item1 || current.TopicId != topicKey.Item2)
            {
                current = new FetchRequest.FetchTopic { Topic = topicKey.Item1 ?? "", TopicId = topicKey.Item2 };
                full.Topics.Add(current);
            }
            current.Partitions.Add(new FetchRequest.FetchPartition
            {
                Partition = p.Partition,
                CurrentLeaderEpoch = p.CurrentLeaderEpoch,
                FetchOffset = p.FetchOffset,
                LastFetchedEpoch = p.LastFetchedEpoch,
                LogStartOffset = p.LogStartOffset,
                PartitionMaxBytes = p.PartitionMaxBytes,
            });
        }
        // Zero-copy: the records stay in the log's file regions; a placeholder of the right length
        // stands in for them while the session layer builds the answer (it looks at Records.Length).
        var fetched = await replicas.FetchWithRegionsAsync(full, version, ctx.ConnectionClosed).ConfigureAwait(false);
        var read = fetched.Response;
        var regions = new Dictionary<FetchResponse.PartitionData, Fjord.Storage.LogReadResult>(ReferenceEqualityComparer.Instance);
        foreach (var p in fetched.Partitions)
            if (p.Read is { IsEmpty: false } region)
            {
                p.Data.Records = RecordsPlaceholder.Of(region.TotalBytes);
                regions[p.Data] = region;
            }
        var results = new Dictionary<FetchPartitionKey, FetchResponse.PartitionData>();
        foreach (var topic in read.Responses)
            foreach (var partition in topic.Partitions)
            {
                var lookup = context.UsesTopicIds ? ((string?)null, topic.TopicId, partition.PartitionIndex) : (topic.Topic, default, partition.PartitionIndex);
                if (keys.TryGetValue(lookup, out var key)) results[key] = partition;
            }
        var response = context.BuildResponse(results, Environment.TickCount64, read.ThrottleTimeMs);
        response.NodeEndpoints = read.NodeEndpoints;
        try
        {
            return ApiResponse.FromSegments(FetchResponseSegments.Build(response, version, regions));
        }
        catch (InvalidOperationException)
        {
            // Not expected (Build checks its own work): answer with copies rather than a wrong frame.
            foreach (var (data, region) in regions) data.Records = region.ToArray();
            return ApiResponse.Of(response);
        }
    }
}
