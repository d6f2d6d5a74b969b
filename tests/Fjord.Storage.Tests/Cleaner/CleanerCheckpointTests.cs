namespace Fjord.Storage.Tests.Cleaner;

public sealed class CleanerCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fjord-cleaner-checkpoint-").FullName;

    [Fact]
    public void Round_trips_and_a_missing_file_reads_as_none()
    {
        Assert.Null(CleanerCheckpoint.Read(_dir));
        CleanerCheckpoint.Write(_dir, 12345);
        Assert.Equal(12345, CleanerCheckpoint.Read(_dir));
        Assert.Equal("0\n12345\n", File.ReadAllText(CleanerCheckpoint.PathIn(_dir)));
        CleanerCheckpoint.Write(_dir, 0);
        Assert.Equal(0, CleanerCheckpoint.Read(_dir));
    }

    [Theory]
    [InlineData("1\n5\n")]
    [InlineData("0\n")]
    [InlineData("0\n-5\n")]
    [InlineData("0\nabc\n")]
    [InlineData("0\n5\n6\n")]
    public void A_malformed_file_is_a_storage_exception_naming_it(string text)
    {
        File.WriteAllText(CleanerCheckpoint.PathIn(_dir), text);
        var e = Assert.Throws<StorageException>(() => CleanerCheckpoint.Read(_dir));
        Assert.Contains(CleanerCheckpoint.FileName, e.Message);
    }

    [Fact]
    public void A_leftover_temp_file_is_ignored_and_removed()
    {
        CleanerCheckpoint.Write(_dir, 7);
        File.WriteAllText(CleanerCheckpoint.PathIn(_dir) + AtomicFile.TempSuffix, "0\n99");
        Assert.Equal(7, CleanerCheckpoint.Read(_dir));
        Assert.False(File.Exists(CleanerCheckpoint.PathIn(_dir) + AtomicFile.TempSuffix));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
