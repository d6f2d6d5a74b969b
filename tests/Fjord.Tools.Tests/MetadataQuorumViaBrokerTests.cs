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

        var (code, _, err) = node.Fjord("metadata-quorum", "--bootstrap-server", node.Bootstrap, "remove-controller", "--controller-id", "1",
            "--controller-directory-id", "AAAAAAAAAAAAAAAAAAAAAA");
        Assert.Equal(2, code);
        Assert.Contains("needs --bootstrap-controller", err, StringComparison.Ordinal);
    }
}
