using Fjord.Common;

namespace Fjord.Metadata;

/// <summary>
/// One partition's replication state, as PartitionRecord sets it and PartitionChangeRecord moves it.
/// Immutable and compact (the image must hold a million of these at well under 1 KiB each): plain
/// arrays, no per-partition collections, empty arrays shared. The arrays are never written after
/// construction; callers must not modify what they read.
/// </summary>
public sealed class PartitionRegistration
{
    /// <summary>Leader value meaning "no leader".</summary>
    public const int NoLeader = -1;

    internal static readonly int[] NoReplicas = [];
    internal static readonly Uuid[] NoDirectories = [];

    private readonly int[] _replicas;
    private readonly int[] _isr;
    private readonly int[] _removingReplicas;
    private readonly int[] _addingReplicas;
    private readonly int[]? _elr;
    private readonly int[]? _lastKnownElr;
    private readonly Uuid[] _directories;

    public PartitionRegistration(
        int[] replicas, int[] isr, int[] removingReplicas, int[] addingReplicas,
        int leader, sbyte leaderRecoveryState, int leaderEpoch, int partitionEpoch,
        Uuid[] directories, int[]? eligibleLeaderReplicas, int[]? lastKnownElr)
    {
        _replicas = Compact(replicas);
        _isr = Compact(isr);
        _removingReplicas = Compact(removingReplicas);
        _addingReplicas = Compact(addingReplicas);
        _directories = directories.Length == 0 ? NoDirectories : directories;
        _elr = eligibleLeaderReplicas is null ? null : Compact(eligibleLeaderReplicas);
        _lastKnownElr = lastKnownElr is null ? null : Compact(lastKnownElr);
        Leader = leader;
        LeaderRecoveryState = leaderRecoveryState;
        LeaderEpoch = leaderEpoch;
        PartitionEpoch = partitionEpoch;
    }

    /// <summary>Replica broker ids, preferred leader first.</summary>
    public ReadOnlySpan<int> Replicas => _replicas;
    public ReadOnlySpan<int> Isr => _isr;
    public ReadOnlySpan<int> RemovingReplicas => _removingReplicas;
    public ReadOnlySpan<int> AddingReplicas => _addingReplicas;

    /// <summary>The eligible leader replicas (KIP-966); null when the records never carried them.</summary>
    public int[]? EligibleLeaderReplicasOrNull => _elr;

    /// <summary>The last known ELR (KIP-966); null when the records never carried it.</summary>
    public int[]? LastKnownElrOrNull => _lastKnownElr;

    /// <summary>The log directory of each replica, in replica order; empty when the records never carried them.</summary>
    public ReadOnlySpan<Uuid> Directories => _directories;

    /// <summary>Leader broker id, or <see cref="NoLeader"/>.</summary>
    public int Leader { get; }

    /// <summary>0 recovered, 1 recovering (after an unclean election).</summary>
    public sbyte LeaderRecoveryState { get; }
    public int LeaderEpoch { get; }
    public int PartitionEpoch { get; }

    public bool HasLeader => Leader >= 0;

    internal int[] ReplicasArray => _replicas;
    internal int[] IsrArray => _isr;
    internal int[] RemovingArray => _removingReplicas;
    internal int[] AddingArray => _addingReplicas;
    internal Uuid[] DirectoriesArray => _directories;

    /// <summary>The directory of <paramref name="brokerId"/>'s replica, or null when it is not a replica or directories are unknown.</summary>
    public Uuid? DirectoryOf(int brokerId)
    {
        int i = Array.IndexOf(_replicas, brokerId);
        return i >= 0 && i < _directories.Length ? _directories[i] : null;
    }

    public override string ToString() =>
        $"replicas=[{string.Join(",", _replicas)}] isr=[{string.Join(",", _isr)}] leader={Leader} leaderEpoch={LeaderEpoch} partitionEpoch={PartitionEpoch}";

    internal static int[] Compact(int[] values) => values.Length == 0 ? NoReplicas : values;
}
