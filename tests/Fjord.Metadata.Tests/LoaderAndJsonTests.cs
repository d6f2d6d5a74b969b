using Fjord.Protocol.Metadata;
using Fjord.Raft;
using static Fjord.Metadata.Tests.TestRecords;

namespace Fjord.Metadata.Tests;

public sealed class LoaderTests
{
    private sealed class Recorder : IMetadataPublisher
    {
        public string Name => "recorder";
        public List<(MetadataDelta Delta, MetadataImage Image, MetadataUpdate Update)> Updates { get; } = [];
        public void OnMetadataUpdate(MetadataDelta delta, MetadataImage image, MetadataUpdate update) => Updates.Add((delta, image, update));
    }

    [Fact]
    public void Snapshot_then_batches_publish_once_per_item()
    {
        var baseImage = Replay([Mv(), Broker(1), Broker(2), Topic("t", Id(1)), Partition(Id(1), 0, [1, 2])]);
        var recorder = new Recorder();
        var loader = new MetadataLoader([recorder]);

        loader.Handle(Snapshot(baseImage, new OffsetAndEpoch(100, 3), 777));
        var (delta, image, update) = recorder.Updates.Single();
        Assert.Equal(MetadataUpdateKind.Snapshot, update.Kind);
        Assert.Same(MetadataImage.Empty, delta.Image);
        Assert.Equal(baseImage.Describe(), image.Describe());
        Assert.Equal(new MetadataProvenance(99, 3, 777), image.Provenance);
        Assert.Same(image, loader.Image);

        loader.Handle(Batch(100, 3, 1000, new PartitionChangeRecord { TopicId = Id(1), PartitionId = 0, Leader = 2 }, new UnfenceBrokerRecord { Id = 2, Epoch = 10 }));
        loader.Handle(ControlBatch(102, 4, 1001));
        loader.Handle(Batch(103, 4, 1002, new NoOpRecord()));
        Assert.Equal(4, recorder.Updates.Count);
        (delta, image, update) = recorder.Updates[1];
        Assert.Equal(MetadataUpdateKind.LogDelta, update.Kind);
        Assert.Equal(2, update.Records);
        Assert.True(delta.TopicsChanged && delta.ClusterChanged && !delta.ConfigsChanged);
        Assert.Equal([0], delta.ChangedPartitions(Id(1)));
        Assert.Equal(2, image.Topics.Partition(Id(1), 0)!.Leader);
        Assert.Equal(new MetadataProvenance(101, 3, 1000), image.Provenance);
        Assert.Equal(new MetadataProvenance(102, 4, 1001), recorder.Updates[2].Image.Provenance);
        Assert.False(recorder.Updates[2].Delta.HasChanges);
        Assert.Same(recorder.Updates[1].Image.Topics, recorder.Updates[3].Image.Topics);
        Assert.Equal(104, loader.NextOffset);
        Assert.Equal(103, loader.Image.Provenance.LastContainedOffset);
    }

    [Fact]
    public void A_transaction_is_published_only_whole_and_an_abort_discards_it()
    {
        var recorder = new Recorder();
        var loader = new MetadataLoader([recorder]);
        loader.Handle(Batch(0, 1, 10, Mv(), Broker(1), new BeginTransactionRecord { Name = "create" }, Topic("a", Id(1))));
        // The changes before the Begin are published, the open transaction is not.
        var first = Assert.Single(recorder.Updates);
        Assert.Equal(1, first.Image.Provenance.LastContainedOffset);
        Assert.NotNull(first.Image.Cluster.Broker(1));
        Assert.True(first.Image.Topics.IsEmpty);
        Assert.True(loader.InTransaction);

        loader.Handle(Batch(4, 1, 11, Partition(Id(1), 0, [1])));
        Assert.Single(recorder.Updates);
        loader.Handle(Batch(5, 1, 12, new EndTransactionRecord(), Topic("b", Id(2))));
        Assert.Equal(2, recorder.Updates.Count);
        Assert.Equal(1, recorder.Updates[1].Image.Topics.Topic("a")!.PartitionCount);
        Assert.NotNull(recorder.Updates[1].Image.Topics.Topic("b"));

        loader.Handle(Batch(7, 1, 13, new BeginTransactionRecord(), Topic("c", Id(3))));
        loader.Handle(Batch(9, 1, 14, new AbortTransactionRecord(), Topic("d", Id(4))));
        var last = recorder.Updates[^1].Image;
        Assert.Null(last.Topics.Topic("c"));
        Assert.NotNull(last.Topics.Topic("d"));
        Assert.Equal(10, last.Provenance.LastContainedOffset);
    }

    [Fact]
    public void A_bad_record_fails_the_loader_naming_the_offset()
    {
        var loader = new MetadataLoader();
        loader.Handle(Batch(0, 1, 10, Mv(), Broker(1)));
        var e = Assert.Throws<MetadataReplayException>(() => loader.Handle(Batch(2, 1, 11, new NoOpRecord(), new FenceBrokerRecord { Id = 9, Epoch = 1 })));
        Assert.Equal(3, e.Offset);
        Assert.Contains("offset 3 (FENCE_BROKER_RECORD)", e.Message);
        Assert.Throws<InvalidOperationException>(() => loader.Handle(Batch(4, 1, 11, new NoOpRecord())));
        Assert.Equal(1, loader.Image.Provenance.LastContainedOffset);
    }

    [Fact]
    public void An_undecodable_value_and_a_gap_are_refused()
    {
        var bad = new MetadataLoader();
        var e = Assert.Throws<MetadataReplayException>(() => bad.Handle(BatchOfValues(0, 1, 1, Encode(new NoOpRecord()), [1, 99, 0])));
        Assert.Equal(1, e.Offset);
        var gap = new MetadataLoader();
        gap.Handle(Batch(0, 1, 1, Mv()));
        Assert.Throws<InvalidOperationException>(() => gap.Handle(Batch(5, 1, 1, new NoOpRecord())));
    }

    [Fact]
    public void A_late_publisher_first_receives_the_whole_image()
    {
        var loader = new MetadataLoader();
        loader.Handle(Batch(0, 1, 10, Mv(), Broker(1), Topic("t", Id(1))));
        var recorder = new Recorder();
        loader.Install(recorder);
        var (delta, image, update) = Assert.Single(recorder.Updates);
        Assert.Equal(MetadataUpdateKind.Snapshot, update.Kind);
        Assert.Same(loader.Image, image);
        Assert.Equal(image.Describe(), delta.Apply().Describe());
    }
}

public sealed class JsonTests
{
    [Fact]
    public void Records_print_with_kafka_type_names()
    {
        Assert.Equal("""{"type":"FEATURE_LEVEL_RECORD","version":0,"data":{"name":"metadata.version","featureLevel":21}}""",
            MetadataRecordJson.ToJson(new MetadataRecord(new FeatureLevelRecord { Name = "metadata.version", FeatureLevel = 21 }, 0)));
        Assert.Equal("""{"type":"FENCE_BROKER_RECORD","version":0,"data":{"id":3,"epoch":42}}""",
            MetadataRecordJson.ToJson(new FenceBrokerRecord { Id = 3, Epoch = 42 }, 0));
        Assert.Equal("""{"type":"NO_OP_RECORD","version":0,"data":{}}""", MetadataRecordJson.ToJson(new NoOpRecord(), 0));
    }

    [Fact]
    public void Every_record_type_has_its_upper_snake_name()
    {
        var names = Fjord.Protocol.MetadataRecordTypes.All.Select(t => MetadataRecordJson.UpperSnake(t.Schema.Name)).ToHashSet();
        foreach (var expected in new[]
                 {
                     "REGISTER_BROKER_RECORD", "UNREGISTER_BROKER_RECORD", "TOPIC_RECORD", "PARTITION_RECORD", "CONFIG_RECORD",
                     "PARTITION_CHANGE_RECORD", "FENCE_BROKER_RECORD", "UNFENCE_BROKER_RECORD", "REMOVE_TOPIC_RECORD",
                     "DELEGATION_TOKEN_RECORD", "USER_SCRAM_CREDENTIAL_RECORD", "FEATURE_LEVEL_RECORD", "CLIENT_QUOTA_RECORD",
                     "PRODUCER_IDS_RECORD", "BROKER_REGISTRATION_CHANGE_RECORD", "ACCESS_CONTROL_ENTRY_RECORD",
                     "REMOVE_ACCESS_CONTROL_ENTRY_RECORD", "NO_OP_RECORD", "ZK_MIGRATION_STATE_RECORD",
                     "REMOVE_USER_SCRAM_CREDENTIAL_RECORD", "BEGIN_TRANSACTION_RECORD", "END_TRANSACTION_RECORD",
                     "ABORT_TRANSACTION_RECORD", "REMOVE_DELEGATION_TOKEN_RECORD", "REGISTER_CONTROLLER_RECORD",
                 })
            Assert.Contains(expected, names);
    }

    [Fact]
    public void Every_record_type_replays_or_is_deliberately_ignored()
    {
        // Each of the 25 types reaches a Replay branch (not the "not supported" default).
        foreach (var type in Fjord.Protocol.MetadataRecordTypes.All)
        {
            var delta = new MetadataDelta(MetadataImage.Empty);
            try { delta.Replay(type.Create(), 0); }
            catch (MetadataReplayException e) { Assert.DoesNotContain("not supported", e.Message); }
        }
    }
}
