using Fjord.Cli;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Server.Tests.Controller;

/// <summary>The exact text of <c>metadata-quorum describe</c>, from a DescribeQuorum answer built by hand.</summary>
public sealed class QuorumReportTests
{
    private static readonly Uuid Dir2 = Uuid.Parse("b-DwmhtOheTqZzPoh52kfA");
    private static readonly Uuid Observer = Uuid.Parse("3Db5QLSqSZieL3rJBUUegA");

    private static DescribeQuorumResponse Answer()
    {
        var partition = new DescribeQuorumResponse.PartitionData { LeaderId = 3, LeaderEpoch = 7, HighWatermark = 120 };
        partition.CurrentVoters.Add(new() { ReplicaId = 1, LogEndOffset = 118, LastFetchTimestamp = 1_700_000_000_900, LastCaughtUpTimestamp = 1_700_000_000_500 });
        partition.CurrentVoters.Add(new() { ReplicaId = 2, ReplicaDirectoryId = Dir2, LogEndOffset = 121, LastFetchTimestamp = 1_700_000_000_990, LastCaughtUpTimestamp = 1_700_000_000_990 });
        partition.CurrentVoters.Add(new() { ReplicaId = 3, LogEndOffset = 121, LastFetchTimestamp = 1_700_000_001_000, LastCaughtUpTimestamp = 1_700_000_001_000 });
        partition.Observers.Add(new() { ReplicaId = 10, ReplicaDirectoryId = Observer, LogEndOffset = 90, LastFetchTimestamp = -1, LastCaughtUpTimestamp = -1 });
        var response = new DescribeQuorumResponse();
        response.Topics.Add(new DescribeQuorumResponse.TopicData { TopicName = "__cluster_metadata", Partitions = [partition] });
        foreach (var (id, port) in new[] { (1, 9093), (2, 9094), (3, 9095) })
            response.Nodes.Add(new DescribeQuorumResponse.Node { NodeId = id, Listeners = [new() { Name = "CONTROLLER", Host = "localhost", Port = (ushort)port }] });
        return response;
    }

    [Fact]
    public void Status_is_Kafka_s_text()
    {
        var text = QuorumReport.Status("MX1HbXq8TFymY2SYR1hGYg", Answer());
        Assert.Equal(
            "ClusterId:              MX1HbXq8TFymY2SYR1hGYg\n" +
            "LeaderId:               3\n" +
            "LeaderEpoch:            7\n" +
            "HighWatermark:          120\n" +
            "MaxFollowerLag:         3\n" +
            "MaxFollowerLagTimeMs:   500\n" +
            "CurrentVoters:          [{\"id\": 1, \"endpoints\": [\"CONTROLLER://localhost:9093\"]}, " +
            "{\"id\": 2, \"directoryId\": \"b-DwmhtOheTqZzPoh52kfA\", \"endpoints\": [\"CONTROLLER://localhost:9094\"]}, " +
            "{\"id\": 3, \"endpoints\": [\"CONTROLLER://localhost:9095\"]}]\n" +
            "CurrentObservers:       [{\"id\": 10, \"directoryId\": \"3Db5QLSqSZieL3rJBUUegA\"}]\n",
            text);
    }

    [Fact]
    public void Status_with_every_voter_caught_up_has_no_lag()
    {
        var answer = Answer();
        foreach (var v in answer.Topics[0].Partitions[0].CurrentVoters) v.LogEndOffset = 121;
        var lines = QuorumReport.Status("c", answer).Split('\n');
        // The first voter with the smallest log end offset is node 1, not the leader: lag 0, time from the catch-up times.
        Assert.Equal("MaxFollowerLag:         0", lines[4]);
        Assert.Equal("MaxFollowerLagTimeMs:   500", lines[5]);
    }

    [Fact]
    public void Replication_is_Kafka_s_table_leader_first()
    {
        var text = QuorumReport.Replication(Answer());
        Assert.Equal(
            "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus  \t\n" +
            "3     \tAAAAAAAAAAAAAAAAAAAAAA\t121         \t0  \t1700000001000     \t1700000001000        \tLeader  \t\n" +
            "1     \tAAAAAAAAAAAAAAAAAAAAAA\t118         \t3  \t1700000000900     \t1700000000500        \tFollower\t\n" +
            "2     \tb-DwmhtOheTqZzPoh52kfA\t121         \t0  \t1700000000990     \t1700000000990        \tFollower\t\n" +
            "10    \t3Db5QLSqSZieL3rJBUUegA\t90          \t31 \t-1                \t-1                   \tObserver\t\n",
            text);
    }

    [Fact]
    public void Replication_human_readable_shows_ages()
    {
        var text = QuorumReport.Replication(Answer(), humanReadable: true, nowUnixMs: 1_700_000_002_000);
        var leaderRow = text.Split('\n')[1].Split('\t');
        Assert.Equal(("1000 ms ago", "1000 ms ago"), (leaderRow[4].Trim(), leaderRow[5].Trim()));
        Assert.Contains("-1", text.Split('\n')[4]);
    }

    [Fact]
    public void A_leader_missing_from_the_voters_is_an_error()
    {
        var answer = Answer();
        answer.Topics[0].Partitions[0].LeaderId = 42;
        Assert.Throws<FormatException>(() => QuorumReport.Status("c", answer));
    }
}
