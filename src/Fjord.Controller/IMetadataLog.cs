using Fjord.Raft;

namespace Fjord.Controller;

/// <summary>Who leads the metadata quorum in which epoch, as the local Raft node knows it.</summary>
public readonly record struct LeaderAndEpoch(int? LeaderId, int Epoch)
{
    public override string ToString() => $"leader {(LeaderId is { } id ? id.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")} in epoch {Epoch}";
}

/// <summary>What the controller hears from its <see cref="IMetadataLog"/>. Calls may come from
/// any thread; <see cref="QuorumController"/> moves them onto its event loop.</summary>
public interface IMetadataLogListener
{
    /// <summary>A committed batch or snapshot, in log order (each once).</summary>
    void OnCommitted(CommittedItem item);

    /// <summary>The leader or the epoch changed.</summary>
    void OnLeaderChange(LeaderAndEpoch leader);
}

/// <summary>
/// The controller's access to the replicated metadata log (Kafka's <c>RaftClient</c> as the
/// controller uses it): append on the leader, hear commits and leadership changes. Two
/// implementations: one over real <see cref="RaftNode"/>s in memory (the tests' harness) and one over
/// the TCP <c>RaftNetworkDriver</c> (Fjord.Server).
/// </summary>
public interface IMetadataLog
{
    /// <summary>The local node's id.</summary>
    int NodeId { get; }

    /// <summary>Registers the (single) listener; what is already committed is delivered from the log
    /// start after this call.</summary>
    void Register(IMetadataLogListener listener);

    /// <summary>
    /// Appends <paramref name="records"/> (framed metadata records) as one atomic batch when this
    /// node leads epoch <paramref name="epoch"/>; returns the offset of the last record, or null when
    /// it does not (the epoch moved on, or another node leads): nothing was appended then.
    /// </summary>
    long? Append(int epoch, IReadOnlyList<byte[]> records);
}
