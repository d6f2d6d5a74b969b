using Fjord.Cli;
using Fjord.Protocol.Messages;

namespace Fjord.Cluster.Tests;

/// <summary>What one controller said to DescribeQuorum: as leader (<see cref="IsLeader"/>) or naming the leader it knows.</summary>
internal sealed record QuorumView(int NodeId, bool IsLeader, int LeaderId, int Epoch, long HighWatermark, IReadOnlyList<DescribeQuorumResponse.ReplicaState> Voters)
{
    /// <summary>The leader's observers (replicas fetching that are not voters).</summary>
    public IReadOnlyList<DescribeQuorumResponse.ReplicaState> Observers { get; init; } = [];

    public long LogEndOffsetOf(int id) => Voters.Single(v => v.ReplicaId == id).LogEndOffset;
    public override string ToString() =>
        $"node {NodeId}: {(IsLeader ? "leader" : "not leader")}, knows leader {LeaderId} epoch {Epoch}, hw {HighWatermark}" +
        (IsLeader ? $", voters {string.Join(" ", Voters.Select(v => $"{v.ReplicaId}@{v.LogEndOffset}"))}" : "");
}

/// <summary>
/// Asks controllers over their listener as an admin client would (client id "admin"), one kept
/// connection per controller, reopened after a failure. A controller that cannot be reached answers null.
/// </summary>
internal sealed class QuorumProbe(IReadOnlyDictionary<int, int> ports) : IDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);
    private readonly Dictionary<int, KafkaClient> _clients = [];

    public async Task<QuorumView?> DescribeAsync(int id)
    {
        try
        {
            if (!_clients.TryGetValue(id, out var client))
                _clients[id] = client = await KafkaClient.ConnectAsync("127.0.0.1", ports[id], "admin", RequestTimeout);
            var request = new DescribeQuorumRequest();
            var topic = new DescribeQuorumRequest.TopicData { TopicName = "__cluster_metadata" };
            topic.Partitions.Add(new DescribeQuorumRequest.PartitionData { PartitionIndex = 0 });
            request.Topics.Add(topic);
            var answer = await client.SendAsync<DescribeQuorumResponse>(request, 2);
            var p = answer.Topics[0].Partitions[0];
            return new QuorumView(id, answer.ErrorCode == 0 && p.ErrorCode == 0, p.LeaderId, p.LeaderEpoch, p.HighWatermark, p.CurrentVoters) { Observers = p.Observers };
        }
        catch (KafkaClientException)
        {
            Forget(id);
            return null;
        }
    }

    public async Task<int?> ControllerIdAsync(int id)
    {
        try
        {
            if (!_clients.TryGetValue(id, out var client))
                _clients[id] = client = await KafkaClient.ConnectAsync("127.0.0.1", ports[id], "admin", RequestTimeout);
            var answer = await client.SendAsync<DescribeClusterResponse>(new DescribeClusterRequest { EndpointType = 2 }, 2);
            return answer.ControllerId;
        }
        catch (KafkaClientException)
        {
            Forget(id);
            return null;
        }
    }

    /// <summary>Drops the connection to <paramref name="id"/> (its process died).</summary>
    public void Forget(int id)
    {
        if (_clients.Remove(id, out var client)) client.Dispose();
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values) client.Dispose();
        _clients.Clear();
    }
}
