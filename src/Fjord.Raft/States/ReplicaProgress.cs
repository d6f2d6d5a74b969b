namespace Fjord.Raft;

/// <summary>
/// What the leader knows of one replica (itself included): its log end offset as of its last
/// fetch, when it last fetched, and when it was last caught up with the leader's log end
/// (Kafka's rule: a fetch at or past the leader's end offset now, or past the leader's end offset
/// as of the previous fetch, which makes it caught up as of that previous fetch).
/// </summary>
internal sealed class ReplicaProgress(ReplicaKey key)
{
    private long _leaderEndAtLastFetch = -1;

    /// <summary>The replica's id and directory id (the latter zero when it did not say).</summary>
    public ReplicaKey Key { get; set; } = key;
    public int ReplicaId => Key.Id;

    /// <summary>-1 until known. For a voter this is its durable end offset (it flushes before fetching).</summary>
    public long EndOffset { get; private set; } = -1;
    public long LastFetchTimestamp { get; private set; } = -1;
    public long LastCaughtUpTimestamp { get; private set; } = -1;

    public void RecordFetch(long fetchOffset, long leaderEndOffset, long now)
    {
        if (fetchOffset >= leaderEndOffset)
            LastCaughtUpTimestamp = Math.Max(LastCaughtUpTimestamp, now);
        else if (_leaderEndAtLastFetch > 0 && fetchOffset >= _leaderEndAtLastFetch)
            LastCaughtUpTimestamp = Math.Max(LastCaughtUpTimestamp, LastFetchTimestamp);
        EndOffset = fetchOffset;
        LastFetchTimestamp = now;
        _leaderEndAtLastFetch = leaderEndOffset;
    }

    /// <summary>The leader's own entry: always caught up with itself.</summary>
    public void RecordLocal(long durableEndOffset, long now)
    {
        EndOffset = durableEndOffset;
        LastFetchTimestamp = now;
        LastCaughtUpTimestamp = now;
    }
}
