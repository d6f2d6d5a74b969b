using System.Text;
using Fjord.Protocol.Records;
using Record = Fjord.Protocol.Records.Record;

namespace Fjord.Protocol.Tests.Records;

/// <summary>The record rule shared with make-vectors.py, and helpers to build and read batches.</summary>
internal static class SampleRecords
{
    public sealed record Expected(long Timestamp, byte[]? Key, byte[]? Value, (string Key, byte[]? Value)[] Headers);

    public static Expected Record(int i)
    {
        byte[]? key = i % 10 == 3 ? null : Encoding.ASCII.GetBytes($"key-{i}");
        byte[]? value = i % 17 == 5 ? null : Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat($"value-{i}-", i % 5 + 1)));
        (string, byte[]?)[] headers = i % 3 == 0 ? [("h1", Encoding.ASCII.GetBytes($"a{i}")), ("n", null)] : [];
        return new Expected(1700000000000 + i * 10, key, value, headers);
    }

    public static void AppendSample(RecordBatchBuilder builder, int i)
    {
        var r = Record(i);
        var headers = r.Headers.Select(h => new RecordHeader(h.Key, h.Value)).ToArray();
        builder.Append(r.Timestamp, r.Key, r.Value, headers);
    }

    public static byte[] Build(RecordBatchOptions options, int count)
    {
        using var builder = new RecordBatchBuilder(options);
        for (int i = 0; i < count; i++) AppendSample(builder, i);
        return builder.ToArray();
    }

    /// <summary>Checks record <paramref name="i"/> against the rule.</summary>
    public static void AssertMatches(int i, in Record record, long baseOffset = 0)
    {
        var expected = Record(i);
        Assert.Equal(baseOffset + i, record.Offset);
        Assert.Equal(expected.Timestamp, record.Timestamp);
        Assert.Equal(expected.Key is not null, record.HasKey);
        Assert.Equal(expected.Key ?? [], record.KeySpan.ToArray());
        Assert.Equal(expected.Value is not null, record.HasValue);
        Assert.Equal(expected.Value ?? [], record.ValueSpan.ToArray());
        Assert.Equal(expected.Headers.Length, record.HeaderCount);
        int h = 0;
        foreach (var header in record.Headers)
        {
            Assert.Equal(expected.Headers[h].Key, header.KeyString);
            Assert.Equal(expected.Headers[h].Value is not null, header.HasValue);
            Assert.Equal(expected.Headers[h].Value ?? [], header.Value.ToArray());
            h++;
        }
        Assert.Equal(expected.Headers.Length, h);
    }

    /// <summary>Reads every record of a batch, checking each against the rule.</summary>
    public static int AssertBatch(RecordBatch batch, long baseOffset = 0)
    {
        batch.Validate();
        using var records = batch.OpenRecords(1 << 20);
        int i = 0;
        foreach (var record in records) AssertMatches(i++, record, baseOffset);
        Assert.Equal(batch.RecordCount, i);
        return i;
    }
}
