using System.Collections.Concurrent;
using System.Globalization;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Storage;

namespace Fjord.Broker.Replication;

/// <summary>
/// The broker's data plane: the partitions this broker holds replicas of, made leader or follower by
/// the metadata image (<see cref="IMetadataPublisher"/>); Produce, Fetch, ListOffsets,
/// OffsetForLeaderEpoch, DeleteRecords and DescribeLogDirs against them; one
/// <see cref="ReplicaFetcher"/> per leader broker for the partitions it follows; the leader's ISR
/// changes sent to the controller as AlterPartition through <see cref="IControllerChannel"/>.
/// </summary>
/// <remarks>
/// <para>Invariants (HW, ISR, truncation) are those of <see cref="Partition"/>. The replica manager
/// adds: a partition object exists exactly for the partitions whose registration in the latest image
/// lists this broker as a replica (created with the topic's config from the image over
/// <see cref="ReplicaManagerOptions.DefaultLogConfig"/>); a follower partition is in exactly one
/// fetcher — its leader's — for its current leader epoch; a deleted topic's or removed replica's log
/// is stopped, then deleted.</para>
/// <para>Threads: metadata updates are serialised (one loader thread); requests run concurrently on
/// any thread; waits (acks=all, long polls, DeleteRecords) are completed by events — appends, HW moves,
/// follower fetches, role changes — never by polling. <see cref="StopAsync"/> stops the fetchers and
/// the ISR check, answers every waiting request, and makes later requests fail with
/// NOT_LEADER_OR_FOLLOWER.</para>
/// </remarks>
public sealed partial class ReplicaManager : IMetadataPublisher, IDisposable, IAsyncDisposable
{
    private readonly LogManager _logs;
    private readonly IControllerChannel _controller;
    private readonly IReplicaFetchClient _fetchClient;
    private readonly ReplicaManagerOptions _options;
    private readonly IClock _clock;
    private readonly Action<string> _log;
    private readonly ConcurrentDictionary<TopicPartition, Partition> _partitions = new();
    private readonly Dictionary<int, ReplicaFetcher> _fetchers = [];
    private readonly object _metadataLock = new();
    private readonly object _fetcherLock = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Task _maintenance;
    private readonly Task _producerExpiration;
    private volatile MetadataImage _image = MetadataImage.Empty;
    private int _stopped;

    /// <param name="brokerId">This broker's node.id.</param>
    /// <param name="logs">The started log manager (its logs are picked up as the image names them).</param>
    /// <param name="controller">Where AlterPartition goes.</param>
    /// <param name="fetchClient">How followers fetch from leaders.</param>
    /// <param name="options">Replication settings.</param>
    /// <param name="clock">MonotonicMs for lags, waits and timeouts.</param>
    /// <param name="log">One line per notable event (role changes, ISR changes, truncations, errors).</param>
    public ReplicaManager(int brokerId, LogManager logs, IControllerChannel controller, IReplicaFetchClient fetchClient,
        ReplicaManagerOptions options, IClock clock, Action<string>? log = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(brokerId);
        BrokerId = brokerId;
        _logs = logs ?? throw new ArgumentNullException(nameof(logs));
        _controller = controller ?? throw new ArgumentNullException(nameof(controller));
        _fetchClient = fetchClient ?? throw new ArgumentNullException(nameof(fetchClient));
        _options = (options ?? throw new ArgumentNullException(nameof(options))).Validate();
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        var sink = log ?? (_ => { });
        _log = line => sink($"[ReplicaManager {brokerId}] {line}");
        _maintenance = Task.Run(MaintenanceLoopAsync);
        _producerExpiration = Task.Run(ProducerExpirationLoopAsync);
    }

    public int BrokerId { get; }

    public string Name => "ReplicaManager";

    /// <summary>The latest image this replica manager applied.</summary>
    public MetadataImage Image => _image;

    public ReplicaManagerOptions Options => _options;

    /// <summary>The partition of <paramref name="tp"/> if this broker holds a replica of it.</summary>
    public Partition? GetPartition(TopicPartition tp) => _partitions.GetValueOrDefault(tp);

    /// <summary>Every partition this broker holds a replica of.</summary>
    public IReadOnlyCollection<Partition> Partitions => _partitions.Values.ToList();

    /// <summary>Broker ids this broker currently runs a fetcher for.</summary>
    public IReadOnlyCollection<int> FetcherLeaders
    {
        get { lock (_fetcherLock) return _fetchers.Keys.ToList(); }
    }

    private bool Stopped => Volatile.Read(ref _stopped) != 0;

    // ------------------------------------------------------------------ metadata

    /// <summary>
    /// Applies a new image: deleted topics' partitions stop and their logs are deleted; each changed
    /// partition naming this broker becomes leader or follower (its log created if missing); a
    /// partition that no longer lists this broker stops and its log is deleted; topic config changes
    /// reach the logs. On a snapshot every partition of the image is examined, and local partitions
    /// of topics missing from it are removed. Runs on the loader's thread; does disk I/O for new logs.
    /// </summary>
    public void OnMetadataUpdate(MetadataDelta delta, MetadataImage image, MetadataUpdate update)
    {
        ArgumentNullException.ThrowIfNull(delta);
        ArgumentNullException.ThrowIfNull(image);
        lock (_metadataLock)
        {
            if (Stopped) return;
            _image = image;
            foreach (var topicId in delta.DeletedTopicIds)
                foreach (var p in _partitions.Values.Where(p => p.TopicId == topicId).ToList())
                    RemovePartition(p, deleteLog: true, "its topic was deleted");

            bool full = update?.Kind == MetadataUpdateKind.Snapshot;
            if (full)
            {
                foreach (var p in _partitions.Values.ToList())
                {
                    var topic = image.Topics.Topic(p.TopicId);
                    if (topic is null || topic.Name != p.TopicPartition.Topic) RemovePartition(p, deleteLog: true, "its topic is not in the image");
                }
            }

            IEnumerable<(TopicImage Topic, int PartitionId)> changed = full
                ? image.Topics.TopicsById.Values.SelectMany(t => t.Partitions.Select(p => (t, p.PartitionId)))
                : delta.ChangedTopicIds.Select(image.Topics.Topic).OfType<TopicImage>()
                    .SelectMany(t => delta.ChangedPartitions(t.Id).Select(id => (t, id)));
            foreach (var (topic, partitionId) in changed.ToList())
            {
                var registration = topic.Partition(partitionId);
                if (registration is null) continue;
                ApplyRegistration(topic, partitionId, registration, image);
            }

            if (delta.ConfigsChanged || full)
                foreach (var p in _partitions.Values) RefreshConfig(p, image);
        }
    }

    private void ApplyRegistration(TopicImage topic, int partitionId, PartitionRegistration registration, MetadataImage image)
    {
        var tp = new TopicPartition(topic.Name, partitionId);
        bool isReplica = registration.Replicas.Contains(BrokerId);
        var existing = _partitions.GetValueOrDefault(tp);
        if (existing is not null && existing.TopicId != topic.Id)
        {
            RemovePartition(existing, deleteLog: true, $"topic id changed from {existing.TopicId} to {topic.Id}");
            existing = null;
        }
        if (!isReplica)
        {
            if (existing is not null) RemovePartition(existing, deleteLog: true, "this broker is no longer a replica");
            return;
        }
        var partition = existing ?? CreatePartition(tp, topic.Id, image);
        if (partition is null) return;
        if (registration.Leader == BrokerId)
        {
            RemoveFromFetchers(tp);
            partition.MakeLeader(registration);
        }
        else if (partition.MakeFollower(registration))
        {
            RemoveFromFetchers(tp);
            if (registration.Leader >= 0 && !Stopped) AddToFetcher(registration.Leader, partition, registration.LeaderEpoch);
        }
    }

    private Partition? CreatePartition(TopicPartition tp, Uuid topicId, MetadataImage image)
    {
        try
        {
            var config = LogConfigFor(tp.Topic, image);
            var log = _logs.GetOrCreateLog(tp, config);
            if (log.Config != config) log.Config = config;
            var partition = new Partition(tp, topicId, log, BrokerId, _clock, _options, _log)
            {
                MinInsyncReplicas = MinInsyncReplicasFor(tp.Topic, image),
            };
            var loaded = partition.LoadProducerState();
            _log($"{tp}: replica loaded, offsets [{log.LogStartOffset}, {log.LogEndOffset}), {partition.Producers.Count} producer(s) from "
                 + (loaded.SnapshotOffset is { } at ? $"the snapshot at {at} and " : "")
                 + $"{loaded.BatchesReplayed} batch(es)");
            _partitions[tp] = partition;
            return partition;
        }
        catch (Exception e) when (e is StorageException or IOException or ArgumentException or InvalidOperationException or UnauthorizedAccessException)
        {
            _log($"{tp}: cannot open the log, the replica stays offline: {e.Message}");
            return null;
        }
    }

    private void RemovePartition(Partition partition, bool deleteLog, string reason)
    {
        var tp = partition.TopicPartition;
        RemoveFromFetchers(tp);
        partition.Stop();
        _partitions.TryRemove(new KeyValuePair<TopicPartition, Partition>(tp, partition));
        if (!deleteLog) return;
        try
        {
            _logs.DeleteLog(tp);
            _log($"{tp}: replica removed and its log deleted: {reason}");
        }
        catch (Exception e) when (e is StorageException or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            _log($"{tp}: replica removed ({reason}), but deleting its log failed: {e.Message}");
        }
    }

    private void RefreshConfig(Partition partition, MetadataImage image)
    {
        var config = LogConfigFor(partition.TopicPartition.Topic, image);
        try
        {
            if (partition.Log.Config != config) partition.Log.Config = config;
        }
        catch (ArgumentException e)
        {
            _log($"{partition.TopicPartition}: config not applied: {e.Message}");
        }
        partition.MinInsyncReplicas = MinInsyncReplicasFor(partition.TopicPartition.Topic, image);
    }

    /// <summary>The topic's configs from the image over <see cref="ReplicaManagerOptions.DefaultLogConfig"/>; an invalid one is logged and ignored.</summary>
    private LogConfig LogConfigFor(string topic, MetadataImage image)
    {
        var configs = image.Configs.ConfigsOf(new ConfigResource(ConfigResourceTypes.Topic, topic));
        if (configs.IsEmpty) return _options.DefaultLogConfig;
        try
        {
            return LogConfig.FromProperties(configs, _options.DefaultLogConfig);
        }
        catch (ArgumentException e)
        {
            _log($"topic {topic}: invalid config ignored, using the defaults: {e.Message}");
            return _options.DefaultLogConfig;
        }
    }

    /// <summary>
    /// producer.id.expiration.ms: this broker's dynamic config, else the cluster default (both from the
    /// image), else <see cref="ReplicaManagerOptions.ProducerIdExpirationMs"/> (server.properties).
    /// </summary>
    internal long ProducerIdExpirationMsFor(MetadataImage image)
    {
        const string key = "producer.id.expiration.ms";
        ConfigResource[] sources =
        [
            new(ConfigResourceTypes.Broker, BrokerId.ToString(CultureInfo.InvariantCulture)),
            new(ConfigResourceTypes.Broker, ""),
        ];
        foreach (var source in sources)
            if (image.Configs.ConfigsOf(source).TryGetValue(key, out var raw)
                && long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) && value >= 1)
                return value;
        return _options.ProducerIdExpirationMs;
    }

    /// <summary>min.insync.replicas: the topic's, else this broker's dynamic config, else the cluster default, else the option.</summary>
    private int MinInsyncReplicasFor(string topic, MetadataImage image)
    {
        const string key = "min.insync.replicas";
        ConfigResource[] sources =
        [
            new(ConfigResourceTypes.Topic, topic),
            new(ConfigResourceTypes.Broker, BrokerId.ToString(CultureInfo.InvariantCulture)),
            new(ConfigResourceTypes.Broker, ""),
        ];
        foreach (var source in sources)
            if (image.Configs.ConfigsOf(source).TryGetValue(key, out var raw)
                && int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= 1)
                return value;
        return _options.DefaultMinInsyncReplicas;
    }

    /// <summary>
    /// Deletes logs the log manager holds that the image gives this broker no replica of (topics
    /// deleted, or replicas moved away, while the broker was down). Call once the broker has caught
    /// up with the metadata log (the image is complete); <c>__cluster_metadata</c> is never touched.
    /// Returns how many logs were deleted.
    /// </summary>
    public int DeleteStrayLogs()
    {
        lock (_metadataLock)
        {
            if (Stopped) return 0;
            var image = _image;
            int deleted = 0;
            foreach (var tp in _logs.Partitions)
            {
                if (tp.Topic == "__cluster_metadata" || _partitions.ContainsKey(tp)) continue;
                var registration = image.Topics.Topic(tp.Topic)?.Partition(tp.Partition);
                if (registration is not null && registration.Replicas.Contains(BrokerId)) continue;
                try
                {
                    if (_logs.DeleteLog(tp))
                    {
                        deleted++;
                        _log($"{tp}: stray log deleted (no replica of it is assigned to this broker)");
                    }
                }
                catch (Exception e) when (e is StorageException or IOException or InvalidOperationException)
                {
                    _log($"{tp}: deleting the stray log failed: {e.Message}");
                }
            }
            return deleted;
        }
    }

    // ------------------------------------------------------------------ eligibility

    /// <summary>A replica may join the ISR (and counts for the HW before it does) when its broker is registered, unfenced and not shutting down.</summary>
    private bool IsEligible(int brokerId)
    {
        if (brokerId == BrokerId) return true;
        var broker = _image.Cluster.Broker(brokerId);
        return broker is { Fenced: false, InControlledShutdown: false };
    }

    private bool IsAlive(int brokerId) => _image.Cluster.Broker(brokerId) is { Fenced: false };

    private long OwnBrokerEpoch => _image.Cluster.Broker(BrokerId)?.Epoch ?? -1;

    // ------------------------------------------------------------------ fetchers

    private void AddToFetcher(int leaderId, Partition partition, int leaderEpoch)
    {
        lock (_fetcherLock)
        {
            if (Stopped) return;
            if (!_fetchers.TryGetValue(leaderId, out var fetcher))
            {
                fetcher = new ReplicaFetcher(leaderId, this, _fetchClient, _options, _clock, _log);
                _fetchers[leaderId] = fetcher;
                fetcher.Start();
            }
            fetcher.Add(partition, leaderEpoch);
        }
    }

    private void RemoveFromFetchers(TopicPartition tp)
    {
        List<ReplicaFetcher> idle = [];
        lock (_fetcherLock)
        {
            foreach (var (leader, fetcher) in _fetchers.ToList())
            {
                if (fetcher.Remove(tp) && fetcher.IsEmpty)
                {
                    _fetchers.Remove(leader);
                    idle.Add(fetcher);
                }
            }
        }
        foreach (var fetcher in idle) _ = fetcher.StopAsync();
    }

    internal long BrokerEpochForFetch => OwnBrokerEpoch;

    // ------------------------------------------------------------------ ISR maintenance and AlterPartition

    private async Task MaintenanceLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(_options.IsrCheckIntervalMs));
        try
        {
            while (await timer.WaitForNextTickAsync(_shutdown.Token).ConfigureAwait(false))
            {
                try
                {
                    RunIsrMaintenance();
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _log($"ISR check failed: {e}");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One round of the leaders' ISR check (the maintenance loop runs it every replica.lag.time.max.ms / 2).</summary>
    internal void RunIsrMaintenance()
    {
        foreach (var p in _partitions.Values)
        {
            p.PruneAckWaiters();
            p.PruneTransactionIndex();
            if (p.MaybeShrinkIsr() is { } change) SendAlterPartition(p, change);
        }
    }

    // ------------------------------------------------------------------ producer-id expiration

    private async Task ProducerExpirationLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(_options.ProducerIdExpirationCheckIntervalMs));
        try
        {
            while (await timer.WaitForNextTickAsync(_shutdown.Token).ConfigureAwait(false))
            {
                try
                {
                    RemoveExpiredProducers();
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _log($"producer-id expiration failed: {e}");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// One round of producer-id expiration (run every <see cref="ReplicaManagerOptions.ProducerIdExpirationCheckIntervalMs"/>):
    /// in every partition, leader or follower, forgets the producers without an open transaction whose
    /// last timestamp is at least producer.id.expiration.ms (<see cref="ProducerIdExpirationMsFor"/>)
    /// before the clock's <see cref="IClock.UnixTimeMs"/> (see <see cref="ProducerStateTable.RemoveExpired"/>).
    /// Returns how many producer entries were removed in all.
    /// </summary>
    public int RemoveExpiredProducers()
    {
        if (Stopped) return 0;
        long now = _clock.UnixTimeMs;
        long expiration = ProducerIdExpirationMsFor(_image);
        int removed = 0;
        foreach (var p in _partitions.Values)
        {
            int n = p.RemoveExpiredProducers(now, expiration);
            if (n > 0) _log($"{p.TopicPartition}: {n} producer id(s) expired (no write for {expiration} ms)");
            removed += n;
        }
        return removed;
    }

    internal void SendAlterPartition(Partition partition, Partition.PendingIsrChange change)
    {
        if (Stopped) return;
        short version = _options.AlterPartitionVersion;
        var data = new AlterPartitionRequest.PartitionData
        {
            PartitionIndex = partition.TopicPartition.Partition,
            LeaderEpoch = change.LeaderEpoch,
            PartitionEpoch = change.PartitionEpoch,
            LeaderRecoveryState = 0,
        };
        if (version >= 3)
            data.NewIsrWithEpochs = change.Members.Select(m => new AlterPartitionRequest.BrokerState
            {
                BrokerId = m.BrokerId,
                BrokerEpoch = m.BrokerId == BrokerId ? OwnBrokerEpoch : m.BrokerEpoch,
            }).ToList();
        else
            data.NewIsr = [.. change.ProposedIsr];
        var request = new AlterPartitionRequest
        {
            BrokerId = BrokerId,
            BrokerEpoch = OwnBrokerEpoch,
            Topics = [new AlterPartitionRequest.TopicData { TopicId = partition.TopicId, TopicName = partition.TopicPartition.Topic, Partitions = [data] }],
        };
        _ = Task.Run(async () =>
        {
            try
            {
                var response = await _controller.SendAsync<AlterPartitionResponse>(request, version, _options.ControllerRequestTimeout, _shutdown.Token)
                    .ConfigureAwait(false);
                var answer = response.Topics
                    .Where(t => t.TopicId == partition.TopicId || (version < 2 && t.TopicName == partition.TopicPartition.Topic))
                    .SelectMany(t => t.Partitions)
                    .FirstOrDefault(p => p.PartitionIndex == partition.TopicPartition.Partition);
                partition.CompleteIsrChange(change, (ErrorCode)response.ErrorCode, answer, null);
            }
            catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                partition.CompleteIsrChange(change, ErrorCode.None, null, e);
            }
        });
    }

    // ------------------------------------------------------------------ shutdown

    /// <summary>
    /// Stops fetchers, the ISR check and producer-id expiration, fails waiting acks=all produces with
    /// NOT_LEADER_OR_FOLLOWER (retriable: clients go to the next leader), ends long polls with what they
    /// have, and writes a producer-state snapshot at every partition's log end. Logs stay open (the log
    /// manager closes them). Idempotent.
    /// </summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        await _shutdown.CancelAsync().ConfigureAwait(false);
        List<ReplicaFetcher> fetchers;
        lock (_fetcherLock)
        {
            fetchers = [.. _fetchers.Values];
            _fetchers.Clear();
        }
        await Task.WhenAll(fetchers.Select(f => f.StopAsync())).ConfigureAwait(false);
        lock (_metadataLock)
        {
            foreach (var p in _partitions.Values) p.Stop();
            // Clean shutdown: nothing is appended any more, so a snapshot at each log end lets the next
            // start skip the log scan.
            foreach (var p in _partitions.Values)
            {
                try
                {
                    p.WriteShutdownSnapshot();
                }
                catch (ObjectDisposedException)
                {
                }
            }
        }
        try
        {
            await Task.WhenAll(_maintenance, _producerExpiration).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _log("stopped");
    }

    public void Dispose() => StopAsync().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
