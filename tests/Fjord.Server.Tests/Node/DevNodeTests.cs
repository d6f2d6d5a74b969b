using Fjord.Server.Node;

namespace Fjord.Server.Tests.Node;

public sealed class DevNodeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_first_start_writes_the_config_and_formats_once_and_later_starts_keep_both()
    {
        var data = _dir.Sub("dev");
        var first = new StringWriter();
        var config = DevNode.Prepare(data, first);

        Assert.Equal(ProcessRoles.Broker | ProcessRoles.Controller, config.ProcessRoles);
        Assert.Equal(1, config.NodeId);
        Assert.Contains(config.Listeners, l => l.Name == "PLAINTEXT" && l.Host == "127.0.0.1" && l.Port == 9092);
        Assert.Contains(config.Listeners, l => l.Name == "CONTROLLER" && l.Host == "127.0.0.1" && l.Port == 9093);
        Assert.DoesNotContain(config.AdvertisedBrokerListeners, l => l.Name == "CONTROLLER");
        var storage = StorageCheck.Verify(config); // formatted: the start-up check passes
        Assert.Contains("formatting", first.ToString(), StringComparison.Ordinal);

        File.AppendAllText(Path.Combine(data, DevNode.ConfigFileName), "num.partitions=4\n"); // an operator's edit
        var second = new StringWriter();
        var again = DevNode.Prepare(data, second);
        Assert.Equal(4, again.NumPartitions);
        Assert.Equal("", second.ToString()); // nothing formatted again
        Assert.Equal(storage.ClusterId, StorageCheck.Verify(again).ClusterId);
    }

    [Fact]
    public void A_data_directory_formatted_for_another_node_is_not_reformatted()
    {
        var data = _dir.Sub("dev");
        var config = DevNode.Prepare(data, TextWriter.Null);
        var meta = Path.Combine(config.LogDirs[0], "meta.properties");
        File.WriteAllText(meta, File.ReadAllText(meta).Replace("node.id=1", "node.id=7", StringComparison.Ordinal));

        var again = DevNode.Prepare(data, TextWriter.Null);
        var e = Assert.Throws<StorageCheckException>(() => StorageCheck.Verify(again));
        Assert.Contains(config.LogDirs[0], e.Message, StringComparison.Ordinal);
    }
}
