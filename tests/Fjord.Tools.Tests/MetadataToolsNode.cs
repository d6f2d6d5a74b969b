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
/// (as the CLI does it: <c>metadata-shell --bootstrap-controller</c>) and from the metadata log
/// directory; then the node is stopped (SIGTERM) and a snapshot of the final directory image is
/// written next to it, so that the tests get files in their final state.
/// </summary>
public sealed class MetadataToolsNode : IAsyncLifetime
{
    public const int RecordsProduced = 300;
    public const int RecordSize = 400;

    /// <summary>Commands whose answers must be the same from every source.</summary>
    public static readonly string[] ComparedCommands =
    [
        "ls /brokers", "cat /brokers/1/registration", "ls /topics", "cat /topics/t/id", "cat /topics/t/0/data", "cat /topics/t/2/data",
        "find /topics", "tree /brokers", "cat /features/metadata.version", "ls /topicIds",
    ];

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
    public string LiveLocalOffset { get; private set; } = "";
    public string Transcript => _process?.Transcript() ?? "(not started)";

    public async Task InitializeAsync()
    {
        var ports = ClusterDirectory.FreePorts(2);
        (BrokerPort, ControllerPort) = (ports[0], ports[1]);
        Directory.CreateDirectory(DataDir);
        Directory.CreateDirectory(ScratchDir);
        File.WriteAllText(Path.Combine(DataDir, DevNode.ConfigFileName), DevNode.ConfigText(DataDir, BrokerPort, ControllerPort));
        _process = FjordProcess.Start("fjord dev node", "server", "start", "--dev", "--data", DataDir);
        try
        {
            await _process.WaitForLineAsync(l => l.Contains("unfenced at metadata offset", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "that the broker is unfenced");
            await ProduceAsync();

            // While the node runs: the same commands through the CLI against the live quorum, and from its directory.
            foreach (var command in ComparedCommands)
            {
                var (liveCode, liveOut, liveErr) = Cli("metadata-shell", "--bootstrap-controller", $"127.0.0.1:{ControllerPort}", "--", command);
                if (liveCode != 0) throw new InvalidOperationException($"metadata-shell '{command}' on the live quorum failed ({liveCode}): {liveErr}\n{Transcript}");
                LiveAnswers[command] = liveOut;
                var (dirCode, dirOut, dirErr) = Cli("metadata-shell", "--directory", MetadataDir, "--", command);
                if (dirCode != 0) throw new InvalidOperationException($"metadata-shell '{command}' on the directory failed ({dirCode}): {dirErr}");
                RunningDirectoryAnswers[command] = dirOut;
            }
            LiveLocalOffset = Cli("metadata-shell", "--bootstrap-controller", $"127.0.0.1:{ControllerPort}", "--", "cat /local/offset").Out.Trim();
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
