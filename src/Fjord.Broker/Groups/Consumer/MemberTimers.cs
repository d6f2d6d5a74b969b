namespace Fjord.Broker.Groups.Consumer;

/// <summary>
/// Session and revocation deadlines per member (not persisted: after a load every member gets a
/// fresh session, as in Kafka). Times are the caller's monotonic milliseconds.
/// </summary>
internal sealed class MemberTimers
{
    private readonly Dictionary<(string Group, string Member), long> _session = [];
    private readonly Dictionary<(string Group, string Member), (long Deadline, int Epoch)> _revocation = [];

    public void SetSession(string group, string member, long deadline) => _session[(group, member)] = deadline;

    public void SetRevocation(string group, string member, long deadline, int epoch) => _revocation[(group, member)] = (deadline, epoch);

    public bool HasRevocation(string group, string member, int epoch) =>
        _revocation.TryGetValue((group, member), out var r) && r.Epoch == epoch;

    public void ClearRevocation(string group, string member) => _revocation.Remove((group, member));

    public long? SessionDeadline(string group, string member) => _session.TryGetValue((group, member), out var d) ? d : null;

    public long? RevocationDeadline(string group, string member) => _revocation.TryGetValue((group, member), out var d) ? d.Deadline : null;

    public void RemoveMember(string group, string member)
    {
        _session.Remove((group, member));
        _revocation.Remove((group, member));
    }

    public void RemoveGroup(string group)
    {
        foreach (var k in _session.Keys.Where(k => k.Group == group).ToList()) _session.Remove(k);
        foreach (var k in _revocation.Keys.Where(k => k.Group == group).ToList()) _revocation.Remove(k);
    }

    public void Clear()
    {
        _session.Clear();
        _revocation.Clear();
    }

    /// <summary>Members whose session or revocation deadline is at or before <paramref name="nowMs"/>,
    /// earliest first (ties by group then member id).</summary>
    public List<(string Group, string Member, bool Session)> Due(long nowMs)
    {
        var due = new List<(long At, string Group, string Member, bool Session)>();
        foreach (var ((g, m), d) in _session) if (d <= nowMs) due.Add((d, g, m, true));
        foreach (var ((g, m), r) in _revocation) if (r.Deadline <= nowMs) due.Add((r.Deadline, g, m, false));
        return due.OrderBy(d => d.At).ThenBy(d => d.Group, StringComparer.Ordinal).ThenBy(d => d.Member, StringComparer.Ordinal)
            .Select(d => (d.Group, d.Member, d.Session)).ToList();
    }

    public long? Next()
    {
        long? next = null;
        foreach (var d in _session.Values) if (next is null || d < next) next = d;
        foreach (var r in _revocation.Values) if (next is null || r.Deadline < next) next = r.Deadline;
        return next;
    }
}
