using BenchmarkDotNet.Attributes;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Benchmarks;

/// <summary>
/// The produce path's codec work on a 1 MiB uncompressed batch of 1 KiB records: validating it
/// (length, magic, codec, count and CRC32C over the whole batch), walking its records, and decoding
/// / encoding the Produce request (v9, flexible) that carries it.
/// </summary>
[MemoryDiagnoser]
public class ProduceBatchBench : IMeasuredBytes
{
    private const int RecordCount = 1000;
    private const short Version = 9;
    private byte[] _batch = null!;
    private byte[] _request = null!;
    private ProduceRequest _message = null!;

    public long BytesPerOperation => _batch.Length;
    public long RecordsPerOperation => RecordCount;

    [GlobalSetup]
    public void Setup()
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        var random = new Random(1);
        var value = new byte[1024];
        var key = new byte[8];
        for (int i = 0; i < RecordCount; i++)
        {
            random.NextBytes(value);
            BitConverter.TryWriteBytes(key, (long)i);
            builder.Append(1_700_000_000_000 + i, key, value);
        }
        _batch = builder.ToArray();
        _message = new ProduceRequest { Acks = -1, TimeoutMs = 30_000 };
        _message.TopicData.Add(new ProduceRequest.TopicProduceData
        {
            Name = "bench",
            PartitionData = [new ProduceRequest.PartitionProduceData { Index = 0, Records = _batch }],
        });
        _request = _message.Serialize(Version);
    }

    [Benchmark, Target("reference: >= 2 GB/s on one core")]
    public void ValidateBatch() => new RecordBatch(_batch).Validate();

    [Benchmark, Target("reference: 0 B allocated per record")]
    public long IterateRecords()
    {
        long total = 0;
        using var records = new RecordBatch(_batch).OpenRecords(maxDecompressedBytes: 1 << 20);
        foreach (var record in records)
            total += record.ValueSpan.Length + record.Offset;
        return total;
    }

    [Benchmark, Target("reference: records field is a slice, not a copy")]
    public ProduceRequest DecodeProduceRequest() => KafkaMessages.Deserialize<ProduceRequest>(_request, Version);

    [Benchmark, Target("reference: one copy of the batch into the frame")]
    public byte[] EncodeProduceRequest() => _message.Serialize(Version);
}

/// <summary>CRC32C over 1 MiB: the SSE4.2 instruction path and the table (slicing-by-8) fallback.</summary>
[MemoryDiagnoser]
public class Crc32CBench : IMeasuredBytes
{
    private readonly byte[] _data = new byte[1 << 20];

    public long BytesPerOperation => _data.Length;
    public long RecordsPerOperation => 0;

    [GlobalSetup]
    public void Setup() => new Random(2).NextBytes(_data);

    [Benchmark, Target("reference: >= 2 GB/s")]
    public uint Hardware() => Crc32C.AppendHardware(0, _data);

    [Benchmark, Target("reference: fallback only; ~1 GB/s expected")]
    public uint Software() => Crc32C.AppendSoftware(0, _data);
}
