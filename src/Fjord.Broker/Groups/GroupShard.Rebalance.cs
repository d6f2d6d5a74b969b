using Fjord.Broker.Coordinator;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Groups;

/// <summary>The rebalance half of a group shard: completing joins, timers, generations.</summary>
public sealed partial class GroupShard
{
    // ================================================================== rebalances

    private void MaybePrepareRebalance(ClassicGroup group, string reason)
    {
        if (group.State is ClassicGroupState.Stable or ClassicGroupState.CompletingRebalance or ClassicGroupState.Empty)
            PrepareRebalance(group, reason);
    }

    private void PrepareRebalance(ClassicGroup group, string reason)
    {
        if (group.Is(ClassicGroupState.CompletingRebalance)) ResetAndPropagateAssignmentError(group, ErrorCode.RebalanceInProgress);
        bool initial = group.Is(ClassicGroupState.Empty);
        group.TransitionTo(ClassicGroupState.PreparingRebalance, _nowMs());
        int rebalanceTimeout = group.MaxRebalanceTimeoutMs;
        _log($"group {group.GroupId}: preparing to rebalance (generation {group.Generation}): {reason}");
        if (initial && _config.GroupInitialRebalanceDelayMs > 0)
        {
            group.InInitialDelay = true;
            group.NewMemberAdded = false;
            int delay = Math.Min(_config.GroupInitialRebalanceDelayMs, rebalanceTimeout);
            ScheduleInitialDelay(group, delay, Math.Max(rebalanceTimeout - delay, 0));
        }
        else
        {
            group.InInitialDelay = false;
            group.JoinTimer.Set(_timer.Schedule(rebalanceTimeout, () => JoinDeadline(group)));
            TryCompleteJoin(group); // e.g. the last member left: nobody to wait for
        }
    }

    private void ScheduleInitialDelay(ClassicGroup group, int delay, int remaining)
    {
        TimerSlot slot = group.JoinTimer;
        ITimerHandle? handle = null;
        handle = _timer.Schedule(delay, () =>
        {
            lock (this)
            {
                if (!_active || !IsCurrent(group) || !group.Is(ClassicGroupState.PreparingRebalance) || !group.InInitialDelay) return;
                if (group.NewMemberAdded && remaining > 0)
                {
                    group.NewMemberAdded = false;
                    int next = Math.Min(_config.GroupInitialRebalanceDelayMs, remaining);
                    ScheduleInitialDelay(group, next, Math.Max(remaining - _config.GroupInitialRebalanceDelayMs, 0));
                    return;
                }
                group.InInitialDelay = false;
                CompleteJoin(group);
            }
        });
        slot.Set(handle);
    }

    private void JoinDeadline(ClassicGroup group)
    {
        lock (this)
        {
            if (!_active || !IsCurrent(group) || !group.Is(ClassicGroupState.PreparingRebalance) || group.InInitialDelay) return;
            CompleteJoin(group);
        }
    }

    private bool IsCurrent(ClassicGroup group) => _groups.GetValueOrDefault(group.GroupId) == group;

    private void TryCompleteJoin(ClassicGroup group)
    {
        if (group.Is(ClassicGroupState.PreparingRebalance) && !group.InInitialDelay && group.AllMembersJoined) CompleteJoin(group);
    }

    /// <summary>Kafka's onCompleteJoin: members that did not rejoin are removed, the next generation starts.</summary>
    private void CompleteJoin(ClassicGroup group)
    {
        group.JoinTimer.Cancel();
        foreach (var member in group.Members.Values.Where(m => m.JoinWaiter is null).ToList())
        {
            _log($"group {group.GroupId}: member {member.MemberId} removed: it did not rejoin in time");
            RemoveMember(group, member, ErrorCode.UnknownMemberId);
        }
        if (group.Is(ClassicGroupState.Dead)) return;
        group.Generation++;
        long now = _nowMs();
        if (group.Members.Count == 0)
        {
            group.ProtocolName = null;
            group.LeaderId = null;
            group.TransitionTo(ClassicGroupState.Empty, now);
            _log($"group {group.GroupId}: generation {group.Generation} with no members");
            var write = _append([GroupRecord(group, null)], null);
            _ = LogFailure(write, group.GroupId);
            return;
        }
        group.ProtocolName = group.SelectProtocol();
        if (group.LeaderId is null || !group.Members.ContainsKey(group.LeaderId)) group.LeaderId = group.Members.Values.First().MemberId;
        group.TransitionTo(ClassicGroupState.CompletingRebalance, now);
        _log($"group {group.GroupId}: generation {group.Generation} ({group.ProtocolName}) with {group.Members.Count} member(s), leader {group.LeaderId}");
        foreach (var member in group.Members.Values)
        {
            var waiter = member.JoinWaiter;
            member.JoinWaiter = null;
            member.IsNew = false;
            waiter?.TrySetResult(CurrentGeneration(group, member, includeMembers: member.MemberId == group.LeaderId));
            ScheduleSession(group, member, member.SessionTimeoutMs);
        }
    }

    private async Task LogFailure(Task<ErrorCode> write, string groupId)
    {
        var error = await write.ConfigureAwait(false);
        if (error != ErrorCode.None) _log($"group {groupId}: writing its metadata failed: {error}");
    }

    private static void ResetAndPropagateAssignmentError(ClassicGroup group, ErrorCode error)
    {
        foreach (var member in group.Members.Values)
        {
            member.Assignment = [];
            member.SyncWaiter?.TrySetResult(SyncResult.Failed(error));
            member.SyncWaiter = null;
        }
    }

    private void RemoveMember(ClassicGroup group, ClassicMember member, ErrorCode waiterError)
    {
        member.Session.Cancel();
        group.Members.Remove(member.MemberId);
        if (member.InstanceId is { } iid && group.StaticMembers.GetValueOrDefault(iid) == member.MemberId) group.StaticMembers.Remove(iid);
        member.JoinWaiter?.TrySetResult(JoinResult.Failed(waiterError, member.MemberId));
        member.SyncWaiter?.TrySetResult(SyncResult.Failed(waiterError));
        member.JoinWaiter = null;
        member.SyncWaiter = null;
    }

    /// <summary>After members left (leave, expiry): a new rebalance, or the current one may now complete.</summary>
    private void MembersLeft(ClassicGroup group, string reason)
    {
        switch (group.State)
        {
            case ClassicGroupState.Stable or ClassicGroupState.CompletingRebalance:
                PrepareRebalance(group, reason);
                break;
            case ClassicGroupState.PreparingRebalance:
                TryCompleteJoin(group);
                break;
        }
    }

    private void ScheduleSession(ClassicGroup group, ClassicMember member, int timeoutMs)
    {
        member.Session.Set(_timer.Schedule(timeoutMs, () => SessionExpired(group, member)));
    }

    private void SessionExpired(ClassicGroup group, ClassicMember member)
    {
        lock (this)
        {
            if (!_active || !IsCurrent(group) || group.Members.GetValueOrDefault(member.MemberId) != member) return;
            if (member.JoinWaiter is not null || member.SyncWaiter is not null)
            {
                // Kafka's shouldKeepAlive: a member waiting in a join or sync is bounded by the rebalance instead.
                ScheduleSession(group, member, member.SessionTimeoutMs);
                return;
            }
            _log($"group {group.GroupId}: member {member.MemberId} session expired");
            RemoveMember(group, member, ErrorCode.UnknownMemberId);
            MembersLeft(group, $"member {member.MemberId} session expired");
        }
    }
}
