using Fjord.Common;
using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;

namespace Fjord.Storage.Tests.Log;

/// <summary>A fresh directory under the system temp directory, deleted on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "fjord-storage-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(string name) => System.IO.Path.Combine(Path, name);

    public string[] FileNames() => Directory.GetFiles(Path).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }
}

/// <summary>Builds record batches for tests.</summary>
public static class Batches
{
    /// <summary>A batch of <paramref name="count"/> records with values of <paramref name="valueBytes"/> bytes.</summary>
    public static byte[] Make(int count, long baseOffset = 0, long timestamp = 1_000, int valueBytes = 10, int epoch = -1,
        byte fill = 0x42, CompressionType compression = CompressionType.None, long timestampStep = 1)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions
        {
            BaseOffset = baseOffset,
            PartitionLeaderEpoch = epoch,
            Compression = compression,
        });
        for (int i = 0; i < count; i++)
        {
            var value = new byte[valueBytes];
            Array.Fill(value, fill);
            builder.Append(timestamp + i * timestampStep, key: null, value: value);
        }
        return builder.ToArray();
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>The batches of <paramref name="bytes"/> as (baseOffset, lastOffset, size).</summary>
    public static List<(long BaseOffset, long LastOffset, int Size)> Headers(byte[] bytes)
    {
        var result = new List<(long, long, int)>();
        var reader = new RecordBatchReader(bytes);
        while (reader.MoveNext())
        {
            reader.Current.Validate();
            result.Add((reader.Current.BaseOffset, reader.Current.LastOffset, reader.Current.SizeInBytes));
        }
        return result;
    }
}

/// <summary>Common log set-up.</summary>
public static class Logs
{
    public static readonly TopicPartition Tp = new("topic", 0);

    public static LogConfig SmallConfig(int segmentBytes = 1024 * 1024, int indexIntervalBytes = 4096) => new()
    {
        SegmentBytes = segmentBytes,
        IndexIntervalBytes = indexIntervalBytes,
        FileDeleteDelayMs = 0,
    };

    public static PartitionLog Open(TempDirectory dir, LogConfig? config = null, IClock? clock = null, LogOpenOptions? options = null) =>
        PartitionLog.Open(dir.Path, Tp, config ?? SmallConfig(), clock ?? new FakeClock(), options ?? new LogOpenOptions());
}
