using Fjord.Common;

namespace Fjord.Server.Tests;

public sealed class MetaPropertiesTests
{
    [Fact]
    public void Write_then_read_round_trips()
    {
        using var dir = new TempDirectory();
        var meta = MetaProperties.V1("MX1HbXq8TFymY2SYR1hGYg", 3, Uuid.NewRandom());
        meta.WriteTo(dir.Path);
        Assert.Equal(meta, MetaProperties.ReadFrom(dir.Path));
        Assert.False(File.Exists(MetaProperties.PathIn(dir.Path) + ".tmp"));
    }

    [Fact]
    public void The_file_looks_like_Kafkas()
    {
        var directoryId = Uuid.Parse("JEXY6aqzQY-32P5TStzaFg");
        var text = MetaProperties.V1("MX1HbXq8TFymY2SYR1hGYg", 1, directoryId).ToFileText(new DateTimeOffset(2024, 3, 5, 10, 0, 0, TimeSpan.Zero));
        Assert.Equal("""
            #
            #Tue Mar 05 10:00:00 UTC 2024
            cluster.id=MX1HbXq8TFymY2SYR1hGYg
            directory.id=JEXY6aqzQY-32P5TStzaFg
            node.id=1
            version=1

            """.Replace("\r\n", "\n"), text);
    }

    [Fact]
    public void Reads_a_file_Kafka_wrote()
    {
        using var dir = new TempDirectory();
        dir.WriteFile("meta.properties", "#\n#Thu Oct 10 12:00:00 UTC 2024\nnode.id=2\ndirectory.id=MvDxzVmcRsaTz33bUuRU6A\nversion=1\ncluster.id=MX1HbXq8TFymY2SYR1hGYg\n");
        var meta = MetaProperties.ReadFrom(dir.Path)!;
        Assert.Equal(1, meta.Version);
        Assert.Equal("MX1HbXq8TFymY2SYR1hGYg", meta.ClusterId);
        Assert.Equal(2, meta.NodeId);
        Assert.Equal(Uuid.Parse("MvDxzVmcRsaTz33bUuRU6A"), meta.DirectoryId);
    }

    [Fact]
    public void A_legacy_version_0_file_is_read_with_its_broker_id()
    {
        using var dir = new TempDirectory();
        dir.WriteFile("meta.properties", "version=0\nbroker.id=7\ncluster.id=abc\n");
        var meta = MetaProperties.ReadFrom(dir.Path)!;
        Assert.Equal(0, meta.Version);
        Assert.Equal(7, meta.NodeId);
        Assert.Null(meta.DirectoryId);
    }

    [Fact]
    public void A_missing_file_reads_as_null() => Assert.Null(MetaProperties.ReadFrom(Path.GetTempPath() + Guid.NewGuid()));

    [Theory]
    [InlineData("version=1\nnode.id=1\n", "cluster.id")]
    [InlineData("version=1\ncluster.id=x\n", "node.id")]
    [InlineData("version=1\ncluster.id=x\nnode.id=one\n", "node.id")]
    [InlineData("version=1\ncluster.id=x\nnode.id=1\ndirectory.id=not-a-uuid\n", "directory.id")]
    [InlineData("version=2\ncluster.id=x\nnode.id=1\n", "version")]
    [InlineData("version=1\ncluster.id=\\u00zz\n", "meta.properties:2")]
    public void Bad_files_are_refused_naming_the_problem(string text, string expected)
    {
        using var dir = new TempDirectory();
        var path = dir.WriteFile("meta.properties", text);
        var e = Assert.Throws<MetaPropertiesException>(() => MetaProperties.Read(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }
}
