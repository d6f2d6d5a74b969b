using Fjord.Protocol.Compression;
using Fjord.Protocol.Records;

namespace Fjord.Storage.Tests.Cleaner;

public sealed class BatchFilterTests : IDisposable
{
    private const long Now = 1_700_000_000_000;
    private const long DeleteRetentionMs = 86_400_000;
    private readonly BatchFilter _filter = new(1 << 20);
    private readonly PooledBufferWriter _output = new();

    private static OffsetMap MapOf(params (string Key, long Offset)[] entries)
    {
        var map = new OffsetMap(1 << 16);
        foreach (var (key, offset) in entries) Assert.True(map.TryPut(TestBatches.Key(key), offset));
        return map;
    }

    private BatchFilterResult Run(byte[] batch, OffsetMap map, long now = Now, long upperBound = long.MaxValue) =>
        _filter.Filter(new RecordBatch(batch), new CleaningRules(map, now, DeleteRetentionMs, upperBound), _output);

    [Fact]
    public void Superseded_records_go_and_survivors_keep_their_offsets()
    {
        var batch = TestBatches.Build([new(10, "a", "a1"), new(11, "b", "b1"), new(12, "a", "a2"), new(13, "c", "c1")]);
        var map = MapOf(("a", 12), ("b", 20), ("c", 13));
        var result = Run(batch, map);

        Assert.Equal(BatchFilterAction.Rebuilt, result.Action);
        Assert.Equal((4, 2), (result.RecordsRead, result.RecordsKept));
        var out1 = TestBatches.Batches(_output.WrittenMemory).Single();
        Assert.Equal(10, out1.BaseOffset); // same base offset even though offset 10 is gone
        Assert.Equal(13, out1.LastOffset);
        Assert.Equal([new ReadRecord(12, "a", "a2", 1_000, 0), new ReadRecord(13, "c", "c1", 1_000, 0)], TestBatches.Records(_output.WrittenMemory));
    }

    [Fact]
    public void A_batch_of_latest_records_is_copied_byte_for_byte()
    {
        var batch = TestBatches.Build([new(0, "a", "1"), new(1, "b", "2")]);
        var result = Run(batch, MapOf(("a", 0), ("b", 1)));
        Assert.Equal(BatchFilterAction.Copied, result.Action);
        Assert.Equal(batch, _output.ToArray());
    }

    [Fact]
    public void Keyless_records_and_records_past_the_map_are_kept()
    {
        var batch = TestBatches.Build([new(0, null, "n1"), new(1, "a", "old"), new(2, null, "n2"), new(3, "a", "newer-than-map")]);
        var map = MapOf(("a", 1));
        map.UpdateLatestOffset(2); // offset 3 was not indexed this round
        var result = Run(batch, map);
        Assert.Equal(BatchFilterAction.Copied, result.Action);
        Assert.Equal(4, TestBatches.Records(_output.WrittenMemory).Count);
    }

    [Fact]
    public void A_tombstone_is_kept_with_a_delete_horizon_then_removed_once_it_passes()
    {
        var batch = TestBatches.Build([new(5, "a", null), new(6, "b", "b1")]);
        var map = MapOf(("a", 5), ("b", 6));

        // First cleaning: kept, and the batch now carries now + delete.retention.ms.
        var first = Run(batch, map);
        Assert.Equal(BatchFilterAction.Rebuilt, first.Action);
        var cleaned = _output.ToArray();
        var cleanedBatch = TestBatches.Batches(cleaned).Single();
        Assert.Equal(Now + DeleteRetentionMs, cleanedBatch.DeleteHorizonMs);
        Assert.Equal([new ReadRecord(5, "a", null, 1_000, 0), new ReadRecord(6, "b", "b1", 1_000, 0)], TestBatches.Records(cleaned));

        // A later round whose map covers newer offsets but not these keys.
        var laterMap = new OffsetMap(1024);
        laterMap.UpdateLatestOffset(100);

        // Before the horizon: kept as is (the horizon is not moved).
        _output.Clear();
        Assert.Equal(BatchFilterAction.Copied, Run(cleaned, laterMap, now: Now + DeleteRetentionMs - 1).Action);
        Assert.Equal(cleaned, _output.ToArray());

        // At the horizon: the tombstone goes.
        _output.Clear();
        var later = Run(cleaned, laterMap, now: Now + DeleteRetentionMs);
        Assert.Equal(BatchFilterAction.Rebuilt, later.Action);
        Assert.Equal(1, later.TombstonesDropped);
        Assert.Equal([new ReadRecord(6, "b", "b1", 1_000, 0)], TestBatches.Records(_output.WrittenMemory));
    }

    [Fact]
    public void No_horizon_starts_while_a_tombstone_of_the_batch_lies_past_the_map()
    {
        var batch = TestBatches.Build([new(5, "a", null), new(6, "b", null)]);
        var map = MapOf(("a", 5)); // the round's index stopped at offset 5
        Assert.Equal(BatchFilterAction.Copied, Run(batch, map).Action);
        Assert.Null(TestBatches.Batches(_output.WrittenMemory).Single().DeleteHorizonMs);
    }

    [Fact]
    public void A_superseded_tombstone_goes_at_once()
    {
        var batch = TestBatches.Build([new(5, "a", null), new(6, "b", "b1")]);
        var result = Run(batch, MapOf(("a", 9), ("b", 6)));
        Assert.Equal(1, result.TombstonesDropped);
        Assert.Null(TestBatches.Batches(_output.WrittenMemory).Single().DeleteHorizonMs);
    }

    [Fact]
    public void Control_and_transactional_batches_are_copied_unchanged()
    {
        var marker = EndTransactionMarker.BuildBatch(true, coordinatorEpoch: 1, producerId: 7, producerEpoch: 0, timestampMs: 5, baseOffset: 3, partitionLeaderEpoch: 0);
        var transactional = TestBatches.Build([new(0, "a", "1"), new(1, "a", "2")],
            options: new RecordBatchOptions { ProducerId = 7, ProducerEpoch = 0, BaseSequence = 0, IsTransactional = true });
        var map = MapOf(("a", 100));
        Assert.Equal(BatchFilterAction.Copied, Run(transactional, map).Action);
        Assert.Equal(BatchFilterAction.Copied, Run(marker, map).Action);
        Assert.Equal([.. transactional, .. marker], _output.ToArray());
    }

    [Fact]
    public void An_emptied_batch_is_dropped_unless_it_ends_the_cleaned_section()
    {
        var batch = TestBatches.Build([new(20, "a", "1"), new(21, "a", "2")],
            options: new RecordBatchOptions { ProducerId = 9, ProducerEpoch = 2, BaseSequence = 40, PartitionLeaderEpoch = 3 });
        var map = MapOf(("a", 50));
        Assert.Equal(BatchFilterAction.Dropped, Run(batch, map, upperBound: 30).Action);
        Assert.Equal(0, _output.WrittenCount);

        var kept = Run(batch, map, upperBound: 22);
        Assert.Equal(BatchFilterAction.EmptyRetained, kept.Action);
        var empty = TestBatches.Batches(_output.WrittenMemory).Single();
        Assert.Equal((20L, 21L, 0), (empty.BaseOffset, empty.LastOffset, empty.RecordCount));
        Assert.Equal((9L, (short)2, 40, 3), (empty.ProducerId, empty.ProducerEpoch, empty.BaseSequence, empty.PartitionLeaderEpoch));
        Assert.Equal(RecordBatchLayout.HeaderSize, empty.SizeInBytes);
        Assert.Empty(TestBatches.Records(_output.WrittenMemory));
    }

    [Theory]
    [InlineData(CompressionType.Gzip)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Snappy)]
    public void Compressed_batches_are_rebuilt_with_their_codec(CompressionType compression)
    {
        var batch = TestBatches.Build(Enumerable.Range(0, 50).Select(i => new TestRecord(100 + i, $"k{i % 5}", $"v{i}", 1_000 + i)), compression);
        var map = new OffsetMap(1 << 16);
        for (int i = 45; i < 50; i++) map.TryPut(TestBatches.Key($"k{i % 5}"), 100 + i);
        Run(batch, map);
        var rebuilt = TestBatches.Batches(_output.WrittenMemory).Single();
        Assert.Equal(compression, rebuilt.Compression);
        Assert.Equal(1_049, rebuilt.MaxTimestamp);
        Assert.Equal(Enumerable.Range(45, 5).Select(i => new ReadRecord(100 + i, $"k{i % 5}", $"v{i}", 1_000 + i, 0)), TestBatches.Records(_output.WrittenMemory));
    }

    [Fact]
    public void Headers_producer_fields_and_log_append_time_survive_a_rebuild()
    {
        RecordHeader[] headers = [new("h1", [1, 2]), new("h2", (byte[]?)null)];
        var options = new RecordBatchOptions
        {
            ProducerId = 11, ProducerEpoch = 1, BaseSequence = 100, PartitionLeaderEpoch = 4,
            TimestampType = TimestampType.LogAppendTime, LogAppendTimeMs = 777_777,
        };
        var batch = TestBatches.Build([new(0, "a", "1"), new(1, "b", "2")], options: options, headers: headers);
        Run(batch, MapOf(("a", 5), ("b", 1)));
        var rebuilt = TestBatches.Batches(_output.WrittenMemory).Single();
        Assert.Equal(TimestampType.LogAppendTime, rebuilt.TimestampType);
        Assert.Equal(777_777, rebuilt.MaxTimestamp);
        Assert.Equal((11L, (short)1, 100, 4), (rebuilt.ProducerId, rebuilt.ProducerEpoch, rebuilt.BaseSequence, rebuilt.PartitionLeaderEpoch));
        Assert.Equal([new ReadRecord(1, "b", "2", 777_777, 2)], TestBatches.Records(_output.WrittenMemory));
        using var records = rebuilt.OpenRecords(1 << 20);
        foreach (var r in records)
        {
            var names = new List<string>();
            foreach (var h in r.Headers) names.Add(h.KeyString + (h.HasValue ? "=" + string.Join(",", h.Value.ToArray()) : "=null"));
            Assert.Equal(["h1=1,2", "h2=null"], names);
        }
    }

    [Fact]
    public void A_corrupt_batch_is_neither_copied_nor_rewritten()
    {
        var batch = TestBatches.Build([new(0, "a", "1"), new(1, "a", "2")]);
        batch[^1] ^= 0x01; // flip a value bit: CRC no longer matches
        var e = Assert.Throws<Fjord.Protocol.ProtocolDecodeException>(() => Run(batch, MapOf(("a", 1))));
        Assert.Equal("RecordBatch.Crc", e.Field);
    }

    public void Dispose()
    {
        _filter.Dispose();
        _output.Dispose();
    }
}
