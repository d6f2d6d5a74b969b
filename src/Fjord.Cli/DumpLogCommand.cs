using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Fjord.Metadata;
using Fjord.Protocol;
using Fjord.Protocol.Compression;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Cli;

/// <summary>
/// <c>fjord dump-log</c>: what Kafka's <c>kafka-dump-log</c> (DumpLogSegments) does for the files of a
/// partition directory. <c>.log</c> segments and <c>.checkpoint</c> Raft snapshots: one line per batch
/// header (or one JSON object per batch with <c>--json</c>), and with <c>--deep-iteration</c> /
/// <c>--print-data-log</c> one line per record; <c>--cluster-metadata-decoder</c> decodes the values as
/// metadata records and the KRaft control records (LeaderChange, SnapshotHeader/Footer, KRaftVersion,
/// Voters). <c>.index</c> / <c>.timeindex</c>: the entries, each checked against the segment's
/// <c>.log</c> next to it; <c>--index-sanity-check</c> prints only the verdict.
/// </summary>
/// <remarks>
/// Never throws for bad bytes: a batch that cannot be framed (short header, length out of range,
/// wrong magic, cut short) is reported with its byte position and ends that file; a batch whose CRC
/// does not match is printed with <c>isvalid: false</c>; a record or metadata value that does not
/// decode is reported with its offset and the dump goes on. Exit codes: 0 every file clean, 1 a
/// problem in some file (or a file that cannot be read), 2 bad usage.
/// </remarks>
internal static class DumpLogCommand
{
    private const string Usage = """
        usage: fjord dump-log --files FILE[,FILE...] [options]

        Dumps log segments (.log), Raft snapshots (.checkpoint) and their indexes (.index, .timeindex),
        as kafka-dump-log does.
          --files FILE,...              the files to dump (comma-separated; the option may be repeated)
          --deep-iteration              also one line per record (offset, timestamp, key and value sizes, headers)
          --print-data-log              also print each record's key and value (implies --deep-iteration)
          --cluster-metadata-decoder    decode values as KRaft metadata records and control records
                                        (implies --print-data-log)
          --json                        one JSON object per batch (records inside with --deep-iteration)
          --index-sanity-check          for index files: only check them (entries increasing, each one at a
                                        batch of the .log next to it) and print the verdict
          --max-bytes N                 stop reading a .log or .checkpoint after N bytes
        Exit codes: 0 clean, 1 a corrupt file or a failed check (the position and the problem are printed), 2 bad usage.
        """;

    /// <summary>The most a compressed batch may inflate to while dumping it.</summary>
    private const int MaxDecompressedBytes = 64 * 1024 * 1024;

    private sealed record Options(bool Deep, bool PrintData, bool Metadata, bool Json, bool IndexSanityCheck, long MaxBytes);

    public static int Run(string[] args, TextWriter o, TextWriter e)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            o.WriteLine(Usage);
            return 0;
        }
        var files = new List<string>();
        bool deep = false, printData = false, metadata = false, json = false, sanity = false;
        long maxBytes = long.MaxValue;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string? inline = null;
            int eq = arg.StartsWith("--", StringComparison.Ordinal) ? arg.IndexOf('=', StringComparison.Ordinal) : -1;
            if (eq > 0) (arg, inline) = (arg[..eq], arg[(eq + 1)..]);
            switch (arg)
            {
                case "--files":
                    string? list = inline ?? (i + 1 < args.Length ? args[++i] : null);
                    if (string.IsNullOrEmpty(list)) return UsageError(e, "--files needs FILE[,FILE...]");
                    files.AddRange(list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                    break;
                case "--max-bytes" or "--max-message-size":
                    string? n = inline ?? (i + 1 < args.Length ? args[++i] : null);
                    if (!long.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out maxBytes) || maxBytes <= 0)
                        return UsageError(e, $"{arg} needs a positive number of bytes");
                    break;
                case "--deep-iteration": deep = true; break;
                case "--print-data-log": printData = deep = true; break;
                case "--cluster-metadata-decoder": metadata = printData = deep = true; break;
                case "--json": json = true; break;
                case "--index-sanity-check": sanity = true; break;
                case "--verify-index-only": sanity = true; break;
                default:
                    if (inline is not null && arg is "--deep-iteration" or "--print-data-log" or "--json") return UsageError(e, $"{arg} takes no value");
                    return UsageError(e, arg.StartsWith('-') ? $"unknown option '{arg}'" : $"unexpected argument '{arg}' (files go after --files)");
            }
        }
        if (files.Count == 0) return UsageError(e, "--files FILE[,FILE...] is required");

        var options = new Options(deep, printData, metadata, json, sanity, maxBytes);
        bool clean = true;
        foreach (var file in files)
        {
            try
            {
                clean &= DumpFile(file, options, o, e);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                e.WriteLine($"fjord: cannot read {file}: {ex.Message}");
                clean = false;
            }
        }
        return clean ? 0 : 1;
    }

    private static int UsageError(TextWriter e, string problem)
    {
        e.WriteLine($"fjord dump-log: {problem}. Run 'fjord dump-log --help' for usage.");
        return 2;
    }

    /// <summary>Dumps one file; false when it holds a problem (already reported on <paramref name="o"/> and <paramref name="e"/>).</summary>
    private static bool DumpFile(string path, Options options, TextWriter o, TextWriter e)
    {
        if (Directory.Exists(path))
        {
            e.WriteLine($"fjord: {path} is a directory; name its files (e.g. {Path.Combine(path, "00000000000000000000.log")})");
            return false;
        }
        if (!File.Exists(path))
        {
            e.WriteLine($"fjord: {path} does not exist");
            return false;
        }
        string name = Path.GetFileName(path);
        if (name.EndsWith(SnapshotFiles.Suffix, StringComparison.Ordinal) || name.EndsWith(SnapshotFiles.PartialSuffix, StringComparison.Ordinal))
            return DumpBatches(path, options, o, e, snapshot: true);
        if (name.EndsWith(SegmentFileNames.LogSuffix, StringComparison.Ordinal))
            return DumpBatches(path, options, o, e, snapshot: false);
        if (name.EndsWith(SegmentFileNames.OffsetIndexSuffix, StringComparison.Ordinal))
            return DumpOffsetIndex(path, options, o, e);
        if (name.EndsWith(SegmentFileNames.TimeIndexSuffix, StringComparison.Ordinal))
            return DumpTimeIndex(path, options, o, e);
        e.WriteLine($"fjord: {path}: not a .log, .index, .timeindex or .checkpoint file; dumping it as a log segment");
        return DumpBatches(path, options, o, e, snapshot: false);
    }

    // ---- batches (.log, .checkpoint) ----

    /// <summary>A batch's place in its file: where it starts, and whether it could be framed.</summary>
    internal readonly record struct FramedBatch(int Position, RecordBatch Batch);

    /// <summary>
    /// Frames the batches of <paramref name="bytes"/> one by one without trusting anything: returns
    /// the batches that frame and, when framing stops before the end, the position and the problem.
    /// </summary>
    internal static (List<FramedBatch> Batches, (int Position, string Problem)? Stop) Frame(ReadOnlyMemory<byte> bytes)
    {
        var result = new List<FramedBatch>();
        int position = 0;
        var span = bytes.Span;
        while (position < span.Length)
        {
            int remaining = span.Length - position;
            if (remaining < RecordBatchLayout.LogOverhead)
                return (result, (position, $"{remaining} trailing bytes cannot hold a batch header (baseOffset and length need {RecordBatchLayout.LogOverhead})"));
            int length = BinaryPrimitives.ReadInt32BigEndian(span[(position + RecordBatchLayout.BatchLength)..]);
            if (length < RecordBatchLayout.MinBatchLength)
                return (result, (position, $"batch length {length} is below the {RecordBatchLayout.MinBatchLength}-byte minimum"));
            if (remaining > RecordBatchLayout.Magic && (sbyte)span[position + RecordBatchLayout.Magic] != RecordBatchLayout.CurrentMagic)
            {
                sbyte magic = (sbyte)span[position + RecordBatchLayout.Magic];
                return (result, (position, magic is 0 or 1 ? $"a legacy message set (magic {magic}), which dump-log does not read" : $"magic {magic} is not 2"));
            }
            if (length > remaining - RecordBatchLayout.LogOverhead)
                return (result, (position, $"the batch of {length + RecordBatchLayout.LogOverhead} bytes is cut short: only {remaining} bytes remain in the file"));
            result.Add(new FramedBatch(position, new RecordBatch(bytes.Slice(position, RecordBatchLayout.LogOverhead + length))));
            position += RecordBatchLayout.LogOverhead + length;
        }
        return (result, null);
    }

    private static byte[] ReadBytes(string path, long maxBytes)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        long length = Math.Min(stream.Length, maxBytes);
        if (length > Array.MaxLength) throw new IOException($"{length} bytes are too many to dump at once (use --max-bytes)");
        var bytes = new byte[length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    private static bool DumpBatches(string path, Options options, TextWriter o, TextWriter e, bool snapshot)
    {
        var bytes = ReadBytes(path, options.MaxBytes);
        string name = Path.GetFileName(path);
        if (!options.Json)
        {
            o.WriteLine($"Dumping {path}");
            if (snapshot && SnapshotFiles.TryParseFileName(name, out var id))
                o.WriteLine($"Snapshot end offset: {id.EndOffset} epoch: {id.Epoch}");
            else if (!snapshot && SegmentFileNames.TryParse(name, out long baseOffset, out _, out _))
                o.WriteLine($"Log starting offset: {baseOffset}");
        }
        var (batches, stop) = Frame(bytes);
        bool clean = true;
        long previousLast = -1;
        foreach (var (position, batch) in batches)
        {
            var problems = new List<string>();
            bool valid = batch.IsCrcValid;
            if (!valid) problems.Add($"CRC mismatch: stored {batch.Crc} but computed {batch.ComputeCrc()}");
            if (previousLast >= 0 && batch.BaseOffset <= previousLast)
                problems.Add($"base offset {batch.BaseOffset} does not follow the previous batch's last offset {previousLast}");
            try
            {
                batch.ValidateStructure();
            }
            catch (ProtocolDecodeException ex)
            {
                problems.Add(ex.Message);
            }
            previousLast = batch.LastOffset;
            var records = options.Deep ? ReadRecords(batch, options, problems) : null;
            if (options.Json) WriteBatchJson(o, path, position, batch, valid, records);
            else
            {
                o.WriteLine(BatchLine(position, batch, valid));
                if (records is not null)
                    foreach (var r in records) o.WriteLine(r.Line);
            }
            foreach (var problem in problems) Report(o, e, options, path, position, problem);
            clean &= problems.Count == 0;
        }
        if (stop is { } s)
        {
            Report(o, e, options, path, s.Position, s.Problem);
            clean = false;
        }
        if (snapshot && stop is null && bytes.Length > 0 && !IsSnapshotShaped(batches))
        {
            Report(o, e, options, path, 0, "a snapshot must open with a SNAPSHOT_HEADER control batch and close with a SNAPSHOT_FOOTER one");
            clean = false;
        }
        return clean;
    }

    private static bool IsSnapshotShaped(List<FramedBatch> batches)
    {
        if (batches.Count == 0) return false;
        return FirstControlType(batches[0].Batch) == ControlRecordType.SnapshotHeader && HasControlType(batches[^1].Batch, ControlRecordType.SnapshotFooter);
    }

    private static ControlRecordType? FirstControlType(RecordBatch batch)
    {
        if (!batch.IsControl) return null;
        try
        {
            using var records = batch.OpenRecords(MaxDecompressedBytes);
            foreach (var r in records) return r.Key.Length >= ControlRecordKey.Size ? ControlRecordKey.Read(r.KeySpan).Type : null;
        }
        catch (ProtocolDecodeException) { }
        return null;
    }

    private static bool HasControlType(RecordBatch batch, ControlRecordType type)
    {
        if (!batch.IsControl) return false;
        try
        {
            using var records = batch.OpenRecords(MaxDecompressedBytes);
            foreach (var r in records)
                if (r.Key.Length >= ControlRecordKey.Size && ControlRecordKey.Read(r.KeySpan).Type == type) return true;
        }
        catch (ProtocolDecodeException) { }
        return false;
    }

    private static void Report(TextWriter o, TextWriter e, Options options, string path, int position, string problem)
    {
        if (options.Json)
        {
            using var stream = new MemoryStream();
            using (var json = new Utf8JsonWriter(stream))
            {
                json.WriteStartObject();
                json.WriteString("file", path);
                json.WriteNumber("position", position);
                json.WriteString("error", problem);
                json.WriteEndObject();
            }
            o.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
        }
        else o.WriteLine($"ERROR at position {position}: {problem}");
        e.WriteLine($"fjord: {path}: at position {position}: {problem}");
    }

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string CodecName(CompressionType codec) => codec switch
    {
        CompressionType.None => "none",
        CompressionType.Gzip => "gzip",
        CompressionType.Snappy => "snappy",
        CompressionType.Lz4 => "lz4",
        CompressionType.Zstd => "zstd",
        _ => $"unknown({(int)codec})",
    };

    internal static string BatchLine(int position, RecordBatch b, bool valid)
    {
        string timestampType = b.TimestampType == TimestampType.LogAppendTime ? "LogAppendTime" : "CreateTime";
        return Inv($"baseOffset: {b.BaseOffset} lastOffset: {b.LastOffset} count: {b.RecordCount} baseSequence: {b.BaseSequence} lastSequence: {b.LastSequence} producerId: {b.ProducerId} producerEpoch: {b.ProducerEpoch} partitionLeaderEpoch: {b.PartitionLeaderEpoch} isTransactional: {Lower(b.IsTransactional)} isControl: {Lower(b.IsControl)} deleteHorizonMs: {(b.DeleteHorizonMs is { } d ? d.ToString(CultureInfo.InvariantCulture) : "OptionalLong.empty")} position: {position} {timestampType}: {b.MaxTimestamp} size: {b.SizeInBytes} magic: {b.Magic} compresscodec: {CodecName(b.Compression)} crc: {b.Crc} isvalid: {Lower(valid)}");
    }

    private static string Lower(bool value) => value ? "true" : "false";

    /// <summary>One record as dumped: its text line and the same as JSON properties.</summary>
    private sealed record DumpedRecord(string Line, Action<Utf8JsonWriter> WriteJson);

    private static List<DumpedRecord> ReadRecords(RecordBatch batch, Options options, List<string> problems)
    {
        var result = new List<DumpedRecord>();
        try
        {
            using var records = batch.OpenRecords(MaxDecompressedBytes);
            foreach (var r in records) result.Add(DescribeRecord(batch, r, options));
        }
        catch (ProtocolDecodeException ex)
        {
            problems.Add($"records of batch {batch.BaseOffset}-{batch.LastOffset} do not decode after {result.Count} of {batch.RecordCount}: {ex.Message}");
        }
        return result;
    }

    private static DumpedRecord DescribeRecord(RecordBatch batch, Record r, Options options)
    {
        string timestampType = batch.TimestampType == TimestampType.LogAppendTime ? "LogAppendTime" : "CreateTime";
        int keySize = r.HasKey ? r.Key.Length : -1;
        int valueSize = r.HasValue ? r.Value.Length : -1;
        long sequence = batch.BaseSequence < 0 ? -1 : batch.BaseSequence + r.OffsetDelta;
        var headerKeys = new List<string>();
        foreach (var h in r.Headers) headerKeys.Add(h.KeyString);
        var line = new StringBuilder(Inv($"| offset: {r.Offset} {timestampType}: {r.Timestamp} keySize: {keySize} valueSize: {valueSize} sequence: {sequence} headerKeys: [{string.Join(",", headerKeys)}]"));
        string? key = null, payload = null, controlType = null, decodeError = null;
        string? metadataJson = null;
        if (batch.IsControl)
        {
            var (type, json, error) = DecodeControl(r);
            controlType = type;
            metadataJson = json;
            decodeError = error;
            line.Append(" controlType: ").Append(type);
            if (options.Metadata && json is not null) line.Append(" payload: ").Append(json);
            else if (json is not null) line.Append(' ').Append(json);
        }
        else if (options.Metadata)
        {
            try
            {
                var record = MetadataRecordFrame.Decode(r.Value);
                metadataJson = MetadataRecordJson.ToJson(record);
                line.Append(" payload: ").Append(metadataJson);
            }
            catch (ProtocolDecodeException ex)
            {
                decodeError = $"offset {r.Offset}: the value is not a metadata record: {ex.Message}";
                line.Append(" payload: <undecodable: ").Append(ex.Message).Append('>');
            }
        }
        else if (options.PrintData)
        {
            key = r.HasKey ? Encoding.UTF8.GetString(r.KeySpan) : null;
            payload = r.HasValue ? Encoding.UTF8.GetString(r.ValueSpan) : null;
            line.Append(" key: ").Append(key ?? "null").Append(" payload: ").Append(payload ?? "null");
        }
        if (decodeError is not null) line.Append(" ERROR: ").Append(decodeError);
        var headerArray = headerKeys.ToArray();
        long offset = r.Offset, timestamp = r.Timestamp;
        return new DumpedRecord(line.ToString(), json =>
        {
            json.WriteStartObject();
            json.WriteNumber("offset", offset);
            json.WriteNumber("timestamp", timestamp);
            json.WriteNumber("keySize", keySize);
            json.WriteNumber("valueSize", valueSize);
            json.WriteNumber("sequence", sequence);
            json.WriteStartArray("headerKeys");
            foreach (var h in headerArray) json.WriteStringValue(h);
            json.WriteEndArray();
            if (controlType is not null) json.WriteString("controlType", controlType);
            if (options.PrintData && !options.Metadata && !batch.IsControl)
            {
                if (key is null) json.WriteNull("key"); else json.WriteString("key", key);
                if (payload is null) json.WriteNull("payload"); else json.WriteString("payload", payload);
            }
            if (metadataJson is not null)
            {
                json.WritePropertyName("payload");
                json.WriteRawValue(metadataJson);
            }
            if (decodeError is not null) json.WriteString("error", decodeError);
            json.WriteEndObject();
        });
    }

    /// <summary>Kafka's name of a control record type (LEADER_CHANGE, SNAPSHOT_HEADER, …).</summary>
    internal static string ControlTypeName(ControlRecordType type) => type switch
    {
        ControlRecordType.Abort => "ABORT",
        ControlRecordType.Commit => "COMMIT",
        ControlRecordType.LeaderChange => "LEADER_CHANGE",
        ControlRecordType.SnapshotHeader => "SNAPSHOT_HEADER",
        ControlRecordType.SnapshotFooter => "SNAPSHOT_FOOTER",
        ControlRecordType.KRaftVersion => "KRAFT_VERSION",
        ControlRecordType.KRaftVoters => "KRAFT_VOTERS",
        _ => $"UNKNOWN({(short)type})",
    };

    /// <summary>A control record's type name and its value as <c>{"type":…,"version":…,"data":{…}}</c> (null with an error when it does not decode).</summary>
    internal static (string Type, string? Json, string? Error) DecodeControl(Record r)
    {
        ControlRecordKey key;
        try
        {
            key = ControlRecordKey.Read(r.KeySpan);
        }
        catch (ProtocolDecodeException ex)
        {
            return ("UNKNOWN", null, $"offset {r.Offset}: the control record key does not decode: {ex.Message}");
        }
        string name = ControlTypeName(key.Type);
        try
        {
            var value = r.Value;
            switch (key.Type)
            {
                case ControlRecordType.Abort or ControlRecordType.Commit:
                    var marker = EndTransactionMarker.Read(key.Type, value.Span);
                    return (name, Inv($"{{\"type\":\"{name}\",\"version\":0,\"data\":{{\"coordinatorEpoch\":{marker.CoordinatorEpoch}}}}}"), null);
                case ControlRecordType.LeaderChange: return (name, ControlJson<LeaderChangeMessage>(name, value), null);
                case ControlRecordType.SnapshotHeader: return (name, ControlJson<SnapshotHeaderRecord>(name, value), null);
                case ControlRecordType.SnapshotFooter: return (name, ControlJson<SnapshotFooterRecord>(name, value), null);
                case ControlRecordType.KRaftVersion: return (name, ControlJson<KRaftVersionRecord>(name, value), null);
                case ControlRecordType.KRaftVoters: return (name, ControlJson<VotersRecord>(name, value), null);
                default: return (name, null, null);
            }
        }
        catch (ProtocolDecodeException ex)
        {
            return (name, null, $"offset {r.Offset}: the {name} value does not decode: {ex.Message}");
        }
    }

    /// <summary>Control record values begin with their own int16 version; decoded at that version (capped at the highest known).</summary>
    private static string ControlJson<T>(string name, ReadOnlyMemory<byte> value) where T : IKafkaMessage<T>
    {
        if (value.Length < 2) throw new ProtocolDecodeException(name, $"{value.Length} bytes cannot hold the record's version");
        short written = BinaryPrimitives.ReadInt16BigEndian(value.Span);
        if (written < 0) throw new ProtocolDecodeException(name, $"negative version {written}");
        T message;
        short version;
        try
        {
            message = KafkaMessages.Deserialize<T>(value, version = written);
        }
        catch (Exception ex) when (ex is ProtocolDecodeException or ArgumentException or InvalidOperationException)
        {
            message = KafkaMessages.Deserialize<T>(value, version = 0);
        }
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteString("type", name);
            json.WriteNumber("version", version);
            json.WritePropertyName("data");
            message.WriteJson(json, version);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteBatchJson(TextWriter o, string path, int position, RecordBatch b, bool valid, List<DumpedRecord>? records)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteString("file", path);
            json.WriteNumber("baseOffset", b.BaseOffset);
            json.WriteNumber("lastOffset", b.LastOffset);
            json.WriteNumber("count", b.RecordCount);
            json.WriteNumber("baseSequence", b.BaseSequence);
            json.WriteNumber("lastSequence", b.LastSequence);
            json.WriteNumber("producerId", b.ProducerId);
            json.WriteNumber("producerEpoch", b.ProducerEpoch);
            json.WriteNumber("partitionLeaderEpoch", b.PartitionLeaderEpoch);
            json.WriteBoolean("isTransactional", b.IsTransactional);
            json.WriteBoolean("isControl", b.IsControl);
            if (b.DeleteHorizonMs is { } horizon) json.WriteNumber("deleteHorizonMs", horizon);
            json.WriteNumber("position", position);
            json.WriteString("timestampType", b.TimestampType == TimestampType.LogAppendTime ? "LogAppendTime" : "CreateTime");
            json.WriteNumber("baseTimestamp", b.BaseTimestamp);
            json.WriteNumber("maxTimestamp", b.MaxTimestamp);
            json.WriteNumber("size", b.SizeInBytes);
            json.WriteNumber("magic", b.Magic);
            json.WriteString("compresscodec", CodecName(b.Compression));
            json.WriteNumber("crc", b.Crc);
            json.WriteBoolean("isvalid", valid);
            if (records is not null)
            {
                json.WriteStartArray("records");
                foreach (var r in records) r.WriteJson(json);
                json.WriteEndArray();
            }
            json.WriteEndObject();
        }
        o.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
    }

    // ---- indexes (.index, .timeindex) ----

    /// <summary>The batches of the segment a index belongs to (the .log with the same stem), or null when it is missing.</summary>
    private static List<FramedBatch>? SegmentBatches(string indexPath, out string logPath, out string? problem)
    {
        string name = Path.GetFileName(indexPath);
        int dot = name.IndexOf('.', StringComparison.Ordinal);
        logPath = Path.Combine(Path.GetDirectoryName(indexPath) ?? ".", (dot > 0 ? name[..dot] : name) + SegmentFileNames.LogSuffix);
        problem = null;
        if (!File.Exists(logPath)) return null;
        var (batches, stop) = Frame(ReadBytes(logPath, long.MaxValue));
        if (stop is { } s) problem = $"{logPath} is corrupt at position {s.Position} ({s.Problem}); entries after it cannot be checked";
        return batches;
    }

    private static long IndexBaseOffset(string path) =>
        SegmentFileNames.TryParse(Path.GetFileName(path), out long baseOffset, out _, out _) ? baseOffset : 0;

    private static bool DumpOffsetIndex(string path, Options options, TextWriter o, TextWriter e)
    {
        var bytes = ReadBytes(path, long.MaxValue);
        long baseOffset = IndexBaseOffset(path);
        var problems = new List<string>();
        if (bytes.Length % 8 != 0) problems.Add($"the file's {bytes.Length} bytes are not a whole number of 8-byte entries");
        int count = bytes.Length / 8;
        var batches = SegmentBatches(path, out var logPath, out var logProblem);
        if (logProblem is not null) problems.Add(logProblem);
        if (!options.Json) o.WriteLine($"Dumping {path}");
        var byPosition = batches?.ToDictionary(b => b.Position, b => b.Batch);
        long previousOffset = -1;
        int previousPosition = -1;
        for (int i = 0; i < count; i++)
        {
            int relative = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(i * 8));
            int position = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(i * 8 + 4));
            long offset = baseOffset + relative;
            if (!options.IndexSanityCheck)
            {
                if (options.Json) o.WriteLine(Inv($"{{\"file\":{JsonString(path)},\"entry\":{i},\"offset\":{offset},\"position\":{position}}}"));
                else o.WriteLine(Inv($"offset: {offset} position: {position}"));
            }
            if (relative < 0 || position < 0) problems.Add(Inv($"entry {i} (offset {offset}, position {position}) is negative"));
            else if (i > 0 && (offset <= previousOffset || position <= previousPosition))
                problems.Add(Inv($"entry {i} (offset {offset}, position {position}) does not follow entry {i - 1} (offset {previousOffset}, position {previousPosition}): entries must strictly increase"));
            if (byPosition is not null && logProblem is null)
            {
                if (!byPosition.TryGetValue(position, out var batch))
                    problems.Add(Inv($"entry {i} (offset {offset}, position {position}): no batch of {Path.GetFileName(logPath)} starts at position {position}"));
                else if (offset < batch.BaseOffset || offset > batch.LastOffset)
                    problems.Add(Inv($"entry {i}: offset {offset} is not in the batch at position {position} (offsets {batch.BaseOffset}-{batch.LastOffset})"));
            }
            previousOffset = offset;
            previousPosition = position;
        }
        return Verdict(path, options, o, e, problems, count, batches is null ? $"{Path.GetFileName(logPath)} is missing: entries checked for order only" : null);
    }

    private static bool DumpTimeIndex(string path, Options options, TextWriter o, TextWriter e)
    {
        var bytes = ReadBytes(path, long.MaxValue);
        long baseOffset = IndexBaseOffset(path);
        var problems = new List<string>();
        if (bytes.Length % 12 != 0) problems.Add($"the file's {bytes.Length} bytes are not a whole number of 12-byte entries");
        int count = bytes.Length / 12;
        var batches = SegmentBatches(path, out var logPath, out var logProblem);
        if (logProblem is not null) problems.Add(logProblem);
        if (!options.Json) o.WriteLine($"Dumping {path}");
        long previousTimestamp = long.MinValue, previousOffset = -1;
        for (int i = 0; i < count; i++)
        {
            long timestamp = BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(i * 12));
            int relative = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(i * 12 + 8));
            long offset = baseOffset + relative;
            if (!options.IndexSanityCheck)
            {
                if (options.Json) o.WriteLine(Inv($"{{\"file\":{JsonString(path)},\"entry\":{i},\"timestamp\":{timestamp},\"offset\":{offset}}}"));
                else o.WriteLine(Inv($"timestamp: {timestamp} offset: {offset}"));
            }
            if (relative < 0) problems.Add(Inv($"entry {i} (timestamp {timestamp}, offset {offset}) has a negative relative offset"));
            else if (i > 0 && (timestamp <= previousTimestamp || offset <= previousOffset))
                problems.Add(Inv($"entry {i} (timestamp {timestamp}, offset {offset}) does not follow entry {i - 1} (timestamp {previousTimestamp}, offset {previousOffset}): entries must strictly increase"));
            if (batches is not null && logProblem is null)
            {
                var holder = batches.FirstOrDefault(b => b.Batch.BaseOffset <= offset && offset <= b.Batch.LastOffset);
                if (holder.Batch.Bytes.IsEmpty)
                    problems.Add(Inv($"entry {i} (timestamp {timestamp}, offset {offset}): no batch of {Path.GetFileName(logPath)} holds offset {offset}"));
                else if (holder.Batch.MaxTimestamp != timestamp)
                    problems.Add(Inv($"entry {i}: timestamp {timestamp} is not the max timestamp {holder.Batch.MaxTimestamp} of the batch holding offset {offset} (position {holder.Position})"));
                else if (batches.Any(b => b.Batch.LastOffset < holder.Batch.BaseOffset && b.Batch.MaxTimestamp > timestamp))
                    problems.Add(Inv($"entry {i}: a batch before offset {offset} has a timestamp above {timestamp}"));
            }
            previousTimestamp = timestamp;
            previousOffset = offset;
        }
        return Verdict(path, options, o, e, problems, count, batches is null ? $"{Path.GetFileName(logPath)} is missing: entries checked for order only" : null);
    }

    private static bool Verdict(string path, Options options, TextWriter o, TextWriter e, List<string> problems, int entries, string? note)
    {
        if (note is not null && !options.Json) o.WriteLine($"Note: {note}");
        foreach (var problem in problems)
        {
            if (options.Json) o.WriteLine($"{{\"file\":{JsonString(path)},\"error\":{JsonString(problem)}}}");
            else o.WriteLine($"ERROR: {problem}");
            e.WriteLine($"fjord: {path}: {problem}");
        }
        if (!options.Json)
            o.WriteLine(problems.Count == 0 ? $"{path} passed sanity check ({entries} entries)." : $"{path} failed sanity check: {problems.Count} problem(s) in {entries} entries.");
        return problems.Count == 0;
    }

    private static string JsonString(string text) => JsonSerializer.Serialize(text);
}
