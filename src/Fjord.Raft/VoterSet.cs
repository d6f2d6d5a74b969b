using System.Globalization;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Raft;

/// <summary>
/// A replica as KIP-853 names it: node id and the id of the log directory that holds its copy of
/// the metadata log. A zero directory id means "unknown" (static quorums, old request versions)
/// and matches any directory id of the same node.
/// </summary>
public readonly record struct ReplicaKey(int Id, Uuid DirectoryId)
{
    public static ReplicaKey Of(int id) => new(id, Uuid.Zero);

    /// <summary>Same node id, and the same directory id where both are known.</summary>
    public bool Matches(ReplicaKey other) =>
        Id == other.Id && (DirectoryId.IsZero || other.DirectoryId.IsZero || DirectoryId == other.DirectoryId);

    public override string ToString() => DirectoryId.IsZero ? Id.ToString(CultureInfo.InvariantCulture) : $"{Id.ToString(CultureInfo.InvariantCulture)}:{DirectoryId}";
}

/// <summary>One listener a voter serves: listener name, host, port.</summary>
public sealed record RaftEndpoint(string Name, string Host, int Port)
{
    public override string ToString() => $"{Name}://{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>A member of the voter set: its key, its endpoints and the kraft.version range it supports.</summary>
public sealed record VoterInfo(ReplicaKey Key, IReadOnlyList<RaftEndpoint> Endpoints, short MinKRaftVersion = 0, short MaxKRaftVersion = 1)
{
    public int Id => Key.Id;

    /// <summary>Value equality (the record's own compares the endpoint lists by reference).</summary>
    public bool SameAs(VoterInfo other) =>
        Key == other.Key && MinKRaftVersion == other.MinKRaftVersion && MaxKRaftVersion == other.MaxKRaftVersion && Endpoints.SequenceEqual(other.Endpoints);

    public override string ToString() => $"{Key} [{string.Join(", ", Endpoints)}]";
}

/// <summary>
/// The voters of the quorum (KIP-853), by node id. Immutable: changes make new sets. In a static
/// quorum (kraft.version 0) the set comes from <c>controller.quorum.voters</c>; in a dynamic one
/// (kraft.version 1) from the latest KRAFT_VOTERS control record of the log (or of the snapshot the
/// log starts after).
/// </summary>
public sealed class VoterSet
{
    private readonly SortedDictionary<int, VoterInfo> _voters;

    private VoterSet(SortedDictionary<int, VoterInfo> voters)
    {
        _voters = voters;
        Ids = new SortedSet<int>(voters.Keys);
    }

    public static VoterSet Empty { get; } = new([]);

    /// <summary>A static quorum: ids only (directory ids unknown, no endpoints known to the core).</summary>
    public static VoterSet Static(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return Of(ids.Distinct().Select(id => new VoterInfo(ReplicaKey.Of(id), [])));
    }

    public static VoterSet Of(IEnumerable<VoterInfo> voters)
    {
        ArgumentNullException.ThrowIfNull(voters);
        var map = new SortedDictionary<int, VoterInfo>();
        foreach (var v in voters)
            if (!map.TryAdd(v.Id, v)) throw new ArgumentException($"voter {v.Id} appears more than once", nameof(voters));
        return new VoterSet(map);
    }

    public IReadOnlySet<int> Ids { get; }
    public int Count => _voters.Count;
    public bool IsEmpty => _voters.Count == 0;
    public IEnumerable<VoterInfo> Voters => _voters.Values;

    public VoterInfo? Find(int id) => _voters.GetValueOrDefault(id);
    public bool Contains(int id) => _voters.ContainsKey(id);

    /// <summary>Whether <paramref name="key"/> is a voter: its id is in the set and the directory ids match where known.</summary>
    public bool IsVoter(ReplicaKey key) => _voters.TryGetValue(key.Id, out var v) && v.Key.Matches(key);

    /// <summary>The set with <paramref name="voter"/> added; null when its id is already a voter.</summary>
    public VoterSet? Add(VoterInfo voter)
    {
        ArgumentNullException.ThrowIfNull(voter);
        if (_voters.ContainsKey(voter.Id)) return null;
        var map = new SortedDictionary<int, VoterInfo>(_voters) { [voter.Id] = voter };
        return new VoterSet(map);
    }

    /// <summary>The set without <paramref name="key"/>; null when it is not a voter or is the only one.</summary>
    public VoterSet? Remove(ReplicaKey key)
    {
        if (!IsVoter(key) || _voters.Count == 1) return null;
        var map = new SortedDictionary<int, VoterInfo>(_voters);
        map.Remove(key.Id);
        return new VoterSet(map);
    }

    /// <summary>The set with the voter of the same key replaced by <paramref name="voter"/>; null when it is not a voter.</summary>
    public VoterSet? Update(VoterInfo voter)
    {
        ArgumentNullException.ThrowIfNull(voter);
        if (!IsVoter(voter.Key)) return null;
        var map = new SortedDictionary<int, VoterInfo>(_voters) { [voter.Id] = voter };
        return new VoterSet(map);
    }

    /// <summary>Value equality of the whole set.</summary>
    public bool SameAs(VoterSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Count == other.Count && _voters.All(kv => other._voters.TryGetValue(kv.Key, out var o) && kv.Value.SameAs(o));
    }

    public VotersRecord ToRecord() => new()
    {
        Version = 0,
        Voters = [.. _voters.Values.Select(v => new VotersRecord.Voter
        {
            VoterId = v.Id,
            VoterDirectoryId = v.Key.DirectoryId,
            Endpoints = [.. v.Endpoints.Select(e => new VotersRecord.Endpoint { Name = e.Name, Host = e.Host, Port = (ushort)e.Port })],
            KRaftVersionFeature = new VotersRecord.KRaftVersionFeature { MinSupportedVersion = v.MinKRaftVersion, MaxSupportedVersion = v.MaxKRaftVersion },
        })],
    };

    public static VoterSet FromRecord(VotersRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return Of(record.Voters.Select(v => new VoterInfo(new ReplicaKey(v.VoterId, v.VoterDirectoryId),
            [.. v.Endpoints.Select(e => new RaftEndpoint(e.Name, e.Host, e.Port))],
            v.KRaftVersionFeature.MinSupportedVersion, v.KRaftVersionFeature.MaxSupportedVersion)));
    }

    public override string ToString() => $"[{string.Join(", ", _voters.Values.Select(v => v.Key))}]";
}

/// <summary>
/// The voter sets the log has held, by the offset of the KRAFT_VOTERS record that set each (the
/// first entry: the set the log starts with — configuration, or the snapshot's). A set takes effect
/// when its record is appended, so the latest entry is the set in force; truncating the log drops
/// the entries at or past the new end, reverting to the set before. Entries at or below the high
/// watermark are trimmed except the last of them.
/// </summary>
internal sealed class VoterSetHistory
{
    private readonly List<Entry> _entries = [];

    public readonly record struct Entry(long Offset, VoterSet Voters, short KRaftVersion);

    public VoterSetHistory(VoterSet initial, short kraftVersion) => _entries.Add(new Entry(-1, initial, kraftVersion));

    public Entry Latest => _entries[^1];
    public VoterSet Voters => Latest.Voters;
    public short KRaftVersion => Latest.KRaftVersion;
    public int Count => _entries.Count;

    /// <summary>Offset of the record that set the current voters (-1: the log's starting set).</summary>
    public long LatestOffset => Latest.Offset;

    public void Add(long offset, VoterSet? voters, short? kraftVersion)
    {
        if (offset <= Latest.Offset) throw new InvalidOperationException($"voter set record at {offset} is not after {Latest.Offset}");
        _entries.Add(new Entry(offset, voters ?? Latest.Voters, kraftVersion ?? Latest.KRaftVersion));
    }

    /// <summary>Drops the sets recorded at or after <paramref name="endOffset"/> (the log was truncated there).
    /// True when the set in force changed.</summary>
    public bool TruncateTo(long endOffset)
    {
        int before = _entries.Count;
        while (_entries.Count > 1 && _entries[^1].Offset >= endOffset) _entries.RemoveAt(_entries.Count - 1);
        return _entries.Count != before;
    }

    /// <summary>Forgets the sets superseded before <paramref name="offset"/> (committed history nobody can revert to).</summary>
    public void TrimBelow(long offset)
    {
        int keep = 0;
        for (int i = 1; i < _entries.Count && _entries[i].Offset < offset; i++) keep = i;
        if (keep > 0) _entries.RemoveRange(0, keep);
    }

    /// <summary>The entry in force just before <paramref name="endOffset"/> (the last one recorded below it).</summary>
    public Entry InForceBefore(long endOffset)
    {
        var found = _entries[0];
        foreach (var e in _entries)
            if (e.Offset < endOffset) found = e;
        return found;
    }

    /// <summary>Restarts the history at one entry (a snapshot replaced the log).</summary>
    public void Reset(Entry entry)
    {
        _entries.Clear();
        _entries.Add(entry);
    }
}

/// <summary>Reading and writing the KRAFT_VERSION and KRAFT_VOTERS control records.</summary>
internal static class VoterRecords
{
    /// <summary>A voter-set change found in a control batch: the offset of the batch's last such record and what it sets.</summary>
    public readonly record struct Change(long Offset, VoterSet? Voters, short? KRaftVersion);

    /// <summary>The voter-set changes in <paramref name="batches"/> (whole batches; a truncated tail is ignored),
    /// one per control record of type KRAFT_VERSION or KRAFT_VOTERS, in offset order.</summary>
    public static List<Change> Scan(ReadOnlyMemory<byte> batches, long offsetBase = 0, int maxBatchBytes = 64 * 1024 * 1024)
    {
        var changes = new List<Change>();
        var reader = new RecordBatchReader(batches, allowTruncatedTail: true);
        while (reader.MoveNext())
        {
            var batch = reader.Current;
            if (!batch.IsControl) continue;
            using var records = batch.OpenRecords(maxBatchBytes);
            foreach (var record in records)
            {
                if (record.Key.Length < ControlRecordKey.Size) continue;
                var type = ControlRecordKey.Read(record.KeySpan).Type;
                long offset = offsetBase + record.Offset;
                if (type == ControlRecordType.KRaftVoters)
                    changes.Add(new Change(offset, VoterSet.FromRecord(KafkaMessages.Deserialize<VotersRecord>(record.Value, 0)), null));
                else if (type == ControlRecordType.KRaftVersion)
                    changes.Add(new Change(offset, null, KafkaMessages.Deserialize<KRaftVersionRecord>(record.Value, 0).KRaftVersion));
            }
        }
        return changes;
    }

    public static byte[] KRaftVersionValue(short level) => new KRaftVersionRecord { Version = 0, KRaftVersion = level }.Serialize(0);
    public static byte[] VotersValue(VoterSet voters) => voters.ToRecord().Serialize(0);

    /// <summary>A control batch holding one KRAFT_VOTERS record (what the leader appends for a membership change).</summary>
    public static byte[] VotersBatch(int epoch, VoterSet voters, long now)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { PartitionLeaderEpoch = epoch, IsControl = true });
        builder.Append(Math.Max(0, now), new ControlRecordKey(ControlRecordType.KRaftVoters).ToArray(), VotersValue(voters));
        return builder.ToArray();
    }
}
