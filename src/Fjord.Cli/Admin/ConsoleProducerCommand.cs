using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Cli.Admin;

/// <summary>
/// <c>fjord console-producer</c>: what <c>kafka-console-producer</c> does. One record per input line
/// (UTF-8; a trailing '\r' is dropped). Properties as Kafka's LineMessageReader: <c>parse.key</c>,
/// <c>key.separator</c> (tab), <c>parse.headers</c>, <c>headers.delimiter</c> (tab),
/// <c>headers.separator</c> (,), <c>headers.key.separator</c> (:), <c>null.marker</c>,
/// <c>ignore.error</c>. A line of <c>headers⟨delimiter⟩key⟨separator⟩value</c> when both are parsed.
/// Keyed records go to partition murmur2(key) mod partitions (Kafka's default partitioner); keyless
/// ones round-robin, unless <c>--partition</c>. Lines already read are sent together (one v2 batch per
/// partition, one Produce per leader, acks as <c>--request-required-acks</c>, default all) before more are
/// read, so piped input is batched and typed input is sent line by line. Exit 1 when a record is refused.
/// </summary>
public static class ConsoleProducerCommand
{
    private const string Usage = """
        usage: fjord console-producer --bootstrap-server HOST:PORT --topic T [options] < lines

        options:
          --property parse.key=true          split each line at key.separator (default TAB) into key and value
          --property key.separator=SEP
          --property parse.headers=true      a line starts with headers: h1:v1,h2:v2<headers.delimiter>…
          --property headers.delimiter=SEP   (default TAB), headers.separator (,), headers.key.separator (:)
          --property null.marker=M           a key, value or header value equal to M is null
          --property ignore.error=true       a line without the separators is taken whole as the value
          --partition N                      send every record to partition N
          --request-required-acks 0|1|-1|all (default all)
          --batch-size N                     at most N records per request (default 500)
          --output json                      a JSON summary (records per partition) on stdout at the end
        """;

    /// <summary>The <c>fjord console-producer</c> verb: lines from stdin.</summary>
    public static int Run(string[] args, TextWriter o, TextWriter e) => Run(args, Console.In, o, e);

    /// <summary>Runs the producer with lines from <paramref name="input"/> (tests pass their own reader).</summary>
    public static int Run(string[] args, TextReader input, TextWriter o, TextWriter e) =>
        AdminRunner.Run("console-producer", Usage, args, o, e,
            ["--topic", "--property", "--partition", "--request-required-acks", "--batch-size", "--producer-property"],
            ["--sync"],
            false, c => RunAsync(c, input));

    internal sealed record Line(byte[]? Key, byte[]? Value, RecordHeader[] Headers);

    internal sealed class LineParser(Dictionary<string, string> p)
    {
        private readonly bool _parseKey = Bool(p, "parse.key");
        private readonly bool _parseHeaders = Bool(p, "parse.headers");
        private readonly bool _ignoreError = Bool(p, "ignore.error");
        private readonly string _keySeparator = p.GetValueOrDefault("key.separator", "\t");
        private readonly string _headersDelimiter = p.GetValueOrDefault("headers.delimiter", "\t");
        private readonly string _headersSeparator = p.GetValueOrDefault("headers.separator", ",");
        private readonly string _headerKeySeparator = p.GetValueOrDefault("headers.key.separator", ":");
        private readonly string? _nullMarker = p.GetValueOrDefault("null.marker");

        private static bool Bool(Dictionary<string, string> p, string key) =>
            p.TryGetValue(key, out var v) && (string.Equals(v, "true", StringComparison.OrdinalIgnoreCase) || v == "1");

        private byte[]? Bytes(string text) => _nullMarker is not null && text == _nullMarker ? null : Encoding.UTF8.GetBytes(text);

        public Line Parse(string line, long lineNumber)
        {
            var headers = Array.Empty<RecordHeader>();
            string rest = line;
            if (_parseHeaders)
            {
                int at = rest.IndexOf(_headersDelimiter, StringComparison.Ordinal);
                if (at < 0)
                {
                    if (!_ignoreError) throw new AdminException($"line {lineNumber}: no headers delimiter '{Escape(_headersDelimiter)}' in '{line}'");
                }
                else
                {
                    string text = rest[..at];
                    rest = rest[(at + _headersDelimiter.Length)..];
                    headers = [.. text.Split(_headersSeparator, StringSplitOptions.RemoveEmptyEntries).Select(h =>
                    {
                        int k = h.IndexOf(_headerKeySeparator, StringComparison.Ordinal);
                        return k < 0 ? new RecordHeader(h, (byte[]?)null) : new RecordHeader(h[..k], Bytes(h[(k + _headerKeySeparator.Length)..]));
                    })];
                }
            }
            if (!_parseKey) return new Line(null, Bytes(rest), headers);
            int sep = rest.IndexOf(_keySeparator, StringComparison.Ordinal);
            if (sep < 0)
            {
                if (_ignoreError) return new Line(null, Bytes(rest), headers);
                throw new AdminException($"line {lineNumber}: no key separator '{Escape(_keySeparator)}' in '{line}'");
            }
            return new Line(Bytes(rest[..sep]), Bytes(rest[(sep + _keySeparator.Length)..]), headers);
        }

        private static string Escape(string s) => s.Replace("\t", "\\t", StringComparison.Ordinal);
    }

    /// <summary>Parses <c>--property k=v</c> flags (a value may contain '=').</summary>
    internal static Dictionary<string, string> Properties(AdminArgs a, IReadOnlySet<string> known)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var text in a.All("--property"))
        {
            int eq = text.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new UsageException($"--property: '{text}' is not key=value");
            string key = text[..eq];
            if (!known.Contains(key)) throw new UsageException($"--property: unknown property '{key}' (known: {string.Join(", ", known.Order(StringComparer.Ordinal))})");
            result[key] = Unescape(text[(eq + 1)..]);
        }
        return result;
    }

    /// <summary>\t, \n, \r and \\ in property values, as a shell passes them literally.</summary>
    private static string Unescape(string s) =>
        s.Replace("\\t", "\t", StringComparison.Ordinal).Replace("\\n", "\n", StringComparison.Ordinal).Replace("\\r", "\r", StringComparison.Ordinal);

    private static readonly HashSet<string> KnownProperties =
        ["parse.key", "key.separator", "parse.headers", "headers.delimiter", "headers.separator", "headers.key.separator", "null.marker", "ignore.error"];

    /// <summary>Kafka's murmur2 (seed 0x9747b28c) of the key bytes, made positive — the default partitioner's hash.</summary>
    public static int Murmur2Partition(ReadOnlySpan<byte> key, int partitions) => (int)((uint)(Murmur2(key) & 0x7fffffff) % (uint)partitions);

    /// <summary>Kafka's <c>Utils.murmur2</c> (signed 32-bit result).</summary>
    public static int Murmur2(ReadOnlySpan<byte> key)
    {
        const uint m = 0x5bd1e995;
        const int r = 24;
        int length = key.Length;
        uint h = 0x9747b28c ^ (uint)length;
        int i = 0;
        for (; i + 4 <= length; i += 4)
        {
            uint k = (uint)(key[i] | key[i + 1] << 8 | key[i + 2] << 16 | key[i + 3] << 24);
            k *= m;
            k ^= k >> r;
            k *= m;
            h *= m;
            h ^= k;
        }
        int left = length - i;
        if (left >= 3) h ^= (uint)key[i + 2] << 16;
        if (left >= 2) h ^= (uint)key[i + 1] << 8;
        if (left >= 1)
        {
            h ^= key[i];
            h *= m;
        }
        h ^= h >> 13;
        h *= m;
        h ^= h >> 15;
        return (int)h;
    }

    private static async Task<int> RunAsync(AdminContext c, TextReader input)
    {
        var a = c.Args;
        string topic = a.Required("--topic", "(the topic to write to)");
        if (a.All("--producer-property").Count > 0) throw new UsageException("--producer-property is not supported (use --request-required-acks)");
        var parser = new LineParser(Properties(a, KnownProperties));
        short acks = a.Get("--request-required-acks") switch
        {
            null or "all" or "-1" => -1,
            "1" => 1,
            "0" => 0,
            var other => throw new UsageException($"--request-required-acks: '{other}' is not 0, 1, -1 or all"),
        };
        int batchSize = a.Int("--batch-size", 1) ?? 500;
        int? fixedPartition = a.Int("--partition", 0);
        var client = await c.ClientAsync().ConfigureAwait(false);
        c.Progress.Step($"looking up topic {topic}");
        var (_, partitions) = await client.PartitionsAsync(topic, autoCreate: true, c.Ct).ConfigureAwait(false);
        if (fixedPartition is { } fp && fp >= partitions.Count) throw new AdminException($"topic '{topic}' has no partition {fp} (it has {partitions.Count})");
        c.Progress.Idle();

        // Lines are read on their own task, so that what is already typed or piped is sent together.
        var lines = Channel.CreateBounded<string>(new BoundedChannelOptions(10_000) { SingleReader = true, SingleWriter = true });
        var reading = Task.Run(async () =>
        {
            try
            {
                while (await input.ReadLineAsync(c.Ct).ConfigureAwait(false) is { } line) await lines.Writer.WriteAsync(line, c.Ct).ConfigureAwait(false);
                lines.Writer.TryComplete();
            }
            catch (Exception ex)
            {
                lines.Writer.TryComplete(ex);
            }
        }, c.Ct);

        long lineNumber = 0, sent = 0;
        int roundRobin = 0;
        var perPartition = new SortedDictionary<int, long>();
        var pending = new List<(int Partition, Line Line)>();
        while (await lines.Reader.WaitToReadAsync(c.Ct).ConfigureAwait(false))
        {
            pending.Clear();
            while (pending.Count < batchSize && lines.Reader.TryRead(out var text))
            {
                lineNumber++;
                var line = parser.Parse(text.TrimEnd('\r'), lineNumber);
                int partition = fixedPartition ?? (line.Key is { } key ? Murmur2Partition(key, partitions.Count) : roundRobin++ % partitions.Count);
                pending.Add((partition, line));
            }
            if (pending.Count == 0) continue;
            // Retriable refusals (a leader that moved or is not ready yet) are sent again, after a metadata refresh, for up to 15 s.
            long deadline = Environment.TickCount64 + 15_000;
            var toSend = pending;
            for (int attempt = 0; ; attempt++)
            {
                var retry = await SendAsync(client, topic, partitions, toSend, acks, c.Ct).ConfigureAwait(false);
                if (retry.Count == 0) break;
                if (Environment.TickCount64 >= deadline)
                    throw new AdminException($"partition(s) {string.Join(", ", retry.Keys)} of '{topic}' kept refusing records: {string.Join("; ", retry.Values.Distinct())}");
                c.Progress.Step($"waiting for the leaders of {topic}");
                await Task.Delay(Math.Min(100 * (attempt + 1), 500), c.Ct).ConfigureAwait(false);
                (_, partitions) = await client.PartitionsAsync(topic, autoCreate: false, c.Ct).ConfigureAwait(false);
                toSend = [.. toSend.Where(r => retry.ContainsKey(r.Partition))];
            }
            c.Progress.Idle();
            sent += pending.Count;
            foreach (var (p, _) in pending) perPartition[p] = perPartition.GetValueOrDefault(p) + 1;
        }
        await reading.ConfigureAwait(false);
        if (c.Json)
        {
            var parts = new JsonObject();
            foreach (var (p, n) in perPartition) parts[p.ToString(System.Globalization.CultureInfo.InvariantCulture)] = n;
            AdminOutput.Json(c.Out, new JsonObject { ["topic"] = topic, ["records"] = sent, ["partitions"] = parts });
        }
        return 0;
    }

    private static readonly HashSet<short> Retriable =
    [
        // Refusals before the append only: a retry cannot duplicate (NOT_ENOUGH_REPLICAS_AFTER_APPEND and timeouts could).
        (short)ErrorCode.NotLeaderOrFollower, (short)ErrorCode.LeaderNotAvailable, (short)ErrorCode.UnknownTopicOrPartition,
        (short)ErrorCode.NotEnoughReplicas,
    ];

    /// <summary>Sends the records (one Produce per leader); returns the partitions refused with a retriable error (and why).</summary>
    private static async Task<Dictionary<int, string>> SendAsync(AdminClient client, string topic, List<(int Partition, int Leader)> partitions,
        List<(int Partition, Line Line)> records, short acks, CancellationToken ct)
    {
        var retry = new Dictionary<int, string>();
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var requests = new List<Task>();
        foreach (var byLeader in records.GroupBy(r => partitions[r.Partition].Leader))
        {
            var topicData = new ProduceRequest.TopicProduceData { Name = topic };
            foreach (var byPartition in byLeader.GroupBy(r => r.Partition))
            {
                using var builder = new RecordBatchBuilder(new RecordBatchOptions());
                foreach (var (_, line) in byPartition) builder.Append(now, line.Key, line.Value, line.Headers);
                topicData.PartitionData.Add(new ProduceRequest.PartitionProduceData { Index = byPartition.Key, Records = builder.ToArray() });
            }
            var connection = await client.NodeAsync(byLeader.Key, ct).ConfigureAwait(false);
            short version = AdminClient.Version(connection, ProduceRequest.ApiKey, 3, 12);
            var request = new ProduceRequest { Acks = acks, TimeoutMs = 30_000, TopicData = [topicData], TransactionalId = null };
            if (acks == 0)
            {
                requests.Add(connection.SendWithoutResponseAsync(request, version, ct));
                continue;
            }
            requests.Add(Task.Run(async () =>
            {
                var answer = await AdminClient.SendAsync<ProduceResponse>(connection, request, version, ct).ConfigureAwait(false);
                foreach (var t in answer.Responses)
                    foreach (var p in t.PartitionResponses)
                        if (Retriable.Contains(p.ErrorCode))
                            lock (retry) retry[p.Index] = Errors.Name(p.ErrorCode);
                        else if (p.ErrorCode != 0)
                            throw new AdminException($"partition {p.Index} of '{topic}' refused {byLeader.Count(r => r.Partition == p.Index)} record(s): {Errors.Describe(p.ErrorCode, p.ErrorMessage)}");
            }, ct));
        }
        await Task.WhenAll(requests).ConfigureAwait(false);
        return retry;
    }
}
