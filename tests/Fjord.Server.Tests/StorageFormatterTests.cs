using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Server.Tests;

public sealed class StorageFormatterTests : IDisposable
{
    private const string ClusterId = "MX1HbXq8TFymY2SYR1hGYg";
    private readonly TempDirectory _tmp = new();
    private readonly StringWriter _out = new();

    public void Dispose() => _tmp.Dispose();

    private string Dir(string name) => _tmp.Sub(name);

    private string CombinedText(string logDirs, string? metadataDir = null, int nodeId = 1) =>
        $"""
        process.roles=broker,controller
        node.id={nodeId}
        controller.quorum.voters={nodeId}@localhost:9093
        listeners=PLAINTEXT://:9092,CONTROLLER://:9093
        advertised.listeners=PLAINTEXT://localhost:9092
        controller.listener.names=CONTROLLER
        log.dirs={logDirs}
        {(metadataDir is null ? "" : "metadata.log.dir=" + metadataDir)}
        """;

    private ServerConfig Combined(string logDirs, string? metadataDir = null, int nodeId = 1) =>
        ServerConfig.ParseText(CombinedText(logDirs, metadataDir, nodeId));

    /// <summary>A controller of a dynamic quorum: no static voters.</summary>
    private ServerConfig DynamicController(int nodeId = 1, string extra = "") => ServerConfig.ParseText($"""
        process.roles=controller
        node.id={nodeId}
        controller.quorum.bootstrap.servers=localhost:9093
        listeners=CONTROLLER://:9093
        controller.listener.names=CONTROLLER
        log.dirs={Dir("ctl")}
        {extra}
        """);

    private ServerConfig Broker() => ServerConfig.ParseText($"""
        process.roles=broker
        node.id=4
        controller.quorum.bootstrap.servers=localhost:9093
        listeners=PLAINTEXT://localhost:9092
        controller.listener.names=CONTROLLER
        log.dirs={Dir("broker")}
        """);

    private FormatResult Format(ServerConfig config, FormatOptions? options = null) =>
        new StorageFormatter(config, _out, new FixedClock(1_700_000_000_000)).Format(options ?? new FormatOptions { ClusterId = ClusterId });

    private StorageFormatException Refused(ServerConfig config, FormatOptions options) =>
        Assert.Throws<StorageFormatException>(() => Format(config, options));

    private static FormatOptions Options(Func<FormatOptions, FormatOptions>? change = null)
    {
        var options = new FormatOptions { ClusterId = ClusterId };
        return change is null ? options : change(options);
    }

    /// <summary>Opens a file in the snapshot format with <see cref="SnapshotReader"/> (which reads only
    /// <c>&lt;offset&gt;-&lt;epoch&gt;.checkpoint</c> names) through a copy.</summary>
    private SnapshotReader OpenAsSnapshot(string path)
    {
        var copyDir = Directory.CreateDirectory(_tmp.Sub("copy-" + Guid.NewGuid().ToString("N"))).FullName;
        File.Copy(path, SnapshotFiles.PathOf(copyDir, new SnapshotId(0, 0)));
        return SnapshotReader.Open(copyDir, new SnapshotId(0, 0));
    }

    private static List<(bool Control, ControlRecordType Type, byte[] Value)> RecordsOf(SnapshotReader reader)
    {
        var records = new List<(bool, ControlRecordType, byte[])>();
        foreach (var batch in reader.Batches)
        {
            Assert.Equal(0, batch.PartitionLeaderEpoch);
            using var batchRecords = batch.OpenRecords(1 << 20);
            foreach (var record in batchRecords)
                records.Add((batch.IsControl, batch.IsControl ? ControlRecordKey.Read(record.KeySpan).Type : default, record.Value.ToArray()));
        }
        return records;
    }

    private static List<MetadataRecord> MetadataRecordsOf(SnapshotReader reader) =>
        RecordsOf(reader).Where(r => !r.Control).Select(r => MetadataRecordFrame.Decode(r.Value)).ToList();

    // ---- a fresh set of directories ----

    [Fact]
    public void Formats_every_log_dir_and_the_metadata_dir()
    {
        var config = Combined($"{Dir("a")},{Dir("b")}", Dir("meta"));
        var result = Format(config);

        Assert.Equal(3, result.Formatted.Count);
        var metas = config.AllLogDirs.Select(d => MetaProperties.ReadFrom(d)!).ToList();
        Assert.All(metas, m => Assert.Equal((1, ClusterId, (int?)1), (m.Version, m.ClusterId, m.NodeId)));
        Assert.Equal(3, metas.Select(m => m.DirectoryId).Distinct().Count());
        Assert.Equal(result.Formatted.Select(f => f.DirectoryId), config.AllLogDirs.Select(d => MetaProperties.ReadFrom(d)!.DirectoryId!.Value));

        Assert.True(File.Exists(BootstrapMetadataFile.PathIn(Dir("meta"))));
        Assert.False(File.Exists(BootstrapMetadataFile.PathIn(Dir("a"))));
        Assert.False(Directory.Exists(Path.Combine(Dir("meta"), StorageFormatter.ClusterMetadataDirectory)));

        var lines = _out.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(config.AllLogDirs.Select(d => $"Formatting {d} with metadata.version 4.0-IV0."), lines);

        var verified = StorageCheck.Verify(config);
        Assert.Equal(ClusterId, verified.ClusterId);
        Assert.Equal(MetaProperties.ReadFrom(Dir("meta"))!.DirectoryId, verified.MetadataDirectoryId);
    }

    [Fact]
    public void The_bootstrap_checkpoint_is_a_snapshot_holding_the_metadata_version()
    {
        var config = Combined(Dir("logs"));
        Format(config);

        var reader = OpenAsSnapshot(BootstrapMetadataFile.PathIn(Dir("logs")));
        Assert.Equal(0, reader.LastContainedLogTimestamp); // as Kafka's BatchFileWriter writes it
        var all = RecordsOf(reader);
        Assert.Equal(ControlRecordType.SnapshotHeader, all[0].Type);
        Assert.Equal(ControlRecordType.SnapshotFooter, all[^1].Type);
        var records = MetadataRecordsOf(reader);
        var feature = Assert.IsType<FeatureLevelRecord>(Assert.Single(records).Message);
        Assert.Equal(0, records[0].Version);
        Assert.Equal("metadata.version", feature.Name);
        Assert.Equal(22, feature.FeatureLevel);

        var viaReader = BootstrapMetadataFile.Read(BootstrapMetadataFile.PathIn(Dir("logs")));
        Assert.Equal(MetadataRecordFrame.Encode(records[0]), MetadataRecordFrame.Encode(Assert.Single(viaReader)));
    }

    [Theory]
    [InlineData("3.9", null, 21)]
    [InlineData("3.9-IV0", null, 21)]
    [InlineData("3.7", null, 19)]
    [InlineData("3.3", null, 7)]
    [InlineData("3.3-IV0", null, 4)]
    [InlineData("4.0", null, 22)]
    [InlineData("3.5.2", null, 11)]
    [InlineData(null, "metadata.version=15", 15)]
    [InlineData(null, "metadata.version=4", 4)]
    public void The_metadata_version_can_be_chosen(string? release, string? feature, short expectedLevel)
    {
        var config = Combined(Dir("logs"));
        var result = Format(config, Options(o => o with { ReleaseVersion = release, Features = feature is null ? [] : [feature] }));
        Assert.Equal(expectedLevel, result.MetadataVersion.FeatureLevel);
        var record = Assert.IsType<FeatureLevelRecord>(BootstrapMetadataFile.Read(BootstrapMetadataFile.PathIn(Dir("logs")))[0].Message);
        Assert.Equal(expectedLevel, record.FeatureLevel);
        Assert.Contains($"with metadata.version {MetadataVersion.FromFeatureLevel(expectedLevel)}.", _out.ToString());
    }

    [Theory]
    [InlineData("3.2", null, "too old")]
    [InlineData("3.0-IV1", null, "too old")]
    [InlineData(null, "metadata.version=3", "too old")]
    [InlineData(null, "metadata.version=23", "not yet stable")]
    [InlineData(null, "metadata.version=25", "not yet stable")]
    [InlineData("4.0-IV2", null, "not yet stable")]
    [InlineData(null, "metadata.version=99", "Unknown metadata.version level 99")]
    [InlineData(null, "metadata.version=0", "Unknown metadata.version level 0")]
    [InlineData("2.8", null, "unknown release version '2.8'")]
    [InlineData("latest", null, "unknown release version")]
    [InlineData("3.9", "metadata.version=21", "--release-version instead of --feature")]
    [InlineData(null, "metadata.version", "equals sign not found")]
    [InlineData(null, "metadata.version=x", "unable to parse x")]
    [InlineData(null, "group.version=1", "Unsupported feature: group.version")]
    public void Bad_metadata_versions_are_refused(string? release, string? feature, string expected)
    {
        var config = Combined(Dir("logs"));
        var e = Refused(config, Options(o => o with { ReleaseVersion = release, Features = feature is null ? [] : [feature] }));
        Assert.Contains(expected, e.Message);
        Assert.False(Directory.Exists(Dir("logs")));
    }

    [Fact]
    public void Unstable_levels_need_unstable_feature_versions_enable()
    {
        var config = ServerConfig.ParseText(CombinedText(Dir("logs")) + "\nunstable.feature.versions.enable=true");
        Assert.Equal(23, Format(config, Options(o => o with { Features = ["metadata.version=23"] })).MetadataVersion.FeatureLevel);

        var config2 = ServerConfig.ParseText(CombinedText(Dir("logs2")) + "\nunstable.feature.versions.enable=true");
        Assert.Equal(25, Format(config2).MetadataVersion.FeatureLevel); // Kafka: latest testing by default
    }

    [Theory]
    [InlineData("")]
    [InlineData("not-a-uuid")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAA")] // the zero Uuid
    public void The_cluster_id_must_be_a_Kafka_Uuid(string clusterId)
    {
        var e = Refused(Combined(Dir("logs")), new FormatOptions { ClusterId = clusterId });
        Assert.Contains("does not appear to be a valid UUID", e.Message);
    }

    // ---- already formatted directories ----

    [Fact]
    public void An_already_formatted_directory_is_refused_and_left_alone()
    {
        var config = Combined(Dir("logs"));
        Format(config);
        var before = File.ReadAllText(MetaProperties.PathIn(Dir("logs")));
        var bootstrapBefore = File.ReadAllBytes(BootstrapMetadataFile.PathIn(Dir("logs")));

        var e = Refused(config, Options(o => o with { ReleaseVersion = "3.9" }));
        Assert.Equal($"Log directory {Dir("logs")} is already formatted. Use --ignore-formatted to ignore this directory and format the others.", e.Message);
        Assert.Equal(before, File.ReadAllText(MetaProperties.PathIn(Dir("logs"))));
        Assert.Equal(bootstrapBefore, File.ReadAllBytes(BootstrapMetadataFile.PathIn(Dir("logs"))));
    }

    [Fact]
    public void Ignore_formatted_skips_formatted_directories_and_formats_the_others()
    {
        Format(Combined(Dir("a")));
        var aBefore = MetaProperties.ReadFrom(Dir("a"));
        _out.GetStringBuilder().Clear();

        var config = Combined($"{Dir("a")},{Dir("b")}");
        var result = Format(config, Options(o => o with { IgnoreFormatted = true }));
        Assert.Equal([Dir("a")], result.AlreadyFormatted);
        Assert.Equal(Dir("b"), Assert.Single(result.Formatted).Path);
        Assert.Equal(aBefore, MetaProperties.ReadFrom(Dir("a")));
        Assert.Equal($"Formatting {Dir("b")} with metadata.version 4.0-IV0.\n", _out.ToString().Replace("\r\n", "\n"));
        Assert.NotEqual(aBefore!.DirectoryId, MetaProperties.ReadFrom(Dir("b"))!.DirectoryId);
        StorageCheck.Verify(config);

        _out.GetStringBuilder().Clear();
        Assert.Empty(Format(config, Options(o => o with { IgnoreFormatted = true })).Formatted);
        Assert.Equal("All of the log directories are already formatted.", _out.ToString().Trim());
    }

    [Fact]
    public void Ignore_formatted_still_refuses_another_clusters_directory()
    {
        Format(Combined(Dir("a")));
        var config = Combined($"{Dir("a")},{Dir("b")}");
        var e = Refused(config, new FormatOptions { ClusterId = "JEXY6aqzQY-32P5TStzaFg", IgnoreFormatted = true });
        Assert.Contains("cluster.id", e.Message);
        Assert.Contains(Dir("a"), e.Message);
        Assert.False(Directory.Exists(Dir("b")));
    }

    [Fact]
    public void Ignore_formatted_still_refuses_another_nodes_directory()
    {
        Format(Combined(Dir("a"), nodeId: 1));
        var e = Refused(Combined($"{Dir("a")},{Dir("b")}", nodeId: 2), Options(o => o with { IgnoreFormatted = true }));
        Assert.Contains("node id 1", e.Message);
    }

    [Fact]
    public void Leftovers_of_an_interrupted_format_are_replaced()
    {
        var dir = Directory.CreateDirectory(Dir("ctl")).FullName;
        File.WriteAllBytes(BootstrapMetadataFile.PathIn(dir), [1, 2, 3]);
        var snapshotDir = Directory.CreateDirectory(Path.Combine(dir, StorageFormatter.ClusterMetadataDirectory)).FullName;
        File.WriteAllBytes(SnapshotFiles.PathOf(snapshotDir, new SnapshotId(0, 0)), [4, 5, 6]);

        Format(DynamicController(), Options(o => o with { Standalone = true }));
        Assert.Single(BootstrapMetadataFile.Read(BootstrapMetadataFile.PathIn(dir)));
        Assert.Equal(4, SnapshotReader.Open(snapshotDir, new SnapshotId(0, 0)).RecordCount); // header, KRAFT_VERSION, KRAFT_VOTERS, footer
    }

    // ---- the start-up check ----

    [Fact]
    public void StorageCheck_names_an_unformatted_directory_and_the_fix()
    {
        var config = ServerConfig.ParseText(CombinedText($"{Dir("a")},{Dir("b")}"), "/etc/fjord/server.properties");
        Format(Combined(Dir("a")));
        Directory.CreateDirectory(Dir("b"));
        var e = Assert.Throws<StorageCheckException>(() => StorageCheck.Verify(config));
        var problem = Assert.Single(e.Problems);
        Assert.Contains(Dir("b"), problem);
        Assert.Contains("not formatted", problem);
        Assert.Contains("fjord storage format --config /etc/fjord/server.properties --cluster-id <id>", problem);
    }

    [Fact]
    public void StorageCheck_names_a_missing_directory()
    {
        var e = Assert.Throws<StorageCheckException>(() => StorageCheck.Verify(Combined(Dir("nothing"))));
        Assert.Contains(Dir("nothing"), e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void StorageCheck_detects_mismatched_cluster_ids()
    {
        Format(Combined(Dir("a")));
        Format(Combined(Dir("b")), new FormatOptions { ClusterId = "JEXY6aqzQY-32P5TStzaFg" });
        var e = Assert.Throws<StorageCheckException>(() => StorageCheck.Verify(Combined($"{Dir("a")},{Dir("b")}")));
        Assert.Contains("different clusters", e.Message);
        Assert.Contains($"{Dir("a")} has cluster.id {ClusterId}", e.Message);
        Assert.Contains($"{Dir("b")} has cluster.id JEXY6aqzQY-32P5TStzaFg", e.Message);
    }

    [Fact]
    public void StorageCheck_detects_a_mismatched_node_id()
    {
        Format(Combined(Dir("a"), nodeId: 1));
        var e = Assert.Throws<StorageCheckException>(() => StorageCheck.Verify(Combined(Dir("a"), nodeId: 2)));
        Assert.Contains(Dir("a"), e.Message);
        Assert.Contains("node.id 1", e.Message);
        Assert.Contains("node.id=2", e.Message);
    }

    [Fact]
    public void StorageCheck_detects_a_copied_directory_id()
    {
        var config = Combined($"{Dir("a")},{Dir("b")}");
        Format(config);
        File.Copy(MetaProperties.PathIn(Dir("a")), MetaProperties.PathIn(Dir("b")), overwrite: true);
        var e = Assert.Throws<StorageCheckException>(() => StorageCheck.Verify(config));
        Assert.Contains("share directory.id", e.Message);
        Assert.Contains(Dir("a"), e.Message);
        Assert.Contains(Dir("b"), e.Message);
    }

    [Fact]
    public void StorageCheck_refuses_legacy_and_incomplete_files()
    {
        var config = Combined($"{Dir("a")},{Dir("b")}");
        Directory.CreateDirectory(Dir("a"));
        Directory.CreateDirectory(Dir("b"));
        File.WriteAllText(MetaProperties.PathIn(Dir("a")), "version=0\nbroker.id=1\ncluster.id=x\n");
        File.WriteAllText(MetaProperties.PathIn(Dir("b")), $"version=1\nnode.id=1\ncluster.id={ClusterId}\n");
        var e = Assert.Throws<StorageCheckException>(() => StorageCheck.Verify(config));
        Assert.Equal(2, e.Problems.Count);
        Assert.Contains("ZooKeeper", e.Problems[0]);
        Assert.Contains("no directory.id", e.Problems[1]);
    }

    // ---- dynamic quorums (KIP-853) ----

    [Fact]
    public void Standalone_writes_the_voters_snapshot_with_this_nodes_directory_id()
    {
        var config = DynamicController(nodeId: 1);
        var result = Format(config, Options(o => o with { Standalone = true }));
        Assert.Equal(1, result.KRaftVersion);
        var meta = MetaProperties.ReadFrom(Dir("ctl"))!;
        Assert.Equal("dynamic metadata voter directory", Assert.Single(result.Formatted).Kind);

        var snapshotDir = Path.Combine(Dir("ctl"), "__cluster_metadata-0");
        Assert.Equal(["00000000000000000000-0000000000.checkpoint"], Directory.GetFiles(snapshotDir).Select(Path.GetFileName));
        var reader = SnapshotReader.Open(snapshotDir, new SnapshotId(0, 0));
        Assert.Equal(1_700_000_000_000, reader.LastContainedLogTimestamp);
        var records = RecordsOf(reader);
        Assert.Equal([ControlRecordType.SnapshotHeader, ControlRecordType.KRaftVersion, ControlRecordType.KRaftVoters, ControlRecordType.SnapshotFooter],
            records.Select(r => r.Type));
        Assert.All(records, r => Assert.True(r.Control));

        var kraft = KafkaMessages.Deserialize<KRaftVersionRecord>(records[1].Value, 0);
        Assert.Equal(0, kraft.Version);
        Assert.Equal(1, kraft.KRaftVersion);
        var voters = KafkaMessages.Deserialize<VotersRecord>(records[2].Value, 0);
        var voter = Assert.Single(voters.Voters);
        Assert.Equal(1, voter.VoterId);
        Assert.Equal(meta.DirectoryId, voter.VoterDirectoryId);
        var endpoint = Assert.Single(voter.Endpoints);
        Assert.Equal(("CONTROLLER", "localhost", (ushort)9093), (endpoint.Name, endpoint.Host, endpoint.Port));
        Assert.Equal((0, 1), (voter.KRaftVersionFeature.MinSupportedVersion, voter.KRaftVersionFeature.MaxSupportedVersion));

        Assert.Single(BootstrapMetadataFile.Read(BootstrapMetadataFile.PathIn(Dir("ctl"))));
        StorageCheck.Verify(config);
    }

    [Fact]
    public void Standalone_uses_the_advertised_controller_endpoint()
    {
        var config = DynamicController(extra: "advertised.listeners=CONTROLLER://ctl1.example:19093");
        var result = Format(config, Options(o => o with { Standalone = true }));
        var voter = Assert.Single(result.InitialVoters!.Voters);
        Assert.Equal(("ctl1.example", 19093), (voter.Host, voter.Port));
    }

    [Fact]
    public void Initial_controllers_give_this_node_its_directory_id()
    {
        const string voters = "1@c1:9093:JEXY6aqzQY-32P5TStzaFg,2@c2:9093:MvDxzVmcRsaTz33bUuRU6A,3@[::1]:9093:07R5amHmR32VDA6jHkGbTA";
        var result = Format(DynamicController(nodeId: 2), Options(o => o with { InitialControllers = voters }));
        Assert.Equal(Uuid.Parse("MvDxzVmcRsaTz33bUuRU6A"), MetaProperties.ReadFrom(Dir("ctl"))!.DirectoryId);
        Assert.Equal("dynamic metadata voter directory", result.Formatted[0].Kind);

        var reader = SnapshotReader.Open(Path.Combine(Dir("ctl"), "__cluster_metadata-0"), new SnapshotId(0, 0));
        var record = RecordsOf(reader).Single(r => r.Type == ControlRecordType.KRaftVoters);
        var set = KafkaMessages.Deserialize<VotersRecord>(record.Value, 0);
        Assert.Equal([1, 2, 3], set.Voters.Select(v => v.VoterId));
        Assert.Equal("::1", set.Voters[2].Endpoints[0].Host);
        Assert.Equal(Uuid.Parse("07R5amHmR32VDA6jHkGbTA"), set.Voters[2].VoterDirectoryId);
    }

    [Fact]
    public void A_controller_outside_the_initial_set_gets_its_own_directory_id()
    {
        const string voters = "1@c1:9093:JEXY6aqzQY-32P5TStzaFg";
        var result = Format(DynamicController(nodeId: 5), Options(o => o with { InitialControllers = voters }));
        Assert.Equal("dynamic metadata directory", result.Formatted[0].Kind);
        Assert.NotEqual(Uuid.Parse("JEXY6aqzQY-32P5TStzaFg"), MetaProperties.ReadFrom(Dir("ctl"))!.DirectoryId);
        Assert.True(File.Exists(Path.Combine(Dir("ctl"), "__cluster_metadata-0", "00000000000000000000-0000000000.checkpoint")));
    }

    [Fact]
    public void No_initial_controllers_joins_a_dynamic_quorum_without_a_voters_snapshot()
    {
        var result = Format(DynamicController(), Options(o => o with { NoInitialControllers = true }));
        Assert.Equal(1, result.KRaftVersion);
        Assert.False(Directory.Exists(Path.Combine(Dir("ctl"), "__cluster_metadata-0")));
    }

    [Fact]
    public void A_static_quorum_keeps_kraft_version_0()
    {
        Assert.Equal(0, Format(Combined(Dir("logs"))).KRaftVersion);
    }

    [Fact]
    public void Standalone_and_initial_controllers_are_refused_with_static_voters()
    {
        var e = Refused(Combined(Dir("logs")), Options(o => o with { Standalone = true }));
        Assert.Contains("You cannot specify controller.quorum.voters and format the node with --initial-controllers or --standalone", e.Message);
        Refused(Combined(Dir("logs")), Options(o => o with { InitialControllers = "1@c1:9093:JEXY6aqzQY-32P5TStzaFg" }));
        Assert.False(Directory.Exists(Dir("logs")));
    }

    [Fact]
    public void Standalone_and_initial_controllers_are_only_for_controllers()
    {
        Assert.Equal("You can only use --standalone on a controller.", Refused(Broker(), Options(o => o with { Standalone = true })).Message);
        Assert.Contains("--initial-controllers on a controller", Refused(Broker(), Options(o => o with { InitialControllers = "1@c1:9093:JEXY6aqzQY-32P5TStzaFg" })).Message);
        Format(Broker()); // a broker of a dynamic quorum needs none of them
    }

    [Fact]
    public void The_quorum_flags_are_mutually_exclusive()
    {
        var e = Refused(DynamicController(), Options(o => o with { Standalone = true, InitialControllers = "1@c1:9093:JEXY6aqzQY-32P5TStzaFg" }));
        Assert.Contains("mutually exclusive", e.Message);
        Refused(DynamicController(), Options(o => o with { Standalone = true, NoInitialControllers = true }));
    }

    [Fact]
    public void A_controller_without_voters_must_say_how_the_quorum_starts()
    {
        var e = Refused(DynamicController(), Options());
        Assert.Contains("you must specify one of the following: --standalone, --initial-controllers, or --no-initial-controllers", e.Message);
    }

    [Theory]
    [InlineData("1c1:9093:JEXY6aqzQY-32P5TStzaFg", "No @ found")]
    [InlineData("@c1:9093:JEXY6aqzQY-32P5TStzaFg", "Invalid @ at beginning")]
    [InlineData("x@c1:9093:JEXY6aqzQY-32P5TStzaFg", "Failed to parse node id")]
    [InlineData("-1@c1:9093:JEXY6aqzQY-32P5TStzaFg", "Invalid negative node id")]
    [InlineData("1@", "No hostname found")]
    [InlineData("1@[::1:9093:JEXY6aqzQY-32P5TStzaFg", "no right bracket")]
    [InlineData("1@c1", "No colon following hostname")]
    [InlineData("1@c1:9093", "No colon following port")]
    [InlineData("1@c1:port:JEXY6aqzQY-32P5TStzaFg", "Failed to parse port")]
    [InlineData("1@c1:70000:JEXY6aqzQY-32P5TStzaFg", "Invalid port 70000")]
    [InlineData("1@c1:9093:nope", "Failed to parse directory ID")]
    [InlineData("1@c1:9093:JEXY6aqzQY-32P5TStzaFg,1@c2:9093:MvDxzVmcRsaTz33bUuRU6A", "Node id 1 was specified more than once")]
    [InlineData("1@c1:9093:JEXY6aqzQY-32P5TStzaFg,2@c2:9093:JEXY6aqzQY-32P5TStzaFg", "Directory id JEXY6aqzQY-32P5TStzaFg was specified more than once")]
    [InlineData(",", "No voters given")]
    public void Bad_initial_controllers_are_refused(string voters, string expected)
    {
        var e = Refused(DynamicController(), Options(o => o with { InitialControllers = voters }));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Kraft_version_follows_the_quorum_kind()
    {
        Assert.Contains("Cannot set kraft.version to 1 unless KIP-853",
            Refused(Combined(Dir("logs")), Options(o => o with { Features = ["kraft.version=1"] })).Message);
        Assert.Contains("Cannot set kraft.version to 0 if KIP-853",
            Refused(DynamicController(), Options(o => o with { Standalone = true, Features = ["kraft.version=0"] })).Message);
        Assert.Contains("Unknown kraft.version level 2",
            Refused(DynamicController(), Options(o => o with { Standalone = true, Features = ["kraft.version=2"] })).Message);
        Assert.Contains("3.9-IV0",
            Refused(DynamicController(), Options(o => o with { Standalone = true, ReleaseVersion = "3.8" })).Message);
        Assert.Equal(0, Format(Combined(Dir("logs")), Options(o => o with { Features = ["kraft.version=0"] })).KRaftVersion);
    }

    // ---- SCRAM credentials ----

    [Fact]
    public void Add_scram_stores_a_credential_that_verifies()
    {
        var config = Combined(Dir("logs"));
        Format(config, Options(o => o with { ScramArguments = ["SCRAM-SHA-256=[name=alice,password=alice-secret]", "SCRAM-SHA-512=[name=bob,password=\"bob-secret\"]"] }));
        var records = BootstrapMetadataFile.Read(BootstrapMetadataFile.PathIn(Dir("logs")));
        Assert.Equal(3, records.Count);
        Assert.IsType<FeatureLevelRecord>(records[0].Message);

        var alice = Assert.IsType<UserScramCredentialRecord>(records[1].Message);
        Assert.Equal("alice", alice.Name);
        Assert.Equal(1, alice.Mechanism);
        Assert.Equal(4096, alice.Iterations);
        Assert.NotEmpty(alice.Salt);
        var salted = Scram.SaltedPassword(ScramMechanism.ScramSha256, "alice-secret", alice.Salt, alice.Iterations);
        Assert.Equal(Scram.StoredKey(ScramMechanism.ScramSha256, Scram.ClientKey(ScramMechanism.ScramSha256, salted)), alice.StoredKey);
        Assert.Equal(Scram.ServerKey(ScramMechanism.ScramSha256, salted), alice.ServerKey);
        Assert.Equal(32, alice.StoredKey.Length);
        var wrong = Scram.SaltedPassword(ScramMechanism.ScramSha256, "wrong", alice.Salt, alice.Iterations);
        Assert.NotEqual(Scram.ServerKey(ScramMechanism.ScramSha256, wrong), alice.ServerKey);

        var bob = Assert.IsType<UserScramCredentialRecord>(records[2].Message); // quotes around a value are dropped
        Assert.Equal(2, bob.Mechanism);
        var bobSalted = Scram.SaltedPassword(ScramMechanism.ScramSha512, "bob-secret", bob.Salt, bob.Iterations);
        Assert.Equal(Scram.ServerKey(ScramMechanism.ScramSha512, bobSalted), bob.ServerKey);
        Assert.Equal(64, bob.ServerKey.Length);
    }

    [Fact]
    public void Add_scram_with_explicit_salt_and_iterations_is_deterministic()
    {
        var salt = "c2FsdHNhbHQ=";
        var record = ScramArgument.Parse($"SCRAM-SHA-512=[name=carol,iterations=8192,salt=\"{salt}\",password=pw]");
        Assert.Equal(8192, record.Iterations);
        Assert.Equal(Convert.FromBase64String(salt), record.Salt);
        var again = ScramArgument.Parse($"SCRAM-SHA-512=[name=carol,iterations=8192,salt={salt},password=pw]");
        Assert.Equal(record.StoredKey, again.StoredKey);
        Assert.Equal(record.ServerKey, again.ServerKey);

        var salted = Scram.SaltedPassword(ScramMechanism.ScramSha512, "pw", record.Salt, 8192);
        var fromSalted = ScramArgument.Parse($"SCRAM-SHA-512=[name=carol,iterations=8192,salt={salt},saltedpassword={Convert.ToBase64String(salted)}]");
        Assert.Equal(record.StoredKey, fromSalted.StoredKey);
        Assert.Equal(record.ServerKey, fromSalted.ServerKey);
    }

    [Fact]
    public void Scram_keys_reproduce_RFC_7677s_exchange()
    {
        // RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
        var salt = Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ==");
        var salted = Scram.SaltedPassword(ScramMechanism.ScramSha256, "pencil", salt, 4096);
        var clientKey = Scram.ClientKey(ScramMechanism.ScramSha256, salted);
        var storedKey = Scram.StoredKey(ScramMechanism.ScramSha256, clientKey);
        var serverKey = Scram.ServerKey(ScramMechanism.ScramSha256, salted);
        const string nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        var authMessage = System.Text.Encoding.UTF8.GetBytes(
            "n=user,r=rOprNGfwEbeRWgbNEkqO," + $"r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," + $"c=biws,r={nonce}");
        var clientSignature = System.Security.Cryptography.HMACSHA256.HashData(storedKey, authMessage);
        var proof = clientKey.Zip(clientSignature, (a, b) => (byte)(a ^ b)).ToArray();
        Assert.Equal("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", Convert.ToBase64String(proof));
        Assert.Equal("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
            Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(serverKey, authMessage)));
    }

    [Theory]
    [InlineData("SCRAM-SHA-256", "Failed to find equals sign")]
    [InlineData("SCRAM-SHA-1=[name=a,password=b]", "mechanism SCRAM-SHA-1 is not supported")]
    [InlineData("SCRAM-SHA-256=name=a,password=b]", "start with [")]
    [InlineData("SCRAM-SHA-256=[name=a,password=b", "end with ]")]
    [InlineData("SCRAM-SHA-256=[password=b]", "You must supply 'name'")]
    [InlineData("SCRAM-SHA-256=[name=a]", "one of 'password' or 'saltedpassword'")]
    [InlineData("SCRAM-SHA-256=[name=a,saltedpassword=YCE=]", "'salt' with 'saltedpassword'")]
    [InlineData("SCRAM-SHA-256=[name=a,password=b,iterations=4095]", "must be >= 4096")]
    [InlineData("SCRAM-SHA-256=[name=a,password=b,iterations=16385]", "must be <= 16384")]
    [InlineData("SCRAM-SHA-256=[name=a,password=b,iterations=many]", "Failed to parse iterations count")]
    [InlineData("SCRAM-SHA-256=[name=a,password=b,salt=%%%]", "Failed to decode given salt")]
    [InlineData("SCRAM-SHA-256=[name=a,password=b,colour=blue]", "Unknown SCRAM configurations: colour")]
    [InlineData("SCRAM-SHA-256=[name=a,password]", "No equals sign found in SCRAM component")]
    public void Bad_scram_arguments_are_refused(string argument, string expected)
    {
        var e = Refused(Combined(Dir("logs")), Options(o => o with { ScramArguments = [argument] }));
        Assert.Contains(expected, e.Message);
        Assert.False(Directory.Exists(Dir("logs")));
    }

    [Fact]
    public void Scram_needs_metadata_version_3_5_IV2()
    {
        var e = Refused(Combined(Dir("logs")), Options(o => o with { ReleaseVersion = "3.4", ScramArguments = ["SCRAM-SHA-256=[name=a,password=b]"] }));
        Assert.Contains("SCRAM is only supported in metadata.version 3.5-IV2 or later", e.Message);
        Format(Combined(Dir("logs")), Options(o => o with { ReleaseVersion = "3.5", ScramArguments = ["SCRAM-SHA-256=[name=a,password=b]"] }));
    }
}
