using Fjord.Cli;
using Fjord.Common;
using Fjord.Protocol.Metadata;

namespace Fjord.Server.Tests;

/// <summary><c>fjord storage …</c> end to end through <see cref="CommandLine.Run"/>, each test in its own directory.</summary>
public sealed class StorageCommandTests : IDisposable
{
    private const string ClusterId = "MX1HbXq8TFymY2SYR1hGYg";
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private sealed record Outcome(int ExitCode, string Out, string Err)
    {
        public string[] OutLines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
    }

    private static Outcome Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = CommandLine.Run(args, o, e);
        return new Outcome(code, o.ToString(), e.ToString());
    }

    private string CombinedConfig(string? extra = null) => _tmp.WriteFile("server.properties", $"""
        process.roles=broker,controller
        node.id=1
        controller.quorum.voters=1@localhost:9093
        listeners=PLAINTEXT://:9092,CONTROLLER://:9093
        advertised.listeners=PLAINTEXT://localhost:9092
        controller.listener.names=CONTROLLER
        log.dirs={_tmp.Sub("a")},{_tmp.Sub("b")}
        metadata.log.dir={_tmp.Sub("meta")}
        {extra}
        """);

    private string ControllerConfig() => _tmp.WriteFile("controller.properties", $"""
        process.roles=controller
        node.id=3
        controller.quorum.bootstrap.servers=localhost:9093
        listeners=CONTROLLER://:9093
        controller.listener.names=CONTROLLER
        log.dirs={_tmp.Sub("ctl")}
        """);

    [Fact]
    public void Random_uuid_prints_a_new_Kafka_uuid()
    {
        var first = Run("storage", "random-uuid");
        var second = Run("storage", "random-uuid");
        Assert.Equal(0, first.ExitCode);
        Assert.Empty(first.Err);
        var line = Assert.Single(first.OutLines);
        Assert.Equal(22, line.Length);
        Assert.True(Uuid.TryParse(line, out var id) && !id.IsZero);
        Assert.False(line.StartsWith('-'));
        Assert.NotEqual(line, second.OutLines[0]);
    }

    [Fact]
    public void Format_then_info_then_format_again()
    {
        var config = CombinedConfig();
        var format = Run("storage", "format", "--config", config, "--cluster-id", ClusterId);
        Assert.Equal(0, format.ExitCode);
        Assert.Empty(format.Err);
        Assert.Equal(new[] { "a", "b", "meta" }.Select(d => $"Formatting {_tmp.Sub(d)} with metadata.version 4.0-IV0."), format.OutLines);

        var info = Run("storage", "info", "--config", config);
        Assert.Equal(0, info.ExitCode);
        Assert.Empty(info.Err);
        Assert.Equal(3, info.OutLines.Length);
        Assert.All(info.OutLines, l => Assert.Contains($"cluster.id={ClusterId}", l));
        Assert.All(info.OutLines, l => Assert.Contains("node.id=1", l));
        Assert.Contains(info.OutLines, l => l.StartsWith($"{_tmp.Sub("meta")} (metadata log dir): ", StringComparison.Ordinal));
        var json = Run("storage", "info", "--config", config, "--output", "json");
        Assert.Equal(0, json.ExitCode);
        var root = System.Text.Json.JsonDocument.Parse(string.Join('\n', json.OutLines)).RootElement;
        Assert.True(root.GetProperty("ok").GetBoolean());
        var dirs = root.GetProperty("directories").EnumerateArray().ToList();
        Assert.Equal(3, dirs.Count);
        Assert.All(dirs, d => Assert.Equal(ClusterId, d.GetProperty("meta").GetProperty("cluster.id").GetString()));
        Assert.Single(dirs, d => d.GetProperty("metadataLogDir").GetBoolean() && d.GetProperty("path").GetString() == _tmp.Sub("meta"));

        var again = Run("storage", "format", "-c", config, "-t", ClusterId);
        Assert.Equal(1, again.ExitCode);
        Assert.Equal($"fjord: Log directory {_tmp.Sub("a")} is already formatted. Use --ignore-formatted to ignore this directory and format the others.", Assert.Single(again.ErrLines));

        var ignored = Run("storage", "format", "--config", config, "--cluster-id", ClusterId, "--ignore-formatted");
        Assert.Equal(0, ignored.ExitCode);
        Assert.Equal(["All of the log directories are already formatted."], ignored.OutLines);
    }

    [Fact]
    public void Info_reports_unformatted_directories_and_fails()
    {
        var config = CombinedConfig();
        Directory.CreateDirectory(_tmp.Sub("a"));
        var info = Run("storage", "info", "--config", config);
        Assert.Equal(1, info.ExitCode);
        Assert.Contains($"{_tmp.Sub("a")}: not formatted", info.OutLines);
        Assert.Contains($"{_tmp.Sub("b")}: not formatted (does not exist)", info.OutLines);
        var error = Assert.Single(info.ErrLines);
        Assert.StartsWith("fjord: 3 storage problems: ", error);
        Assert.Contains($"fjord storage format --config {config} --cluster-id <id>", error);

        var json = Run("storage", "info", "--config", config, "--output", "json");
        Assert.Equal(1, json.ExitCode);
        var root = System.Text.Json.JsonDocument.Parse(string.Join('\n', json.OutLines)).RootElement;
        Assert.False(root.GetProperty("ok").GetBoolean());
        Assert.StartsWith("3 storage problems: ", root.GetProperty("problem").GetString());
        Assert.All(root.GetProperty("directories").EnumerateArray(), d => Assert.False(d.GetProperty("formatted").GetBoolean()));
        Assert.Equal(2, Run("storage", "info", "--config", config, "--output", "yaml").ExitCode);
    }

    [Fact]
    public void Format_with_release_version_scram_and_feature()
    {
        var config = CombinedConfig();
        var format = Run("storage", "format", "--config", config, "--cluster-id", ClusterId, "--release-version", "3.9",
            "--add-scram", "SCRAM-SHA-256=[name=alice,password=alice-secret]", "-S", "SCRAM-SHA-512=[name=bob,password=b]");
        Assert.Equal(0, format.ExitCode);
        Assert.All(format.OutLines, l => Assert.EndsWith("with metadata.version 3.9-IV0.", l));
        var records = BootstrapMetadataFile.Read(BootstrapMetadataFile.PathIn(_tmp.Sub("meta")));
        Assert.Equal(21, Assert.IsType<FeatureLevelRecord>(records[0].Message).FeatureLevel);
        Assert.Equal(["alice", "bob"], records.Skip(1).Select(r => ((UserScramCredentialRecord)r.Message).Name));

        var feature = Run("storage", "format", "--config=" + CombinedConfig().Replace("server.properties", "server.properties"),
            "--cluster-id=" + ClusterId, "--feature=metadata.version=15", "--ignore-formatted");
        Assert.Equal(0, feature.ExitCode);
    }

    [Fact]
    public void Format_standalone_writes_the_voters_snapshot()
    {
        var config = ControllerConfig();
        var format = Run("storage", "format", "--config", config, "--cluster-id", ClusterId, "--standalone");
        Assert.Equal(0, format.ExitCode);
        Assert.Empty(format.Err);
        Assert.True(File.Exists(Path.Combine(_tmp.Sub("ctl"), "__cluster_metadata-0", "00000000000000000000-0000000000.checkpoint")));
        Assert.Equal(0, Run("storage", "info", "--config", config).ExitCode);
    }

    [Fact]
    public void Format_refusals_exit_1_with_one_line()
    {
        var controller = ControllerConfig();
        var noQuorumFlag = Run("storage", "format", "--config", controller, "--cluster-id", ClusterId);
        Assert.Equal(1, noQuorumFlag.ExitCode);
        Assert.Contains("--standalone, --initial-controllers, or --no-initial-controllers", Assert.Single(noQuorumFlag.ErrLines));

        var badCluster = Run("storage", "format", "--config", controller, "--cluster-id", "nope", "--standalone");
        Assert.Equal(1, badCluster.ExitCode);
        Assert.Contains("does not appear to be a valid UUID", Assert.Single(badCluster.ErrLines));

        var unstable = Run("storage", "format", "--config", CombinedConfig(), "--cluster-id", ClusterId, "--feature", "metadata.version=24");
        Assert.Equal(1, unstable.ExitCode);
        Assert.Contains("not yet stable", Assert.Single(unstable.ErrLines));
        Assert.False(Directory.Exists(_tmp.Sub("a")));
    }

    [Fact]
    public void Config_problems_exit_1_naming_the_key()
    {
        var config = CombinedConfig("num.partitions=zero");
        var result = Run("storage", "format", "--config", config, "--cluster-id", ClusterId);
        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.ErrLines);
        Assert.Contains("num.partitions", line);
        Assert.Contains("zero", line);

        var missing = Run("storage", "info", "--config", _tmp.Sub("absent.properties"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("absent.properties", Assert.Single(missing.ErrLines));

        var badSyntax = _tmp.WriteFile("bad.properties", "node.id=1\nx=\\uZZZZ\n");
        var syntax = Run("storage", "info", "--config", badSyntax);
        Assert.Equal(1, syntax.ExitCode);
        Assert.Contains("bad.properties:2:", Assert.Single(syntax.ErrLines));
    }

    [Fact]
    public void Unknown_config_keys_are_warned_about_but_do_not_fail()
    {
        var config = CombinedConfig("some.unknown.key=1");
        var result = Run("storage", "format", "--config", config, "--cluster-id", ClusterId);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("'some.unknown.key'", Assert.Single(result.ErrLines));
        Assert.StartsWith("fjord: warning:", result.ErrLines[0]);
    }

    [Theory]
    [InlineData("storage")]
    [InlineData("storage defrag")]
    [InlineData("storage random-uuid extra")]
    [InlineData("storage format --cluster-id MX1HbXq8TFymY2SYR1hGYg")]
    [InlineData("storage format --config x.properties")]
    [InlineData("storage format --config x --cluster-id MX1HbXq8TFymY2SYR1hGYg --bogus")]
    [InlineData("storage format --config x --cluster-id")]
    [InlineData("storage format --config x --cluster-id MX1HbXq8TFymY2SYR1hGYg --standalone --no-initial-controllers")]
    [InlineData("storage format --config x --cluster-id MX1HbXq8TFymY2SYR1hGYg --standalone=yes")]
    [InlineData("storage format --config x --config y --cluster-id MX1HbXq8TFymY2SYR1hGYg")]
    [InlineData("storage info")]
    [InlineData("storage info --config x stray")]
    public void Usage_errors_exit_2(string commandLine)
    {
        var result = Run(commandLine.Split(' '));
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("fjord storage:", Assert.Single(result.ErrLines));
        Assert.Empty(result.Out);
    }

    [Fact]
    public void Help_is_printed_on_request()
    {
        var help = Run("storage", "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("--initial-controllers", help.Out);
        var formatHelp = Run("storage", "format", "--help");
        Assert.Equal(0, formatHelp.ExitCode);
        Assert.Contains("--add-scram", formatHelp.Out);
        var top = Run("--help");
        Assert.Contains("storage", top.Out);
    }
}
