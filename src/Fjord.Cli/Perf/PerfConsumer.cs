using System.Buffers.Binary;
using System.Diagnostics;
using Fjord.Common;
using Fjord.Network;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Cli.Perf;

/// <summary>What <c>fjord perf consume</c> does (the flags of kafka-consumer-perf-test).</summary>
public sealed record ConsumerPerfOptions
{
    public required string BootstrapServers { get; init; }
    public required string Topic { get; init; }
    /// <summary>Stop after this many records.</summary>
    public required long NumRecords { get; init; }
    public int FetchMaxBytes { get; init; } = 52_428_800;
    public int MaxPartitionFetchBytes { get; init; } = 1_048_576;
    public int FetchMaxWaitMs { get; init; } = 500;
    /// <summary>Give up when no record arrived for this long.</summary>
    public int TimeoutMs { get; init; } = 10_000;
    public int ReportIntervalMs { get; init; } = 1000;
    public string ClientId { get; init; } = "fjord-perf-consumer";
    /// <summary>Sees every partition's record bytes as fetched (whole batches), e.g. to verify them.</summary>
    public Action<int, ReadOnlyMemory<byte>>? OnRecords { get; init; }
}

public sealed record ConsumerPerfResult(long Records, long Bytes, double Seconds, double RecordsPerSec, double MBPerSec, long Fetches, bool TimedOut)
{
    public override string ToString() =>
        $"{Records} records consumed, {Bytes / (1024.0 * 1024):F2} MB, {RecordsPerSec:F1} records/sec ({MBPerSec:F2} MB/sec), {Fetches} fetches" +
        (TimedOut ? " (stopped: no record for the timeout)" : "");
}

/// <summary>
/// A fetch loop on Fjord's own protocol client: from offset 0 of every partition of the topic, one
/// sessionless Fetch in flight per leader, until <see cref="ConsumerPerfOptions.NumRecords"/> records
/// (counted from the v2 batch headers) or <see cref="ConsumerPerfOptions.TimeoutMs"/> without progress.
/// MB/s counts record-batch bytes.
/// </summary>
public static class PerfConsumer
{
    private sealed class Counters
    {
        public long Records, Bytes, Fetches, LastProgress;
    }

    public static async Task<ConsumerPerfResult> RunAsync(ConsumerPerfOptions o, TextWriter output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.NumRecords <= 0) throw new ArgumentException("num-records must be > 0");
        await using var cluster = await PerfCluster.ConnectAsync(o.BootstrapServers, o.ClientId, ct).ConfigureAwait(false);
        await cluster.LoadTopicAsync(o.Topic, -1, -1, TimeSpan.FromSeconds(30), output, ct).ConfigureAwait(false);
        var counters = new Counters { LastProgress = Environment.TickCount64 };
        var start = Stopwatch.GetTimestamp();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reporter = ReportAsync(o, counters, output, stop.Token);
        var loops = new List<Task>();
        foreach (var group in cluster.Partitions.GroupBy(p => p.LeaderId))
        {
            var connection = await cluster.ConnectionAsync(group.Key, ct).ConfigureAwait(false);
            loops.Add(FetchLoopAsync(o, cluster, connection, [.. group], counters, stop));
        }
        bool timedOut;
        try
        {
            await Task.WhenAll(loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
        }
        finally
        {
            timedOut = Interlocked.Read(ref counters.Records) < o.NumRecords;
            stop.Cancel();
            try { await reporter.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        long records = Interlocked.Read(ref counters.Records), bytes = Interlocked.Read(ref counters.Bytes);
        return new ConsumerPerfResult(records, bytes, seconds, records / seconds, bytes / (1024.0 * 1024) / seconds, Interlocked.Read(ref counters.Fetches), timedOut);
    }

    private static async Task FetchLoopAsync(ConsumerPerfOptions o, PerfCluster cluster, KafkaClientConnection connection,
        List<PerfPartition> partitions, Counters counters, CancellationTokenSource stop)
    {
        short version = connection.PickVersion(FetchRequest.ApiKey, 16);
        var offsets = partitions.ToDictionary(p => p.Index, _ => 0L);
        while (!stop.IsCancellationRequested)
        {
            if (Interlocked.Read(ref counters.Records) >= o.NumRecords) { stop.Cancel(); return; }
            if (Environment.TickCount64 - Interlocked.Read(ref counters.LastProgress) > o.TimeoutMs) { stop.Cancel(); return; }
            var topic = new FetchRequest.FetchTopic { Topic = version < 13 ? cluster.Topic : "", TopicId = version >= 13 ? cluster.TopicId : Uuid.Zero };
            foreach (var p in partitions)
                topic.Partitions.Add(new FetchRequest.FetchPartition { Partition = p.Index, FetchOffset = offsets[p.Index], PartitionMaxBytes = o.MaxPartitionFetchBytes });
            var request = new FetchRequest
            {
                MaxWaitMs = o.FetchMaxWaitMs,
                MinBytes = 1,
                MaxBytes = o.FetchMaxBytes,
                SessionId = 0,
                SessionEpoch = -1,
                Topics = [topic],
            };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
            timeout.CancelAfter(o.FetchMaxWaitMs + 30_000);
            var response = await connection.SendAsync<FetchResponse>(request, version, timeout.Token).ConfigureAwait(false);
            Interlocked.Increment(ref counters.Fetches);
            if (response.ErrorCode != 0) throw new InvalidOperationException($"fetch failed: {(ErrorCode)response.ErrorCode}");
            foreach (var t in response.Responses)
                foreach (var p in t.Partitions)
                {
                    if (p.ErrorCode == (short)ErrorCode.OffsetOutOfRange && p.LogStartOffset >= 0)
                    {
                        offsets[p.PartitionIndex] = p.LogStartOffset;
                        continue;
                    }
                    if (p.ErrorCode != 0) throw new InvalidOperationException($"fetch of partition {p.PartitionIndex} failed: {(ErrorCode)p.ErrorCode}");
                    if (p.Records is not { Length: > 0 } records) continue;
                    var (count, next, used) = Walk(records.Span);
                    if (used == 0) continue;
                    o.OnRecords?.Invoke(p.PartitionIndex, records[..used]);
                    offsets[p.PartitionIndex] = next;
                    Interlocked.Add(ref counters.Records, count);
                    Interlocked.Add(ref counters.Bytes, used);
                    Interlocked.Exchange(ref counters.LastProgress, Environment.TickCount64);
                }
        }
    }

    /// <summary>Counts the records of the whole v2 batches in <paramref name="bytes"/>: (records, next offset, bytes of whole batches).</summary>
    private static (long Count, long NextOffset, int Used) Walk(ReadOnlySpan<byte> bytes)
    {
        long count = 0, next = -1;
        int at = 0;
        while (bytes.Length - at >= RecordBatchLayout.HeaderSize)
        {
            var batch = bytes[at..];
            int length = BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatchLayout.BatchLength..]) + RecordBatchLayout.LogOverhead;
            if (length > batch.Length || length < RecordBatchLayout.HeaderSize) break; // a partial batch at the end
            long baseOffset = BinaryPrimitives.ReadInt64BigEndian(batch);
            next = baseOffset + BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatchLayout.LastOffsetDelta..]) + 1;
            short attributes = BinaryPrimitives.ReadInt16BigEndian(batch[RecordBatchLayout.Attributes..]);
            if ((attributes & 0x20) == 0) count += BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatchLayout.RecordsCount..]); // not a control batch
            at += length;
        }
        return (count, next, at);
    }

    private static async Task ReportAsync(ConsumerPerfOptions o, Counters counters, TextWriter output, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(100, o.ReportIntervalMs)));
        long last = Stopwatch.GetTimestamp(), lastRecords = 0, lastBytes = 0;
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            long now = Stopwatch.GetTimestamp();
            double seconds = Stopwatch.GetElapsedTime(last, now).TotalSeconds;
            last = now;
            long records = Interlocked.Read(ref counters.Records), bytes = Interlocked.Read(ref counters.Bytes);
            output.WriteLine($"{records - lastRecords} records consumed, {(records - lastRecords) / seconds:F1} records/sec " +
                $"({(bytes - lastBytes) / (1024.0 * 1024) / seconds:F2} MB/sec); {records} in all");
            lastRecords = records;
            lastBytes = bytes;
        }
    }
}
