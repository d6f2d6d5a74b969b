using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Raft;

/// <summary>
/// The record batches the leader writes: one data batch per proposal (null keys, the proposed
/// values) and the LEADER_CHANGE control batch that opens each epoch. Offsets are assigned by
/// <see cref="IRaftLog.AppendAsLeader"/>. Timestamps are the driver's <c>now</c>, clamped at 0
/// (v2 batches reject negative timestamps; a skewed simulated clock may start below 0).
/// </summary>
internal static class RaftBatches
{
    /// <summary>LeaderChangeMessage version written (Kafka writes 0: no directory ids).</summary>
    public const short LeaderChangeVersion = 0;

    public static byte[] Data(int epoch, IReadOnlyList<byte[]> records, long now)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { PartitionLeaderEpoch = epoch });
        long timestamp = Math.Max(0, now);
        foreach (var value in records) builder.Append(timestamp, (byte[]?)null, value);
        return builder.ToArray();
    }

    public static byte[] LeaderChange(int epoch, int leaderId, IEnumerable<int> voters, IEnumerable<int> grantingVoters, long now)
    {
        var message = new LeaderChangeMessage
        {
            Version = LeaderChangeVersion,
            LeaderId = leaderId,
            Voters = [.. voters.Select(v => new LeaderChangeMessage.Voter { VoterId = v })],
            GrantingVoters = [.. grantingVoters.Select(v => new LeaderChangeMessage.Voter { VoterId = v })],
        };
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { PartitionLeaderEpoch = epoch, IsControl = true });
        builder.Append(Math.Max(0, now), new ControlRecordKey(ControlRecordType.LeaderChange).ToArray(), message.Serialize(LeaderChangeVersion));
        return builder.ToArray();
    }
}
