using System.Diagnostics;
using Fjord.Common;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Benchmarks;

/// <summary>
/// Whole-log throughput with Stopwatch (BenchmarkDotNet does not suit a log that grows): appending
/// 16 KiB batches of 1 KiB records as leader, and reading the log back sequentially from the page
/// cache, each printed beside this machine's own figure for the same bytes through a plain
/// FileStream, measured in the same run. Five rounds, each measuring the raw figure right before the
/// log's, so both see the same machine state; the table shows medians and the median of the
/// per-round ratios (this VM's disk figures move by ±20% between runs).
/// </summary>
public static class StorageThroughput
{
    private const int RecordBytes = 1024;
    private const int RecordsPerBatch = 16;
    private const long TotalBytes = 256L << 20;

    public static void Run(string root)
    {
        var batch = BuildBatch();
        int batchCount = (int)(TotalBytes / batch.Length);
        long bytes = (long)batchCount * batch.Length;
        const int rounds = 5;
        var rawWrite = new double[rounds];
        var logAppend = new double[rounds];
        var rawRead = new double[rounds];
        var logRead = new double[rounds];
        for (int round = 0; round < rounds; round++)
        {
            var dir = Directory.CreateDirectory(Path.Combine(root, $"fjord-bench-{Guid.NewGuid():N}")).FullName;
            try
            {
                var rawPath = Path.Combine(dir, "raw.bin");
                rawWrite[round] = Measure(bytes, () => RawWrite(rawPath, batch, batchCount));
                rawRead[round] = Measure(bytes, () => RawRead(rawPath));
                var log = PartitionLog.Open(Path.Combine(dir, "bench-0"), new TopicPartition("bench", 0), LogConfig.Default with { FileDeleteDelayMs = 0 },
                    SystemClock.Instance, new LogOpenOptions());
                logAppend[round] = Measure(bytes, () => { for (int i = 0; i < batchCount; i++) log.AppendAsLeader(batch, 1); log.Flush(); });
                logRead[round] = Measure(bytes, () => ReadAll(log));
                log.Close();
            }
            finally { Directory.Delete(dir, recursive: true); }
        }
        Console.WriteLine();
        double appendRatio = Median(logAppend.Zip(rawWrite, (l, r) => l / r).ToArray());
        double readRatio = Median(logRead.Zip(rawRead, (l, r) => l / r).ToArray());
        Console.WriteLine($"== Storage throughput: {bytes >> 20} MiB in {batch.Length}-byte batches of {RecordsPerBatch} x {RecordBytes} B records, median of {rounds} rounds ==");
        Console.WriteLine($"{"measure",-40} {"MB/s",10}   reference (same run)");
        Console.WriteLine($"{"raw FileStream sequential write + fsync",-40} {Median(rawWrite),10:F0}   the machine's own figure (rounds: {string.Join(", ", rawWrite.Select(x => x.ToString("F0")))})");
        Console.WriteLine($"{"PartitionLog.AppendAsLeader + Flush",-40} {Median(logAppend),10:F0}   {100 * appendRatio:F0}% of raw, median per-round ratio (target >= 80%)");
        Console.WriteLine($"{"raw FileStream sequential read (cache)",-40} {Median(rawRead),10:F0}   the machine's own figure");
        Console.WriteLine($"{"PartitionLog.Read, 1 MiB at a time",-40} {Median(logRead),10:F0}   {100 * readRatio:F0}% of raw read (target >= 2000 MB/s)");
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static byte[] BuildBatch()
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        var value = new byte[RecordBytes];
        new Random(3).NextBytes(value);
        for (int i = 0; i < RecordsPerBatch; i++) builder.Append(1_700_000_000_000, null, value);
        return builder.ToArray();
    }

    private static double Measure(long bytes, Action action)
    {
        var watch = Stopwatch.StartNew();
        action();
        return bytes / watch.Elapsed.TotalSeconds / 1e6;
    }

    private static void RawWrite(string path, byte[] chunk, int count)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
        for (int i = 0; i < count; i++) stream.Write(chunk);
        stream.Flush(flushToDisk: true);
    }

    private static void RawRead(string path)
    {
        var buffer = new byte[1 << 20];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        while (stream.Read(buffer) > 0) { }
    }

    private static void ReadAll(PartitionLog log)
    {
        var buffer = new byte[2 << 20];
        long offset = log.LogStartOffset;
        while (offset < log.LogEndOffset)
        {
            var result = log.Read(offset, 1 << 20, log.LogEndOffset);
            result.CopyTo(buffer);
            // The last whole batch in the chunk tells where the next read starts.
            offset = LastOffsetIn(buffer.AsMemory(0, result.TotalBytes)) + 1;
        }
    }

    private static long LastOffsetIn(ReadOnlyMemory<byte> bytes)
    {
        var reader = new RecordBatchReader(bytes);
        long last = -1;
        while (reader.MoveNext()) last = reader.Current.LastOffset;
        return last;
    }
}
