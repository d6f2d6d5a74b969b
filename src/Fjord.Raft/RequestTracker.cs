namespace Fjord.Raft;

/// <summary>
/// The requests this node has outstanding: at most one per destination, each with the deadline
/// after which it counts as lost and may be sent again (RequestTimeoutMs), or — after an error
/// answer — a backoff before the next attempt. A response is accepted only when it answers the
/// outstanding request to its source (same correlation id and API); anything else is stale or
/// duplicated and ignored. <see cref="Clear"/> runs on every role change, so answers to requests
/// sent in an earlier role are never acted on.
/// </summary>
internal sealed class RequestTracker(int firstCorrelationId)
{
    /// <summary>Kafka's controller.quorum.retry.backoff.ms default: the pause after an error answer.</summary>
    public const int RetryBackoffMs = 20;

    private readonly SortedDictionary<int, Entry> _byDestination = [];
    private int _nextCorrelationId = firstCorrelationId;

    /// <summary>What was sent (or, with CorrelationId -1, a backoff in progress).</summary>
    public readonly record struct Entry(int CorrelationId, short ApiKey, long NotBefore, bool PreVote);

    public bool CanSend(int destination, long now) => !_byDestination.TryGetValue(destination, out var e) || now >= e.NotBefore;

    /// <summary>Forgets requests that timed out and backoffs that ended (their late answers are then ignored).</summary>
    public void Expire(long now)
    {
        foreach (var (destination, _) in _byDestination.Where(kv => now >= kv.Value.NotBefore).ToList())
            _byDestination.Remove(destination);
    }

    /// <summary>Nothing outstanding and no backoff running: a follower sends its next fetch only then.</summary>
    public bool IsIdle => _byDestination.Count == 0;

    /// <summary>Registers a request about to be sent and returns its correlation id.</summary>
    public int Register(int destination, short apiKey, long now, int timeoutMs, bool preVote = false)
    {
        int id = _nextCorrelationId;
        _nextCorrelationId = id == int.MaxValue ? 1 : id + 1;
        _byDestination[destination] = new Entry(id, apiKey, now + timeoutMs, preVote);
        return id;
    }

    /// <summary>Matches a response to the outstanding request to its source and forgets the request.</summary>
    public bool TryComplete(RaftMessage response, out Entry entry)
    {
        if (_byDestination.TryGetValue(response.Source, out entry) && entry.CorrelationId >= 0
            && entry.CorrelationId == response.CorrelationId && entry.ApiKey == response.ApiKey)
        {
            _byDestination.Remove(response.Source);
            return true;
        }
        return false;
    }

    /// <summary>After an error answer: wait a little before asking <paramref name="destination"/> again.</summary>
    public void BackOff(int destination, long now) => _byDestination[destination] = new Entry(-1, -1, now + RetryBackoffMs, false);

    /// <summary>The earliest time a request times out or a backoff ends (long.MaxValue when none).</summary>
    public long NextRetry => _byDestination.Count == 0 ? long.MaxValue : _byDestination.Values.Min(e => e.NotBefore);

    public void Clear() => _byDestination.Clear();
}
