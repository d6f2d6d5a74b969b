using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Capture;

/// <summary>
/// Plausible answers to the requests a client sends while producing, consuming, joining a group or
/// creating topics: a single broker (node 0, also controller and every coordinator) on which every
/// topic exists with one partition, where every write succeeds and every partition holds one
/// record at offset 0. Nothing is stored. Everything is encoded with Fjord's own codec.
/// </summary>
public sealed class FakeBroker(string host, int port, IReadOnlyList<string> allTopics)
{
    private const int NodeId = 0;
    private const short ApiVersionsKey = 18;

    private readonly ConcurrentDictionary<(string Topic, int Partition), long> _nextOffsets = new();
    private int _generation;
    private int _members;

    /// <summary>The one record every partition holds at offset 0 (what Fetch returns).</summary>
    public static readonly SampleRecord FetchRecord = new("golden-key", "golden-value", [("golden-header", "h1")]);

    /// <summary>Encodes the answer to <paramref name="request"/>; null when none is due (Produce with acks=0).</summary>
    public async Task<byte[]?> AnswerAsync(DecodedRequest request, CancellationToken cancel)
    {
        short version = request.ApiVersion;
        IKafkaMessage? body = request.Body switch
        {
            ApiVersionsRequest => ApiVersions(),
            MetadataRequest r => Metadata(r, version),
            ProduceRequest r => r.Acks == 0 ? null : Produce(r),
            FetchRequest r => await FetchAsync(r, cancel),
            ListOffsetsRequest r => ListOffsets(r, version),
            FindCoordinatorRequest r => FindCoordinator(r, version),
            JoinGroupRequest r => JoinGroup(r, version),
            SyncGroupRequest r => SyncGroup(r),
            HeartbeatRequest => new HeartbeatResponse(),
            OffsetFetchRequest r => OffsetFetch(r, version),
            OffsetCommitRequest r => OffsetCommit(r),
            LeaveGroupRequest r => LeaveGroup(r, version),
            CreateTopicsRequest r => CreateTopics(r),
            InitProducerIdRequest => new InitProducerIdResponse { ProducerId = 4242, ProducerEpoch = 0 },
            // Anything else: the response with every field at its default (no error, empty lists).
            _ => request.Api.Response.Create(),
        };
        return body is null ? null : Frames.EncodeResponse(request.CorrelationId, request.Api.ApiKey, version, body);
    }

    /// <summary>The ApiVersions v0 answer to a version newer than ours: UNSUPPORTED_VERSION plus our ranges.</summary>
    public static byte[] UnsupportedApiVersions(int correlationId)
    {
        var response = ApiVersions();
        response.ErrorCode = (short)ErrorCode.UnsupportedVersion;
        return Frames.EncodeResponse(correlationId, ApiVersionsKey, 0, response);
    }

    private static ApiVersionsResponse ApiVersions()
    {
        var response = new ApiVersionsResponse();
        foreach (var api in KafkaApis.All.OrderBy(a => a.ApiKey))
            response.ApiKeys.Add(new ApiVersionsResponse.ApiVersion { ApiKey = api.ApiKey, MinVersion = api.Versions.Lowest, MaxVersion = api.Versions.Highest });
        return response;
    }

    private MetadataResponse Metadata(MetadataRequest request, short version)
    {
        var response = new MetadataResponse { ClusterId = "fjord-capture", ControllerId = NodeId };
        response.Brokers.Add(new MetadataResponse.MetadataResponseBroker { NodeId = NodeId, Host = host, Port = port });
        bool all = request.Topics is null || (version == 0 && request.Topics.Count == 0);
        var names = all
            ? allTopics
            : request.Topics!.Select(t => t.Name).OfType<string>().Distinct().ToList();
        foreach (var name in names)
        {
            var topic = new MetadataResponse.MetadataResponseTopic { Name = name, TopicId = TopicId(name) };
            topic.Partitions.Add(new MetadataResponse.MetadataResponsePartition
            {
                PartitionIndex = 0, LeaderId = NodeId, LeaderEpoch = 0, ReplicaNodes = [NodeId], IsrNodes = [NodeId],
            });
            response.Topics.Add(topic);
        }
        return response;
    }

    private ProduceResponse Produce(ProduceRequest request)
    {
        var response = new ProduceResponse();
        foreach (var topic in request.TopicData)
        {
            var result = new ProduceResponse.TopicProduceResponse { Name = topic.Name, TopicId = topic.TopicId };
            foreach (var partition in topic.PartitionData)
            {
                int count = CountRecords(partition.Records ?? ReadOnlyMemory<byte>.Empty);
                long baseOffset = 0;
                _nextOffsets.AddOrUpdate((topic.Name, partition.Index), _ => count, (_, next) => { baseOffset = next; return next + count; });
                result.PartitionResponses.Add(new ProduceResponse.PartitionProduceResponse
                {
                    Index = partition.Index, BaseOffset = baseOffset, LogStartOffset = 0,
                });
            }
            response.Responses.Add(result);
        }
        return response;
    }

    /// <summary>Sums the record counts of the v2 batches in a records region (legacy message sets count as one).</summary>
    private static int CountRecords(ReadOnlyMemory<byte> records)
    {
        var span = records.Span;
        int count = 0;
        while (span.Length >= 12)
        {
            int batchLength = BinaryPrimitives.ReadInt32BigEndian(span[8..]);
            if (batchLength < 0 || 12 + batchLength > span.Length) break;
            count += span.Length >= 61 && span[16] == 2 ? BinaryPrimitives.ReadInt32BigEndian(span[57..]) : 1;
            span = span[(12 + batchLength)..];
        }
        return Math.Max(count, 1);
    }

    private static async Task<FetchResponse> FetchAsync(FetchRequest request, CancellationToken cancel)
    {
        var response = new FetchResponse();
        bool any = false;
        foreach (var topic in request.Topics)
        {
            var result = new FetchResponse.FetchableTopicResponse { Topic = topic.Topic, TopicId = topic.TopicId };
            foreach (var partition in topic.Partitions)
            {
                bool hasRecord = partition.FetchOffset == 0;
                any |= hasRecord;
                result.Partitions.Add(new FetchResponse.PartitionData
                {
                    PartitionIndex = partition.Partition,
                    HighWatermark = 1,
                    LastStableOffset = 1,
                    LogStartOffset = 0,
                    Records = hasRecord ? SampleBatch.Build(0, [FetchRecord]) : ReadOnlyMemory<byte>.Empty,
                });
            }
            response.Responses.Add(result);
        }
        // Nothing new: wait (briefly) like a broker holding the fetch for MaxWaitMs, so clients do not spin.
        if (!any && request.MaxWaitMs > 0)
            await Task.Delay(Math.Min(request.MaxWaitMs, 200), cancel);
        return response;
    }

    private static ListOffsetsResponse ListOffsets(ListOffsetsRequest request, short version)
    {
        var response = new ListOffsetsResponse();
        foreach (var topic in request.Topics)
        {
            var result = new ListOffsetsResponse.ListOffsetsTopicResponse { Name = topic.Name };
            foreach (var partition in topic.Partitions)
            {
                long offset = partition.Timestamp == -2 ? 0 : 1; // earliest 0, latest (and any time) 1
                var p = new ListOffsetsResponse.ListOffsetsPartitionResponse { PartitionIndex = partition.PartitionIndex };
                if (version == 0) p.OldStyleOffsets.Add(offset);
                else
                {
                    p.Timestamp = -1;
                    p.Offset = offset;
                    if (version >= 4) p.LeaderEpoch = 0;
                }
                result.Partitions.Add(p);
            }
            response.Topics.Add(result);
        }
        return response;
    }

    private FindCoordinatorResponse FindCoordinator(FindCoordinatorRequest request, short version)
    {
        var response = new FindCoordinatorResponse();
        if (version < 4)
        {
            response.NodeId = NodeId;
            response.Host = host;
            response.Port = port;
            if (version >= 1) response.ErrorMessage = null;
        }
        else
        {
            foreach (var key in request.CoordinatorKeys)
                response.Coordinators.Add(new FindCoordinatorResponse.Coordinator { Key = key, NodeId = NodeId, Host = host, Port = port, ErrorMessage = null });
        }
        return response;
    }

    private JoinGroupResponse JoinGroup(JoinGroupRequest request, short version)
    {
        var response = new JoinGroupResponse();
        string memberId = request.MemberId;
        if (memberId.Length == 0)
        {
            memberId = $"{(request.GroupInstanceId ?? "member")}-{Interlocked.Increment(ref _members)}";
            if (version >= 4)
            {
                response.ErrorCode = (short)ErrorCode.MemberIdRequired;
                response.MemberId = memberId;
                return response;
            }
        }
        var protocol = request.Protocols.FirstOrDefault();
        response.GenerationId = Interlocked.Increment(ref _generation);
        if (version >= 7) response.ProtocolType = request.ProtocolType;
        response.ProtocolName = protocol?.Name ?? "";
        response.Leader = memberId;
        response.MemberId = memberId;
        response.Members.Add(new JoinGroupResponse.JoinGroupResponseMember
        {
            MemberId = memberId,
            GroupInstanceId = version >= 5 ? request.GroupInstanceId : null,
            Metadata = protocol?.Metadata ?? [],
        });
        return response;
    }

    private static SyncGroupResponse SyncGroup(SyncGroupRequest request) => new()
    {
        ProtocolType = request.ProtocolType,
        ProtocolName = request.ProtocolName,
        Assignment = request.Assignments.FirstOrDefault(a => a.MemberId == request.MemberId)?.Assignment ?? [],
    };

    private static OffsetFetchResponse OffsetFetch(OffsetFetchRequest request, short version)
    {
        var response = new OffsetFetchResponse();
        if (version < 8)
        {
            foreach (var topic in request.Topics ?? [])
            {
                var result = new OffsetFetchResponse.OffsetFetchResponseTopic { Name = topic.Name };
                foreach (int partition in topic.PartitionIndexes)
                    result.Partitions.Add(new OffsetFetchResponse.OffsetFetchResponsePartition { PartitionIndex = partition, CommittedOffset = -1, Metadata = "" });
                response.Topics.Add(result);
            }
        }
        else
        {
            foreach (var group in request.Groups)
            {
                var groupResult = new OffsetFetchResponse.OffsetFetchResponseGroup { GroupId = group.GroupId };
                foreach (var topic in group.Topics ?? [])
                {
                    var result = new OffsetFetchResponse.OffsetFetchResponseTopics { Name = topic.Name, TopicId = topic.TopicId };
                    foreach (int partition in topic.PartitionIndexes)
                        result.Partitions.Add(new OffsetFetchResponse.OffsetFetchResponsePartitions { PartitionIndex = partition, CommittedOffset = -1, Metadata = "" });
                    groupResult.Topics.Add(result);
                }
                response.Groups.Add(groupResult);
            }
        }
        return response;
    }

    private static OffsetCommitResponse OffsetCommit(OffsetCommitRequest request)
    {
        var response = new OffsetCommitResponse();
        foreach (var topic in request.Topics)
        {
            var result = new OffsetCommitResponse.OffsetCommitResponseTopic { Name = topic.Name, TopicId = topic.TopicId };
            foreach (var partition in topic.Partitions)
                result.Partitions.Add(new OffsetCommitResponse.OffsetCommitResponsePartition { PartitionIndex = partition.PartitionIndex });
            response.Topics.Add(result);
        }
        return response;
    }

    private static LeaveGroupResponse LeaveGroup(LeaveGroupRequest request, short version)
    {
        var response = new LeaveGroupResponse();
        if (version >= 3)
            foreach (var member in request.Members)
                response.Members.Add(new LeaveGroupResponse.MemberResponse { MemberId = member.MemberId, GroupInstanceId = member.GroupInstanceId });
        return response;
    }

    private static CreateTopicsResponse CreateTopics(CreateTopicsRequest request)
    {
        var response = new CreateTopicsResponse();
        foreach (var topic in request.Topics)
            response.Topics.Add(new CreateTopicsResponse.CreatableTopicResult
            {
                Name = topic.Name,
                TopicId = TopicId(topic.Name),
                ErrorMessage = null,
                NumPartitions = topic.NumPartitions < 0 ? 1 : topic.NumPartitions,
                ReplicationFactor = topic.ReplicationFactor < 0 ? (short)1 : topic.ReplicationFactor,
            });
        return response;
    }

    /// <summary>A stable id per topic name (a hash), so every answer names a topic by the same id.</summary>
    private static Uuid TopicId(string name) => Uuid.FromBytes(SHA256.HashData(Encoding.UTF8.GetBytes(name)).AsSpan(0, 16));
}
