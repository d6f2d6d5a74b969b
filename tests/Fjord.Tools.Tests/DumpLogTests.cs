using System.Buffers.Binary;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Fjord.Tools.Tests;

/// <summary><c>fjord dump-log</c> over the files a real node wrote: metadata log, snapshot, data segments and their indexes.</summary>
[Collection(MetadataToolsCollection.Name)]
public sealed partial class DumpLogTests(MetadataToolsNode node)
{
    private const string FirstSegment = "00000000000000000000";

    private static (int Code, string Out, string Err) Dump(params string[] args) => MetadataToolsNode.Cli(["dump-log", .. args]);

    private string MetadataLog => Path.Combine(node.MetadataDir, FirstSegment + ".log");
    private string DataFile(int partition, string suffix) => Path.Combine(node.LogDir, $"t-{partition}", FirstSegment + suffix);

    [GeneratedRegex(@"^baseOffset: (\d+) lastOffset: (\d+) count: (\d+) .* position: (\d+) CreateTime: (-?\d+) size: (\d+) magic: 2 compresscodec: \w+ crc: \d+ isvalid: true$")]
    private static partial Regex BatchLine();

    [Fact]
    public void Metadata_log_decoded()
    {
        var (code, output, errors) = Dump("--files", MetadataLog, "--cluster-metadata-decoder");
        Assert.True(code == 0, errors);
        Assert.StartsWith($"Dumping {MetadataLog}\nLog starting offset: 0\n", output, StringComparison.Ordinal);
        var lines = output.Split('\n');
        var batches = lines.Select(l => BatchLine().Match(l)).Where(m => m.Success).ToList();
        Assert.NotEmpty(batches);
        // Offsets are contiguous from 0, positions follow sizes, and counts match the record lines.
        long next = 0, position = 0;
        foreach (var m in batches)
        {
            Assert.Equal(next, long.Parse(m.Groups[1].Value));
            Assert.Equal(position, long.Parse(m.Groups[4].Value));
            next = long.Parse(m.Groups[2].Value) + 1;
            position += long.Parse(m.Groups[6].Value);
        }
        Assert.Equal(batches.Sum(m => long.Parse(m.Groups[3].Value)), lines.Count(l => l.StartsWith("| offset: ", StringComparison.Ordinal)));
        Assert.Equal(new FileInfo(MetadataLog).Length, position);

        Assert.Contains("controlType: LEADER_CHANGE payload: {\"type\":\"LEADER_CHANGE\",\"version\":0,\"data\":{\"version\":0,\"leaderId\":1,", output, StringComparison.Ordinal);
        Assert.Contains("payload: {\"type\":\"REGISTER_BROKER_RECORD\"", output, StringComparison.Ordinal);
        Assert.Contains("payload: {\"type\":\"FEATURE_LEVEL_RECORD\",\"version\":0,\"data\":{\"name\":\"metadata.version\"", output, StringComparison.Ordinal);
        var topic = lines.Single(l => l.Contains("\"TOPIC_RECORD\"", StringComparison.Ordinal));
        Assert.Contains("\"name\":\"t\"", topic, StringComparison.Ordinal);
        Assert.Equal(3, lines.Count(l => l.Contains("\"PARTITION_RECORD\"", StringComparison.Ordinal)));
    }

    [Fact]
    public void Metadata_log_as_json()
    {
        var (code, output, errors) = Dump("--files", MetadataLog, "--cluster-metadata-decoder", "--json");
        Assert.True(code == 0, errors);
        var types = new List<string>();
        long next = 0;
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var batch = doc.RootElement;
            Assert.Equal(next, batch.GetProperty("baseOffset").GetInt64());
            Assert.True(batch.GetProperty("isvalid").GetBoolean());
            var records = batch.GetProperty("records");
            Assert.Equal(batch.GetProperty("count").GetInt32(), records.GetArrayLength());
            foreach (var r in records.EnumerateArray()) types.Add(r.GetProperty("payload").GetProperty("type").GetString()!);
            next = batch.GetProperty("lastOffset").GetInt64() + 1;
        }
        Assert.Contains("LEADER_CHANGE", types);
        Assert.Contains("REGISTER_BROKER_RECORD", types);
        Assert.Contains("TOPIC_RECORD", types);
        Assert.Equal(3, types.Count(t => t == "PARTITION_RECORD"));
    }

    [Fact]
    public void Snapshot_file_decoded()
    {
        var (code, output, errors) = Dump("--files", node.SnapshotPath, "--cluster-metadata-decoder");
        Assert.True(code == 0, errors);
        Assert.Contains("Snapshot end offset: ", output, StringComparison.Ordinal);
        var recordLines = output.Split('\n').Where(l => l.StartsWith("| offset: ", StringComparison.Ordinal)).ToList();
        Assert.Contains("SNAPSHOT_HEADER", recordLines[0], StringComparison.Ordinal);
        Assert.Contains("SNAPSHOT_FOOTER", recordLines[^1], StringComparison.Ordinal);
        Assert.Contains(recordLines, l => l.Contains("\"TOPIC_RECORD\"", StringComparison.Ordinal) && l.Contains("\"name\":\"t\"", StringComparison.Ordinal));
        Assert.Equal(3, recordLines.Count(l => l.Contains("\"PARTITION_RECORD\"", StringComparison.Ordinal)));
        Assert.StartsWith("| offset: 0 ", recordLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Data_segments_count_every_record()
    {
        long total = 0;
        for (int p = 0; p < 3; p++)
        {
            var (code, output, errors) = Dump("--files", DataFile(p, ".log"), "--print-data-log");
            Assert.True(code == 0, errors);
            var lines = output.Split('\n');
            long batchCounts = lines.Select(l => BatchLine().Match(l)).Where(m => m.Success).Sum(m => long.Parse(m.Groups[3].Value));
            var records = lines.Where(l => l.StartsWith("| offset: ", StringComparison.Ordinal)).ToList();
            Assert.Equal(batchCounts, records.Count);
            Assert.All(records, r => Assert.Contains($"valueSize: {MetadataToolsNode.RecordSize} ", r, StringComparison.Ordinal));
            Assert.All(records, r => Assert.Contains(" payload: ", r, StringComparison.Ordinal));
            total += records.Count;
        }
        Assert.Equal(MetadataToolsNode.RecordsProduced, total);

        // Without --deep-iteration only the batch headers.
        var shallow = Dump("--files", DataFile(0, ".log"));
        Assert.DoesNotContain("| offset:", shallow.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Indexes_pass_the_sanity_check()
    {
        int entries = 0;
        for (int p = 0; p < 3; p++)
        {
            var index = Dump("--files", DataFile(p, ".index"));
            Assert.True(index.Code == 0, index.Out + index.Err);
            entries += index.Out.Split('\n').Count(l => l.StartsWith("offset: ", StringComparison.Ordinal));
            var check = Dump("--files", $"{DataFile(p, ".index")},{DataFile(p, ".timeindex")}", "--index-sanity-check");
            Assert.True(check.Code == 0, check.Out + check.Err);
            Assert.Contains(".index passed sanity check", check.Out, StringComparison.Ordinal);
            Assert.Contains(".timeindex passed sanity check", check.Out, StringComparison.Ordinal);
            Assert.DoesNotContain("offset: ", check.Out, StringComparison.Ordinal);
        }
        Assert.True(entries > 0, "300 records of 400 bytes over 3 partitions fill more than one index interval (4096 bytes)");
    }

    [Fact]
    public void Corrupt_files_report_position_and_problem()
    {
        var bytes = File.ReadAllBytes(DataFile(0, ".log"));
        int secondBatch = 12 + BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(8));

        // A flipped byte inside the second batch's records: its CRC fails, the others still print.
        var flipped = Path.Combine(node.ScratchDir, "flipped", FirstSegment + ".log");
        Directory.CreateDirectory(Path.GetDirectoryName(flipped)!);
        var copy = (byte[])bytes.Clone();
        copy[secondBatch + 70] ^= 0xFF;
        File.WriteAllBytes(flipped, copy);
        var crc = Dump("--files", flipped, "--deep-iteration");
        Assert.Equal(1, crc.Code);
        Assert.Contains($"position: {secondBatch} ", crc.Out, StringComparison.Ordinal);
        Assert.Contains("isvalid: false", crc.Out, StringComparison.Ordinal);
        Assert.Contains($"at position {secondBatch}: CRC mismatch", crc.Err, StringComparison.Ordinal);
        Assert.Contains("position: 0 ", crc.Out, StringComparison.Ordinal);

        // Cut in the middle of the second batch.
        var cut = Path.Combine(node.ScratchDir, "cut", FirstSegment + ".log");
        Directory.CreateDirectory(Path.GetDirectoryName(cut)!);
        File.WriteAllBytes(cut, bytes[..(secondBatch + 30)]);
        var truncated = Dump("--files", cut);
        Assert.Equal(1, truncated.Code);
        Assert.Contains($"ERROR at position {secondBatch}: ", truncated.Out, StringComparison.Ordinal);
        Assert.Contains("cut short", truncated.Out, StringComparison.Ordinal);

        // A length field that lies, and pure garbage: reported, never a crash.
        var lying = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32BigEndian(lying.AsSpan(secondBatch + 8), 3);
        var lyingPath = Path.Combine(node.ScratchDir, "lying.log");
        File.WriteAllBytes(lyingPath, lying);
        var lied = Dump("--files", lyingPath, "--json");
        Assert.Equal(1, lied.Code);
        Assert.Contains($"\"position\":{secondBatch},\"error\":\"batch length 3 is below", lied.Out, StringComparison.Ordinal);

        var random = new Random(8);
        for (int i = 0; i < 20; i++)
        {
            var garbage = new byte[random.Next(1, 400)];
            random.NextBytes(garbage);
            var path = Path.Combine(node.ScratchDir, $"garbage-{i}.log");
            File.WriteAllBytes(path, garbage);
            var result = Dump("--files", path, "--cluster-metadata-decoder");
            Assert.Equal(1, result.Code);
            Assert.Contains("at position ", result.Err, StringComparison.Ordinal);
        }

        // An index whose entries go backwards, or point between batches.
        var indexDir = Path.Combine(node.ScratchDir, "bad-index");
        Directory.CreateDirectory(indexDir);
        File.Copy(DataFile(0, ".log"), Path.Combine(indexDir, FirstSegment + ".log"));
        var index = new byte[16];
        BinaryPrimitives.WriteInt32BigEndian(index, 5);
        BinaryPrimitives.WriteInt32BigEndian(index.AsSpan(4), 7);
        BinaryPrimitives.WriteInt32BigEndian(index.AsSpan(8), 2);
        BinaryPrimitives.WriteInt32BigEndian(index.AsSpan(12), 3);
        var indexPath = Path.Combine(indexDir, FirstSegment + ".index");
        File.WriteAllBytes(indexPath, index);
        var badIndex = Dump("--files", indexPath, "--index-sanity-check");
        Assert.Equal(1, badIndex.Code);
        Assert.Contains("entry 1 (offset 2, position 3) does not follow entry 0", badIndex.Out, StringComparison.Ordinal);
        Assert.Contains("no batch of 00000000000000000000.log starts at position 7", badIndex.Out, StringComparison.Ordinal);
        Assert.Contains("failed sanity check", badIndex.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Usage_errors()
    {
        Assert.Equal(2, Dump().Code);
        Assert.Equal(2, Dump("--files").Code);
        Assert.Equal(2, Dump("--files", MetadataLog, "--bogus").Code);
        var missing = Dump("--files", Path.Combine(node.ScratchDir, "nope.log"));
        Assert.Equal(1, missing.Code);
        Assert.Contains("does not exist", missing.Err, StringComparison.Ordinal);
        Assert.Equal(0, Dump("--help").Code);
    }
}
