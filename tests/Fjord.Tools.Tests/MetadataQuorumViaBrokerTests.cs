namespace Fjord.Tools.Tests;

/// <summary><c>fjord metadata-quorum --bootstrap-server</c>: the broker forwards DescribeQuorum to the active controller.</summary>
public sealed class MetadataQuorumViaBrokerTests(AdminNode node) : IClassFixture<AdminNode>
{
    [Fact]
    public void Describe_through_a_broker_shows_the_quorum_the_controller_leads()
    {
        string status = node.Ok("metadata-quorum", "--bootstrap-server", node.Bootstrap, "describe", "--status");
        Assert.Matches(@"ClusterId:\s+\S{22}", status);
        Assert.Matches(@"LeaderId:\s+1\n", status.Replace("\r", "", StringComparison.Ordinal));
        Assert.Matches(@"HighWatermark:\s+[1-9]\d*", status);
        Assert.Contains("CurrentVoters:", status, StringComparison.Ordinal);

        string replication = node.Ok("metadata-quorum", "--bootstrap-server", node.Bootstrap, "describe", "--replication");
        Assert.Matches(@"(?m)^1\s+\S+\s+\d+\s+0\s+\d+\s+\d+\s+Leader", replication);

        // The same answers as JSON: the fields of the table, numbers as numbers.
        var statusJson = node.Json("metadata-quorum", "--bootstrap-server", node.Bootstrap, "describe", "--status");
        Assert.Equal(1, statusJson.GetProperty("leaderId").GetInt32());
        Assert.True(statusJson.GetProperty("highWatermark").GetInt64() > 0);
        Assert.Equal(22, statusJson.GetProperty("clusterId").GetString()!.Length);
        var voter = Assert.Single(statusJson.GetProperty("currentVoters").EnumerateArray());
        Assert.Equal(1, voter.GetProperty("id").GetInt32());
        Assert.Contains(voter.GetProperty("endpoints").EnumerateArray(), e => e.GetString()!.StartsWith("CONTROLLER://", StringComparison.Ordinal));
        var rows = node.Json("metadata-quorum", "--bootstrap-server", node.Bootstrap, "describe", "--replication").EnumerateArray().ToList();
        var leaderRow = Assert.Single(rows, r => r.GetProperty("status").GetString() == "Leader");
        Assert.Equal(1, leaderRow.GetProperty("nodeId").GetInt32());
        Assert.Equal(0, leaderRow.GetProperty("lag").GetInt64());
        Assert.Single(rows); // one combined node: its broker reads the local controller, no observer

        var (code, _, err) = node.Fjord("metadata-quorum", "--bootstrap-server", node.Bootstrap, "remove-controller", "--controller-id", "1",
            "--controller-directory-id", "AAAAAAAAAAAAAAAAAAAAAA");
        Assert.Equal(2, code);
        Assert.Contains("needs --bootstrap-controller", err, StringComparison.Ordinal);
    }
}
