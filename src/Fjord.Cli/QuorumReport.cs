using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Cli;

/// <summary>
/// The text <c>kafka-metadata-quorum describe</c> prints, from a leader's DescribeQuorum answer:
/// <see cref="Status"/> for <c>--status</c> (labels padded to one column) and
/// <see cref="Replication"/> for <c>--replication</c> (Kafka's table: each cell padded to its
/// column's width and followed by a tab; leader first, then the other voters, then observers).
/// </summary>
public static class QuorumReport
{
    /// <summary>The one partition of a leader's answer (throws when the answer is an error).</summary>
    public static DescribeQuorumResponse.PartitionData Partition(DescribeQuorumResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.Topics is not [{ Partitions: [var partition] }])
            throw new FormatException("the DescribeQuorum answer does not hold exactly one partition");
        return partition;
    }

    /// <summary>The <c>--status</c> text, one line per field, each ending with a newline.</summary>
    public static string Status(string clusterId, DescribeQuorumResponse response)
    {
        var p = Partition(response);
        var (maxLag, maxLagTimeMs) = MaxLag(p);
        var s = new StringBuilder();
        Line("ClusterId:", clusterId);
        Line("LeaderId:", Number(p.LeaderId));
        Line("LeaderEpoch:", Number(p.LeaderEpoch));
        Line("HighWatermark:", Number(p.HighWatermark));
        Line("MaxFollowerLag:", Number(maxLag));
        Line("MaxFollowerLagTimeMs:", Number(maxLagTimeMs));
        Line("CurrentVoters:", Replicas(p.CurrentVoters, response.Nodes));
        Line("CurrentObservers:", Replicas(p.Observers, response.Nodes));
        return s.ToString();

        void Line(string label, string value) => s.Append(label.PadRight(24)).Append(value).Append('\n');
    }

    /// <summary><c>--status --output json</c>: the fields of <see cref="Status"/>, voters and observers as objects.</summary>
    public static JsonObject StatusJson(string clusterId, DescribeQuorumResponse response)
    {
        var p = Partition(response);
        var (maxLag, maxLagTimeMs) = MaxLag(p);
        return new JsonObject
        {
            ["clusterId"] = clusterId, ["leaderId"] = p.LeaderId, ["leaderEpoch"] = p.LeaderEpoch, ["highWatermark"] = p.HighWatermark,
            ["maxFollowerLag"] = maxLag, ["maxFollowerLagTimeMs"] = maxLagTimeMs,
            ["currentVoters"] = ReplicasJson(p.CurrentVoters, response.Nodes), ["currentObservers"] = ReplicasJson(p.Observers, response.Nodes),
        };
    }

    /// <summary><c>--replication --output json</c>: one object per row of <see cref="Replication"/>, in its order; timestamps in Unix ms (-1: never).</summary>
    public static JsonArray ReplicationJson(DescribeQuorumResponse response)
    {
        var p = Partition(response);
        var leader = Leader(p);
        var rows = new List<(DescribeQuorumResponse.ReplicaState Replica, string Status)> { (leader, "Leader") };
        rows.AddRange(p.CurrentVoters.Where(v => v.ReplicaId != p.LeaderId).Select(v => (v, "Follower")));
        rows.AddRange(p.Observers.Select(o => (o, "Observer")));
        return new JsonArray([.. rows.Select(r => (JsonNode)new JsonObject
        {
            ["nodeId"] = r.Replica.ReplicaId, ["directoryId"] = r.Replica.ReplicaDirectoryId.ToString(), ["logEndOffset"] = r.Replica.LogEndOffset,
            ["lag"] = leader.LogEndOffset - r.Replica.LogEndOffset, ["lastFetchTimestamp"] = r.Replica.LastFetchTimestamp,
            ["lastCaughtUpTimestamp"] = r.Replica.LastCaughtUpTimestamp, ["status"] = r.Status,
        })]);
    }

    private static JsonArray ReplicasJson(IEnumerable<DescribeQuorumResponse.ReplicaState> replicas, IReadOnlyList<DescribeQuorumResponse.Node> nodes) =>
        new([.. replicas.Select(r => (JsonNode)new JsonObject
        {
            ["id"] = r.ReplicaId,
            ["directoryId"] = r.ReplicaDirectoryId == Uuid.Zero ? null : r.ReplicaDirectoryId.ToString(),
            ["endpoints"] = new JsonArray([.. (nodes.FirstOrDefault(n => n.NodeId == r.ReplicaId)?.Listeners ?? []).Select(l => (JsonNode)Endpoint(l))]),
        })]);

    /// <summary>Kafka's rule: the voter with the smallest log end offset (the first such one), compared to the leader.</summary>
    private static (long MaxLag, long MaxLagTimeMs) MaxLag(DescribeQuorumResponse.PartitionData p)
    {
        var leader = Leader(p);
        var slowest = p.CurrentVoters.Aggregate((a, b) => b.LogEndOffset < a.LogEndOffset ? b : a);
        long maxLagTimeMs = ReferenceEquals(leader, slowest) ? 0
            : leader.LastCaughtUpTimestamp >= 0 && slowest.LastCaughtUpTimestamp >= 0 ? leader.LastCaughtUpTimestamp - slowest.LastCaughtUpTimestamp
            : -1;
        return (leader.LogEndOffset - slowest.LogEndOffset, maxLagTimeMs);
    }

    /// <summary>The <c>--replication</c> table; with <paramref name="humanReadable"/>, timestamps become "N ms ago" from <paramref name="nowUnixMs"/>.</summary>
    public static string Replication(DescribeQuorumResponse response, bool humanReadable = false, long nowUnixMs = 0)
    {
        var p = Partition(response);
        var leader = Leader(p);
        var rows = new List<string[]> { Row(leader, "Leader") };
        rows.AddRange(p.CurrentVoters.Where(v => v.ReplicaId != p.LeaderId).Select(v => Row(v, "Follower")));
        rows.AddRange(p.Observers.Select(o => Row(o, "Observer")));
        string[] headers = ["NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"];
        var widths = headers.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        var s = new StringBuilder();
        foreach (var row in rows.Prepend(headers))
        {
            for (int i = 0; i < row.Length; i++) s.Append(row[i].PadRight(widths[i])).Append('\t');
            s.Append('\n');
        }
        return s.ToString();

        string[] Row(DescribeQuorumResponse.ReplicaState r, string status) =>
        [
            Number(r.ReplicaId), r.ReplicaDirectoryId.ToString(), Number(r.LogEndOffset), Number(leader.LogEndOffset - r.LogEndOffset),
            Timestamp(r.LastFetchTimestamp), Timestamp(r.LastCaughtUpTimestamp), status,
        ];

        string Timestamp(long unixMs) => unixMs < 0 ? "-1"
            : humanReadable ? $"{Number(Math.Max(0, nowUnixMs - unixMs))} ms ago"
            : Number(unixMs);
    }

    private static DescribeQuorumResponse.ReplicaState Leader(DescribeQuorumResponse.PartitionData p) =>
        p.CurrentVoters.FirstOrDefault(v => v.ReplicaId == p.LeaderId)
        ?? throw new FormatException($"the leader {p.LeaderId} is not among the voters of the DescribeQuorum answer");

    /// <summary><c>[{"id": 1, "directoryId": "…", "endpoints": ["CONTROLLER://host:9093"]}, …]</c>; a zero
    /// directory id and an empty endpoint list are left out, as Kafka does.</summary>
    private static string Replicas(IEnumerable<DescribeQuorumResponse.ReplicaState> replicas, IReadOnlyList<DescribeQuorumResponse.Node> nodes) =>
        "[" + string.Join(", ", replicas.Select(r =>
        {
            var s = new StringBuilder("{\"id\": ").Append(Number(r.ReplicaId));
            if (r.ReplicaDirectoryId != Uuid.Zero) s.Append(", \"directoryId\": \"").Append(r.ReplicaDirectoryId).Append('"');
            var listeners = nodes.FirstOrDefault(n => n.NodeId == r.ReplicaId)?.Listeners ?? [];
            if (listeners.Count > 0)
                s.Append(", \"endpoints\": [").Append(string.Join(", ", listeners.Select(l => $"\"{Endpoint(l)}\""))).Append(']');
            return s.Append('}').ToString();
        })) + "]";

    private static string Endpoint(DescribeQuorumResponse.Listener l) =>
        $"{l.Name}://{(l.Host.Contains(':', StringComparison.Ordinal) ? $"[{l.Host}]" : l.Host)}:{Number(l.Port)}";

    private static string Number(long n) => n.ToString(CultureInfo.InvariantCulture);
}
