using Fjord.Common;

namespace Fjord.Raft;

/// <summary>
/// Who this node is in the quorum and where its voter set comes from (KIP-853).
/// </summary>
/// <remarks>
/// <para>Static quorum (kraft.version 0): <see cref="StaticVoters"/> is the set from
/// <c>controller.quorum.voters</c>, for good; KRAFT_VOTERS records in the log are ignored.</para>
/// <para>Dynamic quorum (kraft.version 1, <see cref="StaticVoters"/> null): the set is the latest
/// KRAFT_VOTERS record of the log, or of the snapshot the log starts after (for a fresh node, the
/// <c>storage format</c> bootstrap snapshot); it takes effect when appended. A node with no such
/// record (formatted with <c>--no-initial-controllers</c>) is an observer until the leader's log
/// reaches it with a set that includes it.</para>
/// </remarks>
public sealed record RaftMembership(int NodeId)
{
    /// <summary>The id of the log directory holding this node's metadata log (zero: unknown, static quorums).</summary>
    public Uuid DirectoryId { get; init; } = Uuid.Zero;

    /// <summary>The voters of a static quorum; null for a dynamic quorum.</summary>
    public VoterSet? StaticVoters { get; init; }

    /// <summary>This node's controller endpoints (the leader tells fetchers, a voter keeps its entry in the set current).</summary>
    public IReadOnlyList<RaftEndpoint> LocalEndpoints { get; init; } = [];

    /// <summary>The kraft.version range this node supports (written into the voter set by UpdateRaftVoter).</summary>
    public short MinKRaftVersion { get; init; }
    public short MaxKRaftVersion { get; init; } = 1;

    /// <summary>Destination ids (the driver's, negative) of <c>controller.quorum.bootstrap.servers</c>: while no
    /// leader is known, a node that is not a voter asks them in turn (Fetch) instead of the voters.</summary>
    public IReadOnlyList<int> BootstrapServers { get; init; } = [];

    public ReplicaKey Key => new(NodeId, DirectoryId);
    public bool IsDynamic => StaticVoters is null;
}

/// <summary>Bootstrapping a dynamic quorum without the server's <c>storage format</c>: tests, the simulation, embedded nodes.</summary>
public static class RaftBootstrap
{
    /// <summary>
    /// Writes the bootstrap snapshot <c>0-0</c> into an empty <paramref name="log"/>, as
    /// <c>storage format --standalone / --initial-controllers</c> does: a SNAPSHOT_HEADER control
    /// batch that also holds KRAFT_VERSION (1) and KRAFT_VOTERS (<paramref name="voters"/>), then the footer.
    /// </summary>
    public static void WriteBootstrapSnapshot(IRaftLog log, VoterSet voters, long timestampMs = 0)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(voters);
        if (log.EndOffset != 0 || log.LatestSnapshotId is not null) throw new InvalidOperationException("the log is not empty");
        using var writer = log.CreateSnapshot(new OffsetAndEpoch(0, 0));
        var header = RaftSnapshotFormat.Header(0, timestampMs, timestampMs,
            [(Fjord.Protocol.Records.ControlRecordType.KRaftVersion, VoterRecords.KRaftVersionValue(1)),
             (Fjord.Protocol.Records.ControlRecordType.KRaftVoters, VoterRecords.VotersValue(voters))]);
        writer.Append(header);
        writer.Append(RaftSnapshotFormat.Footer(3, 0, timestampMs));
        writer.Freeze();
    }
}
