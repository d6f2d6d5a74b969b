using Fjord.Broker.Groups;

namespace Fjord.Broker.Tests.Groups;

/// <summary>The offset records of <c>__consumer_offsets</c>: which value version a commit is written at, and what reads back.</summary>
public sealed class GroupRecordsTests
{
    [Fact]
    public void A_commit_with_an_explicit_expiry_is_written_at_value_v1_without_its_leader_epoch()
    {
        // OffsetCommit v2-4 retention: only value v1 carries an expiry, and v1 has no leader epoch field.
        var record = GroupRecords.Offset("g", "t", 3, new CommittedOffset(42, LeaderEpoch: 7, "meta", CommitTimestamp: 1_000, ExpireTimestamp: 9_000));
        ReadOnlyMemory<byte> value = record.Value!;
        Assert.Equal(1, (value.Span[0] << 8) | value.Span[1]);
        var back = GroupRecords.ReadOffsetValue(value);
        Assert.Equal(new CommittedOffset(42, -1, "meta", 1_000, 9_000), back);
    }

    [Fact]
    public void A_commit_without_an_expiry_keeps_its_leader_epoch_at_value_v3()
    {
        var record = GroupRecords.Offset("g", "t", 3, new CommittedOffset(42, LeaderEpoch: 7, "", CommitTimestamp: 1_000, ExpireTimestamp: null));
        ReadOnlyMemory<byte> value = record.Value!;
        Assert.Equal(3, (value.Span[0] << 8) | value.Span[1]);
        Assert.Equal(new CommittedOffset(42, 7, "", 1_000, null), GroupRecords.ReadOffsetValue(value));
    }

    [Fact]
    public void A_deleted_offset_is_a_tombstone()
    {
        var record = GroupRecords.Offset("g", "t", 3, null);
        Assert.Null(record.Value);
        var key = GroupRecords.ReadOffsetKey(record.Key);
        Assert.Equal(("g", "t", 3), (key.Group, key.Topic, key.Partition));
    }
}
