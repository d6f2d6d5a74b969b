using System.Diagnostics;
using System.Text;
using Fjord.Protocol.Records;
using Xunit.Abstractions;

namespace Fjord.Storage.Tests.Cleaner;

public sealed class LargeCompactionTests(ITestOutputHelper output)
{
    /// <summary>
    /// The required test: 1,000,000 records over 10,000 keys, in 1,000 uncompressed batches of 1,000,
    /// spread over ~100 segments, compact to exactly the last write of each key at its offset.
    /// </summary>
    [Fact]
    public void A_million_records_over_ten_thousand_keys_compact_to_the_last_write_of_each_key()
    {
        const int Batches = 1_000, RecordsPerBatch = 1_000, Keys = 10_000;
        var config = new LogConfig { CleanupPolicy = CleanupPolicy.Compact, SegmentBytes = 256 * 1024, FileDeleteDelayMs = 0 };
        using var t = new CleanerTestLog(config);
        var random = new Random(20240601);
        var keyBytes = Enumerable.Range(0, Keys).Select(k => Encoding.UTF8.GetBytes($"key-{k:D5}")).ToArray();
        var lastWrite = new (long Offset, int Value)[Keys];
        Array.Fill(lastWrite, (-1L, -1));
        var total = Stopwatch.StartNew();

        Span<byte> value = stackalloc byte[16];
        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        long offset = 0;
        for (int b = 0; b < Batches; b++)
        {
            builder.Reset(new RecordBatchOptions { BaseOffset = offset });
            for (int i = 0; i < RecordsPerBatch; i++, offset++)
            {
                int key = random.Next(Keys);
                int v = b * RecordsPerBatch + i;
                Assert.True(v.TryFormat(value, out int length));
                builder.AppendWithOffset(offset, 1_700_000_000_000 + v, keyBytes[key], true, value[..length], true, default);
                lastWrite[key] = (offset, v);
            }
            Assert.Equal(offset - RecordsPerBatch, t.AppendRaw(builder.ToArray()));
        }
        t.Log.Roll();
        long appendMs = total.ElapsedMilliseconds;
        int segmentsBefore = t.Segments.Count;
        long bytesBefore = t.Log.SizeInBytes;
        Assert.True(segmentsBefore > 50, $"{segmentsBefore} segments");

        using var cleaner = new LogCleaner(t.Clock, new CleanerOptions { DedupeBufferBytes = 1 << 20 });
        var clean = Stopwatch.StartNew();
        var result = cleaner.Clean(t.Log, t.Log.LogEndOffset)!;
        long cleanMs = clean.ElapsedMilliseconds;

        Assert.False(result.MapFull);
        Assert.Equal(1_000_000, result.EndOffset);
        Assert.Equal(1_000_000, result.RecordsRead);
        Assert.Equal(1_000_000, t.Log.LogEndOffset);
        Assert.Equal(0, t.Log.LogStartOffset);

        var model = new Dictionary<string, (long Offset, string Value)>();
        for (int k = 0; k < Keys; k++)
            if (lastWrite[k].Offset >= 0) model[$"key-{k:D5}"] = (lastWrite[k].Offset, lastWrite[k].Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var records = t.ReadAll();
        LogCompactionTests.AssertMatchesModel(records, model);
        Assert.Equal(model.Count, result.RecordsKept);

        output.WriteLine($"append {appendMs} ms; clean {cleanMs} ms ({result}); total {total.ElapsedMilliseconds} ms; " +
            $"{segmentsBefore} segments / {bytesBefore} bytes before, {t.Segments.Count} / {t.Log.SizeInBytes} after; {model.Count} keys");
    }
}
