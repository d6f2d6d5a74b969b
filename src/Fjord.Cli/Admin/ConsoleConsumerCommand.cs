using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Fjord.Common;
using Fjord.Network;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Cli.Admin;

/// <summary>
/// <c>fjord console-consumer</c>: what <c>kafka-console-consumer</c> does. Without <c>--group</c>: every
/// partition (or <c>--partition N</c>) from the end, the beginning (<c>--from-beginning</c>) or
/// <c>--offset O|earliest|latest</c> (ListOffsets), read with sessionless Fetch requests to each leader
/// (read_uncommitted; control batches skipped). Stops after <c>--max-messages</c>, after
/// <c>--timeout-ms</c> without a record, or on Ctrl+C, then prints "Processed a total of N messages"
/// on stderr and exits 0. Printing as Kafka's DefaultMessageFormatter (<c>print.timestamp</c>,
/// <c>print.partition</c>, <c>print.offset</c>, <c>print.headers</c>, <c>print.key</c>,
/// <c>print.value</c>, separators, <c>null.literal</c>); <c>--output json</c> prints one JSON object per record.
/// With <c>--group G</c> (or <c>group.id</c> in <c>--command-config</c>) it reads as a member of the KIP-848
/// consumer group G and commits what it printed: see <see cref="ConsoleConsumerGroup"/>.
/// </summary>
internal static class ConsoleConsumerCommand
{
    private const string Usage = """
        usage: fjord console-consumer --bootstrap-server HOST:PORT --topic T [options]

        options:
          --from-beginning                start at the oldest record (default: only new records); with --group:
                                          where partitions without a committed offset start
          --group G                       read as a member of consumer group G (see below)
          --partition N                   read partition N only (not with --group)
          --offset O|earliest|latest      with --partition: where to start
          --max-messages N                stop after N records
          --timeout-ms MS                 stop when no record came for MS milliseconds
          --property print.key=true       also print.timestamp, print.partition, print.offset, print.headers,
                                          print.value (default true), key.separator (TAB), line.separator (\n),
                                          headers.separator (,), headers.key.separator (:), null.literal (null)
          --isolation-level read_committed|read_uncommitted
          --output json                   one JSON object per record: topic, partition, offset, timestamp, key, value, headers
          --command-config FILE           client settings (Java properties): bootstrap.servers, client.id,
                                          request.timeout.ms, socket.connection.setup.timeout.ms, group.id,
                                          auto.offset.reset (earliest|latest), auto.commit.interval.ms,
                                          isolation.level; security.protocol must be PLAINTEXT (no ssl.*/sasl.*);
                                          other keys are ignored with a warning

        with --group G (the KIP-848 "consumer" group protocol; the broker assigns the partitions):
          The consumer joins G subscribed to the topic, heartbeats at the interval the broker returns,
          and reads only the partitions the broker assigns to it. Each newly assigned partition starts
          at G's committed offset; without one, at the oldest record with --from-beginning (or
          auto.offset.reset=earliest), else at the end. What was printed is committed (OffsetCommit
          with the member id and epoch) every auto.commit.interval.ms (5000) and at the end; a
          partition taken away is committed before the broker is told it was given up, so members of
          one group print each record once. At the end (--max-messages, --timeout-ms without a
          record, or Ctrl+C) it commits, leaves the group and exits 0; running it again goes on
          where it stopped. Run several at once to share the partitions.
        """;

    private static readonly HashSet<string> KnownProperties =
        ["print.key", "print.value", "print.timestamp", "print.partition", "print.offset", "print.headers",
         "key.separator", "line.separator", "headers.separator", "headers.key.separator", "null.literal"];

    public static int Run(string[] args, TextWriter o, TextWriter e) =>
        AdminRunner.Run("console-consumer", Usage, args, o, e,
            ["--topic", "--partition", "--offset", "--max-messages", "--timeout-ms", "--property", "--isolation-level", "--group", "--consumer-property"],
            ["--from-beginning"],
            false, RunAsync);

    internal sealed class Formatter(Dictionary<string, string> p)
    {
        private bool Flag(string key, bool fallback) => p.TryGetValue(key, out var v) ? string.Equals(v, "true", StringComparison.OrdinalIgnoreCase) : fallback;
        public bool Key => Flag("print.key", false);
        public bool Value => Flag("print.value", true);
        public bool Timestamp => Flag("print.timestamp", false);
        public bool Partition => Flag("print.partition", false);
        public bool Offset => Flag("print.offset", false);
        public bool Headers => Flag("print.headers", false);
        public string KeySeparator => p.GetValueOrDefault("key.separator", "\t");
        public string LineSeparator => p.GetValueOrDefault("line.separator", "\n");
        public string HeadersSeparator => p.GetValueOrDefault("headers.separator", ",");
        public string HeaderKeySeparator => p.GetValueOrDefault("headers.key.separator", ":");
        public string NullLiteral => p.GetValueOrDefault("null.literal", "null");
    }

    internal sealed class PartitionState(int partition, int leader, long offset)
    {
        public int Partition { get; } = partition;
        public int Leader { get; set; } = leader;
        public long Offset { get; set; } = offset;
    }

    private static async Task<int> RunAsync(AdminContext c)
    {
        var a = c.Args;
        var config = a.Config;
        string topic = a.Required("--topic", "(the topic to read)");
        if (a.Has("--consumer-property")) throw new UsageException("--consumer-property is not supported");
        string? group = a.Get("--group") ?? config?.Get("group.id");
        if (group is { Length: 0 }) throw new UsageException("--group needs a group id");
        if (group is not null && (a.Has("--partition") || a.Has("--offset")))
            throw new UsageException("--partition and --offset cannot be used with --group (the group assigns the partitions)");
        var props = ConsoleProducerCommand.Properties(a, KnownProperties);
        var format = new Formatter(props);
        int? only = a.Int("--partition", 0);
        string? offsetText = a.Get("--offset");
        if (offsetText is not null && only is null) throw new UsageException("--offset needs --partition");
        if (offsetText is not null && a.Has("--from-beginning")) throw new UsageException("--offset and --from-beginning cannot both be given");
        long? startOffset = null;
        long startTimestamp = a.Has("--from-beginning") ? -2 : -1;
        switch (offsetText)
        {
            case null: break;
            case "earliest": startTimestamp = -2; break;
            case "latest": startTimestamp = -1; break;
            default:
                if (!long.TryParse(offsetText, NumberStyles.None, CultureInfo.InvariantCulture, out long o)) throw new UsageException($"--offset: '{offsetText}' is not an offset, earliest or latest");
                startOffset = o;
                break;
        }
        int maxMessages = a.Int("--max-messages", 1) ?? int.MaxValue;
        int timeoutMs = a.Int("--timeout-ms", 0) ?? -1;
        sbyte isolation = (a.Get("--isolation-level") ?? config?.Get("isolation.level")?.Trim()) switch
        {
            null or "read_uncommitted" => 0,
            "read_committed" => 1,
            var other => throw new UsageException($"--isolation-level: '{other}' is not read_committed or read_uncommitted"),
        };

        var client = await c.ClientAsync().ConfigureAwait(false);
        c.Progress.Step($"looking up topic {topic}");
        var (topicId, partitions) = await client.PartitionsAsync(topic, autoCreate: false, c.Ct).ConfigureAwait(false);
        if (group is not null)
        {
            if (topicId == Uuid.Zero) throw new AdminException($"the broker did not give topic '{topic}' an id (Metadata v10+ is needed for a consumer group)");
            bool earliest = a.Has("--from-beginning") || config?.Get("auto.offset.reset")?.Trim() == "earliest";
            var member = new ConsoleConsumerGroup(c, client, group, topic, topicId, partitions, earliest, isolation);
            c.Progress.Idle();
            long count = await member.RunAsync((p, r) => Print(c, format, topic, p, r), maxMessages, timeoutMs, config?.AutoCommitIntervalMs ?? 5000).ConfigureAwait(false);
            c.Err.WriteLine($"Processed a total of {count} messages");
            return 0;
        }
        if (only is { } op && op >= partitions.Count) throw new AdminException($"topic '{topic}' has no partition {op} (it has {partitions.Count})");
        var states = partitions.Where(p => only is null || p.Partition == only).Select(p => new PartitionState(p.Partition, p.Leader, startOffset ?? -1)).ToList();
        if (startOffset is null)
        {
            c.Progress.Step("looking up start offsets");
            foreach (var byLeader in states.GroupBy(s => s.Leader))
            {
                var offsets = await ListOffsetsAsync(client, byLeader.Key, topic, byLeader.Select(s => s.Partition), startTimestamp, isolation, c.Ct).ConfigureAwait(false);
                foreach (var s in byLeader) s.Offset = offsets[s.Partition];
            }
        }
        c.Progress.Idle();

        long processed = 0;
        long lastRecord = Environment.TickCount64;
        int fetchCap = (int)Math.Clamp(client.Timeout.TotalMilliseconds / 2, 1, 500); // a fetch's wait stays well inside the request timeout
        try
        {
            while (processed < maxMessages && !c.Ct.IsCancellationRequested)
            {
                if (timeoutMs >= 0 && Environment.TickCount64 - lastRecord >= timeoutMs) break;
                int waitMs = timeoutMs >= 0 ? (int)Math.Clamp(timeoutMs - (Environment.TickCount64 - lastRecord), 0, fetchCap) : fetchCap;
                var fetches = states.GroupBy(s => s.Leader).Select(g => FetchAsync(client, g.Key, topic, [.. g], waitMs, isolation, c.Ct)).ToList();
                foreach (var fetched in await Task.WhenAll(fetches).ConfigureAwait(false))
                {
                    foreach (var (state, record) in fetched)
                    {
                        if (processed >= maxMessages) break;
                        Print(c, format, topic, state.Partition, record);
                        state.Offset = record.Offset + 1;
                        processed++;
                        lastRecord = Environment.TickCount64;
                    }
                }
                c.Out.Flush();
            }
        }
        catch (OperationCanceledException) when (c.Ct.IsCancellationRequested)
        {
            // Ctrl+C: a normal end.
        }
        c.Err.WriteLine($"Processed a total of {processed} messages");
        return 0;
    }

    /// <summary>
    /// ListOffsets of <paramref name="partitions"/> at their leader. Errors a new or moving partition
    /// answers for a moment (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION,
    /// OFFSET_NOT_AVAILABLE, FENCED/UNKNOWN_LEADER_EPOCH) are asked again, up to 15 s.
    /// </summary>
    internal static async Task<Dictionary<int, long>> ListOffsetsAsync(AdminClient client, int leader, string topic, IEnumerable<int> partitions, long timestamp, sbyte isolation, CancellationToken ct)
    {
        var wanted = partitions.ToList();
        var result = new Dictionary<int, long>();
        long deadline = Environment.TickCount64 + 15_000;
        for (int round = 0; ; round++)
        {
            var connection = await client.NodeAsync(leader, ct).ConfigureAwait(false);
            short version = AdminClient.Version(connection, ListOffsetsRequest.ApiKey, 1, 7);
            var t = new ListOffsetsRequest.ListOffsetsTopic { Name = topic };
            foreach (var p in wanted.Where(p => !result.ContainsKey(p))) t.Partitions.Add(new ListOffsetsRequest.ListOffsetsPartition { PartitionIndex = p, Timestamp = timestamp });
            var answer = await AdminClient.SendAsync<ListOffsetsResponse>(connection, new ListOffsetsRequest { ReplicaId = -1, IsolationLevel = isolation, Topics = [t] }, version, ct).ConfigureAwait(false);
            string? retry = null;
            foreach (var rt in answer.Topics)
                foreach (var rp in rt.Partitions)
                {
                    if (rp.ErrorCode == 0)
                    {
                        result[rp.PartitionIndex] = rp.Offset;
                        continue;
                    }
                    bool transient = rp.ErrorCode is (short)ErrorCode.NotLeaderOrFollower or (short)ErrorCode.LeaderNotAvailable
                        or (short)ErrorCode.UnknownTopicOrPartition or (short)ErrorCode.OffsetNotAvailable
                        or (short)ErrorCode.FencedLeaderEpoch or (short)ErrorCode.UnknownLeaderEpoch;
                    string problem = $"cannot list offsets of partition {rp.PartitionIndex} of '{topic}': {Errors.Describe(rp.ErrorCode, null)}";
                    if (!transient || Environment.TickCount64 >= deadline) throw new AdminException(problem);
                    retry = problem;
                }
            if (retry is null)
            {
                foreach (var p in wanted)
                    if (!result.ContainsKey(p)) throw new AdminException($"ListOffsets answered nothing for partition {p} of '{topic}'");
                return result;
            }
            await Task.Delay(Math.Min(50 * (round + 1), 300), ct).ConfigureAwait(false);
        }
    }

    /// <summary>A copy of one record (the fetch buffer is not kept).</summary>
    internal sealed record Fetched(long Offset, long Timestamp, TimestampType TimestampType, byte[]? Key, byte[]? Value, List<(string Key, byte[]? Value)> Headers);

    internal static async Task<List<(PartitionState, Fetched)>> FetchAsync(AdminClient client, int leader, string topic, List<PartitionState> states, int waitMs, sbyte isolation, CancellationToken ct)
    {
        KafkaClientConnection connection = await client.NodeAsync(leader, ct).ConfigureAwait(false);
        short version = AdminClient.Version(connection, FetchRequest.ApiKey, 4, 12);
        var ft = new FetchRequest.FetchTopic { Topic = topic };
        foreach (var s in states) ft.Partitions.Add(new FetchRequest.FetchPartition { Partition = s.Partition, FetchOffset = s.Offset, PartitionMaxBytes = 1 << 20 });
        var request = new FetchRequest { ReplicaId = -1, MaxWaitMs = waitMs, MinBytes = 1, MaxBytes = 50 << 20, IsolationLevel = isolation, SessionId = 0, SessionEpoch = -1, Topics = [ft] };
        var answer = await AdminClient.SendAsync<FetchResponse>(connection, request, version, ct).ConfigureAwait(false);
        if (answer.ErrorCode != 0) throw new AdminException($"fetch from broker {leader} failed: {Errors.Describe(answer.ErrorCode, null)}");
        var result = new List<(PartitionState, Fetched)>();
        foreach (var rt in answer.Responses)
            foreach (var rp in rt.Partitions)
            {
                var state = states.FirstOrDefault(s => s.Partition == rp.PartitionIndex);
                if (state is null) continue;
                if (rp.ErrorCode is (short)ErrorCode.NotLeaderOrFollower or (short)ErrorCode.LeaderNotAvailable or (short)ErrorCode.FencedLeaderEpoch)
                {
                    var (_, fresh) = await client.PartitionsAsync(topic, false, ct).ConfigureAwait(false);
                    state.Leader = fresh.First(p => p.Partition == state.Partition).Leader;
                    continue;
                }
                if (rp.ErrorCode == (short)ErrorCode.OffsetOutOfRange && rp.LogStartOffset >= 0 && state.Offset < rp.LogStartOffset)
                {
                    state.Offset = rp.LogStartOffset;
                    continue;
                }
                if (rp.ErrorCode != 0) throw new AdminException($"fetch of partition {rp.PartitionIndex} of '{topic}' failed: {Errors.Describe(rp.ErrorCode, null)}");
                if (rp.Records is not { Length: > 0 } records) continue;
                long next = state.Offset;
                int before = result.Count;
                foreach (var batch in new RecordBatchReader(records, allowTruncatedTail: true))
                {
                    if (batch.Magic != RecordBatchLayout.CurrentMagic) throw new AdminException($"partition {rp.PartitionIndex}: a batch of magic {batch.Magic} (only v2 batches are printed)");
                    if (!batch.IsControl)
                    {
                        using var open = batch.OpenRecords(64 << 20);
                        foreach (var r in open)
                        {
                            if (r.Offset < state.Offset) continue;
                            var headers = new List<(string, byte[]?)>();
                            foreach (var h in r.Headers) headers.Add((h.KeyString, h.HasValue ? h.Value.ToArray() : null));
                            result.Add((state, new Fetched(r.Offset, r.Timestamp, batch.TimestampType, r.HasKey ? r.Key.ToArray() : null, r.HasValue ? r.Value.ToArray() : null, headers)));
                        }
                    }
                    next = Math.Max(next, batch.LastOffset + 1);
                }
                // A fetch of control batches only (or compacted gaps) moves the position; otherwise each printed record does.
                if (result.Count == before) state.Offset = Math.Max(state.Offset, next);
            }
        return result;
    }

    private static string Text(byte[]? bytes, string nullLiteral) => bytes is null ? nullLiteral : Encoding.UTF8.GetString(bytes);

    internal static void Print(AdminContext c, Formatter f, string topic, int partition, Fetched r)
    {
        if (c.Json)
        {
            var headers = new JsonArray();
            foreach (var (k, v) in r.Headers) headers.Add(new JsonObject { ["key"] = k, ["value"] = v is null ? null : Encoding.UTF8.GetString(v) });
            c.Out.WriteLine(new JsonObject
            {
                ["topic"] = topic, ["partition"] = partition, ["offset"] = r.Offset,
                ["timestampType"] = r.TimestampType == TimestampType.LogAppendTime ? "LogAppendTime" : "CreateTime", ["timestamp"] = r.Timestamp,
                ["key"] = r.Key is null ? null : Encoding.UTF8.GetString(r.Key), ["value"] = r.Value is null ? null : Encoding.UTF8.GetString(r.Value),
                ["headers"] = headers,
            }.ToJsonString());
            return;
        }
        var fields = new List<string>();
        if (f.Timestamp) fields.Add(r.Timestamp < 0 ? "NO_TIMESTAMP" : $"{(r.TimestampType == TimestampType.LogAppendTime ? "LogAppendTime" : "CreateTime")}:{r.Timestamp}");
        if (f.Partition) fields.Add($"Partition:{partition}");
        if (f.Offset) fields.Add($"Offset:{r.Offset}");
        if (f.Headers) fields.Add(r.Headers.Count == 0 ? "NO_HEADERS" : string.Join(f.HeadersSeparator, r.Headers.Select(h => $"{h.Key}{f.HeaderKeySeparator}{Text(h.Value, f.NullLiteral)}")));
        if (f.Key) fields.Add(Text(r.Key, f.NullLiteral));
        if (f.Value) fields.Add(Text(r.Value, f.NullLiteral));
        c.Out.Write(string.Join(f.KeySeparator, fields) + f.LineSeparator);
    }
}
