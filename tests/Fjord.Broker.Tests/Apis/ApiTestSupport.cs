using Fjord.Broker.Apis;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol;
using Fjord.Protocol.Metadata;

namespace Fjord.Broker.Tests.Apis;

/// <summary>Record builders, image replay and a scriptable controller channel for the API tests.</summary>
internal static class ApiTestSupport
{
    public const string Plain = "PLAINTEXT";
    public const string Ssl = "SSL";

    public static Uuid Id(long n) => new(0x2000 + n, n * 104729 + 3);

    public static FeatureLevelRecord Mv(short level = 22) => new() { Name = MetadataVersion.FeatureName, FeatureLevel = level };

    /// <summary>A broker with a PLAINTEXT listener on 9092+id and, when <paramref name="ssl"/>, an SSL one on 9192+id.</summary>
    public static RegisterBrokerRecord BrokerRecord(int id, bool fenced = false, bool ssl = true, string? rack = null, long epoch = 10) => new()
    {
        BrokerId = id,
        BrokerEpoch = epoch,
        IncarnationId = Id(500 + id),
        Rack = rack,
        Fenced = fenced,
        EndPoints = ssl
            ? [Endpoint(Plain, $"b{id}.plain", 9092 + id, 0), Endpoint(Ssl, $"b{id}.ssl", 9192 + id, 1)]
            : [Endpoint(Plain, $"b{id}.plain", 9092 + id, 0)],
        Features = [new RegisterBrokerRecord.BrokerFeature { Name = MetadataVersion.FeatureName, MinSupportedVersion = 1, MaxSupportedVersion = 25 }],
    };

    private static RegisterBrokerRecord.BrokerEndpoint Endpoint(string name, string host, int port, short protocol) =>
        new() { Name = name, Host = host, Port = (ushort)port, SecurityProtocol = protocol };

    public static TopicRecord Topic(string name, Uuid id) => new() { Name = name, TopicId = id };

    public static PartitionRecord Partition(Uuid topic, int partition, int[] replicas, int leader = -2, int leaderEpoch = 3, int[]? isr = null) => new()
    {
        TopicId = topic,
        PartitionId = partition,
        Replicas = [.. replicas],
        Isr = [.. isr ?? replicas],
        Leader = leader == -2 ? replicas[0] : leader,
        LeaderEpoch = leaderEpoch,
    };

    public static ConfigRecord Config(sbyte type, string name, string key, string? value) => new() { ResourceType = type, ResourceName = name, Name = key, Value = value };

    public static MetadataImage Image(params IKafkaMessage[] records) => Replay(MetadataImage.Empty, records);

    public static MetadataImage Replay(MetadataImage image, params IKafkaMessage[] records)
    {
        var delta = new MetadataDelta(image);
        long offset = image.Provenance.NextOffset;
        foreach (var r in records) delta.Replay(r, offset++);
        return delta.Apply(new MetadataProvenance(offset - 1, 1, 1000));
    }

    public static BrokerApiOptions Options(int nodeId = 1, bool autoCreate = true, IReadOnlyDictionary<string, string>? staticConfigs = null) => new()
    {
        NodeId = nodeId,
        ClusterId = "fjord-test-cluster",
        AutoCreateTopicsEnable = autoCreate,
        NumPartitions = 3,
        DefaultReplicationFactor = 2,
        StaticConfigs = staticConfigs ?? new Dictionary<string, string>(StringComparer.Ordinal),
        ControllerRequestTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>Encodes and decodes <paramref name="message"/> at <paramref name="version"/>: proves the
    /// answer is valid for that version (a field the version lacks must hold its default).</summary>
    public static T RoundTrip<T>(T message, short version) where T : IKafkaMessage<T> =>
        KafkaMessages.Deserialize<T>(message.Serialize(version), version);
}

/// <summary>
/// An <see cref="IControllerChannel"/> whose answers a test scripts: <see cref="Handler"/> gets each
/// request and version and returns the response (or throws, e.g. <see cref="TimeoutException"/>).
/// Records every request.
/// </summary>
internal sealed class ScriptedControllerChannel : IControllerChannel
{
    private readonly object _lock = new();
    private readonly List<(IKafkaMessage Request, short Version, TimeSpan Timeout)> _sent = [];

    public Func<IKafkaMessage, short, Task<IKafkaMessage>> Handler { get; set; } =
        (_, _) => Task.FromException<IKafkaMessage>(new TimeoutException("no controller"));

    public void Answer(Func<IKafkaMessage, short, IKafkaMessage> handler) => Handler = (r, v) => Task.FromResult(handler(r, v));

    public IReadOnlyList<(IKafkaMessage Request, short Version, TimeSpan Timeout)> Sent
    {
        get { lock (_lock) return [.. _sent]; }
    }

    public async Task<TResponse> SendAsync<TResponse>(IKafkaMessage request, short apiVersion, TimeSpan timeout, CancellationToken cancellationToken = default)
        where TResponse : IKafkaMessage
    {
        lock (_lock) _sent.Add((request, apiVersion, timeout));
        var response = await Handler(request, apiVersion).WaitAsync(cancellationToken).ConfigureAwait(false);
        return (TResponse)response;
    }
}
