using System.Diagnostics;
using Fjord.Common;
using Fjord.Network;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Cli.Perf;

/// <summary>What <c>fjord perf produce</c> does (the flags of kafka-producer-perf-test).</summary>
public sealed record ProducerPerfOptions
{
    public required string BootstrapServers { get; init; }
    public required string Topic { get; init; }
    public required long NumRecords { get; init; }
    public required int RecordSize { get; init; }
    /// <summary>0, 1 or -1 (all).</summary>
    public short Acks { get; init; } = 1;
    /// <summary>Records per second cap; -1: none.</summary>
    public double Throughput { get; init; } = -1;
    /// <summary>A batch is sent once it holds this many bytes (header included) or once <see cref="LingerMs"/> passed.</summary>
    public int BatchSize { get; init; } = 16384;
    public int LingerMs { get; init; } = 5;
    /// <summary>Produce requests in flight per broker connection.</summary>
    public int MaxInFlight { get; init; } = 5;
    /// <summary>Used only when the topic is created; -1: the broker's default.</summary>
    public int Partitions { get; init; } = -1;
    public short ReplicationFactor { get; init; } = -1;
    public int RequestTimeoutMs { get; init; } = 30_000;
    public int ReportIntervalMs { get; init; } = 1000;
    /// <summary>Stop generating records after this long (then wait for the answers), even before <see cref="NumRecords"/>.</summary>
    public TimeSpan? MaxDuration { get; init; }
    public string ClientId { get; init; } = "fjord-perf-producer";
}

/// <summary>The final figures of a producer run (latencies in ms, from a record's append to its acknowledgement).</summary>
public sealed record ProducerPerfResult(long Records, long FailedRecords, double Seconds, double RecordsPerSec, double MBPerSec,
    double AvgMs, double P50Ms, double P99Ms, double P999Ms, double MaxMs, long Requests)
{
    public override string ToString() =>
        $"{Records} records sent, {RecordsPerSec:F1} records/sec ({MBPerSec:F2} MB/sec), {AvgMs:F2} ms avg latency, {MaxMs:F2} ms max latency, " +
        $"{P50Ms:F2} ms 50th, {P99Ms:F2} ms 99th, {P999Ms:F2} ms 99.9th." + (FailedRecords > 0 ? $" {FailedRecords} records FAILED." : "");
}

/// <summary>
/// A load generator on Fjord's own protocol client: records of a fixed random payload (no key) go
/// into one v2 batch at a time (sticky partitioning: a batch fills up, or lingers out, then the next
/// partition takes over, round robin); each batch goes out as its own Produce request on the leader's
/// pipelined connection, with at most <see cref="ProducerPerfOptions.MaxInFlight"/> requests in
/// flight per connection. A record's latency runs from its append to the batch to its acknowledgement
/// (acks=0: to the request being written). Failed partitions are counted, not retried.
/// </summary>
public static class PerfProducer
{
    private sealed class Broker(KafkaClientConnection connection, int maxInFlight, short produceVersion)
    {
        public KafkaClientConnection Connection { get; } = connection;
        public SemaphoreSlim Slots { get; } = new(maxInFlight, maxInFlight);
        public short ProduceVersion { get; } = produceVersion;
    }

    private sealed class Stats
    {
        public readonly LatencyHistogram Latency = new();
        public long Acked, Failed, Requests, WindowCount, WindowSumMicros, WindowMaxMicros;
        public string? FirstError;

        public void Record(long micros)
        {
            Latency.Record(micros);
            Interlocked.Increment(ref WindowCount);
            Interlocked.Add(ref WindowSumMicros, micros);
            long max;
            while (micros > (max = Interlocked.Read(ref WindowMaxMicros)) && Interlocked.CompareExchange(ref WindowMaxMicros, micros, max) != max) { }
        }
    }

    public static async Task<ProducerPerfResult> RunAsync(ProducerPerfOptions o, TextWriter output, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (o.NumRecords <= 0 || o.RecordSize < 0 || o.BatchSize <= 0 || o.MaxInFlight <= 0 || o.Acks is not (0 or 1 or -1))
            throw new ArgumentException("num-records > 0, record-size ≥ 0, batch-size > 0, max-in-flight > 0, acks 0|1|all");
        await using var cluster = await PerfCluster.ConnectAsync(o.BootstrapServers, o.ClientId, ct).ConfigureAwait(false);
        await cluster.LoadTopicAsync(o.Topic, o.Partitions, o.ReplicationFactor, TimeSpan.FromSeconds(30), output, ct).ConfigureAwait(false);
        var brokers = new Dictionary<int, Broker>();
        foreach (var p in cluster.Partitions)
            if (!brokers.ContainsKey(p.LeaderId))
            {
                var c = await cluster.ConnectionAsync(p.LeaderId, ct).ConfigureAwait(false);
                brokers[p.LeaderId] = new Broker(c, o.MaxInFlight, c.PickVersion(ProduceRequest.ApiKey, 12));
            }

        var payload = new byte[o.RecordSize];
        var random = new Random(42);
        for (int i = 0; i < payload.Length; i++) payload[i] = (byte)('A' + random.Next(26));
        var stats = new Stats();
        var start = Stopwatch.GetTimestamp();
        using var reporting = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reporter = ReportAsync(o, stats, output, reporting.Token);

        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        var ticks = new List<long>(1024);
        int partitionCursor = 0;
        long batchStartedAt = 0;
        int recordSizeEstimate = o.RecordSize + 16;
        try
        {
            long stopAt = o.MaxDuration is { } limit ? start + (long)(limit.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
            for (long i = 0; i < o.NumRecords; i++)
            {
                ct.ThrowIfCancellationRequested();
                if ((i & 63) == 0 && Stopwatch.GetTimestamp() >= stopAt)
                {
                    if (builder.Count > 0) await SendAsync(o, cluster, brokers, builder, ticks, partitionCursor++, stats, ct).ConfigureAwait(false);
                    break;
                }
                if (o.Throughput > 0)
                {
                    // Pace: record i is due at start + i / throughput. While early, send a batch whose linger ran out.
                    while (true)
                    {
                        long due = start + (long)(i / o.Throughput * Stopwatch.Frequency);
                        long now = Stopwatch.GetTimestamp();
                        if (now >= due) break;
                        if (builder.Count > 0 && Stopwatch.GetElapsedTime(batchStartedAt, now).TotalMilliseconds >= o.LingerMs)
                        {
                            await SendAsync(o, cluster, brokers, builder, ticks, partitionCursor++, stats, ct).ConfigureAwait(false);
                            continue;
                        }
                        double waitMs = (due - now) * 1000.0 / Stopwatch.Frequency;
                        if (builder.Count > 0) waitMs = Math.Min(waitMs, o.LingerMs - Stopwatch.GetElapsedTime(batchStartedAt, now).TotalMilliseconds);
                        if (waitMs >= 1) await Task.Delay(TimeSpan.FromMilliseconds(waitMs), ct).ConfigureAwait(false);
                        else Thread.Yield();
                    }
                }
                if (builder.Count == 0)
                {
                    builder.Reset(new RecordBatchOptions());
                    ticks.Clear();
                    batchStartedAt = Stopwatch.GetTimestamp();
                }
                builder.Append(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), (byte[]?)null, payload);
                ticks.Add(Stopwatch.GetTimestamp());
                bool full = builder.UncompressedSizeInBytes + recordSizeEstimate > o.BatchSize;
                bool lingered = Stopwatch.GetElapsedTime(batchStartedAt).TotalMilliseconds >= o.LingerMs;
                if (full || lingered || i == o.NumRecords - 1)
                    await SendAsync(o, cluster, brokers, builder, ticks, partitionCursor++, stats, ct).ConfigureAwait(false);
            }
            // Drain: every slot back means every request answered (each is bounded by the request timeout).
            foreach (var b in brokers.Values)
                for (int s = 0; s < o.MaxInFlight; s++)
                    if (!await b.Slots.WaitAsync(o.RequestTimeoutMs + 5000, ct).ConfigureAwait(false))
                        throw new TimeoutException($"produce requests to {b.Connection.RemoteEndPoint} still unanswered after {o.RequestTimeoutMs + 5000} ms");
        }
        finally
        {
            reporting.Cancel();
            try { await reporter.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (stats.FirstError is { } firstError) output.WriteLine($"first error: {firstError}");
        long acked = Interlocked.Read(ref stats.Acked);
        var h = stats.Latency;
        return new ProducerPerfResult(acked, Interlocked.Read(ref stats.Failed), seconds, acked / seconds, acked * (double)o.RecordSize / (1024 * 1024) / seconds,
            h.MeanMicros / 1000, h.PercentileMicros(50) / 1000.0, h.PercentileMicros(99) / 1000.0, h.PercentileMicros(99.9) / 1000.0,
            h.MaxMicros / 1000.0, Interlocked.Read(ref stats.Requests));
    }

    /// <summary>Sends the builder's batch to partition <paramref name="cursor"/> mod count; returns once a slot is taken and the request written.</summary>
    private static async Task SendAsync(ProducerPerfOptions o, PerfCluster cluster, Dictionary<int, Broker> brokers, RecordBatchBuilder builder,
        List<long> ticks, int cursor, Stats stats, CancellationToken ct)
    {
        var partition = cluster.Partitions[cursor % cluster.Partitions.Count];
        var broker = brokers[partition.LeaderId];
        var bytes = builder.ToArray();
        var recordTicks = ticks.ToArray();
        builder.Reset(new RecordBatchOptions());
        ticks.Clear();
        var request = new ProduceRequest
        {
            Acks = o.Acks,
            TimeoutMs = o.RequestTimeoutMs,
            TopicData = [new ProduceRequest.TopicProduceData
            {
                Name = cluster.Topic,
                TopicId = cluster.TopicId,
                PartitionData = [new ProduceRequest.PartitionProduceData { Index = partition.Index, Records = bytes }],
            }],
        };
        if (broker.ProduceVersion < 13) request.TopicData[0].TopicId = Uuid.Zero;
        else request.TopicData[0].Name = "";
        await broker.Slots.WaitAsync(ct).ConfigureAwait(false);
        Interlocked.Increment(ref stats.Requests);
        if (o.Acks == 0)
        {
            try
            {
                await broker.Connection.SendWithoutResponseAsync(request, broker.ProduceVersion, ct).ConfigureAwait(false);
                Complete(stats, recordTicks, null);
            }
            finally
            {
                broker.Slots.Release();
            }
            return;
        }
        var sent = broker.Connection.SendAsync<ProduceResponse>(request, broker.ProduceVersion, ct);
        _ = sent.ContinueWith(t =>
        {
            try
            {
                string? error = t.IsCompletedSuccessfully ? ErrorOf(t.Result) : t.Exception?.GetBaseException().Message ?? "cancelled";
                Complete(stats, recordTicks, error);
            }
            finally
            {
                broker.Slots.Release();
            }
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        if (sent.IsFaulted) await sent.ConfigureAwait(false); // a dead connection ends the run
    }

    private static string? ErrorOf(ProduceResponse response)
    {
        foreach (var t in response.Responses)
            foreach (var p in t.PartitionResponses)
                if (p.ErrorCode != 0) return $"{(ErrorCode)p.ErrorCode} {p.ErrorMessage}";
        return null;
    }

    private static void Complete(Stats stats, long[] recordTicks, string? error)
    {
        if (error is not null)
        {
            Interlocked.Add(ref stats.Failed, recordTicks.Length);
            Interlocked.CompareExchange(ref stats.FirstError, error, null);
            return;
        }
        long now = Stopwatch.GetTimestamp();
        foreach (long t in recordTicks) stats.Record((now - t) * 1_000_000 / Stopwatch.Frequency);
        Interlocked.Add(ref stats.Acked, recordTicks.Length);
    }

    private static async Task ReportAsync(ProducerPerfOptions o, Stats stats, TextWriter output, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(100, o.ReportIntervalMs)));
        long last = Stopwatch.GetTimestamp();
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            long now = Stopwatch.GetTimestamp();
            double seconds = Stopwatch.GetElapsedTime(last, now).TotalSeconds;
            last = now;
            long count = Interlocked.Exchange(ref stats.WindowCount, 0);
            long sum = Interlocked.Exchange(ref stats.WindowSumMicros, 0);
            long max = Interlocked.Exchange(ref stats.WindowMaxMicros, 0);
            var h = stats.Latency;
            output.WriteLine($"{count} records sent, {count / seconds:F1} records/sec ({count * (double)o.RecordSize / (1024 * 1024) / seconds:F2} MB/sec), " +
                $"{(count == 0 ? 0 : sum / 1000.0 / count):F2} ms avg latency, {max / 1000.0:F2} ms max latency; so far: " +
                $"{h.PercentileMicros(50) / 1000.0:F2} ms 50th, {h.PercentileMicros(99) / 1000.0:F2} ms 99th.");
        }
    }
}
