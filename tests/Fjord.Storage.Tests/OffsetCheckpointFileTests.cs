namespace Fjord.Storage.Tests;

public sealed class OffsetCheckpointFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fjord-checkpoint-").FullName;
    private string FilePath => Path.Combine(_dir, OffsetCheckpointFile.RecoveryPointFileName);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void RoundTripsAndWritesKafkasFormatInOrder()
    {
        var offsets = new Dictionary<TopicPartition, long>
        {
            [new("orders", 1)] = 987,
            [new("my-topic.v2", 10)] = 0,
            [new("orders", 0)] = 1234,
            [new("__cluster_metadata", 0)] = long.MaxValue,
        };
        OffsetCheckpointFile.Write(FilePath, offsets);

        Assert.Equal(
            "0\n4\n__cluster_metadata 0 9223372036854775807\nmy-topic.v2 10 0\norders 0 1234\norders 1 987\n",
            File.ReadAllText(FilePath));
        Assert.Equal(offsets, OffsetCheckpointFile.Read(FilePath));
        Assert.False(File.Exists(FilePath + AtomicFile.TempSuffix));
    }

    [Fact]
    public void OverwriteReplacesTheWholeFile()
    {
        OffsetCheckpointFile.Write(FilePath, new Dictionary<TopicPartition, long> { [new("a", 0)] = 5, [new("b", 0)] = 6 });
        OffsetCheckpointFile.Write(FilePath, new Dictionary<TopicPartition, long> { [new("a", 0)] = 7 });
        Assert.Equal(new Dictionary<TopicPartition, long> { [new("a", 0)] = 7 }, OffsetCheckpointFile.Read(FilePath));
    }

    [Fact]
    public void EmptyCheckpointRoundTrips()
    {
        OffsetCheckpointFile.Write(FilePath, []);
        Assert.Equal("0\n0\n", File.ReadAllText(FilePath));
        Assert.Empty(OffsetCheckpointFile.Read(FilePath));
    }

    [Fact]
    public void MissingOrZeroByteFileReadsAsEmpty()
    {
        Assert.Empty(OffsetCheckpointFile.Read(FilePath));
        File.WriteAllText(FilePath, "");
        Assert.Empty(OffsetCheckpointFile.Read(FilePath));
    }

    [Fact]
    public void AcceptsWindowsLineEndingsAndNoFinalNewline()
    {
        File.WriteAllText(FilePath, "0\r\n1\r\nt 3 42");
        Assert.Equal(42, OffsetCheckpointFile.Read(FilePath)[new TopicPartition("t", 3)]);
    }

    [Theory]
    [InlineData("1\n0\n", 1, "version 1")]
    [InlineData("x\n0\n", 1, "version 'x'")]
    [InlineData("0\n", 2, "count is missing")]
    [InlineData("0\nmany\n", 2, "entry count 'many'")]
    [InlineData("0\n-1\n", 2, "negative entry count")]
    [InlineData("0\n2\nt 0 1\n", 4, "declares 2 entries but holds 1")]
    [InlineData("0\n1\nt 0 1\nt 1 2\n", 4, "declares 1 entries but holds 2")]
    [InlineData("0\n1\nt 0\n", 3, "expected '<topic> <partition> <offset>'")]
    [InlineData("0\n1\nt  0 1\n", 3, "expected '<topic> <partition> <offset>'")]
    [InlineData("0\n1\nt zero 1\n", 3, "partition 'zero'")]
    [InlineData("0\n1\nt 0 -5\n", 3, "offset '-5'")]
    [InlineData("0\n1\nt 0 99999999999999999999\n", 3, "offset '99999999999999999999'")]
    [InlineData("0\n2\nt 0 1\nt 0 2\n", 4, "t-0 appears twice")]
    public void MalformedFileNamesTheFileAndLine(string contents, int line, string problem)
    {
        File.WriteAllText(FilePath, contents);
        var e = Assert.Throws<StorageException>(() => OffsetCheckpointFile.Read(FilePath));
        Assert.Contains(FilePath, e.Message);
        Assert.Contains($"line {line}:", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void RefusesToWriteWhatCannotBeReadBack()
    {
        Assert.Throws<ArgumentException>(() => OffsetCheckpointFile.Write(FilePath, new Dictionary<TopicPartition, long> { [new("a b", 0)] = 1 }));
        Assert.Throws<ArgumentException>(() => OffsetCheckpointFile.Write(FilePath, new Dictionary<TopicPartition, long> { [new("a", 0)] = -1 }));
        Assert.False(File.Exists(FilePath));
    }

    [Fact]
    public void WriteIntoMissingDirectoryIsAStorageException()
    {
        var path = Path.Combine(_dir, "gone", OffsetCheckpointFile.LogStartOffsetFileName);
        var e = Assert.Throws<StorageException>(() => OffsetCheckpointFile.Write(path, []));
        Assert.Contains(path, e.Message);
    }
}
