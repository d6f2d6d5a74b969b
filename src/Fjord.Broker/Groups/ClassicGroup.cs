namespace Fjord.Broker.Groups;

/// <summary>Kafka's classic group states (the names DescribeGroups and ListGroups report).</summary>
public enum ClassicGroupState
{
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

/// <summary>One member of a classic group. Guarded by the shard's lock.</summary>
public sealed class ClassicMember
{
    public required string MemberId { get; set; }
    public string? InstanceId { get; init; }
    public required string ClientId { get; set; }
    public required string ClientHost { get; set; }
    public int SessionTimeoutMs { get; set; }
    public int RebalanceTimeoutMs { get; set; }
    public required string ProtocolType { get; set; }

    /// <summary>The member's protocols in its order of preference (name, metadata).</summary>
    public List<(string Name, byte[] Metadata)> Protocols { get; set; } = [];

    public byte[] Assignment { get; set; } = [];

    /// <summary>Waiting JoinGroup (null when the member has not (re)joined this rebalance).</summary>
    internal TaskCompletionSource<JoinResult>? JoinWaiter { get; set; }

    internal TaskCompletionSource<SyncResult>? SyncWaiter { get; set; }

    internal TimerSlot Session { get; } = new();

    /// <summary>Joined in the current rebalance for the first time (Kafka's isNew).</summary>
    public bool IsNew { get; set; }

    public byte[] MetadataFor(string? protocol) =>
        protocol is null ? [] : Protocols.FirstOrDefault(p => p.Name == protocol).Metadata ?? [];

    public bool Matches(IReadOnlyList<(string Name, byte[] Metadata)> protocols) =>
        protocols.Count == Protocols.Count
        && protocols.Zip(Protocols).All(p => p.First.Name == p.Second.Name && p.First.Metadata.AsSpan().SequenceEqual(p.Second.Metadata));
}

/// <summary>Holds the current timer of something (replacing cancels the previous one).</summary>
internal sealed class TimerSlot
{
    private Coordinator.ITimerHandle? _handle;

    public void Set(Coordinator.ITimerHandle? handle)
    {
        _handle?.Cancel();
        _handle = handle;
    }

    public void Cancel() => Set(null);
}

/// <summary>
/// One classic group: members, generation, selected protocol, leader, committed offsets. Guarded by
/// the shard's lock; changed only by <see cref="GroupShard"/>.
/// </summary>
public sealed class ClassicGroup(string groupId, long nowMs)
{
    public string GroupId { get; } = groupId;
    public ClassicGroupState State { get; set; } = ClassicGroupState.Empty;
    public long CurrentStateTimestamp { get; set; } = nowMs;
    public string? ProtocolType { get; set; }
    public string? ProtocolName { get; set; }
    public int Generation { get; set; }
    public string? LeaderId { get; set; }
    public Dictionary<string, ClassicMember> Members { get; } = new(StringComparer.Ordinal);

    /// <summary>group.instance.id → member id of static members.</summary>
    public Dictionary<string, string> StaticMembers { get; } = new(StringComparer.Ordinal);

    /// <summary>Member ids handed out with MEMBER_ID_REQUIRED, awaiting their second join, with their expiry timers.</summary>
    internal Dictionary<string, TimerSlot> PendingMembers { get; } = new(StringComparer.Ordinal);

    public Dictionary<(string Topic, int Partition), CommittedOffset> Offsets { get; } = [];

    /// <summary>A member was added since the (initial) delayed join started.</summary>
    internal bool NewMemberAdded { get; set; }

    internal TimerSlot JoinTimer { get; } = new();

    /// <summary>An initial delayed join (group.initial.rebalance.delay.ms) is running: the join does not complete early.</summary>
    internal bool InInitialDelay { get; set; }

    public bool Is(ClassicGroupState state) => State == state;

    public void TransitionTo(ClassicGroupState state, long nowMs)
    {
        State = state;
        CurrentStateTimestamp = nowMs;
    }

    public int MaxRebalanceTimeoutMs => Members.Count == 0 ? 0 : Members.Values.Max(m => m.RebalanceTimeoutMs);

    public bool AllMembersJoined => PendingMembers.Count == 0 && Members.Values.All(m => m.JoinWaiter is not null);

    /// <summary>The protocols every member supports, in the first member's order (empty when no member).</summary>
    public List<string> CandidateProtocols()
    {
        if (Members.Count == 0) return [];
        var first = Members.Values.First().Protocols.Select(p => p.Name).ToList();
        return [.. first.Where(name => Members.Values.All(m => m.Protocols.Any(p => p.Name == name)))];
    }

    /// <summary>Whether a joining member's protocols fit the group (Kafka's supportsProtocols).</summary>
    public bool SupportsProtocols(string protocolType, IReadOnlyList<(string Name, byte[] Metadata)> protocols)
    {
        if (Members.Count == 0) return protocolType.Length > 0 && protocols.Count > 0;
        if (ProtocolType != protocolType) return false;
        var candidates = CandidateProtocols();
        return protocols.Any(p => candidates.Contains(p.Name));
    }

    /// <summary>Kafka's vote: each member votes for its most preferred candidate; most votes wins (ties: candidate order).</summary>
    public string? SelectProtocol()
    {
        var candidates = CandidateProtocols();
        if (candidates.Count == 0) return null;
        var votes = candidates.ToDictionary(c => c, _ => 0);
        foreach (var m in Members.Values)
        {
            var choice = m.Protocols.Select(p => p.Name).FirstOrDefault(candidates.Contains);
            if (choice is not null) votes[choice]++;
        }
        return candidates.OrderByDescending(c => votes[c]).First();
    }

    /// <summary>Topics the members subscribe to, if the group runs the "consumer" protocol type and every subscription parses; else null (unknown).</summary>
    public HashSet<string>? SubscribedTopics()
    {
        if (ProtocolType != "consumer" || ProtocolName is null) return null;
        var topics = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in Members.Values)
        {
            var parsed = ConsumerProtocol.SubscribedTopics(m.MetadataFor(ProtocolName));
            if (parsed is null) return null;
            topics.UnionWith(parsed);
        }
        return topics;
    }

    public string StateName => State switch
    {
        ClassicGroupState.PreparingRebalance => "PreparingRebalance",
        ClassicGroupState.CompletingRebalance => "CompletingRebalance",
        ClassicGroupState.Stable => "Stable",
        ClassicGroupState.Dead => "Dead",
        _ => "Empty",
    };
}

/// <summary>The embedded "consumer" protocol's subscription: int16 version, then an array of topic names (int32 count, int16-length strings), …</summary>
public static class ConsumerProtocol
{
    /// <summary>The subscribed topics, or null when the bytes are not a subscription.</summary>
    public static List<string>? SubscribedTopics(ReadOnlySpan<byte> metadata)
    {
        if (metadata.Length < 6) return null;
        short version = (short)((metadata[0] << 8) | metadata[1]);
        if (version < 0) return null;
        int count = (metadata[2] << 24) | (metadata[3] << 16) | (metadata[4] << 8) | metadata[5];
        if (count < 0 || count > metadata.Length) return null;
        int at = 6;
        var topics = new List<string>(count);
        for (int i = 0; i < count; i++)
        {
            if (at + 2 > metadata.Length) return null;
            int length = (short)((metadata[at] << 8) | metadata[at + 1]);
            at += 2;
            if (length < 0 || at + length > metadata.Length) return null;
            topics.Add(System.Text.Encoding.UTF8.GetString(metadata.Slice(at, length)));
            at += length;
        }
        return topics;
    }
}
