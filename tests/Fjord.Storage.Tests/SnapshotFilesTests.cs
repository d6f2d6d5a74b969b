using System.Text;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Compression;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Storage.Tests;

public sealed class SnapshotFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fjord-snapshot-").FullName;
    private readonly IClock _clock = new FixedClock(1_700_000_000_000);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void FileNameIsKafkas()
    {
        Assert.Equal("00000000000000001234-0000000005.checkpoint", SnapshotFiles.FileName(new SnapshotId(1234, 5)));
        Assert.True(SnapshotFiles.TryParseFileName("00000000000000001234-0000000005.checkpoint", out var id));
        Assert.Equal(new SnapshotId(1234, 5), id);
        Assert.False(SnapshotFiles.TryParseFileName("00000000000000001234-0000000005.checkpoint.part", out _));
        Assert.False(SnapshotFiles.TryParseFileName("0000000000000001234-00000000005.checkpoint", out _));
        Assert.False(SnapshotFiles.TryParseFileName("leader-epoch-checkpoint", out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => SnapshotFiles.FileName(new SnapshotId(-1, 0)));
    }

    [Theory]
    [InlineData(CompressionType.None)]
    [InlineData(CompressionType.Gzip)]
    public void WriteThenReadRoundTrips(CompressionType compression)
    {
        var id = new SnapshotId(1234, 5);
        var kraftVersion = new byte[] { 0, 0, 0, 1 };
        long size;
        using (var writer = SnapshotWriter.Create(_dir, id, lastContainedLogTimestampMs: 42, _clock, compression,
                   [(ControlRecordType.KRaftVersion, kraftVersion)]))
        {
            writer.Append(Values("a", "b", "c"));
            writer.Append(Values("d"));
            Assert.Equal(6, writer.NextOffset); // 2 control records in the header, then 4 data records
            Assert.False(File.Exists(writer.Path));
            size = writer.Freeze();
            Assert.True(writer.IsFrozen);
        }
        var path = Path.Combine(_dir, "00000000000000001234-0000000005.checkpoint");
        Assert.Equal(size, new FileInfo(path).Length);
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(_dir).Select(Path.GetFileName));

        var reader = SnapshotReader.Open(_dir, id);
        Assert.Equal(42, reader.LastContainedLogTimestamp);
        Assert.Equal(4, reader.BatchCount);
        Assert.Equal(7, reader.RecordCount);

        var values = new List<string>();
        var controlTypes = new List<ControlRecordType>();
        long expectedOffset = 0;
        foreach (var batch in reader.Batches)
        {
            Assert.Equal(expectedOffset, batch.BaseOffset);
            Assert.Equal(5, batch.PartitionLeaderEpoch);
            Assert.Equal(compression, batch.Compression);
            expectedOffset = batch.LastOffset + 1;
            using var records = batch.OpenRecords(1 << 20);
            foreach (var record in records)
            {
                if (batch.IsControl) controlTypes.Add(ControlRecordKey.Read(record.KeySpan).Type);
                else
                {
                    Assert.False(record.HasKey);
                    Assert.Equal(_clock.UnixTimeMs, record.Timestamp);
                    values.Add(Encoding.UTF8.GetString(record.ValueSpan));
                }
            }
        }
        Assert.Equal(["a", "b", "c", "d"], values);
        Assert.Equal([ControlRecordType.SnapshotHeader, ControlRecordType.KRaftVersion, ControlRecordType.SnapshotFooter], controlTypes);
    }

    [Fact]
    public void EmptySnapshotHasOnlyHeaderAndFooter()
    {
        var id = new SnapshotId(0, 0);
        using (var writer = SnapshotWriter.Create(_dir, id, 0, _clock)) writer.Freeze();
        var reader = SnapshotReader.Open(_dir, id);
        Assert.Equal(2, reader.BatchCount);
        Assert.Equal(2, reader.RecordCount);
    }

    [Fact]
    public void DisposeWithoutFreezeLeavesNothing()
    {
        var id = new SnapshotId(10, 1);
        using (var writer = SnapshotWriter.Create(_dir, id, 0, _clock))
        {
            writer.Append(Values("x"));
            Assert.True(File.Exists(SnapshotFiles.PartialPathOf(_dir, id)));
        }
        Assert.Empty(Directory.GetFiles(_dir));
        Assert.Empty(SnapshotFiles.List(_dir));
    }

    [Fact]
    public void WritingAnExistingSnapshotIsRefused()
    {
        var id = new SnapshotId(10, 1);
        WriteSnapshot(id, "x");
        var e = Assert.Throws<StorageException>(() => SnapshotWriter.Create(_dir, id, 0, _clock));
        Assert.Contains(SnapshotFiles.FileName(id), e.Message);
        Assert.NotNull(SnapshotReader.Open(_dir, id)); // untouched
    }

    [Fact]
    public void PartialSnapshotsAreIgnoredAndLeftoversDeleted()
    {
        WriteSnapshot(new SnapshotId(5, 1), "a");
        var leftover = SnapshotFiles.PartialPathOf(_dir, new SnapshotId(9, 1)); // a crash mid-write
        File.WriteAllBytes(leftover, [1, 2, 3]);

        using var live = SnapshotWriter.Create(_dir, new SnapshotId(20, 2), 0, _clock);
        live.Append(Values("still writing"));

        Assert.Equal([new SnapshotId(5, 1)], SnapshotFiles.List(_dir));
        Assert.False(File.Exists(leftover));
        Assert.True(File.Exists(SnapshotFiles.PartialPathOf(_dir, live.Id))); // a live writer's file is kept
        Assert.Equal(new SnapshotId(5, 1), SnapshotFiles.Latest(_dir));

        live.Freeze();
        Assert.Equal(new SnapshotId(20, 2), SnapshotFiles.Latest(_dir));
    }

    [Fact]
    public void ListIsOrderedByOffsetThenEpochAndSkipsOtherFiles()
    {
        foreach (var id in new SnapshotId[] { new(100, 3), new(5, 2), new(10, 0), new(5, 1) }) WriteSnapshot(id, "v");
        File.WriteAllText(Path.Combine(_dir, "leader-epoch-checkpoint"), "0\n0\n");
        File.WriteAllText(Path.Combine(_dir, "00000000000000000000.log"), "");
        File.WriteAllText(Path.Combine(_dir, "0000000000000000000x-0000000001.checkpoint"), "");
        File.WriteAllText(Path.Combine(_dir, "00000000000000000007-0000000001.checkpoint.deleted"), "");

        Assert.Equal([new(5, 1), new(5, 2), new(10, 0), new(100, 3)], SnapshotFiles.List(_dir));
        Assert.Equal(new SnapshotId(100, 3), SnapshotFiles.Latest(_dir));
    }

    [Fact]
    public void NoSnapshotsMeansNoLatest()
    {
        Assert.Null(SnapshotFiles.Latest(_dir));
        Assert.Empty(SnapshotFiles.List(Path.Combine(_dir, "missing")));
    }

    [Fact]
    public void DeleteBeforeKeepsTheGivenSnapshotAndNewer()
    {
        foreach (var id in new SnapshotId[] { new(5, 1), new(5, 2), new(10, 0), new(100, 3) }) WriteSnapshot(id, "v");

        Assert.Equal([new(5, 1), new(5, 2)], SnapshotFiles.DeleteBefore(_dir, new SnapshotId(10, 0)));
        Assert.Equal([new(10, 0), new(100, 3)], SnapshotFiles.List(_dir));
        Assert.Empty(SnapshotFiles.DeleteBefore(_dir, new SnapshotId(10, 0)));
        Assert.Equal([new(10, 0)], SnapshotFiles.DeleteBefore(_dir, new SnapshotId(50, 0))); // need not exist itself
    }

    [Fact]
    public void EveryCorruptByteIsDetected()
    {
        var id = new SnapshotId(7, 2);
        WriteSnapshot(id, "alpha", "beta");
        var path = SnapshotFiles.PathOf(_dir, id);
        var good = File.ReadAllBytes(path);
        var epochBytes = PartitionLeaderEpochPositions(good); // outside the CRC, and unchecked by design

        for (int i = 0; i < good.Length; i++)
        {
            if (epochBytes.Contains(i)) continue;
            var bad = (byte[])good.Clone();
            bad[i] ^= 0x5A;
            File.WriteAllBytes(path, bad);
            var e = Assert.Throws<StorageException>(() => SnapshotReader.Open(_dir, id));
            Assert.Contains(path, e.Message);
        }
    }

    [Fact]
    public void CrcMismatchIsReportedAsSuch()
    {
        var id = new SnapshotId(7, 2);
        WriteSnapshot(id, "alpha");
        var path = SnapshotFiles.PathOf(_dir, id);
        var bytes = File.ReadAllBytes(path);
        bytes[^20] ^= 1; // inside the footer batch's CRC-covered bytes
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<StorageException>(() => SnapshotReader.Open(_dir, id));
        Assert.Contains("RecordBatch.Crc", e.Message);
    }

    [Fact]
    public void TruncatedOrFooterlessSnapshotIsRejected()
    {
        var id = new SnapshotId(7, 2);
        WriteSnapshot(id, "alpha");
        var path = SnapshotFiles.PathOf(_dir, id);
        var bytes = File.ReadAllBytes(path);
        int footerStart = BatchStarts(bytes)[^1];

        File.WriteAllBytes(path, bytes[..footerStart]);
        var e = Assert.Throws<StorageException>(() => SnapshotReader.Open(_dir, id));
        Assert.Contains("SNAPSHOT_FOOTER", e.Message);

        File.WriteAllBytes(path, bytes[..^3]);
        e = Assert.Throws<StorageException>(() => SnapshotReader.Open(_dir, id));
        Assert.Contains("truncated", e.Message);

        File.WriteAllBytes(path, []);
        Assert.Throws<StorageException>(() => SnapshotReader.Open(_dir, id));
    }

    [Fact]
    public void SnapshotWithoutHeaderIsRejected()
    {
        var id = new SnapshotId(3, 0);
        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        builder.Append(0, null, new byte[] { 1 });
        var data = builder.ToArray();
        var footer = ControlBatch(1, ControlRecordType.SnapshotFooter, new SnapshotFooterRecord().Serialize(0));
        File.WriteAllBytes(SnapshotFiles.PathOf(_dir, id), [.. data, .. footer]);
        var e = Assert.Throws<StorageException>(() => SnapshotReader.Open(_dir, id));
        Assert.Contains("SNAPSHOT_HEADER", e.Message);
    }

    [Fact]
    public void MissingSnapshotNamesTheFile()
    {
        var e = Assert.Throws<StorageException>(() => SnapshotReader.Open(_dir, new SnapshotId(1, 1)));
        Assert.Contains(SnapshotFiles.FileName(new SnapshotId(1, 1)), e.Message);
    }

    [Fact]
    public void RawWriterInstallsAFetchedSnapshotOnlyWhenWhole()
    {
        var source = Directory.CreateTempSubdirectory("fjord-snapshot-src-").FullName;
        try
        {
            var id = new SnapshotId(40, 4);
            using (var writer = SnapshotWriter.Create(source, id, 9, _clock))
            {
                writer.Append(Values("p", "q"));
                writer.Freeze();
            }
            var bytes = File.ReadAllBytes(SnapshotFiles.PathOf(source, id));

            using (var raw = SnapshotWriter.CreateRaw(_dir, id))
            {
                for (int at = 0; at < bytes.Length; at += 17) raw.AppendRaw(bytes.AsSpan(at, Math.Min(17, bytes.Length - at)));
                raw.Freeze();
            }
            Assert.Equal(bytes, SnapshotReader.Open(_dir, id).Bytes.ToArray());

            var other = new SnapshotId(41, 4);
            using (var raw = SnapshotWriter.CreateRaw(_dir, other))
            {
                raw.AppendRaw(bytes.AsSpan(0, bytes.Length - 1));
                Assert.Throws<StorageException>(() => raw.Freeze());
            }
            Assert.Equal([id], SnapshotFiles.List(_dir));
            Assert.False(File.Exists(SnapshotFiles.PartialPathOf(_dir, other)));
        }
        finally
        {
            Directory.Delete(source, recursive: true);
        }
    }

    [Fact]
    public void FrozenWriterRefusesAppends()
    {
        using var writer = SnapshotWriter.Create(_dir, new SnapshotId(1, 1), 0, _clock);
        writer.Freeze();
        Assert.Throws<InvalidOperationException>(() => writer.Append(Values("late")));
        Assert.Throws<InvalidOperationException>(() => writer.AppendRaw([1]));
    }

    private void WriteSnapshot(SnapshotId id, params string[] values)
    {
        using var writer = SnapshotWriter.Create(_dir, id, 0, _clock);
        writer.Append(Values(values));
        writer.Freeze();
    }

    private static ReadOnlyMemory<byte>[] Values(params string[] values) =>
        values.Select(v => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(v)).ToArray();

    private static byte[] ControlBatch(long baseOffset, ControlRecordType type, byte[] value)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = baseOffset, IsControl = true });
        builder.Append(0, new ControlRecordKey(type).ToArray(), value);
        return builder.ToArray();
    }

    private static List<int> BatchStarts(byte[] bytes)
    {
        var starts = new List<int>();
        var reader = new RecordBatchReader(bytes);
        int position = 0;
        while (reader.MoveNext())
        {
            starts.Add(position);
            position = reader.Position;
        }
        return starts;
    }

    private static HashSet<int> PartitionLeaderEpochPositions(byte[] bytes) =>
        BatchStarts(bytes).SelectMany(start => Enumerable.Range(start + RecordBatchLayout.PartitionLeaderEpoch, 4)).ToHashSet();

    private sealed class FixedClock(long unixTimeMs) : IClock
    {
        public long UnixTimeMs => unixTimeMs;
        public long MonotonicMs => 0;
    }
}
