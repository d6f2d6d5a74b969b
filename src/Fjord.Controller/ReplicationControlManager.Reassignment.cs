using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>
/// Partition reassignment (KIP-455, as KRaft's controller runs it): AlterPartitionReassignments
/// starts or cancels one, AlterPartition completes it, ListPartitionReassignments lists them.
/// </summary>
/// <remarks>
/// A reassignment lives in the partition itself: a partition is being reassigned exactly when its
/// AddingReplicas or RemovingReplicas is non-empty. With <c>O</c> the replicas before it started
/// (the replicas minus those being added) and <c>T</c> the target:
/// <list type="bullet">
/// <item>start: Replicas = T followed by the members of O not in T, AddingReplicas = T − O,
/// RemovingReplicas = O − T; ISR and leader stay (one PartitionChangeRecord). A new target for a
/// partition already being reassigned starts again from the same O (replicas the earlier target
/// was adding and the new one does not name leave the replicas and the ISR at once);</item>
/// <item>completion, in the same record, as soon as every adding replica is in the ISR and the ISR
/// without the removing replicas is not empty (at once when nothing is added, e.g. a shrink, or
/// later through the leader's AlterPartition): Replicas = T, the removing replicas leave the ISR,
/// Adding/Removing cleared, the leader re-elected (first usable ISR member in T's order) when it
/// was removed, and the leader epoch bumped whenever a replica is removed (it fences the removed
/// replicas, as Kafka does);</item>
/// <item>cancel (null replicas): Replicas = the replicas minus the adding ones (in the current
/// order, so T's order may survive, as in Kafka), ISR = ISR ∩ those; if that ISR would be empty
/// the cancel is refused (INVALID_REPLICA_ASSIGNMENT) unless unclean election is allowed for the
/// topic, which then takes the first usable original replica as a recovering leader.</item>
/// </list>
/// Each PartitionChangeRecord is self-contained, so a request touching many partitions need not be
/// one batch (<see cref="ControllerResult{T}.IsAtomic"/> is false).
/// </remarks>
public sealed partial class ReplicationControlManager
{
    public ControllerResult<AlterPartitionReassignmentsResponse> AlterPartitionReassignments(ControllerState state,
        AlterPartitionReassignmentsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        bool allowFactorChange = version < 1 || request.AllowReplicationFactorChange;
        var response = new AlterPartitionReassignmentsResponse
        {
            ErrorMessage = null,
            AllowReplicationFactorChange = allowFactorChange,
        };
        var records = new List<MetadataRecord>();
        var current = state;
        foreach (var topicData in request.Topics)
        {
            var topicResult = new AlterPartitionReassignmentsResponse.ReassignableTopicResponse { Name = topicData.Name };
            response.Responses.Add(topicResult);
            foreach (var data in topicData.Partitions)
            {
                var (code, message, change) = Reassign(current, topicData.Name, data.PartitionIndex, data.Replicas, allowFactorChange);
                topicResult.Partitions.Add(new AlterPartitionReassignmentsResponse.ReassignablePartitionResponse
                {
                    PartitionIndex = data.PartitionIndex,
                    ErrorCode = (short)code,
                    ErrorMessage = code == ErrorCode.None ? null : message,
                });
                if (change is null) continue;
                records.Add(new MetadataRecord(change, PartitionChangeRecordVersion(current)));
                current = current.Replay(change);
            }
        }
        return new ControllerResult<AlterPartitionReassignmentsResponse>(records, response) { IsAtomic = false };
    }

    private (ErrorCode, string, PartitionChangeRecord?) Reassign(ControllerState state, string topicName, int partitionId,
        IReadOnlyList<int>? target, bool allowFactorChange)
    {
        var topic = state.TopicByName(topicName);
        if (topic is null) return (ErrorCode.UnknownTopicOrPartition, $"Unable to find topic {topicName}.", null);
        if (!topic.Partitions.TryGetValue(partitionId, out var p))
            return (ErrorCode.UnknownTopicOrPartition, $"Unable to find partition {topicName}-{partitionId}.", null);
        if (target is null) return Cancel(state, topic, partitionId, p);

        if (target.Count == 0) return (ErrorCode.InvalidReplicaAssignment, $"The target replica set for {topicName}-{partitionId} is empty.", null);
        if (target.Distinct().Count() != target.Count)
            return (ErrorCode.InvalidReplicaAssignment, $"The target replica set for {topicName}-{partitionId} names a broker more than once.", null);
        foreach (int b in target)
            if (!state.Brokers.ContainsKey(b))
                return (ErrorCode.InvalidReplicaAssignment, $"The target replica set for {topicName}-{partitionId} includes broker {b}, but no such broker is registered.", null);
        var original = p.Replicas.Where(b => !p.AddingReplicas.Contains(b)).ToArray();
        if (!allowFactorChange && target.Count != original.Length)
            return (ErrorCode.InvalidReplicationFactor,
                $"The replication factor of {topicName}-{partitionId} would change from {original.Length} to {target.Count}, and the request does not allow it.", null);

        int[] removing = [.. original.Where(b => !target.Contains(b))];
        int[] adding = [.. target.Where(b => !original.Contains(b))];
        int[] replicas = [.. target, .. removing];
        int[] isr = [.. p.Isr.Where(replicas.Contains)]; // drops replicas an earlier target was adding
        bool complete = adding.All(isr.Contains) && isr.Any(b => !removing.Contains(b));
        if (complete)
        {
            replicas = [.. target];
            isr = [.. isr.Where(b => !removing.Contains(b))];
            adding = removing = [];
        }
        else if (isr.Length == 0)
            return (ErrorCode.InvalidReplicaAssignment, $"The new assignment of {topicName}-{partitionId} would leave its ISR empty.", null);
        var change = ReplicaChange(state, topic.Id, partitionId, p, replicas, isr, adding, removing, unclean: false);
        return (ErrorCode.None, "", change);
    }

    private (ErrorCode, string, PartitionChangeRecord?) Cancel(ControllerState state, TopicState topic, int partitionId, PartitionState p)
    {
        if (p.AddingReplicas.IsEmpty && p.RemovingReplicas.IsEmpty)
            return (ErrorCode.NoReassignmentInProgress, $"Partition {topic.Name}-{partitionId} is not being reassigned.", null);
        int[] original = [.. p.Replicas.Where(b => !p.AddingReplicas.Contains(b))];
        int[] isr = [.. p.Isr.Where(original.Contains)];
        bool unclean = false;
        if (isr.Length == 0)
        {
            // No original replica is in sync: only an unclean election can revert (the first usable
            // original replica leads, recovering, alone in the ISR).
            if (!UncleanAllowed(state, topic.Name) || !original.Any(b => IsUsable(state, b)))
                return (ErrorCode.InvalidReplicaAssignment,
                    $"Unable to revert the assignment of {topic.Name}-{partitionId}: no original replica is in the ISR and an unclean election is not allowed or not possible.", null);
            unclean = true;
        }
        var change = ReplicaChange(state, topic.Id, partitionId, p, original, isr, [], [], unclean);
        return (ErrorCode.None, "", change);
    }

    /// <summary>
    /// The record moving <paramref name="p"/> to the given replicas, ISR and adding/removing sets,
    /// with a leader elected as <see cref="BuildChange"/> does over the new replica order; the leader
    /// epoch is bumped when a replica leaves. Null when nothing changes.
    /// </summary>
    private static PartitionChangeRecord? ReplicaChange(ControllerState state, Uuid topicId, int partitionId, PartitionState p,
        int[] replicas, int[] isr, int[] adding, int[] removing, bool unclean)
    {
        var reordered = p with { Replicas = [.. replicas], Isr = [.. p.Isr.Where(replicas.Contains)] };
        if (reordered.Leader >= 0 && !replicas.Contains(reordered.Leader)) reordered = reordered with { Leader = -2 }; // "no valid leader": elect one
        var record = BuildChange(state, topicId, partitionId, reordered, isr, preferred: false, unclean)
            ?? new PartitionChangeRecord { TopicId = topicId, PartitionId = partitionId };
        // BuildChange compared with the ISR filtered to the new replicas: state the ISR whenever it differs from the real one.
        var newIsr = record.Isr ?? [.. reordered.Isr];
        record.Isr = newIsr.SequenceEqual(p.Isr) ? null : newIsr;
        int leader = record.Leader != -2 ? record.Leader : p.Leader;
        bool replicaLeaves = p.Replicas.Any(b => !replicas.Contains(b));
        record.Leader = leader != p.Leader || replicaLeaves ? leader : -2;
        bool changed = record.Isr is not null || record.Leader != -2 || record.LeaderRecoveryState != -1;
        if (!replicas.AsSpan().SequenceEqual(p.Replicas.AsSpan()))
        {
            record.Replicas = [.. replicas];
            if (PartitionChangeRecordVersion(state) >= 1)
                record.Directories = [.. replicas.Select(b => p.Replicas.IndexOf(b) is var i && i >= 0 && i < p.Directories.Length ? p.Directories[i] : DefaultDirectory(state, b))];
            changed = true;
        }
        if (!adding.AsSpan().SequenceEqual(p.AddingReplicas.AsSpan()))
        {
            record.AddingReplicas = [.. adding];
            changed = true;
        }
        if (!removing.AsSpan().SequenceEqual(p.RemovingReplicas.AsSpan()))
        {
            record.RemovingReplicas = [.. removing];
            changed = true;
        }
        return changed ? record : null;
    }

    /// <summary>Folds the completion of <paramref name="p"/>'s reassignment into <paramref name="record"/>
    /// (an AlterPartition change to <paramref name="newIsr"/>) when every adding replica is in the new
    /// ISR and the ISR keeps a member outside the removing replicas.</summary>
    private static PartitionChangeRecord CompleteReassignmentIfReady(ControllerState state, PartitionState p,
        PartitionChangeRecord record, IReadOnlyList<int> newIsr)
    {
        if (p.AddingReplicas.IsEmpty && p.RemovingReplicas.IsEmpty) return record;
        if (!p.AddingReplicas.All(newIsr.Contains) || !newIsr.Any(b => !p.RemovingReplicas.Contains(b))) return record;
        int[] target = [.. p.Replicas.Where(b => !p.RemovingReplicas.Contains(b))];
        int[] isr = [.. newIsr.Where(b => !p.RemovingReplicas.Contains(b))];
        // The change is computed from the partition as AlterPartition leaves it (new ISR, recovery state).
        var after = p with
        {
            Isr = [.. newIsr],
            LeaderRecoveryState = record.LeaderRecoveryState == -1 ? p.LeaderRecoveryState : record.LeaderRecoveryState,
        };
        var completion = ReplicaChange(state, record.TopicId, record.PartitionId, after, target, isr, [], [], unclean: false)!;
        var isrNow = completion.Isr ?? [.. after.Isr];
        completion.Isr = isrNow.SequenceEqual(p.Isr) ? null : isrNow;
        if (record.LeaderRecoveryState != -1) completion.LeaderRecoveryState = record.LeaderRecoveryState;
        return completion;
    }

    /// <summary>ListPartitionReassignments over <paramref name="state"/>: every partition being
    /// reassigned (null topics), or those of the partitions asked for (unknown ones are skipped),
    /// with its replicas and adding/removing sets; topics without one are left out.</summary>
    public static ListPartitionReassignmentsResponse ListPartitionReassignments(ControllerState state, ListPartitionReassignmentsRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var response = new ListPartitionReassignmentsResponse { ErrorMessage = null };
        IEnumerable<(TopicState Topic, IEnumerable<int> Partitions)> wanted = request.Topics is null
            ? state.TopicIds.Values.Select(id => state.Topics[id]).Select(t => (t, (IEnumerable<int>)t.Partitions.Keys))
            : request.Topics
                .Select(t => (Topic: state.TopicByName(t.Name), t.PartitionIndexes))
                .Where(x => x.Topic is not null)
                .Select(x => (x.Topic!, (IEnumerable<int>)x.PartitionIndexes.Distinct().Order()));
        var seen = new HashSet<Uuid>();
        foreach (var (topic, partitions) in wanted)
        {
            if (!seen.Add(topic.Id)) continue;
            var ongoing = new ListPartitionReassignmentsResponse.OngoingTopicReassignment { Name = topic.Name };
            foreach (int pid in partitions)
            {
                if (!topic.Partitions.TryGetValue(pid, out var p) || (p.AddingReplicas.IsEmpty && p.RemovingReplicas.IsEmpty)) continue;
                ongoing.Partitions.Add(new ListPartitionReassignmentsResponse.OngoingPartitionReassignment
                {
                    PartitionIndex = pid,
                    Replicas = [.. p.Replicas],
                    AddingReplicas = [.. p.AddingReplicas],
                    RemovingReplicas = [.. p.RemovingReplicas],
                });
            }
            if (ongoing.Partitions.Count > 0) response.Topics.Add(ongoing);
        }
        return response;
    }

    /// <summary>Whether <paramref name="p"/> is being reassigned.</summary>
    public static bool IsReassigning(PartitionState p)
    {
        ArgumentNullException.ThrowIfNull(p);
        return !p.AddingReplicas.IsEmpty || !p.RemovingReplicas.IsEmpty;
    }
}
