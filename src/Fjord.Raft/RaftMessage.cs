using Fjord.Protocol;

namespace Fjord.Raft;

/// <summary>
/// A request or response between two nodes, carrying one of Kafka's KRaft messages (VoteRequest,
/// FetchResponse, …) as the generated class. The transport encodes it on the wire; the simulation
/// delivers the object (optionally round-tripped through the codec).
/// </summary>
public sealed record RaftMessage(int Source, int Destination, int CorrelationId, bool IsRequest, IKafkaMessage Body)
{
    public short ApiKey => Body.MessageApiKey;
    public override string ToString() => $"{(IsRequest ? "→" : "←")} {Body.GetType().Name} {Source}→{Destination} #{CorrelationId}";
}

/// <summary>A batch the quorum has committed, handed to the state machine in offset order.</summary>
public sealed record CommittedBatch(long BaseOffset, long LastOffset, int Epoch, long AppendTimestampMs, bool IsControl, ReadOnlyMemory<byte> Bytes);

public enum RaftRole { Unattached, Prospective, Candidate, Leader, Follower, Resigned }

/// <summary>Kafka's quorum settings (names and defaults of controller.quorum.*).</summary>
public sealed record RaftConfig
{
    public int ElectionTimeoutMs { get; init; } = 1000;
    public int FetchTimeoutMs { get; init; } = 2000;
    public int ElectionBackoffMaxMs { get; init; } = 1000;
    public int RequestTimeoutMs { get; init; } = 2000;
    public int AppendLingerMs { get; init; } = 25;
    public int FetchMaxWaitMs { get; init; } = 500;
    public int FetchMaxBytes { get; init; } = 8 * 1024 * 1024;
}
