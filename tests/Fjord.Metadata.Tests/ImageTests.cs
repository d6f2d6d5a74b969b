using Fjord.Protocol;
using Fjord.Protocol.Metadata;
using Fjord.Raft;
using static Fjord.Metadata.Tests.TestRecords;

namespace Fjord.Metadata.Tests;

public sealed class ImageTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Replay_is_deterministic(int seed)
    {
        var a = Replay(new RandomMetadata(seed).Records());
        var b = Replay(new RandomMetadata(seed).Records());
        Assert.Equal(a.Describe(), b.Describe());
        Assert.NotEqual(a.Describe(), Replay(new RandomMetadata(seed + 100).Records()).Describe());
    }

    [Theory]
    [InlineData(11, 1)]
    [InlineData(12, 250)]
    [InlineData(13, 700)]
    public void Image1_plus_delta_equals_image2(int seed, int split)
    {
        var records = new RandomMetadata(seed).Records();
        split = Math.Min(split, records.Count);
        var once = Replay(records);
        var first = Replay(records.Take(split));
        var twice = Replay(records.Skip(split), first);
        Assert.Equal(once.Describe(), twice.Describe());
    }

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    public void Image_to_records_to_image_is_identity_on_a_large_random_image(int seed)
    {
        var image = Replay(new RandomMetadata(seed).Records(brokers: 20, topics: 300, maxPartitions: 60, changes: 3000));
        Assert.True(image.Topics.TopicsById.Values.Sum(t => t.PartitionCount) > 3000);
        var records = new MetadataRecordList();
        image.Write(records);
        Assert.Equal(MetadataVersion.FeatureName, Assert.IsType<FeatureLevelRecord>(records.Records[0].Message).Name);

        var rebuilt = Replay(records.Records.Select(r => r.Message));
        Assert.Equal(image.Describe(), rebuilt.Describe());

        // Through the wire frame as well (the versions chosen must carry everything).
        var decoded = records.Records.Select(r => MetadataRecordFrame.Decode(MetadataRecordFrame.Encode(r)).Message);
        Assert.Equal(image.Describe(), Replay(decoded).Describe());

        // And writing the rebuilt image gives the same records.
        var again = new MetadataRecordList();
        rebuilt.Write(again);
        Assert.Equal(records.Records.Select(r => Convert.ToHexString(MetadataRecordFrame.Encode(r))),
            again.Records.Select(r => Convert.ToHexString(MetadataRecordFrame.Encode(r))));
    }

    [Fact]
    public void Write_orders_features_cluster_topics_then_the_rest()
    {
        var image = Replay(new RandomMetadata(5).Records(topics: 3));
        var records = new MetadataRecordList();
        image.Write(records);
        var types = records.Records.Select(r => r.RecordType).ToList();
        int Last(short type) => types.LastIndexOf(type);
        int First(short type) => types.IndexOf(type);
        Assert.True(Last(FeatureLevelRecord.ApiKey) < First(RegisterBrokerRecord.ApiKey));
        Assert.True(Last(RegisterControllerRecord.ApiKey) < First(TopicRecord.ApiKey));
        Assert.True(Last(PartitionRecord.ApiKey) < First(ConfigRecord.ApiKey));
        Assert.True(Last(ConfigRecord.ApiKey) < First(ClientQuotaRecord.ApiKey));
        Assert.True(First(ProducerIdsRecord.ApiKey) < First(AccessControlEntryRecord.ApiKey));
        Assert.True(Last(AccessControlEntryRecord.ApiKey) < First(UserScramCredentialRecord.ApiKey));
        Assert.All(records.Records.Where(r => r.Message is RegisterBrokerRecord), r => Assert.Equal(3, r.Version));
        Assert.All(records.Records.Where(r => r.Message is PartitionRecord), r => Assert.Equal(2, r.Version));
    }

    [Fact]
    public void Older_metadata_versions_pick_older_record_versions_and_refuse_loss()
    {
        var broker = Broker(1);
        broker.LogDirs = [];
        var image = Replay([Mv(7), broker, Topic("t", Id(1)), new PartitionRecord { TopicId = Id(1), PartitionId = 0, Replicas = [1], Isr = [1], Leader = 1 }]);
        var records = new MetadataRecordList();
        image.Write(records);
        Assert.Equal(1, records.Records.Single(r => r.Message is RegisterBrokerRecord).Version);
        Assert.Equal(0, records.Records.Single(r => r.Message is PartitionRecord).Version);
        Assert.Equal(image.Describe(), Replay(records.Records.Select(r => MetadataRecordFrame.Decode(MetadataRecordFrame.Encode(r)).Message)).Describe());

        var withDirs = Replay([Mv(7), Broker(1)]);
        var e = Assert.Throws<MetadataImageWriteException>(() => withDirs.Write(new MetadataRecordList()));
        Assert.Contains("log directories", e.Message);
    }

    [Fact]
    public void A_delta_touching_only_topics_shares_every_other_sub_image()
    {
        var image = Replay(new RandomMetadata(7).Records());
        var topic = image.Topics.TopicsById.Values.OrderBy(t => t.Name, StringComparer.Ordinal).First();
        var untouched = image.Topics.TopicsById.Values.OrderBy(t => t.Name, StringComparer.Ordinal).Last();
        var oldIsr = topic.Partition(0)!.Isr.ToArray();
        var next = Replay([new PartitionChangeRecord { TopicId = topic.Id, PartitionId = 0, Isr = [1] }], image);

        Assert.Same(image.Features, next.Features);
        Assert.Same(image.Cluster, next.Cluster);
        Assert.Same(image.Configs, next.Configs);
        Assert.Same(image.ClientQuotas, next.ClientQuotas);
        Assert.Same(image.ProducerIds, next.ProducerIds);
        Assert.Same(image.Acls, next.Acls);
        Assert.Same(image.Scram, next.Scram);
        Assert.Same(image.DelegationTokens, next.DelegationTokens);
        Assert.NotSame(image.Topics, next.Topics);
        Assert.Same(untouched, next.Topics.Topic(untouched.Id));
        Assert.NotSame(topic, next.Topics.Topic(topic.Id));
        // Untouched partitions of the touched topic are shared too; the old image is unchanged.
        if (topic.PartitionCount > 1) Assert.Same(topic.Partition(1), next.Topics.Topic(topic.Id)!.Partition(1));
        Assert.Equal(oldIsr, topic.Partition(0)!.Isr.ToArray());
        Assert.Equal([1], next.Topics.Partition(topic.Id, 0)!.Isr.ToArray());
    }

    [Fact]
    public void A_delta_keeps_working_after_apply_without_changing_the_applied_image()
    {
        var image = Replay([Mv(), Broker(1), Topic("t", Id(1)), Partition(Id(1), 0, [1])]);
        var delta = new MetadataDelta(image);
        delta.Replay(new PartitionChangeRecord { TopicId = Id(1), PartitionId = 0, Isr = [] });
        var first = delta.Apply();
        delta.Replay(new PartitionRecord { TopicId = Id(1), PartitionId = 1, Replicas = [1], Isr = [1], Leader = 1 });
        var second = delta.Apply();
        Assert.Equal(1, first.Topics.Topic(Id(1))!.PartitionCount);
        Assert.Equal(2, second.Topics.Topic(Id(1))!.PartitionCount);
        Assert.Equal(1, image.Topics.Partition(Id(1), 0)!.Isr.Length);
    }

    [Fact]
    public void Snapshot_round_trip_through_raft_snapshot_bytes()
    {
        var image = Replay(new RandomMetadata(31).Records(topics: 200, maxPartitions: 50)).WithProvenance(new MetadataProvenance(9999, 4, 123456));
        int batches = 0;
        int count = MetadataSnapshots.Write(image, values => { batches++; Assert.True(values.Sum(v => v.Length) <= 64 * 1024); }, maxBatchBytes: 64 * 1024);
        Assert.True(batches > 1);
        var records = new MetadataRecordList();
        image.Write(records);
        Assert.Equal(records.Records.Count, count);

        var load = Snapshot(image, new OffsetAndEpoch(10000, 4), 123456, maxBatchBytes: 64 * 1024);
        var read = MetadataSnapshots.Read(load);
        Assert.Equal(image.Describe(), read.Describe());
        Assert.Equal(new MetadataProvenance(9999, 4, 123456), read.Provenance);
    }

    [Fact]
    public void Empty_image_writes_nothing_and_reads_back_empty()
    {
        var records = new MetadataRecordList();
        MetadataImage.Empty.Write(records);
        Assert.Empty(records.Records);
        var read = MetadataSnapshots.Read(Snapshot(MetadataImage.Empty, new OffsetAndEpoch(0, 0), 0));
        Assert.True(read.IsEmpty);
    }
}
