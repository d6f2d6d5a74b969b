using System.Collections.Concurrent;
using Fjord.Broker.Replication;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Broker.Tests.Replication;

/// <summary>A clock the test moves by hand (wall and monotonic time together).</summary>
internal sealed class ManualClock(long unixTimeMs = 1_700_000_000_000) : IClock
{
    private long _now = unixTimeMs;
    public long UnixTimeMs => Interlocked.Read(ref _now);
    public long MonotonicMs => Interlocked.Read(ref _now);
    public void Advance(long ms) => Interlocked.Add(ref _now, ms);
}

/// <summary>
/// One broker (id 1) leading single-replica partitions, on its own temp directory, with a manual clock;
/// it can be stopped (clean shutdown: replica manager stopped, logs closed) and started again on the same
/// directory with the same metadata.
/// </summary>
internal sealed class SingleNode : IAsyncDisposable
{
    private readonly List<IKafkaMessage> _records = [];
    private long _metadataOffset;

    public SingleNode(ReplicaManagerOptions? options = null, ManualClock? clock = null)
    {
        Root = Path.Combine(Path.GetTempPath(), "fjord-pstate-" + Guid.NewGuid().ToString("N"));
        Options = options ?? new ReplicaManagerOptions();
        Clock = clock ?? new ManualClock();
        _records.Add(new RegisterBrokerRecord { BrokerId = 1, BrokerEpoch = 101, IncarnationId = Uuid.NewRandom(), Fenced = false });
        Start();
    }

    public string Root { get; }
    public ReplicaManagerOptions Options { get; }
    public ManualClock Clock { get; }
    public ConcurrentQueue<string> LogLines { get; } = new();
    public ReplicaManager Replicas { get; private set; } = null!;
    public LogManager Logs { get; private set; } = null!;

    public Partition Partition(string topic, int partition = 0) => Replicas.GetPartition(new TopicPartition(topic, partition))!;

    public void Start()
    {
        Logs = new LogManager([Root], LogConfig.Default with { FileDeleteDelayMs = 0 }, _ => null, Clock, l => LogLines.Enqueue($"[logs] {l}"));
        Logs.Start();
        Replicas = new ReplicaManager(1, Logs, new NoController(), new NoFetch(), Options, Clock, l => LogLines.Enqueue(l));
        Apply(MetadataUpdateKind.Snapshot, []);
    }

    public async Task StopAsync()
    {
        await Replicas.StopAsync();
        Logs.Close();
    }

    public async Task RestartAsync()
    {
        await StopAsync();
        Start();
    }

    /// <summary>Creates a single-partition (or more) topic led by this broker.</summary>
    public void CreateTopic(string name, int partitions = 1, Dictionary<string, string>? configs = null)
    {
        var id = Uuid.NewRandom();
        var records = new List<IKafkaMessage> { new TopicRecord { Name = name, TopicId = id } };
        foreach (var (key, value) in configs ?? [])
            records.Add(new ConfigRecord { ResourceType = ConfigResourceTypes.Topic, ResourceName = name, Name = key, Value = value });
        for (int p = 0; p < partitions; p++)
            records.Add(new PartitionRecord { PartitionId = p, TopicId = id, Replicas = [1], Isr = [1], Leader = 1, LeaderEpoch = 0, PartitionEpoch = 0 });
        Publish([.. records]);
    }

    public void Publish(params IKafkaMessage[] records) => Apply(MetadataUpdateKind.LogDelta, records);

    private void Apply(MetadataUpdateKind kind, IKafkaMessage[] added)
    {
        _records.AddRange(added);
        // A start gets the whole image as a snapshot (so a restarted node sees the same metadata); later
        // changes come as deltas over the replica manager's image.
        var delta = new MetadataDelta(kind == MetadataUpdateKind.Snapshot ? MetadataImage.Empty : Replicas.Image);
        foreach (var r in kind == MetadataUpdateKind.Snapshot ? _records : [.. added]) delta.Replay(r);
        var image = delta.Apply(new MetadataProvenance(++_metadataOffset, 1, 0));
        Replicas.OnMetadataUpdate(delta, image, new MetadataUpdate(kind, image.Provenance, 1, delta.RecordCount));
    }

    public async Task<ProduceResponse.PartitionProduceResponse> ProduceAsync(string topic, byte[] batch, int partition = 0)
    {
        var response = await Replicas.ProduceAsync(Batches.Produce(topic, partition, batch), 9, default);
        return response.Responses[0].PartitionResponses[0];
    }

    public Task<ErrorCode> MarkerAsync(string topic, long producerId, short epoch, bool commit, int coordinatorEpoch = 0) =>
        MarkerAsync(Replicas, topic, producerId, epoch, commit, coordinatorEpoch);

    /// <summary>One WriteTxnMarkers marker for partition 0 of <paramref name="topic"/>; its error code.</summary>
    public static async Task<ErrorCode> MarkerAsync(ReplicaManager replicas, string topic, long producerId, short epoch, bool commit, int coordinatorEpoch = 0)
    {
        var request = new WriteTxnMarkersRequest
        {
            Markers =
            [
                new WriteTxnMarkersRequest.WritableTxnMarker
                {
                    ProducerId = producerId, ProducerEpoch = epoch, TransactionResult = commit, CoordinatorEpoch = coordinatorEpoch,
                    Topics = [new WriteTxnMarkersRequest.WritableTxnMarkerTopic { Name = topic, PartitionIndexes = [0] }],
                },
            ],
        };
        var response = await replicas.WriteTxnMarkersAsync(request, 1, default);
        return (ErrorCode)response.Markers[0].Topics[0].Partitions[0].ErrorCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (ObjectDisposedException)
        {
        }
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed class NoController : IControllerChannel
    {
        public Task<TResponse> SendAsync<TResponse>(IKafkaMessage request, short apiVersion, TimeSpan timeout, CancellationToken cancellationToken = default)
            where TResponse : IKafkaMessage => throw new IOException("no controller in this test");
    }

    private sealed class NoFetch : IReplicaFetchClient
    {
        public Task<FetchResponse> FetchAsync(int leaderId, FetchRequest request, short version, CancellationToken cancellationToken) =>
            throw new IOException("no other broker in this test");
    }
}

/// <summary>
/// A seeded random producer workload as record batches: idempotent batches, transactional batches,
/// COMMIT/ABORT markers (also stray ones with nothing open), epoch bumps, plain batches. Each batch is
/// valid for the partition rules (sequences follow on, a new epoch starts at 0, no plain write inside a
/// transaction).
/// </summary>
internal sealed class ProducerWorkload(int seed, int producers, long firstProducerId = 1000)
{
    private readonly Random _random = new(seed);
    private readonly (short Epoch, int NextSequence, bool InTxn, int CoordinatorEpoch)[] _state = new (short, int, bool, int)[producers];
    private long _timestamp = 1_700_000_000_000;

    public int Markers { get; private set; }

    public byte[] Next()
    {
        _timestamp += _random.Next(0, 50);
        if (_random.Next(10) == 0) return Build(new RecordBatchOptions(), 1 + _random.Next(3));
        int index = _random.Next(_state.Length);
        long producerId = firstProducerId + index;
        ref var s = ref _state[index];
        int roll = _random.Next(100);
        if (s.InTxn)
        {
            if (roll < 60) return Data(ref s, producerId, transactional: true);
            s.InTxn = false;
            s.CoordinatorEpoch += _random.Next(2);
            Markers++;
            return EndTransactionMarker.BuildBatch(_random.Next(2) == 0, s.CoordinatorEpoch, producerId, s.Epoch, _timestamp);
        }
        if (roll < 45) return Data(ref s, producerId, transactional: false);
        if (roll < 80)
        {
            s.InTxn = true;
            return Data(ref s, producerId, transactional: true);
        }
        if (roll < 88)
        {
            s.Epoch++;
            s.NextSequence = 0;
            return Data(ref s, producerId, transactional: false);
        }
        if (roll < 92)
        {
            Markers++;
            return EndTransactionMarker.BuildBatch(_random.Next(2) == 0, s.CoordinatorEpoch, producerId, s.Epoch, _timestamp);
        }
        return Data(ref s, producerId, transactional: false);
    }

    private byte[] Data(ref (short Epoch, int NextSequence, bool InTxn, int CoordinatorEpoch) s, long producerId, bool transactional)
    {
        int count = 1 + _random.Next(3);
        var batch = Build(new RecordBatchOptions { ProducerId = producerId, ProducerEpoch = s.Epoch, BaseSequence = s.NextSequence, IsTransactional = transactional }, count);
        s.NextSequence += count;
        return batch;
    }

    private byte[] Build(RecordBatchOptions options, int count)
    {
        using var builder = new RecordBatchBuilder(options);
        for (int i = 0; i < count; i++) builder.Append(_timestamp + i, null, System.Text.Encoding.UTF8.GetBytes($"v{_random.Next()}"));
        return builder.ToArray();
    }
}

internal static class ProducerStateAssert
{
    /// <summary>A table's canonical text without its completed-unreplicated transactions (the live table prunes them as the HW moves; a scan keeps all).</summary>
    public static string WithoutUnreplicated(string describe) =>
        string.Join('\n', describe.Split('\n').Where(l => !l.StartsWith("U ", StringComparison.Ordinal)));

    /// <summary>The table a full scan of <paramref name="log"/> builds.</summary>
    public static string FullScan(PartitionLog log)
    {
        var table = new ProducerStateTable();
        table.Rebuild(log);
        return table.Describe();
    }
}
