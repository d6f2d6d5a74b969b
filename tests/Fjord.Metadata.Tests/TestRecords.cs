using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using Fjord.Raft;

namespace Fjord.Metadata.Tests;

/// <summary>Record builders and log/snapshot byte builders shared by the tests.</summary>
internal static class TestRecords
{
    public static Uuid Id(long n) => new(0x1000 + n, n * 7919 + 1);

    public static FeatureLevelRecord Feature(string name, short level) => new() { Name = name, FeatureLevel = level };

    public static FeatureLevelRecord Mv(short level = 25) => Feature(MetadataVersion.FeatureName, level);

    public static RegisterBrokerRecord Broker(int id, long epoch = 10, bool fenced = true, string? rack = null) => new()
    {
        BrokerId = id,
        BrokerEpoch = epoch,
        IncarnationId = Id(100 + id),
        Rack = rack,
        Fenced = fenced,
        EndPoints = [new RegisterBrokerRecord.BrokerEndpoint { Name = "PLAINTEXT", Host = $"broker{id}", Port = (ushort)(9092 + id), SecurityProtocol = 0 }],
        Features = [new RegisterBrokerRecord.BrokerFeature { Name = MetadataVersion.FeatureName, MinSupportedVersion = 1, MaxSupportedVersion = 25 }],
        LogDirs = [Id(1000 + id)],
    };

    public static TopicRecord Topic(string name, Uuid id) => new() { Name = name, TopicId = id };

    public static PartitionRecord Partition(Uuid topic, int partition, int[] replicas, int leader = -1, int leaderEpoch = 0) => new()
    {
        TopicId = topic,
        PartitionId = partition,
        Replicas = [.. replicas],
        Isr = [.. replicas],
        Leader = leader < 0 && replicas.Length > 0 ? replicas[0] : leader,
        LeaderEpoch = leaderEpoch,
        PartitionEpoch = 0,
        Directories = [.. replicas.Select(r => Id(1000 + r))],
    };

    /// <summary>Replays <paramref name="records"/> onto <paramref name="image"/> (default empty).</summary>
    public static MetadataImage Replay(IEnumerable<IKafkaMessage> records, MetadataImage? image = null)
    {
        var delta = new MetadataDelta(image ?? MetadataImage.Empty);
        long offset = 0;
        foreach (var r in records) delta.Replay(r, offset++);
        return delta.Apply();
    }

    public static byte[] Encode(IKafkaMessage record, short version = -1)
    {
        if (version < 0) version = record.HighestVersion;
        return MetadataRecordFrame.Encode(record, version);
    }

    /// <summary>A committed batch holding <paramref name="records"/> at offsets from <paramref name="baseOffset"/>.</summary>
    public static CommittedBatch Batch(long baseOffset, int epoch, long timestamp, params IKafkaMessage[] records) =>
        BatchOfValues(baseOffset, epoch, timestamp, records.Select(r => Encode(r)).ToArray());

    public static CommittedBatch BatchOfValues(long baseOffset, int epoch, long timestamp, params byte[][] values)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = baseOffset, PartitionLeaderEpoch = epoch });
        foreach (var v in values) builder.Append(timestamp, (byte[]?)null, v);
        return new CommittedBatch(baseOffset, baseOffset + values.Length - 1, epoch, timestamp, false, builder.ToArray());
    }

    public static CommittedBatch ControlBatch(long offset, int epoch, long timestamp)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = offset, PartitionLeaderEpoch = epoch, IsControl = true });
        builder.Append(timestamp, new ControlRecordKey(ControlRecordType.LeaderChange).ToArray(), new byte[] { 0, 0 });
        return new CommittedBatch(offset, offset, epoch, timestamp, true, builder.ToArray());
    }

    /// <summary>A snapshot in Kafka's layout (header control batch, data batches, footer) holding <paramref name="image"/>.</summary>
    public static SnapshotLoad Snapshot(MetadataImage image, OffsetAndEpoch id, long lastContainedTimestamp, int maxBatchBytes = MetadataSnapshots.DefaultMaxBatchBytes)
    {
        var bytes = new MemoryStream();
        long next = 0;
        void Add(byte[] batch)
        {
            bytes.Write(batch);
            var reader = new RecordBatchReader(batch);
            while (reader.MoveNext()) next = reader.Current.LastOffset + 1;
        }
        using (var header = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = 0, PartitionLeaderEpoch = id.Epoch, IsControl = true }))
        {
            header.Append(5, new ControlRecordKey(ControlRecordType.SnapshotHeader).ToArray(),
                new SnapshotHeaderRecord { Version = 0, LastContainedLogTimestamp = lastContainedTimestamp }.Serialize(0));
            Add(header.ToArray());
        }
        MetadataSnapshots.Write(image, values =>
        {
            using var b = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = next, PartitionLeaderEpoch = id.Epoch });
            foreach (var v in values) b.Append(5, (byte[]?)null, v);
            Add(b.ToArray());
        }, maxBatchBytes: maxBatchBytes);
        using (var footer = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = next, PartitionLeaderEpoch = id.Epoch, IsControl = true }))
        {
            footer.Append(5, new ControlRecordKey(ControlRecordType.SnapshotFooter).ToArray(), new SnapshotFooterRecord { Version = 0 }.Serialize(0));
            Add(footer.ToArray());
        }
        return new SnapshotLoad(id, bytes.ToArray());
    }
}
