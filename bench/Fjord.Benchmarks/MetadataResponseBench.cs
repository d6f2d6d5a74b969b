using BenchmarkDotNet.Attributes;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Benchmarks;

/// <summary>A Metadata response describing 10,000 partitions (100 topics × 100, three replicas each),
/// encoded and decoded at v12 (flexible, topic ids) — what a broker sends a client on a large cluster.</summary>
[MemoryDiagnoser]
public class MetadataResponseBench : IMeasuredBytes
{
    private MetadataResponse _response = null!;
    private byte[] _encoded = null!;
    private const short Version = 12;

    public long BytesPerOperation => _encoded.Length;
    public long RecordsPerOperation => 10_000;

    [GlobalSetup]
    public void Setup()
    {
        _response = new MetadataResponse { ClusterId = "fjord-bench", ControllerId = 1 };
        for (int b = 0; b < 3; b++)
            _response.Brokers.Add(new MetadataResponse.MetadataResponseBroker { NodeId = b, Host = $"broker-{b}.example", Port = 9092 });
        for (int t = 0; t < 100; t++)
        {
            var topic = new MetadataResponse.MetadataResponseTopic { Name = $"topic-{t:D4}", TopicId = Uuid.NewRandom() };
            for (int p = 0; p < 100; p++)
            {
                topic.Partitions.Add(new MetadataResponse.MetadataResponsePartition
                {
                    PartitionIndex = p, LeaderId = p % 3, LeaderEpoch = 7,
                    ReplicaNodes = [p % 3, (p + 1) % 3, (p + 2) % 3], IsrNodes = [p % 3, (p + 1) % 3, (p + 2) % 3],
                });
            }
            _response.Topics.Add(topic);
        }
        _encoded = _response.Serialize(Version);
    }

    [Benchmark, Target("reference: none set; Kafka's Java codec is the comparison to beat")]
    public byte[] Encode() => _response.Serialize(Version);

    [Benchmark, Target("reference: none set; allocation is one object per partition")]
    public MetadataResponse Decode() => KafkaMessages.Deserialize<MetadataResponse>(_encoded, Version);
}
