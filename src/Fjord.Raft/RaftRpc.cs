using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Raft;

/// <summary>
/// Builds and unpacks the KRaft messages for the one partition this core replicates
/// (<c>__cluster_metadata-0</c>). Every message carries exactly one topic with one partition;
/// anything else is an INVALID_REQUEST. Builders fill only fields that exist at each API's highest
/// version (or are ignorable), so every message survives the codec at that version.
/// </summary>
internal static class RaftRpc
{
    public const string TopicName = "__cluster_metadata";
    public const int PartitionIndex = 0;

    /// <summary>Kafka's reserved metadata topic id (only the lowest bit set).</summary>
    public static readonly Uuid TopicId = Uuid.OneUuid;

    public static short Code(ErrorCode error) => (short)error;
    public static int LeaderOrNone(int? leaderId) => leaderId ?? -1;
    public static int? OptionalLeader(int leaderId) => leaderId < 0 ? null : leaderId;

    // ---- Vote ----

    public static VoteRequest VoteRequest(string clusterId, int voterId, int replicaEpoch, int replicaId, OffsetAndEpoch lastEnd, bool preVote,
        Uuid replicaDirectoryId = default, Uuid voterDirectoryId = default) => new()
    {
        ClusterId = clusterId,
        VoterId = voterId,
        Topics =
        [
            new VoteRequest.TopicData
            {
                TopicName = TopicName,
                Partitions =
                [
                    new VoteRequest.PartitionData
                    {
                        PartitionIndex = PartitionIndex, ReplicaEpoch = replicaEpoch, ReplicaId = replicaId,
                        ReplicaDirectoryId = replicaDirectoryId, VoterDirectoryId = voterDirectoryId,
                        LastOffsetEpoch = lastEnd.Epoch, LastOffset = lastEnd.Offset, PreVote = preVote,
                    },
                ],
            },
        ],
    };

    public static VoteResponse VoteResponse(ErrorCode partitionError, int epoch, int? leaderId, bool granted) => new()
    {
        Topics =
        [
            new VoteResponse.TopicData
            {
                TopicName = TopicName,
                Partitions =
                [
                    new VoteResponse.PartitionData
                    {
                        PartitionIndex = PartitionIndex, ErrorCode = Code(partitionError), LeaderId = LeaderOrNone(leaderId),
                        LeaderEpoch = epoch, VoteGranted = granted,
                    },
                ],
            },
        ],
    };

    public static VoteRequest.PartitionData? Single(VoteRequest r) =>
        r.Topics is [{ Partitions: [var p] }] && p.PartitionIndex == PartitionIndex ? p : null;

    public static VoteResponse.PartitionData? Single(VoteResponse r) =>
        r.Topics is [{ Partitions: [var p] }] ? p : null;

    // ---- BeginQuorumEpoch ----

    public static BeginQuorumEpochRequest BeginQuorumEpochRequest(string clusterId, int voterId, int leaderId, int epoch,
        Uuid voterDirectoryId = default, IReadOnlyList<RaftEndpoint>? leaderEndpoints = null) => new()
    {
        LeaderEndpoints = [.. (leaderEndpoints ?? []).Select(e => new BeginQuorumEpochRequest.LeaderEndpoint { Name = e.Name, Host = e.Host, Port = (ushort)e.Port })],
        ClusterId = clusterId,
        VoterId = voterId,
        Topics =
        [
            new BeginQuorumEpochRequest.TopicData
            {
                TopicName = TopicName,
                Partitions =
                [
                    new BeginQuorumEpochRequest.PartitionData
                    {
                        PartitionIndex = PartitionIndex, LeaderId = leaderId, LeaderEpoch = epoch, VoterDirectoryId = voterDirectoryId,
                    },
                ],
            },
        ],
    };

    public static BeginQuorumEpochResponse BeginQuorumEpochResponse(ErrorCode partitionError, int epoch, int? leaderId) => new()
    {
        Topics =
        [
            new BeginQuorumEpochResponse.TopicData
            {
                TopicName = TopicName,
                Partitions =
                [
                    new BeginQuorumEpochResponse.PartitionData
                    {
                        PartitionIndex = PartitionIndex, ErrorCode = Code(partitionError), LeaderId = LeaderOrNone(leaderId), LeaderEpoch = epoch,
                    },
                ],
            },
        ],
    };

    public static BeginQuorumEpochRequest.PartitionData? Single(BeginQuorumEpochRequest r) =>
        r.Topics is [{ Partitions: [var p] }] && p.PartitionIndex == PartitionIndex ? p : null;

    public static BeginQuorumEpochResponse.PartitionData? Single(BeginQuorumEpochResponse r) =>
        r.Topics is [{ Partitions: [var p] }] ? p : null;

    // ---- EndQuorumEpoch ----

    /// <summary>Fills both PreferredSuccessors (v0) and PreferredCandidates (v1+); each is
    /// ignorable where absent, so the codec keeps the one its version has.</summary>
    public static EndQuorumEpochRequest EndQuorumEpochRequest(string clusterId, int leaderId, int epoch, IReadOnlyList<int> successors) => new()
    {
        ClusterId = clusterId,
        Topics =
        [
            new EndQuorumEpochRequest.TopicData
            {
                TopicName = TopicName,
                Partitions =
                [
                    new EndQuorumEpochRequest.PartitionData
                    {
                        PartitionIndex = PartitionIndex, LeaderId = leaderId, LeaderEpoch = epoch,
                        PreferredSuccessors = [.. successors],
                        PreferredCandidates = [.. successors.Select(id => new EndQuorumEpochRequest.ReplicaInfo { CandidateId = id })],
                    },
                ],
            },
        ],
    };

    public static IReadOnlyList<int> PreferredSuccessors(EndQuorumEpochRequest.PartitionData p) =>
        p.PreferredCandidates.Count > 0 ? [.. p.PreferredCandidates.Select(c => c.CandidateId)] : p.PreferredSuccessors;

    public static EndQuorumEpochResponse EndQuorumEpochResponse(ErrorCode partitionError, int epoch, int? leaderId) => new()
    {
        Topics =
        [
            new EndQuorumEpochResponse.TopicData
            {
                TopicName = TopicName,
                Partitions =
                [
                    new EndQuorumEpochResponse.PartitionData
                    {
                        PartitionIndex = PartitionIndex, ErrorCode = Code(partitionError), LeaderId = LeaderOrNone(leaderId), LeaderEpoch = epoch,
                    },
                ],
            },
        ],
    };

    public static EndQuorumEpochRequest.PartitionData? Single(EndQuorumEpochRequest r) =>
        r.Topics is [{ Partitions: [var p] }] && p.PartitionIndex == PartitionIndex ? p : null;

    public static EndQuorumEpochResponse.PartitionData? Single(EndQuorumEpochResponse r) =>
        r.Topics is [{ Partitions: [var p] }] ? p : null;

    // ---- Fetch ----

    /// <summary>A follower's or observer's fetch. The replica id travels in ReplicaState (v15+);
    /// the v0–14 ReplicaId field keeps its default so the message encodes at the highest version.</summary>
    public static FetchRequest FetchRequest(string clusterId, int replicaId, int epoch, OffsetAndEpoch logEnd, int maxWaitMs, int maxBytes,
        Uuid replicaDirectoryId = default) => new()
    {
        ClusterId = clusterId,
        ReplicaState = new FetchRequest.ReplicaStateData { ReplicaId = replicaId, ReplicaEpoch = -1 },
        MaxWaitMs = maxWaitMs,
        MinBytes = 0,
        MaxBytes = maxBytes,
        Topics =
        [
            new FetchRequest.FetchTopic
            {
                Topic = TopicName,
                TopicId = TopicId,
                Partitions =
                [
                    new FetchRequest.FetchPartition
                    {
                        Partition = PartitionIndex, CurrentLeaderEpoch = epoch, FetchOffset = logEnd.Offset,
                        LastFetchedEpoch = logEnd.Epoch, PartitionMaxBytes = maxBytes, ReplicaDirectoryId = replicaDirectoryId,
                    },
                ],
            },
        ],
    };

    public static int ReplicaId(FetchRequest r) => r.ReplicaState.ReplicaId >= 0 ? r.ReplicaState.ReplicaId : r.ReplicaId;

    public static FetchRequest.FetchPartition? Single(FetchRequest r) =>
        r.Topics is [{ Partitions: [var p] }] && p.Partition == PartitionIndex ? p : null;

    public static FetchResponse.PartitionData? Single(FetchResponse r) =>
        r.Responses is [{ Partitions: [var p] }] ? p : null;

    public static FetchResponse FetchError(ErrorCode topLevel) => new() { ErrorCode = Code(topLevel) };

    public static FetchResponse FetchResponse(ErrorCode partitionError, int epoch, int? leaderId, long highWatermark,
        long logStartOffset, ReadOnlyMemory<byte> records, OffsetAndEpoch? diverging = null, OffsetAndEpoch? snapshotId = null,
        RaftEndpoint? leaderEndpoint = null)
    {
        var partition = new FetchResponse.PartitionData
        {
            PartitionIndex = PartitionIndex,
            ErrorCode = Code(partitionError),
            HighWatermark = highWatermark,
            LogStartOffset = logStartOffset,
            CurrentLeader = new FetchResponse.LeaderIdAndEpoch { LeaderId = LeaderOrNone(leaderId), LeaderEpoch = epoch },
            Records = records,
        };
        if (diverging is { } d) partition.DivergingEpoch = new FetchResponse.EpochEndOffset { Epoch = d.Epoch, EndOffset = d.Offset };
        if (snapshotId is { } id) partition.SnapshotId = new FetchResponse.SnapshotId { EndOffset = id.Offset, Epoch = id.Epoch };
        var response = new FetchResponse
        {
            Responses = [new FetchResponse.FetchableTopicResponse { Topic = TopicName, TopicId = TopicId, Partitions = [partition] }],
        };
        if (leaderId is { } leader && leaderEndpoint is { } e)
            response.NodeEndpoints.Add(new FetchResponse.NodeEndpoint { NodeId = leader, Host = e.Host, Port = e.Port });
        return response;
    }

    /// <summary>The SnapshotId of a fetch answer (KIP-630), or null when it names none.</summary>
    public static OffsetAndEpoch? SnapshotId(FetchResponse.PartitionData p) =>
        p.SnapshotId is { EndOffset: >= 0, Epoch: >= 0 } id ? new OffsetAndEpoch(id.EndOffset, id.Epoch) : null;

    // ---- FetchSnapshot ----

    public static FetchSnapshotRequest FetchSnapshotRequest(string clusterId, int replicaId, int epoch, OffsetAndEpoch snapshotId, long position, int maxBytes) => new()
    {
        ClusterId = clusterId,
        ReplicaId = replicaId,
        MaxBytes = maxBytes,
        Topics =
        [
            new FetchSnapshotRequest.TopicSnapshot
            {
                Name = TopicName,
                Partitions =
                [
                    new FetchSnapshotRequest.PartitionSnapshot
                    {
                        Partition = PartitionIndex, CurrentLeaderEpoch = epoch, Position = position,
                        SnapshotId = new FetchSnapshotRequest.SnapshotId { EndOffset = snapshotId.Offset, Epoch = snapshotId.Epoch },
                    },
                ],
            },
        ],
    };

    public static FetchSnapshotRequest.PartitionSnapshot? Single(FetchSnapshotRequest r) =>
        r.Topics is [{ Name: TopicName, Partitions: [var p] }] && p.Partition == PartitionIndex ? p : null;

    public static FetchSnapshotResponse.PartitionSnapshot? Single(FetchSnapshotResponse r) =>
        r.Topics is [{ Partitions: [var p] }] ? p : null;

    public static FetchSnapshotResponse FetchSnapshotError(ErrorCode topLevel) => new() { ErrorCode = Code(topLevel) };

    public static FetchSnapshotResponse FetchSnapshotResponse(ErrorCode partitionError, int epoch, int? leaderId, OffsetAndEpoch snapshotId,
        long size, long position, ReadOnlyMemory<byte> bytes) => new()
    {
        Topics =
        [
            new FetchSnapshotResponse.TopicSnapshot
            {
                Name = TopicName,
                Partitions =
                [
                    new FetchSnapshotResponse.PartitionSnapshot
                    {
                        Index = PartitionIndex, ErrorCode = Code(partitionError),
                        SnapshotId = new FetchSnapshotResponse.SnapshotId { EndOffset = snapshotId.Offset, Epoch = snapshotId.Epoch },
                        CurrentLeader = new FetchSnapshotResponse.LeaderIdAndEpoch { LeaderId = LeaderOrNone(leaderId), LeaderEpoch = epoch },
                        Size = size, Position = position, UnalignedRecords = bytes,
                    },
                ],
            },
        ],
    };
}
