using Xunit.Abstractions;

namespace Fjord.Tools.Tests;

/// <summary>
/// The live read's FetchSnapshot path: after the fixture's second phase the controller has written a
/// snapshot and its log starts there, so a read from offset 0 is answered with the snapshot id and the
/// shell must fetch the snapshot, then the batches after it.
/// </summary>
[Collection(MetadataToolsCollection.Name)]
public sealed class MetadataShellSnapshotTests(MetadataToolsNode node, ITestOutputHelper output)
{
    [Fact]
    public void Live_reads_after_a_snapshot_load_it_and_answer_as_the_directory()
    {
        output.WriteLine($"metadata log after the first phase: {node.FirstPhaseLogBytes} bytes; snapshots written: {string.Join(", ", node.NodeSnapshotIds)}");
        Assert.NotEmpty(node.NodeSnapshotIds);
        var directory = node.AfterSnapshot["directory"];
        foreach (var command in MetadataToolsNode.SnapshotComparedCommands)
            foreach (var source in new[] { "controller", "broker" })
                Assert.True(node.AfterSnapshot[source][command] == directory[command],
                    $"'{command}' differs:\n{source}:\n{node.AfterSnapshot[source][command]}\ndirectory:\n{directory[command]}");

        // The ACLs that made the snapshot due are in every answer; the topic is unchanged.
        var acls = directory["find /acls"].Split('\n').Where(l => l.StartsWith("/acls/byId/", StringComparison.Ordinal)).ToList();
        Assert.Equal(MetadataToolsNode.AclCount, acls.Count);
        Assert.Equal(node.LiveAnswers["cat /topics/t/id"], directory["cat /topics/t/id"]);
        Assert.Equal(node.LiveAnswers["find /topics"], directory["find /topics"]);

        // /local/snapshot of both live reads names a snapshot the node wrote: the read took the FetchSnapshot path.
        foreach (var source in new[] { "controller", "broker" })
        {
            var local = node.LocalAfterSnapshot[source].Split('\n');
            output.WriteLine($"{source}: {string.Join(" | ", local)}");
            Assert.True(node.NodeSnapshotIds.Contains(local[0]), $"{source}: /local/snapshot is '{local[0]}', the node wrote {string.Join(", ", node.NodeSnapshotIds)}");
            Assert.True(int.Parse(local[1]) >= 0);
            Assert.StartsWith("quorum ", local[2], StringComparison.Ordinal);
        }
        Assert.Contains("named by broker", node.LocalAfterSnapshot["broker"], StringComparison.Ordinal);
    }
}
