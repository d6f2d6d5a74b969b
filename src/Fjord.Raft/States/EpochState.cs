using Fjord.Common;

namespace Fjord.Raft;

/// <summary>
/// The state of one role in one epoch. Instances are created only by <see cref="QuorumState"/>,
/// which swaps them on every transition; a role object never outlives its epoch and role. Roles
/// hold their own timers (absolute deadlines in the caller's milliseconds) and answer
/// <see cref="CanGrantVote"/>; the actions taken on them live in <see cref="RaftNode"/>.
/// </summary>
internal abstract class EpochState(int epoch)
{
    public int Epoch { get; } = epoch;
    public abstract RaftRole Role { get; }

    /// <summary>The leader of <see cref="Epoch"/> as far as this node knows.</summary>
    public virtual int? LeaderId => null;

    /// <summary>The candidate this node voted for in <see cref="Epoch"/> (itself when it ran).</summary>
    public virtual int? VotedId => null;

    /// <summary>What must be durable while this state holds.</summary>
    public ElectionState Election => new(Epoch, VotedId, Uuid.Zero, LeaderId);

    /// <summary>Whether a vote may be granted in this state to a candidate whose log is (or is not)
    /// at least as up to date as ours. For a real vote the request's epoch equals <see cref="Epoch"/>
    /// (a higher one moved us to Unattached first); a pre-vote never changes our state.</summary>
    public abstract bool CanGrantVote(int candidateId, bool isLogUpToDate, bool isPreVote, long now);

    public override string ToString() => $"{Role}(epoch {Epoch}, leader {LeaderId?.ToString() ?? "-"}, voted {VotedId?.ToString() ?? "-"})";
}
