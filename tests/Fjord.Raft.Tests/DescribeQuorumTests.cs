using Fjord.Common;
using Fjord.Protocol.Messages;
using static Fjord.Raft.Tests.Harness;

namespace Fjord.Raft.Tests;

public sealed class DescribeQuorumTests
{
    [Fact]
    public void The_leader_describes_voters_and_observers()
    {
        var h = Harness.Leader(epoch: 5);
        h.Node.Propose([[1]], 0);                                // log: LEADER_CHANGE at 0, data at 1
        h.Node.Flush(0);                                         // the leader counts offset 1 once flushed
        h.Now = 100;
        h.Request<FetchResponse>(2, Fetch(2, 5, 2, 5));          // caught up at 100
        h.Now = 120;
        h.Request<FetchResponse>(100, Fetch(100, 5, 1, 5));      // an observer, behind

        var response = h.Node.DescribeQuorum(130);
        Assert.Equal(0, response.ErrorCode);
        var p = Assert.Single(Assert.Single(response.Topics).Partitions);
        Assert.Equal((1, 5, 2L), (p.LeaderId, p.LeaderEpoch, p.HighWatermark));
        Assert.Equal([1, 2, 3], p.CurrentVoters.Select(v => v.ReplicaId));
        Assert.Equal((2L, 130L, 130L), (p.CurrentVoters[0].LogEndOffset, p.CurrentVoters[0].LastFetchTimestamp, p.CurrentVoters[0].LastCaughtUpTimestamp));
        Assert.Equal((2L, 100L, 100L), (p.CurrentVoters[1].LogEndOffset, p.CurrentVoters[1].LastFetchTimestamp, p.CurrentVoters[1].LastCaughtUpTimestamp));
        Assert.Equal((-1L, -1L, -1L), (p.CurrentVoters[2].LogEndOffset, p.CurrentVoters[2].LastFetchTimestamp, p.CurrentVoters[2].LastCaughtUpTimestamp));
        var observer = Assert.Single(p.Observers);
        Assert.Equal((100, 1L, 120L, -1L), (observer.ReplicaId, observer.LogEndOffset, observer.LastFetchTimestamp, observer.LastCaughtUpTimestamp));

        // The same answer over the wire.
        var answered = (DescribeQuorumResponse)h.Request<DescribeQuorumResponse>(2, new DescribeQuorumRequest
        {
            Topics = [new DescribeQuorumRequest.TopicData { TopicName = RaftRpc.TopicName, Partitions = [new() { PartitionIndex = 0 }] }],
        });
        Assert.Equal(3, answered.Topics[0].Partitions[0].CurrentVoters.Count);
    }

    [Fact]
    public void Anyone_but_the_leader_answers_not_leader()
    {
        var h = new Harness(stored: Election(3, leader: 2));
        var response = h.Node.DescribeQuorum(0);
        Assert.Equal(ErrorCode.NotLeaderOrFollower, (ErrorCode)response.ErrorCode);
        var p = response.Topics[0].Partitions[0];
        Assert.Equal(ErrorCode.NotLeaderOrFollower, (ErrorCode)p.ErrorCode);
        Assert.Equal((2, 3), (p.LeaderId, p.LeaderEpoch));
        Assert.Empty(p.CurrentVoters);
    }
}
