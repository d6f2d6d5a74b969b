using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.FetchSessions;

/// <summary>
/// The outcome of <see cref="FetchSessionCache.NewContext"/> for one Fetch request: what to read
/// (<see cref="Partitions"/>, in the order to read them) and how to turn the results into the
/// response (<see cref="BuildResponse(IReadOnlyDictionary{FetchPartitionKey, FetchResponse.PartitionData}, long, int)"/>).
/// Use once: exactly one of the Build methods, exactly once.
/// </summary>
public sealed class FetchContext
{
    /// <summary>SessionEpoch 0: start a new session with a full fetch.</summary>
    public const int InitialEpoch = 0;

    /// <summary>SessionEpoch -1: a sessionless full fetch (closing the given session, if any).</summary>
    public const int FinalEpoch = -1;

    private readonly IReadOnlyList<SessionPartitionKey> _keys;
    private readonly FetchSessionCache? _cache;
    private readonly FetchSession? _session;
    private readonly bool _privileged;
    private readonly int _expectedEpoch;
    private int _built;

    internal FetchContext(FetchContextKind kind, ErrorCode error, short version, bool usesTopicIds,
        IReadOnlyList<FetchPartitionParams> partitions, IReadOnlyList<SessionPartitionKey> keys,
        FetchSessionCache? cache, FetchSession? session, bool privileged, int expectedEpoch)
    {
        Kind = kind;
        Error = error;
        Version = version;
        UsesTopicIds = usesTopicIds;
        Partitions = partitions;
        _keys = keys;
        _cache = cache;
        _session = session;
        _privileged = privileged;
        _expectedEpoch = expectedEpoch;
    }

    internal static FetchContext ForError(ErrorCode error, short version) =>
        new(FetchContextKind.SessionError, error, version, version >= 13, [], [], null, null, false, 0);

    public FetchContextKind Kind { get; }

    /// <summary>The error for the whole request (<see cref="FetchContextKind.SessionError"/> only):
    /// FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH or FETCH_SESSION_TOPIC_ID_ERROR. None otherwise.</summary>
    public ErrorCode Error { get; }

    /// <summary>The request version the context was made for.</summary>
    public short Version { get; }

    /// <summary>True for v13+ requests (topics identified by id).</summary>
    public bool UsesTopicIds { get; }

    /// <summary>
    /// Every partition to read, in order. Full fetches: the request's partitions in request order
    /// (duplicates collapsed). Incremental: every partition of the session, in session order
    /// (partitions that returned records last time move to the end). Empty for an error.
    /// Partitions with <see cref="FetchPartitionParams.UnknownTopicId"/> must not be read.
    /// </summary>
    public IReadOnlyList<FetchPartitionParams> Partitions { get; }

    /// <summary>The session id for an incremental fetch; 0 otherwise (a full fetch with epoch 0
    /// learns its new id only when the response is built).</summary>
    public int SessionId => _session?.Id ?? 0;

    /// <summary>
    /// Builds the response from one result per partition of <see cref="Partitions"/>, keyed by
    /// <see cref="FetchPartitionParams.Key"/>. A missing result is answered UNKNOWN_TOPIC_ID for a
    /// partition with an unknown topic id, UNKNOWN_SERVER_ERROR otherwise. The PartitionData objects
    /// are used as they are (PartitionIndex is set); topics are grouped in first-appearance order and
    /// carry both name and id (the encoder writes what the version has).
    /// <list type="bullet">
    /// <item>Sessionless: every partition, SessionId 0.</item>
    /// <item>FullNewSession: every partition; creates the session (its cached high watermark etc. are
    /// the results') and sets SessionId to it, or 0 when the cache has no room.</item>
    /// <item>Incremental: only partitions with records, an error, a changed high watermark, last stable
    /// offset or log start offset, a preferred read replica, a diverging epoch or a snapshot id; the
    /// session remembers what was sent. If another request advanced the session meanwhile, the answer is
    /// the top-level error INVALID_FETCH_SESSION_EPOCH.</item>
    /// <item>SessionError: the top-level error, no partitions, SessionId 0.</item>
    /// </list>
    /// </summary>
    /// <param name="nowMs">The same monotonic clock as <see cref="FetchSessionCache.NewContext"/> (stamps a new session).</param>
    /// <param name="throttleTimeMs">Copied to ThrottleTimeMs.</param>
    public FetchResponse BuildResponse(IReadOnlyDictionary<FetchPartitionKey, FetchResponse.PartitionData> results, long nowMs, int throttleTimeMs = 0)
    {
        ArgumentNullException.ThrowIfNull(results);
        var aligned = new FetchResponse.PartitionData[Partitions.Count];
        for (int i = 0; i < aligned.Length; i++)
        {
            var p = Partitions[i];
            aligned[i] = results.TryGetValue(p.Key, out var r) && r is not null
                ? r
                : ErrorPartition(p.Partition, p.UnknownTopicId ? ErrorCode.UnknownTopicId : ErrorCode.UnknownServerError);
        }
        return Build(aligned, nowMs, throttleTimeMs);
    }

    /// <summary>
    /// As the dictionary overload, with <paramref name="resultsInOrder"/>[i] the result of
    /// <see cref="Partitions"/>[i] (same count required; a null entry counts as missing).
    /// </summary>
    public FetchResponse BuildResponse(IReadOnlyList<FetchResponse.PartitionData?> resultsInOrder, long nowMs, int throttleTimeMs = 0)
    {
        ArgumentNullException.ThrowIfNull(resultsInOrder);
        if (resultsInOrder.Count != Partitions.Count)
            throw new ArgumentException($"expected {Partitions.Count} results, got {resultsInOrder.Count}", nameof(resultsInOrder));
        var aligned = new FetchResponse.PartitionData[Partitions.Count];
        for (int i = 0; i < aligned.Length; i++)
        {
            var p = Partitions[i];
            aligned[i] = resultsInOrder[i] ?? ErrorPartition(p.Partition, p.UnknownTopicId ? ErrorCode.UnknownTopicId : ErrorCode.UnknownServerError);
        }
        return Build(aligned, nowMs, throttleTimeMs);
    }

    /// <summary>
    /// The answer when the request is throttled (quota) and nothing was read: no partitions, the
    /// session untouched apart from the epoch already advanced by NewContext (Kafka does the same);
    /// SessionId is the session's for an incremental fetch, 0 otherwise (no session is created).
    /// </summary>
    public FetchResponse BuildThrottledResponse(int throttleTimeMs)
    {
        MarkBuilt();
        if (Kind == FetchContextKind.SessionError) return ErrorResponse(Error, 0, throttleTimeMs);
        if (Kind == FetchContextKind.Incremental)
        {
            var session = _session!;
            lock (session)
            {
                if (session.NextEpoch != _expectedEpoch) return ErrorResponse(ErrorCode.InvalidFetchSessionEpoch, session.Id, throttleTimeMs);
                return new FetchResponse { ThrottleTimeMs = throttleTimeMs, SessionId = session.Id };
            }
        }
        return new FetchResponse { ThrottleTimeMs = throttleTimeMs, SessionId = 0 };
    }

    /// <summary>A partition answer carrying only an error (high watermark, LSO and log start -1, empty records), as Kafka sends.</summary>
    public static FetchResponse.PartitionData ErrorPartition(int partition, ErrorCode error) => new()
    {
        PartitionIndex = partition,
        ErrorCode = (short)error,
        HighWatermark = -1,
        LastStableOffset = -1,
        LogStartOffset = -1,
        Records = ReadOnlyMemory<byte>.Empty,
    };

    private FetchResponse Build(FetchResponse.PartitionData[] results, long nowMs, int throttleTimeMs)
    {
        MarkBuilt();
        switch (Kind)
        {
            case FetchContextKind.SessionError:
                return ErrorResponse(Error, 0, throttleTimeMs);

            case FetchContextKind.Sessionless:
                return Assemble(results, null, 0, throttleTimeMs);

            case FetchContextKind.FullNewSession:
            {
                int id = _cache!.MaybeCreateSession(nowMs, _privileged, UsesTopicIds, session =>
                {
                    for (int i = 0; i < Partitions.Count; i++)
                    {
                        var cp = session.Add(_keys[i]);
                        cp.SetRequestParams(Partitions[i]);
                        var r = results[i];
                        cp.HighWatermark = r.ErrorCode != (short)ErrorCode.None ? -1 : r.HighWatermark;
                        cp.LastStableOffset = r.LastStableOffset;
                        cp.LocalLogStartOffset = r.LogStartOffset;
                    }
                }, Partitions.Count);
                return Assemble(results, null, id, throttleTimeMs);
            }

            case FetchContextKind.Incremental:
            {
                var session = _session!;
                lock (session)
                {
                    if (session.NextEpoch != _expectedEpoch)
                        return ErrorResponse(ErrorCode.InvalidFetchSessionEpoch, session.Id, throttleTimeMs);
                    var include = new bool[results.Length];
                    for (int i = 0; i < results.Length; i++)
                    {
                        var cp = session.Find(_keys[i]);
                        if (cp is null) { include[i] = true; continue; }
                        include[i] = cp.MaybeUpdateResponseData(results[i]);
                        if (results[i].Records is { Length: > 0 }) session.MoveToEnd(_keys[i]);
                    }
                    return Assemble(results, include, session.Id, throttleTimeMs);
                }
            }

            default:
                throw new InvalidOperationException($"unknown fetch context kind {Kind}");
        }
    }

    private FetchResponse Assemble(FetchResponse.PartitionData[] results, bool[]? include, int sessionId, int throttleTimeMs)
    {
        var response = new FetchResponse { ThrottleTimeMs = throttleTimeMs, SessionId = sessionId };
        var topics = new Dictionary<(Uuid, string?), FetchResponse.FetchableTopicResponse>();
        for (int i = 0; i < results.Length; i++)
        {
            if (include is not null && !include[i]) continue;
            var p = Partitions[i];
            if (!topics.TryGetValue((p.TopicId, p.Topic), out var topic))
            {
                topic = new FetchResponse.FetchableTopicResponse { Topic = p.Topic ?? "", TopicId = p.TopicId };
                topics.Add((p.TopicId, p.Topic), topic);
                response.Responses.Add(topic);
            }
            results[i].PartitionIndex = p.Partition;
            topic.Partitions.Add(results[i]);
        }
        return response;
    }

    private static FetchResponse ErrorResponse(ErrorCode error, int sessionId, int throttleTimeMs) =>
        new() { ErrorCode = (short)error, SessionId = sessionId, ThrottleTimeMs = throttleTimeMs };

    private void MarkBuilt()
    {
        if (Interlocked.Exchange(ref _built, 1) != 0)
            throw new InvalidOperationException("a FetchContext builds exactly one response");
    }
}
