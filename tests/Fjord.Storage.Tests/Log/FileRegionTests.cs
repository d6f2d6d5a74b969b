namespace Fjord.Storage.Tests.Log;

public sealed class FileRegionTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_region_copies_its_bytes_and_reports_a_short_file()
    {
        var path = _dir.Combine("f");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5, 6]);
        using var handle = File.OpenHandle(path);
        Assert.Equal(new byte[] { 3, 4, 5 }, new FileRegion(handle, 2, 3).ToArray());
        Assert.Empty(new FileRegion(handle, 6, 0).ToArray());
        Assert.Throws<ArgumentException>(() => new FileRegion(handle, 0, 3).CopyTo(new byte[2]));
        Assert.Throws<StorageException>(() => new FileRegion(handle, 4, 3).ToArray());
    }

    [Fact]
    public void A_read_result_concatenates_its_regions()
    {
        var path = _dir.Combine("f");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5, 6]);
        using var handle = File.OpenHandle(path);
        var result = new LogReadResult([new FileRegion(handle, 4, 2), new FileRegion(handle, 0, 1)], 7, 0, 10);
        Assert.Equal(3, result.TotalBytes);
        Assert.Equal(new byte[] { 5, 6, 1 }, result.ToArray());
        Assert.False(result.IsEmpty);
    }
}
