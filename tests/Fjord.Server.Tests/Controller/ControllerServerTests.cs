using System.Collections.Concurrent;
using Fjord.Cli;
using Fjord.Raft;
using Fjord.Server.Controller;
using Xunit.Abstractions;
using static Fjord.Server.Tests.Controller.ControllerFixture;

namespace Fjord.Server.Tests.Controller;

/// <summary><see cref="ControllerServer"/> hosted in-process: start-up checks, NoOps while leader, graceful stop, restart.</summary>
public sealed class ControllerServerTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ConcurrentQueue<string> _lines = new();

    public void Dispose()
    {
        foreach (var line in _lines.Take(300)) output.WriteLine(line);
        _dir.Dispose();
    }

    [Fact]
    public void An_unformatted_metadata_log_dir_is_refused_naming_the_dir_and_the_fix()
    {
        var config = ServerConfig.Load(WriteSingleVoterConfig(_dir, FreePort()));
        var e = Assert.Throws<StorageCheckException>(() => ControllerServer.Start(config));
        Assert.Contains(_dir.Sub("meta-1"), e.Message);
        Assert.Contains("fjord storage format", e.Message);
        Assert.False(Directory.Exists(_dir.Sub("meta-1")), "nothing is formatted or created implicitly");
    }

    [Fact]
    public void A_directory_of_another_node_is_refused()
    {
        int port = FreePort();
        Format(WriteSingleVoterConfig(_dir, port));
        // The same directory, now claimed by node 2.
        var other = ServerConfig.ParseText(File.ReadAllText(_dir.Sub("controller-1.properties"))
            .Replace("node.id=1", "node.id=2", StringComparison.Ordinal).Replace("voters=1@", "voters=2@", StringComparison.Ordinal));
        var e = Assert.Throws<StorageCheckException>(() => ControllerServer.Start(other));
        Assert.Contains("belongs to node.id 1", e.Message);
    }

    [Fact]
    public void A_broker_only_config_is_not_a_controller()
    {
        var config = ServerConfig.ParseText($"""
            process.roles=broker
            node.id=1
            controller.quorum.voters=2@127.0.0.1:19093
            listeners=PLAINTEXT://127.0.0.1:19092
            controller.listener.names=CONTROLLER
            listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
            log.dirs={_dir.Sub("b")}
            """);
        var e = Assert.Throws<ServerNotSupportedException>(() => ControllerServer.Start(config));
        Assert.Contains("process.roles=broker has no controller role", e.Message);
    }

    [Fact]
    public async Task A_single_voter_leads_appends_NoOps_applies_them_and_resumes_after_a_restart()
    {
        var config = Format(WriteSingleVoterConfig(_dir, FreePort()));
        long appliedBefore;
        int epochBefore;
        var server = Start(config, _lines);
        try
        {
            Assert.Contains(_lines, l => l.StartsWith($"fjord controller 1: listening on CONTROLLER://127.0.0.1:{server.BoundPort} (cluster {ClusterId}", StringComparison.Ordinal));
            await WaitUntil(() => server.Role == RaftRole.Leader && server.StateMachine.NoOpRecords >= 5, server.ToString);
            Assert.Contains(_lines, l => l == $"raft: leader 1 epoch {server.Epoch} (node 1 is Leader)");
            // Everything applied is committed; the last applied offset is right below the high watermark or behind it.
            Assert.True(server.StateMachine.LastAppliedOffset < server.HighWatermark);
            Assert.Equal(server.Epoch, server.StateMachine.LastAppliedEpoch);
            appliedBefore = server.StateMachine.LastAppliedOffset;
            epochBefore = server.Epoch;
        }
        finally
        {
            await server.StopAsync();
        }
        Assert.DoesNotContain(_lines, l => l.Contains("resigned", StringComparison.Ordinal)); // a sole voter has nobody to hand over to
        Assert.Equal("fjord controller 1: stopped", _lines.Last());
        Assert.True(server.Completion.IsCompleted);
        Assert.Null(server.Fault);

        // From its disk: a new epoch, and the state machine re-applies the log from its start.
        var again = Start(config, _lines);
        try
        {
            await WaitUntil(() => again.Role == RaftRole.Leader && again.StateMachine.LastAppliedOffset > appliedBefore, again.ToString);
            Assert.True(again.Epoch > epochBefore);
        }
        finally
        {
            await again.StopAsync();
        }
    }

    [Fact]
    public async Task The_controller_writes_the_bootstrap_records_and_its_state_survives_a_restart_through_its_snapshot()
    {
        var config = Format(WriteSingleVoterConfig(_dir, FreePort(), extra: "metadata.log.max.record.bytes.between.snapshots=1024"));
        var expected = Fjord.Metadata.MetadataVersion.LatestProduction;
        var server = Start(config, _lines);
        try
        {
            await WaitUntil(() => server.Controller.IsActive && server.StateMachine.State.MetadataVersion is not null, server.ToString);
            Assert.Equal(expected, server.StateMachine.State.MetadataVersion);
            Assert.Equal(expected, await server.Controller.ReadCommitted(s => s.MetadataVersion));
            // NoOps pile up until a snapshot is written.
            await WaitUntil(() => _lines.Any(l => l.StartsWith("metadata: wrote snapshot ", StringComparison.Ordinal)), server.ToString);
        }
        finally
        {
            await server.StopAsync();
        }

        // The snapshot on disk holds the controller state's records: metadata.version's FeatureLevelRecord.
        string partitionDir = ControllerServer.MetadataPartitionDirectory(config);
        var latest = Fjord.Storage.SnapshotFiles.Latest(partitionDir) ?? throw new InvalidOperationException("no snapshot on disk");
        var contents = new List<Fjord.Protocol.IKafkaMessage>();
        foreach (var batch in Fjord.Storage.SnapshotReader.Open(partitionDir, latest).Batches)
        {
            if (batch.IsControl) continue;
            using var records = batch.OpenRecords(1024 * 1024);
            foreach (var record in records) contents.Add(Fjord.Protocol.Metadata.MetadataRecordFrame.Decode(record.Value.ToArray()).Message);
        }
        var feature = Assert.Single(contents.OfType<Fjord.Protocol.Metadata.FeatureLevelRecord>(), f => f.Name == Fjord.Metadata.MetadataVersion.FeatureName);
        Assert.Equal(expected.FeatureLevel, feature.FeatureLevel);

        int before = _lines.Count;
        var again = Start(config, _lines);
        try
        {
            await WaitUntil(() => _lines.Skip(before).Any(l => l.StartsWith("metadata: loaded snapshot ", StringComparison.Ordinal) && !l.Contains(" 0-0 ", StringComparison.Ordinal)),
                again.ToString);
            await WaitUntil(() => again.Controller.IsActive, again.ToString);
            // The snapshot restored the state (the log before it is gone), and the bootstrap is not written again.
            Assert.Equal(expected, again.StateMachine.State.MetadataVersion);
            var (version, features) = await again.Controller.ReadCommitted(s => (s.MetadataVersion, s.FinalizedFeatures.Count));
            Assert.Equal(expected, version);
            Assert.Equal(again.StateMachine.State.FinalizedFeatures.Count, features);
        }
        finally
        {
            await again.StopAsync();
        }
        Assert.DoesNotContain(_lines, l => l.StartsWith("controller: event failed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_second_server_on_the_same_metadata_log_dir_is_refused()
    {
        var config = Format(WriteSingleVoterConfig(_dir, FreePort()));
        var server = Start(config, _lines);
        try
        {
            var e = Assert.Throws<ServerStartException>(() => ControllerServer.Start(config));
            Assert.Contains("in use by another process", e.Message);
            Assert.Contains(_dir.Sub("meta-1"), e.Message);
        }
        finally
        {
            await server.StopAsync();
        }
    }

    [Fact]
    public async Task Server_start_warns_about_unknown_keys_runs_and_stops_cleanly_on_request()
    {
        var path = WriteSingleVoterConfig(_dir, FreePort(), extra: "no.such.key=1");
        Format(path);
        var o = new LockedWriter();
        var e = new LockedWriter();
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => ServerCommand.Run(["start", "--config", path], o, e, stop.Token));
        await WaitUntil(() => Locked(o).Contains("(node 1 is Leader)", StringComparison.Ordinal) || run.IsCompleted, () => $"{Locked(o)}\n{Locked(e)}");
        Assert.False(run.IsCompleted, Locked(e));
        Assert.Contains($"fjord: warning: {path}: unknown configuration 'no.such.key' is ignored", Locked(e));
        await stop.CancelAsync();
        Assert.Equal(0, await run.WaitAsync(Bound));
        var lines = Locked(o).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("fjord controller 1: listening on CONTROLLER://127.0.0.1:", lines[0]);
        Assert.Equal("fjord controller 1: stopped", lines[^1]);

        static string Locked(LockedWriter w) => w.ToString();
    }

    /// <summary>A StringWriter that can be read while another thread writes to it.</summary>
    private sealed class LockedWriter : StringWriter
    {
        public override void Write(char value) { lock (this) base.Write(value); }
        public override void Write(string? value) { lock (this) base.Write(value); }
        public override void Write(char[] buffer, int index, int count) { lock (this) base.Write(buffer, index, count); }
        public override void WriteLine(string? value) { lock (this) base.WriteLine(value); }
        public override string ToString() { lock (this) return base.ToString(); }
    }
}
