using Fjord.Cli;
using Fjord.Cli.Shell;
using Fjord.Cluster.Tests;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Server.Node;
using Fjord.Storage;

namespace Fjord.Tools.Tests;

/// <summary>
/// The fixture of the metadata-shell and dump-log tests: a real dev node (<c>fjord server start --dev
/// --data DIR</c>, its config pre-written with free ports), a topic <c>t</c> of 3 partitions with
/// <see cref="RecordsProduced"/> records (made by <c>fjord perf produce</c>), then — while the node runs —
/// the answers of the shell commands in <see cref="ComparedCommands"/> read from the live quorum
/// (as the CLI does it: <c>metadata-shell --bootstrap-controller</c>, and through the broker with
/// <c>--bootstrap-server</c>) and from the metadata log directory. Then ACLs with long resource names
/// push the committed metadata past <see cref="SnapshotThresholdBytes"/>
/// (<c>metadata.log.max.record.bytes.between.snapshots</c>), the controller writes a snapshot and moves
/// its log start there, and the commands of <see cref="SnapshotComparedCommands"/> are read again from
/// every source: a live read must now fetch the leader's snapshot (FetchSnapshot), as its offset 0 is
/// below the log start. Then the node is stopped (SIGTERM) and a snapshot of the final directory image
/// is written next to it, so that the tests get files in their final state.
/// </summary>
public sealed class MetadataToolsNode : IAsyncLifetime
{
    public const int RecordsProduced = 300;
    public const int RecordSize = 400;

    /// <summary>The node's <c>metadata.log.max.record.bytes.between.snapshots</c>: far above what start-up,
    /// the topic and a minute of NoOp records commit, far below what the ACLs of the second phase add.</summary>
    public const long SnapshotThresholdBytes = 96 * 1024;

    /// <summary>ACLs added in the second phase, each with a resource name of <see cref="AclNameLength"/> characters.</summary>
    public const int AclCount = 64;
    public const int AclNameLength = 2500;

    /// <summary>Commands whose answers must be the same from every source.</summary>
    public static readonly string[] ComparedCommands =
    [
        "ls /brokers", "cat /brokers/1/registration", "ls /topics", "cat /topics/t/id", "cat /topics/t/0/data", "cat /topics/t/2/data",
        "find /topics", "tree /brokers", "cat /features/metadata.version", "ls /topicIds",
    ];

    /// <summary>Commands compared after the snapshot (the ACLs included).</summary>
    public static readonly string[] SnapshotComparedCommands = [.. ComparedCommands, "find /acls", "ls /configs"];

    private readonly ClusterDirectory _dir = new();
    private FjordProcess? _process;

    public string DataDir => _dir.Sub("node");
    public string LogDir => Path.Combine(DataDir, "logs");
    public string MetadataDir => Path.Combine(LogDir, "__cluster_metadata-0");
    public string SnapshotDir => _dir.Sub("snapshot");
    public string ScratchDir => _dir.Sub("scratch");
    public string SnapshotPath { get; private set; } = "";
    public int ControllerPort { get; private set; }
    public int BrokerPort { get; private set; }

    /// <summary>command → its output from the live quorum, and from the directory while the node ran.</summary>
    public Dictionary<string, string> LiveAnswers { get; } = [];
    public Dictionary<string, string> RunningDirectoryAnswers { get; } = [];
    /// <summary>command → its output through the broker (<c>--bootstrap-server</c>), before the snapshot.</summary>
    public Dictionary<string, string> BrokerAnswers { get; } = [];
    public string LiveLocalOffset { get; private set; } = "";
    /// <summary><c>cat /local/snapshot</c> of the live reads before the snapshot (controller, broker): "none" expected.</summary>
    public string LiveLocalSnapshot { get; private set; } = "";
    public string BrokerLocalSnapshot { get; private set; } = "";
    /// <summary>Whether the node had written a snapshot before the second phase (it must not have).</summary>
    public bool SnapshotBeforeSecondPhase { get; private set; }
    /// <summary>The metadata log's size at the end of the first phase (how far below the threshold it stayed).</summary>
    public long FirstPhaseLogBytes { get; private set; }

    /// <summary>After the snapshot: command → output per source ("controller", "broker", "directory").</summary>
    public Dictionary<string, Dictionary<string, string>> AfterSnapshot { get; } = new()
    {
        ["controller"] = [],
        ["broker"] = [],
        ["directory"] = [],
    };
    /// <summary>The snapshots the node wrote by the end of the second phase (<c>N-E</c>, from its "metadata: wrote snapshot N-E" lines).</summary>
    public IReadOnlyList<string> NodeSnapshotIds { get; private set; } = [];
    /// <summary><c>/local/snapshot</c>, <c>/local/batches</c> and <c>/local/source</c> of the live reads after the snapshot, per source.</summary>
    public Dictionary<string, string> LocalAfterSnapshot { get; } = [];
    public string Transcript => _process?.Transcript() ?? "(not started)";

    public async Task InitializeAsync()
    {
        var ports = ClusterDirectory.FreePorts(2);
        (BrokerPort, ControllerPort) = (ports[0], ports[1]);
        Directory.CreateDirectory(DataDir);
        Directory.CreateDirectory(ScratchDir);
        File.WriteAllText(Path.Combine(DataDir, DevNode.ConfigFileName), DevNode.ConfigText(DataDir, BrokerPort, ControllerPort)
            + $"metadata.log.max.record.bytes.between.snapshots={SnapshotThresholdBytes}\n");
        _process = FjordProcess.Start("fjord dev node", "server", "start", "--dev", "--data", DataDir);
        try
        {
            await _process.WaitForLineAsync(l => l.Contains("unfenced at metadata offset", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "that the broker is unfenced");
            await ProduceAsync();

            // While the node runs: the same commands through the CLI against the live quorum, and from its directory.
            foreach (var command in ComparedCommands)
            {
                LiveAnswers[command] = Shell("controller", command);
                BrokerAnswers[command] = Shell("broker", command);
                RunningDirectoryAnswers[command] = Shell("directory", command);
            }
            LiveLocalOffset = Shell("controller", "cat /local/offset").Trim();
            LiveLocalSnapshot = Shell("controller", "cat /local/snapshot").Trim();
            BrokerLocalSnapshot = Shell("broker", "cat /local/snapshot").Trim();
            FirstPhaseLogBytes = Directory.EnumerateFiles(MetadataDir, "*.log").Sum(f => new FileInfo(f).Length);
            SnapshotBeforeSecondPhase = _process.Lines("out").Any(l => l.Contains("metadata: wrote snapshot", StringComparison.Ordinal));

            // Second phase: enough metadata for a snapshot; the leader's log then starts after it.
            AddAcls();
            await _process.WaitForLineAsync(l => l.Contains("metadata: wrote snapshot", StringComparison.Ordinal), TimeSpan.FromSeconds(60),
                "that it wrote a metadata snapshot");
            foreach (var command in SnapshotComparedCommands)
                foreach (var source in AfterSnapshot.Keys)
                    AfterSnapshot[source][command] = Shell(source, command);
            foreach (var source in new[] { "controller", "broker" })
                LocalAfterSnapshot[source] = Shell(source, "cat /local/snapshot /local/batches /local/source");
            const string Wrote = "metadata: wrote snapshot";
            NodeSnapshotIds = [.. _process.Lines("out").Where(l => l.Contains(Wrote, StringComparison.Ordinal))
                .Select(l => l[(l.IndexOf(Wrote, StringComparison.Ordinal) + Wrote.Length)..].Trim())];
        }
        finally
        {
            if (!_process.HasExited) _process.Terminate();
            await _process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }

        // A snapshot of what the directory holds now, written as a controller writes one.
        var loaded = MetadataSources.LoadDirectory(MetadataDir);
        var image = loaded.Image;
        var id = new SnapshotId(image.Provenance.NextOffset, image.Provenance.LastContainedEpoch);
        Directory.CreateDirectory(SnapshotDir);
        using (var writer = SnapshotWriter.Create(SnapshotDir, id, image.Provenance.LastContainedTimestampMs, SystemClock.Instance))
        {
            MetadataSnapshots.Write(image, values => writer.Append([.. values.Select(v => (ReadOnlyMemory<byte>)v)]));
            writer.Freeze();
        }
        SnapshotPath = SnapshotFiles.PathOf(SnapshotDir, id);
    }

    /// <summary>Runs a metadata-shell one-shot command on a source ("controller", "broker", "directory"); it must succeed.</summary>
    private string Shell(string source, string command)
    {
        string[] from = source switch
        {
            "controller" => ["--bootstrap-controller", $"127.0.0.1:{ControllerPort}"],
            "broker" => ["--bootstrap-server", $"127.0.0.1:{BrokerPort}"],
            _ => ["--directory", MetadataDir],
        };
        var (code, output, errors) = Cli(["metadata-shell", .. from, "--", command]);
        if (code != 0) throw new InvalidOperationException($"metadata-shell {from[0]} '{command}' failed ({code}): {errors}\n{Transcript}");
        return output;
    }

    /// <summary>The ACL name of index <paramref name="i"/>: long, so that few ACLs make many record bytes.</summary>
    public static string AclTopic(int i) => $"snapshot-acl-{i:D3}-" + new string('x', AclNameLength - 17);

    /// <summary><see cref="AclCount"/> ACLs in one <c>fjord acls --add</c> (it waits until they are listed).</summary>
    private void AddAcls()
    {
        var args = new List<string> { "acls", "--bootstrap-server", $"127.0.0.1:{BrokerPort}", "--add", "--allow-principal", "User:snapshot", "--operation", "Read" };
        for (int i = 0; i < AclCount; i++) args.AddRange(["--topic", AclTopic(i)]);
        var (code, output, errors) = Cli([.. args]);
        if (code != 0) throw new InvalidOperationException($"acls --add failed ({code}): {output}\n{errors}\n{Transcript}");
    }

    /// <summary>
    /// <c>fjord perf produce</c> until <see cref="RecordsProduced"/> records are in: the first run creates
    /// the topic, and a produce that reaches the broker before it leads the new partitions fails
    /// (NOT_LEADER_OR_FOLLOWER, not retried by perf); then the partition directories are awaited and
    /// the records not yet sent are produced again (bounded).
    /// </summary>
    private async Task ProduceAsync()
    {
        int sent = 0;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        for (int attempt = 1; sent < RecordsProduced; attempt++)
        {
            var (code, output, errors) = Cli("perf", "produce", "--bootstrap-server", $"127.0.0.1:{BrokerPort}", "--topic", "t",
                "--num-records", (RecordsProduced - sent).ToString(), "--record-size", RecordSize.ToString(), "--partitions", "3", "--acks", "all");
            var summary = System.Text.RegularExpressions.Regex.Match(output, @"(\d+) records sent");
            if (!summary.Success) throw new InvalidOperationException($"perf produce printed no summary ({code}): {output}\n{errors}\n{Transcript}");
            sent += int.Parse(summary.Groups[1].Value);
            if (code == 0) break;
            if (attempt >= 10 || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"perf produce failed {attempt} times ({code}): {output}\n{errors}\n{Transcript}");
            while (!Enumerable.Range(0, 3).All(p => Directory.Exists(Path.Combine(LogDir, $"t-{p}"))) && DateTime.UtcNow < deadline)
                await Task.Delay(50);
            await Task.Delay(200); // backoff before asking again
        }
        if (sent != RecordsProduced) throw new InvalidOperationException($"{sent} records were sent, {RecordsProduced} expected");
    }

    /// <summary>Runs a <c>fjord</c> command in-process (the code the executable runs).</summary>
    public static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    public async Task DisposeAsync()
    {
        if (_process is not null)
        {
            try
            {
                if (!_process.HasExited) _process.Terminate();
                await _process.WaitForExitAsync(TimeSpan.FromSeconds(20));
            }
            catch (TimeoutException)
            {
                // Dispose kills it.
            }
            _process.Dispose();
        }
        _dir.Dispose();
    }
}
