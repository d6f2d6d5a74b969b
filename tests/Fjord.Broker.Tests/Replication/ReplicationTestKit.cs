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

/// <summary>
/// Brokers (one ReplicaManager + LogManager each, in their own temp directories) sharing one
/// metadata image that the test (and the fake controller) publish to all of them in order.
/// </summary>
internal sealed class TestCluster : IAsyncDisposable
{
    private readonly object _publishLock = new();
    private readonly string _root;
    private long _offset;

    public TestCluster(int brokers, ReplicaManagerOptions? options = null, string? root = null)
    {
        _root = root ?? Path.Combine(Path.GetTempPath(), "fjord-repl-" + Guid.NewGuid().ToString("N"));
        Options = options ?? new ReplicaManagerOptions { ReplicaFetchBackoffMs = 50, ReplicaFetchWaitMaxMs = 200 };
        Controller = new FakeController(this);
        var records = new List<IKafkaMessage>();
        for (int id = 1; id <= brokers; id++)
        {
            records.Add(new RegisterBrokerRecord { BrokerId = id, BrokerEpoch = 100 + id, IncarnationId = Uuid.NewRandom(), Fenced = false });
            Start(id);
        }
        Publish([.. records]);
    }

    public ReplicaManagerOptions Options { get; }
    public FakeController Controller { get; }
    public MetadataImage Image { get; private set; } = MetadataImage.Empty;
    public ConcurrentDictionary<int, ReplicaManager> Brokers { get; } = new();
    public ConcurrentDictionary<int, LogManager> LogManagers { get; } = new();
    public ConcurrentDictionary<int, InProcessFetchClient> FetchClients { get; } = new();
    public ConcurrentQueue<string> LogLines { get; } = new();

    public ReplicaManager this[int id] => Brokers[id];

    public string DirOf(int id) => Path.Combine(_root, $"broker-{id}");

    /// <summary>Starts (or restarts) broker <paramref name="id"/> on its directory and hands it the current image.</summary>
    public ReplicaManager Start(int id)
    {
        var logs = new LogManager([DirOf(id)], LogConfig.Default with { FileDeleteDelayMs = 0 }, _ => null, SystemClock.Instance, l => LogLines.Enqueue($"[logs {id}] {l}"));
        logs.Start();
        var client = new InProcessFetchClient(this, id);
        var rm = new ReplicaManager(id, logs, Controller, client, Options, SystemClock.Instance, l => LogLines.Enqueue(l));
        LogManagers[id] = logs;
        FetchClients[id] = client;
        Brokers[id] = rm;
        lock (_publishLock)
        {
            if (!Image.IsEmpty)
            {
                var delta = new MetadataDelta(MetadataImage.Empty);
                Image.Write(new ReplaySink(delta));
                var image = delta.Apply(Image.Provenance);
                rm.OnMetadataUpdate(delta, image, new MetadataUpdate(MetadataUpdateKind.Snapshot, image.Provenance, 1, delta.RecordCount));
            }
        }
        return rm;
    }

    private sealed class ReplaySink(MetadataDelta delta) : IMetadataRecordSink
    {
        public void Accept(MetadataRecord record) => delta.Replay(record);
    }

    public async Task StopAsync(int id)
    {
        if (Brokers.TryRemove(id, out var rm)) await rm.StopAsync();
        if (LogManagers.TryRemove(id, out var logs)) logs.Close();
    }

    /// <summary>Applies <paramref name="records"/> to the image and publishes the result to every running broker.</summary>
    public MetadataImage Publish(params IKafkaMessage[] records)
    {
        lock (_publishLock)
        {
            var delta = new MetadataDelta(Image);
            foreach (var r in records) delta.Replay(r);
            var image = delta.Apply(new MetadataProvenance(++_offset, 1, 0));
            Image = image;
            var update = new MetadataUpdate(MetadataUpdateKind.LogDelta, image.Provenance, 1, records.Length);
            foreach (var rm in Brokers.Values.OrderBy(b => b.BrokerId)) rm.OnMetadataUpdate(delta, image, update);
            return image;
        }
    }

    /// <summary>Creates a topic with one partition per replica list (the first replica leads), ISR = replicas.</summary>
    public Uuid CreateTopic(string name, int[][] assignments, Dictionary<string, string>? configs = null)
    {
        var id = Uuid.NewRandom();
        var records = new List<IKafkaMessage> { new TopicRecord { Name = name, TopicId = id } };
        foreach (var (key, value) in configs ?? [])
            records.Add(new ConfigRecord { ResourceType = ConfigResourceTypes.Topic, ResourceName = name, Name = key, Value = value });
        for (int p = 0; p < assignments.Length; p++)
            records.Add(new PartitionRecord
            {
                PartitionId = p, TopicId = id, Replicas = [.. assignments[p]], Isr = [.. assignments[p]],
                Leader = assignments[p][0], LeaderEpoch = 0, PartitionEpoch = 0,
            });
        Publish([.. records]);
        return id;
    }

    public PartitionRegistration Registration(string topic, int partition) => Image.Topics.Topic(topic)!.Partition(partition)!;

    public async ValueTask DisposeAsync()
    {
        foreach (var id in Brokers.Keys.ToList()) await StopAsync(id);
        if (Environment.GetEnvironmentVariable("FJORD_REPLICATION_TEST_LOG") is { Length: > 0 } logFile)
            File.AppendAllLines(logFile, ["----", .. LogLines]);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A controller that applies AlterPartition to the cluster's image (checked like the real one) and publishes it.</summary>
internal sealed class FakeController(TestCluster cluster) : IControllerChannel
{
    private int _alterPartitionCount;

    public int AlterPartitionCount => Volatile.Read(ref _alterPartitionCount);

    public async Task<TResponse> SendAsync<TResponse>(IKafkaMessage request, short apiVersion, TimeSpan timeout, CancellationToken cancellationToken = default)
        where TResponse : IKafkaMessage
    {
        await Task.Yield();
        if (request is not AlterPartitionRequest alter) throw new NotSupportedException(request.GetType().Name);
        Interlocked.Increment(ref _alterPartitionCount);
        var response = new AlterPartitionResponse();
        foreach (var topic in alter.Topics)
        {
            var topicAnswer = new AlterPartitionResponse.TopicData { TopicId = topic.TopicId };
            response.Topics.Add(topicAnswer);
            foreach (var p in topic.Partitions)
            {
                var answer = new AlterPartitionResponse.PartitionData { PartitionIndex = p.PartitionIndex };
                topicAnswer.Partitions.Add(answer);
                var reg = cluster.Image.Topics.Partition(topic.TopicId, p.PartitionIndex);
                if (reg is null) answer.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
                else if (alter.BrokerId != reg.Leader || p.LeaderEpoch < reg.LeaderEpoch) answer.ErrorCode = (short)ErrorCode.FencedLeaderEpoch;
                else if (p.PartitionEpoch != reg.PartitionEpoch) answer.ErrorCode = (short)ErrorCode.InvalidUpdateVersion;
                else
                {
                    var isr = apiVersion >= 3 ? p.NewIsrWithEpochs.Select(b => b.BrokerId).ToList() : p.NewIsr;
                    var image = cluster.Publish(new PartitionChangeRecord { TopicId = topic.TopicId, PartitionId = p.PartitionIndex, Isr = isr });
                    reg = image.Topics.Partition(topic.TopicId, p.PartitionIndex)!;
                }
                if (reg is not null)
                {
                    answer.LeaderId = reg.Leader;
                    answer.LeaderEpoch = reg.LeaderEpoch;
                    answer.Isr = [.. reg.Isr.ToArray()];
                    answer.PartitionEpoch = reg.PartitionEpoch;
                }
            }
        }
        return (TResponse)(IKafkaMessage)response;
    }
}

/// <summary>A follower's line to leaders: the leader's FetchAsync, through an encode/decode round trip at the version used.</summary>
internal sealed class InProcessFetchClient(TestCluster cluster, int followerId) : IReplicaFetchClient
{
    private volatile bool _blocked;

    /// <summary>While blocked, every fetch of this follower fails, and so does one in flight when the block starts (as if the network were down).</summary>
    public bool Blocked
    {
        get => _blocked;
        set => _blocked = value;
    }

    public async Task<FetchResponse> FetchAsync(int leaderId, FetchRequest request, short version, CancellationToken cancellationToken)
    {
        await Task.Yield();
        if (_blocked) throw new IOException($"broker {followerId} is cut off");
        if (!cluster.Brokers.TryGetValue(leaderId, out var leader)) throw new IOException($"broker {leaderId} is down");
        var decoded = KafkaMessages.Deserialize<FetchRequest>(request.Serialize(version), version);
        var response = await leader.FetchAsync(decoded, version, cancellationToken);
        // Cut off while the fetch was in flight: the answer is lost too.
        if (_blocked) throw new IOException($"broker {followerId} is cut off");
        return KafkaMessages.Deserialize<FetchResponse>(response.Serialize(version), version);
    }
}

internal static class Batches
{
    public static byte[] Of(params string[] values) => Build(new RecordBatchOptions(), values);

    public static byte[] Idempotent(long producerId, short epoch, int sequence, params string[] values) =>
        Build(new RecordBatchOptions { ProducerId = producerId, ProducerEpoch = epoch, BaseSequence = sequence }, values);

    public static byte[] Build(RecordBatchOptions options, string[] values, long timestamp = 1_700_000_000_000)
    {
        using var builder = new RecordBatchBuilder(options);
        for (int i = 0; i < values.Length; i++)
            builder.Append(timestamp + i, null, System.Text.Encoding.UTF8.GetBytes(values[i]));
        return builder.ToArray();
    }

    /// <summary>(offset, value) of every record in <paramref name="bytes"/>.</summary>
    public static List<(long Offset, string Value)> Records(ReadOnlyMemory<byte> bytes)
    {
        var result = new List<(long, string)>();
        var reader = new RecordBatchReader(bytes);
        while (reader.MoveNext())
        {
            var batch = reader.Current;
            using var records = batch.OpenRecords(1 << 20);
            foreach (var record in records)
                result.Add((batch.BaseOffset + record.OffsetDelta, System.Text.Encoding.UTF8.GetString(record.ValueSpan)));
        }
        return result;
    }

    public static ProduceRequest Produce(string topic, int partition, byte[] records, short acks = 1, int timeoutMs = 5_000) => new()
    {
        Acks = acks,
        TimeoutMs = timeoutMs,
        TopicData = [new ProduceRequest.TopicProduceData { Name = topic, PartitionData = [new ProduceRequest.PartitionProduceData { Index = partition, Records = records }] }],
    };

    public static FetchRequest Fetch(string topic, int partition, long offset, int maxWaitMs = 0, int minBytes = 0, int replicaId = -1, sbyte isolation = 0) => new()
    {
        ReplicaId = replicaId,
        MaxWaitMs = maxWaitMs,
        MinBytes = minBytes,
        IsolationLevel = isolation,
        Topics = [new FetchRequest.FetchTopic { Topic = topic, Partitions = [new FetchRequest.FetchPartition { Partition = partition, FetchOffset = offset, PartitionMaxBytes = 1 << 20 }] }],
    };
}

internal static class Wait
{
    /// <summary>Waits for <paramref name="condition"/> (checked every 10 ms) up to <paramref name="timeoutMs"/>; fails naming <paramref name="what"/>.</summary>
    public static async Task Until(Func<bool> condition, string what, int timeoutMs = 15_000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline) Assert.Fail($"timed out after {timeoutMs} ms waiting for {what}");
            await Task.Delay(10);
        }
    }
}
