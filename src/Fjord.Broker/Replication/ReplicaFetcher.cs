using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Broker.Replication;

/// <summary>
/// The follower side of replication for every partition this broker follows on one leader broker: a
/// loop that sends one Fetch (v12+, full — no fetch session) for the ready partitions, from each
/// log's end with the epoch of its last batch as LastFetchedEpoch, and applies the answer: appends
/// (<see cref="PartitionLog.AppendAsFollower"/>), the leader's HW and log start offset, truncation on
/// a diverging epoch, a restart of the log below the leader's log start. A partition whose leader or
/// epoch changed is left alone (every change is checked under the partition's lock against the epoch
/// the fetch was made in) until the replica manager moves it.
/// </summary>
/// <remarks>Errors back off for replica.fetch.backoff.ms: a failed request for all its partitions, a
/// partition error (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, …) for that partition. With nothing
/// ready the loop waits for a partition to be added or a backoff to end — no polling.</remarks>
internal sealed class ReplicaFetcher
{
    private readonly ReplicaManager _replicaManager;
    private readonly IReplicaFetchClient _client;
    private readonly ReplicaManagerOptions _options;
    private readonly IClock _clock;
    private readonly Action<string> _log;
    private readonly object _lock = new();
    private readonly Dictionary<TopicPartition, Entry> _partitions = [];
    private readonly AsyncSignal _wake = new();
    private readonly CancellationTokenSource _cts = new();
    private Task _loop = Task.CompletedTask;
    private int _stopping;
    private string? _lastRequestError;

    private sealed class Entry(Partition partition, int leaderEpoch)
    {
        public Partition Partition { get; } = partition;
        public int LeaderEpoch { get; } = leaderEpoch;
        public long DelayedUntilMs { get; set; } = long.MinValue;
        public ErrorCode LastError { get; set; }
    }

    public ReplicaFetcher(int leaderId, ReplicaManager replicaManager, IReplicaFetchClient client, ReplicaManagerOptions options, IClock clock, Action<string> log)
    {
        LeaderId = leaderId;
        _replicaManager = replicaManager;
        _client = client;
        _options = options;
        _clock = clock;
        _log = log;
    }

    public int LeaderId { get; }

    public bool IsEmpty
    {
        get { lock (_lock) return _partitions.Count == 0; }
    }

    public void Start() => _loop = Task.Run(RunAsync);

    public void Add(Partition partition, int leaderEpoch)
    {
        lock (_lock) _partitions[partition.TopicPartition] = new Entry(partition, leaderEpoch);
        _wake.Set();
    }

    public bool Remove(TopicPartition tp)
    {
        lock (_lock) return _partitions.Remove(tp);
    }

    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopping, 1) == 0) await _cts.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RunAsync()
    {
        var ct = _cts.Token;
        while (!ct.IsCancellationRequested)
        {
            _wake.Reset();
            long now = _clock.MonotonicMs;
            long nextDue = long.MaxValue;
            List<Entry> candidates = [];
            lock (_lock)
            {
                foreach (var entry in _partitions.Values)
                {
                    if (entry.DelayedUntilMs > now) nextDue = Math.Min(nextDue, entry.DelayedUntilMs);
                    else candidates.Add(entry);
                }
            }
            var (request, sent) = BuildRequest(candidates);
            if (sent.Count == 0)
            {
                try
                {
                    await _wake.WaitAsync(nextDue == long.MaxValue ? long.MaxValue : nextDue - now, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }
            FetchResponse response;
            try
            {
                response = await _client.FetchAsync(LeaderId, request, _options.ReplicaFetchVersion, ct).ConfigureAwait(false);
                if (response.ErrorCode != 0) throw new IOException($"the fetch failed: {(ErrorCode)response.ErrorCode}");
                _lastRequestError = null;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                if (_lastRequestError != e.Message) _log($"fetch from broker {LeaderId} failed ({e.Message}); backing off {_options.ReplicaFetchBackoffMs} ms");
                _lastRequestError = e.Message;
                long until = _clock.MonotonicMs + _options.ReplicaFetchBackoffMs;
                lock (_lock)
                    foreach (var entry in sent.Values) entry.Entry.DelayedUntilMs = until;
                continue;
            }
            Process(response, sent);
        }
    }

    private (FetchRequest Request, Dictionary<(Uuid, string, int), (Entry Entry, long FetchOffset)> Sent) BuildRequest(List<Entry> candidates)
    {
        short version = _options.ReplicaFetchVersion;
        var request = new FetchRequest
        {
            MaxWaitMs = _options.ReplicaFetchWaitMaxMs,
            MinBytes = _options.ReplicaFetchMinBytes,
            MaxBytes = _options.ReplicaFetchResponseMaxBytes,
            IsolationLevel = 0,
            SessionId = 0,
            SessionEpoch = -1,
        };
        if (version >= 15)
        {
            request.ReplicaId = -1;
            request.ReplicaState = new FetchRequest.ReplicaStateData { ReplicaId = _replicaManager.BrokerId, ReplicaEpoch = _replicaManager.BrokerEpochForFetch };
        }
        else request.ReplicaId = _replicaManager.BrokerId;
        var sent = new Dictionary<(Uuid, string, int), (Entry, long)>();
        var topics = new Dictionary<(Uuid, string), FetchRequest.FetchTopic>();
        foreach (var entry in candidates)
        {
            var p = entry.Partition;
            if (p.FollowerFetchPosition(LeaderId, entry.LeaderEpoch) is not { } position) continue;
            var topicKey = version >= 13 ? (p.TopicId, "") : (Uuid.Zero, p.TopicPartition.Topic);
            if (!topics.TryGetValue(topicKey, out var topic))
            {
                topic = version >= 13 ? new FetchRequest.FetchTopic { TopicId = p.TopicId } : new FetchRequest.FetchTopic { Topic = p.TopicPartition.Topic };
                topics[topicKey] = topic;
                request.Topics.Add(topic);
            }
            topic.Partitions.Add(new FetchRequest.FetchPartition
            {
                Partition = p.TopicPartition.Partition,
                CurrentLeaderEpoch = entry.LeaderEpoch,
                FetchOffset = position.FetchOffset,
                LastFetchedEpoch = position.LastFetchedEpoch,
                LogStartOffset = position.LogStartOffset,
                PartitionMaxBytes = _options.ReplicaFetchMaxBytes,
            });
            sent[(topicKey.Item1, topicKey.Item2, p.TopicPartition.Partition)] = (entry, position.FetchOffset);
        }
        return (request, sent);
    }

    private void Process(FetchResponse response, Dictionary<(Uuid, string, int), (Entry Entry, long FetchOffset)> sent)
    {
        short version = _options.ReplicaFetchVersion;
        foreach (var topic in response.Responses)
        {
            foreach (var data in topic.Partitions)
            {
                var key = version >= 13 ? (topic.TopicId, "", data.PartitionIndex) : (Uuid.Zero, topic.Topic, data.PartitionIndex);
                if (!sent.TryGetValue(key, out var slot)) continue;
                try
                {
                    ProcessPartition(slot.Entry, slot.FetchOffset, data);
                }
                catch (Exception e) when (e is StorageException or IOException or ObjectDisposedException or ProtocolDecodeException
                                              or OffsetOutOfRangeException or ArgumentException or InvalidOperationException)
                {
                    _log($"{slot.Entry.Partition.TopicPartition}: applying the fetch from broker {LeaderId} failed: {e.Message}");
                    Delay(slot.Entry);
                }
            }
        }
    }

    private void ProcessPartition(Entry entry, long fetchOffset, FetchResponse.PartitionData data)
    {
        var p = entry.Partition;
        var error = (ErrorCode)data.ErrorCode;
        if (error == ErrorCode.None)
        {
            entry.LastError = ErrorCode.None;
            if (data.DivergingEpoch.Epoch >= 0 || data.DivergingEpoch.EndOffset >= 0)
            {
                var to = p.TruncateOnDivergence(LeaderId, entry.LeaderEpoch, data.DivergingEpoch.Epoch, data.DivergingEpoch.EndOffset);
                if (to is { } offset)
                    _log($"{p.TopicPartition}: leader {LeaderId} reports diverging epoch {data.DivergingEpoch.Epoch} ending at {data.DivergingEpoch.EndOffset}; truncated to {offset}");
                return;
            }
            var records = WholeBatches(data.Records ?? ReadOnlyMemory<byte>.Empty);
            p.AppendFromLeader(LeaderId, entry.LeaderEpoch, records, data.HighWatermark, data.LogStartOffset);
            return;
        }
        if (error == ErrorCode.OffsetOutOfRange)
        {
            p.HandleOutOfRange(LeaderId, entry.LeaderEpoch, fetchOffset, data.LogStartOffset, data.HighWatermark);
            return;
        }
        if (entry.LastError != error) _log($"{p.TopicPartition}: broker {LeaderId} answered {error}; backing off {_options.ReplicaFetchBackoffMs} ms");
        entry.LastError = error;
        Delay(entry);
    }

    private void Delay(Entry entry)
    {
        lock (_lock) entry.DelayedUntilMs = _clock.MonotonicMs + _options.ReplicaFetchBackoffMs;
    }

    /// <summary>The prefix of whole batches (a leader may cut the last batch of a response short).</summary>
    private static ReadOnlyMemory<byte> WholeBatches(ReadOnlyMemory<byte> records)
    {
        var reader = new RecordBatchReader(records, allowTruncatedTail: true);
        while (reader.MoveNext()) { }
        return records[..reader.Position];
    }
}
