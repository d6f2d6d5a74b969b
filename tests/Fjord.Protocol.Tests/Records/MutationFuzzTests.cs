using System.Buffers.Binary;
using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;
using Fjord.Protocol.Tests.Compression;
using Xunit.Abstractions;

namespace Fjord.Protocol.Tests.Records;

/// <summary>
/// Seeded mutation testing: valid batches and message sets are damaged at random (bit flips,
/// interesting values, truncation, splices), half the time with CRCs repaired so decoding reaches
/// the records, and decoded end to end. Only ProtocolDecodeException may escape, and no iteration
/// may allocate more than the decompression limit allows. A failure names the seed and iteration.
/// FJORD_FUZZ_SEED and FJORD_FUZZ_ITERATIONS override the defaults for longer local runs.
/// </summary>
public class MutationFuzzTests(ITestOutputHelper output)
{
    private static readonly int Iterations = int.TryParse(Environment.GetEnvironmentVariable("FJORD_FUZZ_ITERATIONS"), out var n) ? n : 20_000;
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("FJORD_FUZZ_SEED"), out var s) ? s : 20240613;
    private const int MaxDecompressed = 1 << 20;
    private static readonly int[] Interesting = [0, 1, -1, 0x7F, 0x80, 0xFF, short.MaxValue, int.MaxValue, int.MinValue, 48, 49, 61];

    private static List<byte[]> Samples()
    {
        var samples = new List<byte[]>();
        foreach (var type in Enum.GetValues<CompressionType>())
            samples.Add(SampleRecords.Build(new RecordBatchOptions { Compression = type, ProducerId = 1, ProducerEpoch = 0, BaseSequence = 0 }, 12));
        samples.Add(EndTransactionMarker.BuildBatch(true, 1, 2, 3, 4));
        samples.Add(samples[0].Concat(samples[3]).Concat(samples[4]).ToArray());
        foreach (var name in new[] { "none", "gzip", "snappy", "lz4", "zstd" })
            samples.Add(TestData.Read($"Records/Data/batch-v2-{name}.bin"));
        foreach (var magic in new[] { 0, 1 })
            foreach (var name in new[] { "none", "gzip", "snappy", "lz4" })
                samples.Add(TestData.Read($"Records/Data/legacy-v{magic}-{name}.bin"));
        return samples;
    }

    [Fact]
    public void Only_protocol_decode_exceptions_escape()
    {
        int seed = Seed;
        var random = new Random(seed);
        var samples = Samples();
        int decodeErrors = 0, clean = 0;
        for (int iteration = 0; iteration < Iterations; iteration++)
        {
            var data = Mutate(samples[random.Next(samples.Count)], random);
            if (random.Next(2) == 0) RepairChecksums(data);
            bool allowTail = random.Next(2) == 0;
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                DecodeEverything(data, allowTail);
                clean++;
            }
            catch (ProtocolDecodeException)
            {
                decodeErrors++;
            }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed} iteration {iteration}: {e.GetType().Name} escaped: {e}\ninput: {Convert.ToHexString(data)}");
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 16L * MaxDecompressed, $"seed {seed} iteration {iteration}: allocated {allocated} bytes");
        }
        output.WriteLine($"seed {seed}: {Iterations} inputs, {decodeErrors} refused, {clean} decoded cleanly");
        Assert.True(decodeErrors > Iterations / 10, $"only {decodeErrors} decode errors: the mutations are too gentle");
        Assert.True(clean > Iterations / 50, $"only {clean} clean decodes: the mutations never reach the records");
    }

    private static byte[] Mutate(byte[] original, Random random)
    {
        var data = new List<byte>(original);
        int mutations = random.Next(1, 5);
        for (int m = 0; m < mutations && data.Count > 0; m++)
        {
            int at = random.Next(data.Count);
            switch (random.Next(7))
            {
                case 0: data[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: data[at] = (byte)Interesting[random.Next(Interesting.Length)]; break;
                case 2:
                    var word = new byte[4];
                    BinaryPrimitives.WriteInt32BigEndian(word, Interesting[random.Next(Interesting.Length)]);
                    for (int i = 0; i < 4 && at + i < data.Count; i++) data[at + i] = word[i];
                    break;
                case 3: data.RemoveRange(at, data.Count - at); break;
                case 4: data.RemoveRange(at, Math.Min(random.Next(1, 16), data.Count - at)); break;
                case 5:
                    int from = random.Next(data.Count);
                    data.InsertRange(at, data.GetRange(from, Math.Min(random.Next(1, 9), data.Count - from)));
                    break;
                default: data[at] = (byte)random.Next(256); break;
            }
        }
        return data.ToArray();
    }

    /// <summary>Recomputes every CRC the framing still lets us find, so corruption reaches deeper code.</summary>
    private static void RepairChecksums(byte[] data)
    {
        int position = 0;
        while (data.Length - position >= RecordBatchLayout.HeaderSize)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(position + 8));
            if (length < 14 || length > data.Length - position - 12) return;
            var entry = data.AsSpan(position, 12 + length);
            if (entry[16] == 2 && length >= RecordBatchLayout.MinBatchLength) RecordBatchRewriter.UpdateCrc(entry);
            else if (entry[16] is 0 or 1) LegacyEncoder.FixCrc(entry);
            position += 12 + length;
        }
    }

    private static void DecodeEverything(byte[] data, bool allowTail)
    {
        if (RecordBatchReader.PeekMagic(data) is 0 or 1)
        {
            using var reader = new LegacyMessageSetReader(data, MaxDecompressed, allowTail);
            foreach (var record in reader) _ = record.Key.Length + record.Value.Length + record.Offset;
            using var builder = new RecordBatchBuilder(new RecordBatchOptions());
            LegacyMessageSets.ConvertToV2(data, builder, MaxDecompressed);
            new RecordBatch(builder.ToArray()).Validate();
            return;
        }
        var batches = new RecordBatchReader(data, allowTail);
        foreach (var batch in batches)
        {
            batch.Validate();
            using var records = batch.OpenRecords(MaxDecompressed);
            foreach (var record in records)
            {
                _ = record.KeySpan.Length + record.ValueSpan.Length;
                foreach (var header in record.Headers) _ = header.KeyString.Length + header.Value.Length;
                if (batch.IsControl)
                {
                    var key = ControlRecordKey.Read(record.KeySpan);
                    if (key.Type is ControlRecordType.Commit or ControlRecordType.Abort)
                        EndTransactionMarker.Read(key.Type, record.ValueSpan);
                }
            }
        }
        if (!batches.HasTruncatedTail) RecordBatchRewriter.AssignOffsets((byte[])data.Clone(), 0);
    }
}
