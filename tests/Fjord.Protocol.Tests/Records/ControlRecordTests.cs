using Fjord.Protocol.Records;

namespace Fjord.Protocol.Tests.Records;

public class ControlRecordTests
{
    [Fact]
    public void Types_have_kafkas_wire_values()
    {
        Assert.Equal([0, 1, 2, 3, 4, 5, 6], Enum.GetValues<ControlRecordType>().Select(t => (int)t));
        Assert.Equal([0, 0, 0, 6], new ControlRecordKey(ControlRecordType.KRaftVoters).ToArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void End_transaction_marker_batches_round_trip(bool commit)
    {
        var bytes = EndTransactionMarker.BuildBatch(commit, coordinatorEpoch: 17, producerId: 4242, producerEpoch: 3,
            timestampMs: 1_700_000_000_123, baseOffset: 50, partitionLeaderEpoch: 2);
        var batch = new RecordBatch(bytes);
        batch.Validate();
        Assert.True(batch.IsControl);
        Assert.True(batch.IsTransactional);
        Assert.Equal(4242, batch.ProducerId);
        Assert.Equal(3, batch.ProducerEpoch);
        Assert.Equal(-1, batch.BaseSequence);
        Assert.Equal(1, batch.RecordCount);
        using var records = batch.OpenRecords(1000);
        foreach (var record in records)
        {
            Assert.Equal(50, record.Offset);
            var key = ControlRecordKey.Read(record.KeySpan);
            Assert.Equal(commit ? ControlRecordType.Commit : ControlRecordType.Abort, key.Type);
            Assert.Equal(0, key.Version);
            var marker = EndTransactionMarker.Read(key.Type, record.ValueSpan);
            Assert.Equal(17, marker.CoordinatorEpoch);
            Assert.Equal(commit, marker.IsCommit);
        }
    }

    [Fact]
    public void Malformed_control_values_are_refused()
    {
        Assert.Equal("ControlRecordKey", Assert.Throws<ProtocolDecodeException>(() => ControlRecordKey.Read([0, 0, 1])).Field);
        Assert.Equal("ControlRecordKey.Version", Assert.Throws<ProtocolDecodeException>(() => ControlRecordKey.Read([0xFF, 0xFF, 0, 1])).Field);
        Assert.Equal(new ControlRecordKey(1, (ControlRecordType)99), ControlRecordKey.Read([0, 1, 0, 99, 7, 7])); // newer versions are read
        Assert.Throws<ProtocolDecodeException>(() => EndTransactionMarker.Read(ControlRecordType.Commit, [0, 0, 0, 0, 1]));
        Assert.Throws<ProtocolDecodeException>(() => EndTransactionMarker.Read(ControlRecordType.LeaderChange, [0, 0, 0, 0, 0, 1]));
    }
}
