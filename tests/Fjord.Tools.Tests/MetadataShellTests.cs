using System.Diagnostics;
using System.Text.Json;
using Fjord.Cli.Shell;
using Fjord.Cluster.Tests;
using Xunit.Abstractions;

namespace Fjord.Tools.Tests;

[CollectionDefinition(Name)]
public sealed class MetadataToolsCollection : ICollectionFixture<MetadataToolsNode>
{
    public const string Name = "metadata tools node";
}

/// <summary><c>fjord metadata-shell</c> over a snapshot, a metadata log directory and a live quorum.</summary>
[Collection(MetadataToolsCollection.Name)]
public sealed class MetadataShellTests(MetadataToolsNode node, ITestOutputHelper output)
{
    private static (int Code, string Out, string Err) Shell(string source, string path, params string[] command) =>
        MetadataToolsNode.Cli(["metadata-shell", source, path, "--", .. command]);

    [Fact]
    public void Live_quorum_and_directory_answer_the_same()
    {
        foreach (var command in MetadataToolsNode.ComparedCommands)
        {
            Assert.True(node.LiveAnswers[command] == node.RunningDirectoryAnswers[command],
                $"'{command}' differs:\nlive:\n{node.LiveAnswers[command]}\ndirectory:\n{node.RunningDirectoryAnswers[command]}");
            // --bootstrap-server: the controllers the broker's DescribeQuorum names, read the same way.
            Assert.True(node.BrokerAnswers[command] == node.RunningDirectoryAnswers[command],
                $"'{command}' differs:\nthrough the broker:\n{node.BrokerAnswers[command]}\ndirectory:\n{node.RunningDirectoryAnswers[command]}");
        }
        // Before the snapshot phase the leader's log starts at 0: both live reads fetched the log only.
        Assert.False(node.SnapshotBeforeSecondPhase, $"a snapshot was written before the second phase (log {node.FirstPhaseLogBytes} bytes)\n{node.Transcript}");
        Assert.Equal("none", node.LiveLocalSnapshot);
        Assert.Equal("none", node.BrokerLocalSnapshot);
        Assert.Equal("1\n", node.LiveAnswers["ls /brokers"]);
        Assert.Equal("t\n", node.LiveAnswers["ls /topics"]);
        Assert.Contains("/topics/t/0/data", node.LiveAnswers["find /topics"], StringComparison.Ordinal);
        Assert.Contains("/topics/t/2/data", node.LiveAnswers["find /topics"], StringComparison.Ordinal);
        Assert.DoesNotContain("/topics/t/3", node.LiveAnswers["find /topics"], StringComparison.Ordinal);
        using var partition = JsonDocument.Parse(node.LiveAnswers["cat /topics/t/0/data"]);
        Assert.Equal("t", partition.RootElement.GetProperty("topicName").GetString());
        Assert.Equal(1, partition.RootElement.GetProperty("leader").GetInt32());
        Assert.Equal([1], partition.RootElement.GetProperty("replicas").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(node.LiveAnswers["cat /topics/t/id"].Trim(), partition.RootElement.GetProperty("topicId").GetString());
        Assert.True(long.Parse(node.LiveLocalOffset) > 0, $"/local/offset of the live read: {node.LiveLocalOffset}");
    }

    [Fact]
    public void Snapshot_and_directory_answer_the_same()
    {
        foreach (var command in MetadataToolsNode.ComparedCommands.Append("find /").Append("cat /brokers/1/isFenced").Append("tree /topics"))
        {
            var fromSnapshot = Shell("--snapshot", node.SnapshotPath, command);
            var fromDirectory = Shell("--directory", node.MetadataDir, command);
            Assert.True(fromSnapshot.Code == 0, $"{command}: {fromSnapshot.Err}");
            Assert.True(fromDirectory.Code == 0, $"{command}: {fromDirectory.Err}");
            // /local and /metadataQuorum describe the source itself, not the metadata.
            if (command == "find /")
            {
                static string Strip(string s) => string.Join('\n', s.Split('\n').Where(l => !l.StartsWith("/local", StringComparison.Ordinal)));
                Assert.Equal(Strip(fromDirectory.Out), Strip(fromSnapshot.Out));
            }
            else Assert.Equal(fromDirectory.Out, fromSnapshot.Out);
        }
        // The topic is the same one the live quorum showed; the broker's registration too (it is fenced after its shutdown).
        Assert.Equal(node.LiveAnswers["cat /topics/t/id"], Shell("--snapshot", node.SnapshotPath, "cat /topics/t/id").Out);
        Assert.Equal(node.LiveAnswers["find /topics"], Shell("--snapshot", node.SnapshotPath, "find /topics").Out);
        Assert.Equal("true\n", Shell("--snapshot", node.SnapshotPath, "cat /brokers/1/isFenced").Out);
    }

    [Fact]
    public void Commands_paths_and_globs()
    {
        var snap = node.SnapshotPath;
        var ls = Shell("--snapshot", snap, "ls", "/");
        Assert.Equal(0, ls.Code);
        foreach (var dir in new[] { "brokers", "topics", "topicIds", "configs", "acls", "clientQuotas", "features", "metadataQuorum", "local" })
            Assert.Contains(dir + "\n", ls.Out, StringComparison.Ordinal);

        var longList = Shell("--snapshot", snap, "ls -l /brokers/1");
        Assert.Contains("- ", longList.Out, StringComparison.Ordinal);
        Assert.Contains(" registration\n", longList.Out, StringComparison.Ordinal);

        // Several commands on one line, relative paths, .., globs.
        var multi = Shell("--snapshot", snap, "cd /topics/t; pwd; cd 0; cat ../1/data; cd ..; ls");
        Assert.Equal(0, multi.Code);
        Assert.StartsWith("/topics/t\n", multi.Out, StringComparison.Ordinal);
        Assert.Contains("\"partitionId\": 1", multi.Out, StringComparison.Ordinal);
        Assert.EndsWith("0\n1\n2\nid\nname\n", multi.Out, StringComparison.Ordinal);

        var glob = Shell("--snapshot", snap, "cat /topics/t/*/data");
        Assert.Equal(3, glob.Out.Split('\n').Count(l => l.StartsWith("/topics/t/", StringComparison.Ordinal)));

        var features = Shell("--snapshot", snap, "cat /features/metadata.version");
        Assert.True(short.Parse(features.Out.Trim()) > 0);

        var local = Shell("--snapshot", snap, "cat /local/snapshot /local/source");
        Assert.Contains(Path.GetFileName(snap), local.Out, StringComparison.Ordinal);

        var missing = Shell("--snapshot", snap, "cat /brokers/99/registration");
        Assert.Equal(1, missing.Code);
        Assert.Contains("no such file", missing.Err, StringComparison.Ordinal);

        var unknown = Shell("--snapshot", snap, "frobnicate");
        Assert.Equal(1, unknown.Code);
        Assert.Contains("unknown command", unknown.Err, StringComparison.Ordinal);

        var help = Shell("--snapshot", snap, "help");
        foreach (var c in new[] { "ls", "cd", "pwd", "cat", "find", "tree", "history", "help", "exit" })
            Assert.Contains($"  {c}", help.Out, StringComparison.Ordinal);

        var tree = Shell("--snapshot", snap, "tree /brokers");
        Assert.Contains("└── 1", tree.Out, StringComparison.Ordinal);
        Assert.Contains("isFenced: true", tree.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Script_on_stdin_and_history()
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = MetadataShellCommand.Run(["--snapshot", node.SnapshotPath], o, e, new StringReader("cd brokers\nls\nhistory\nexit\nls /\n"));
        Assert.Equal(0, code);
        Assert.Equal("1\n    1  cd brokers\n    2  ls\n    3  history\n", o.ToString());
    }

    [Fact]
    public void Bad_sources_and_usage()
    {
        Assert.Equal(2, MetadataToolsNode.Cli("metadata-shell", "--", "ls").Code);
        Assert.Equal(2, MetadataToolsNode.Cli("metadata-shell", "--snapshot", node.SnapshotPath, "--directory", node.MetadataDir).Code);
        var missing = MetadataToolsNode.Cli("metadata-shell", "--snapshot", Path.Combine(node.ScratchDir, "00000000000000000001-0000000001.checkpoint"), "--", "ls");
        Assert.Equal(1, missing.Code);
        Assert.Contains("does not exist", missing.Err, StringComparison.Ordinal);

        // A corrupt snapshot: one byte flipped in the middle.
        var corruptDir = Path.Combine(node.ScratchDir, "corrupt-snapshot");
        Directory.CreateDirectory(corruptDir);
        var corrupt = Path.Combine(corruptDir, Path.GetFileName(node.SnapshotPath));
        var bytes = File.ReadAllBytes(node.SnapshotPath);
        bytes[bytes.Length / 2] ^= 0x5A;
        File.WriteAllBytes(corrupt, bytes);
        var bad = MetadataToolsNode.Cli("metadata-shell", "--snapshot", corrupt, "--", "ls");
        Assert.Equal(1, bad.Code);
        Assert.Contains("corrupt snapshot", bad.Err, StringComparison.Ordinal);

        // Nobody listens there.
        var port = ClusterDirectory.FreePorts(1)[0];
        var down = MetadataToolsNode.Cli("metadata-shell", "--bootstrap-controller", $"127.0.0.1:{port}", "--", "ls");
        Assert.Equal(1, down.Code);
        Assert.Contains("cannot connect", down.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Completion_candidates()
    {
        var session = new ShellSession(MetadataTree.Build(MetadataSources.LoadSnapshot(node.SnapshotPath), "test"));
        Assert.Equal(["tree"], session.Complete("tr").Candidates);
        Assert.Equal(["cat", "cd"], session.Complete("c").Candidates);
        Assert.Equal(["/topicIds/", "/topics/"], session.Complete("ls /top").Candidates);
        Assert.Equal(["/brokers/1/registration"], session.Complete("cat /brokers/1/reg").Candidates);
        session.Execute("cd /brokers", TextWriter.Null, TextWriter.Null);
        Assert.Equal(["1/"], session.Complete("ls 1").Candidates);
        Assert.Equal(["/topics/t/0/"], session.Complete("pwd; ls /topics/t/0").Candidates);
    }

    /// <summary>The interactive shell in a pseudo-terminal (python3's pty module): typing, Tab, history, line editing.</summary>
    [Fact]
    public async Task Interactive_shell_in_a_pseudo_terminal()
    {
        var (exitCode, raw, errors) = await PtyShell.RunAsync(node.ScratchDir, node.SnapshotPath, """
            send(b'cd brokers\r', b'/brokers >> ')
            send(b'ls\r', b'/brokers >> ')
            # Tab completes the path: 'cat 1/reg' + TAB -> 'cat 1/registration '
            send(b'cat 1/reg\t\r', b'/brokers >> ')
            # Line editing: type 'pwX', erase X, go left, go right, finish with 'd'.
            send(b'pwX\x7f\x1b[D\x1b[Cd\r', b'/brokers >> ')
            # History: up twice recalls 'cat 1/registration'; run it again.
            send(b'\x1b[A\x1b[A\r', b'/brokers >> ')
            # Tab completes a command.
            send(b'hist\t\r', b'/brokers >> ')
            """);
        // Terminal control sequences (the editor's redraws, .NET's keypad mode) removed; text and CR LF remain.
        string text = System.Text.RegularExpressions.Regex.Replace(raw, @"\x1b(\[[0-9;?]*[A-Za-z]|[=>])", "");
        output.WriteLine(text);
        output.WriteLine(errors);
        Assert.Equal(0, exitCode);
        Assert.Contains("Loaded snapshot", text, StringComparison.Ordinal);
        Assert.Contains("EXIT 0", text, StringComparison.Ordinal);
        // ls in /brokers listed broker 1.
        Assert.Contains("ls\r\n1\r\n", text, StringComparison.Ordinal);
        // The Tab completion was drawn, and cat printed the registration (twice: typed, then from the history).
        Assert.Contains("cat 1/registration ", text, StringComparison.Ordinal);
        Assert.Equal(2, CountOf(text, "\"brokerId\": 1"));
        // The edited line ran as pwd.
        Assert.Contains("\r\n/brokers\r\n", text, StringComparison.Ordinal);
        // 'hist' + Tab ran history: the lines typed, the history-recalled one included.
        Assert.Contains("5  cat 1/registration", text, StringComparison.Ordinal);
        Assert.Contains("4  pwd", text, StringComparison.Ordinal);
    }

    private static int CountOf(string text, string token)
    {
        int count = 0;
        for (int at = text.IndexOf(token, StringComparison.Ordinal); at >= 0; at = text.IndexOf(token, at + token.Length, StringComparison.Ordinal)) count++;
        return count;
    }
}
