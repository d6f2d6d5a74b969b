using Fjord.Common;
using Fjord.Server;
using Fjord.Storage;

namespace Fjord.Cli;

/// <summary>
/// <c>fjord storage</c>: what <c>kafka-storage</c> does. <c>random-uuid</c> prints a new cluster id;
/// <c>format</c> prepares this node's log directories (<see cref="StorageFormatter"/>); <c>info</c>
/// shows each directory's <c>meta.properties</c> and runs the start-up check
/// (<see cref="StorageCheck"/>). Exit codes: 0 done, 1 failed (one line on stderr), 2 bad usage.
/// </summary>
internal static class StorageCommand
{
    private const string Usage = """
        usage: fjord storage <command> [options]

        commands:
          random-uuid                 print a new random cluster id (a Kafka Uuid)
          format --config FILE --cluster-id ID [options]
                                      format this node's log directories and metadata log directory
              -c, --config FILE           the server.properties of this node
              -t, --cluster-id ID         the cluster id (the same on every node; see random-uuid)
              -g, --ignore-formatted      skip directories that are already formatted instead of failing
              -r, --release-version V     initial metadata.version as a release (3.9) or exactly (3.9-IV0);
                                          default 4.0-IV0
              -f, --feature NAME=LEVEL    metadata.version=N or kraft.version=N (repeatable)
              -S, --add-scram CREDENTIAL  a SCRAM credential to bootstrap (repeatable), e.g.
                                          'SCRAM-SHA-256=[name=alice,password=alice-secret]'
              -s, --standalone            this controller is the only initial voter of a dynamic quorum
              -I, --initial-controllers V the initial voters of a dynamic quorum:
                                          id@host:port:directoryId,... (the same on every controller)
              -N, --no-initial-controllers
                                          join a dynamic quorum without being an initial voter
          info --config FILE [--output table|json]
                                      show each directory's meta.properties and check them as start-up does
        """;

    private sealed record Flag(string Long, string Short, bool TakesValue, bool Repeatable = false);

    private static readonly Flag ConfigFlag = new("--config", "-c", true);
    private static readonly Flag ClusterIdFlag = new("--cluster-id", "-t", true);
    private static readonly Flag IgnoreFormattedFlag = new("--ignore-formatted", "-g", false);
    private static readonly Flag ReleaseVersionFlag = new("--release-version", "-r", true);
    private static readonly Flag FeatureFlag = new("--feature", "-f", true, Repeatable: true);
    private static readonly Flag AddScramFlag = new("--add-scram", "-S", true, Repeatable: true);
    private static readonly Flag StandaloneFlag = new("--standalone", "-s", false);
    private static readonly Flag InitialControllersFlag = new("--initial-controllers", "-I", true);
    private static readonly Flag NoInitialControllersFlag = new("--no-initial-controllers", "-N", false);
    private static readonly Flag OutputFlag = new("--output", "-o", true);

    public static int Run(string[] args, TextWriter o, TextWriter e)
    {
        if (args.Length == 0) return UsageError(e, "a command is needed: random-uuid, format or info");
        if (args[0] is "-h" or "--help" or "help")
        {
            o.WriteLine(Usage);
            return 0;
        }
        var rest = args[1..];
        if (rest.Contains("--help") || rest.Contains("-h"))
        {
            o.WriteLine(Usage);
            return 0;
        }
        return args[0] switch
        {
            "random-uuid" => RandomUuid(rest, o, e),
            "format" => Format(rest, o, e),
            "info" => Info(rest, o, e),
            _ => UsageError(e, $"unknown storage command '{args[0]}'"),
        };
    }

    private static int RandomUuid(string[] args, TextWriter o, TextWriter e)
    {
        if (args.Length > 0) return UsageError(e, $"random-uuid takes no arguments (got '{args[0]}')");
        o.WriteLine(Uuid.NewRandom());
        return 0;
    }

    private static int Format(string[] args, TextWriter o, TextWriter e)
    {
        if (!TryParse(args, [ConfigFlag, ClusterIdFlag, IgnoreFormattedFlag, ReleaseVersionFlag, FeatureFlag, AddScramFlag,
                StandaloneFlag, InitialControllersFlag, NoInitialControllersFlag], out var flags, out var problem))
            return UsageError(e, problem);
        if (!flags.ContainsKey(ConfigFlag.Long)) return UsageError(e, "format needs --config FILE");
        if (!flags.ContainsKey(ClusterIdFlag.Long)) return UsageError(e, "format needs --cluster-id ID (make one with 'fjord storage random-uuid')");
        int quorumFlags = new[] { StandaloneFlag, InitialControllersFlag, NoInitialControllersFlag }.Count(f => flags.ContainsKey(f.Long));
        if (quorumFlags > 1)
            return UsageError(e, "--standalone, --initial-controllers and --no-initial-controllers are mutually exclusive");

        var options = new FormatOptions
        {
            ClusterId = flags[ClusterIdFlag.Long][0],
            IgnoreFormatted = flags.ContainsKey(IgnoreFormattedFlag.Long),
            ReleaseVersion = flags.GetValueOrDefault(ReleaseVersionFlag.Long)?[0],
            Features = flags.GetValueOrDefault(FeatureFlag.Long) ?? [],
            ScramArguments = flags.GetValueOrDefault(AddScramFlag.Long) ?? [],
            Standalone = flags.ContainsKey(StandaloneFlag.Long),
            InitialControllers = flags.GetValueOrDefault(InitialControllersFlag.Long)?[0],
            NoInitialControllers = flags.ContainsKey(NoInitialControllersFlag.Long),
        };
        return Guarded(e, () =>
        {
            var config = LoadConfig(flags[ConfigFlag.Long][0], e);
            new StorageFormatter(config, o).Format(options);
            return 0;
        });
    }

    private static int Info(string[] args, TextWriter o, TextWriter e)
    {
        if (!TryParse(args, [ConfigFlag, OutputFlag], out var flags, out var problem)) return UsageError(e, problem);
        if (!flags.ContainsKey(ConfigFlag.Long)) return UsageError(e, "info needs --config FILE");
        string output = flags.TryGetValue(OutputFlag.Long, out var o1) ? o1[0] : "table";
        if (output is not ("table" or "json")) return UsageError(e, "--output needs table or json");
        return Guarded(e, () =>
        {
            var config = LoadConfig(flags[ConfigFlag.Long][0], e);
            var states = StorageCheck.Inspect(config.AllLogDirs);
            if (output == "json")
            {
                // Every directory as an object; the start-up check's verdict as "ok" and "problem" (exit code 1 as for the table).
                string? failure = null;
                try { StorageCheck.Verify(config); }
                catch (Exception ex) when (ex is StorageCheckException or MetaPropertiesException or IOException) { failure = OneLine(ex.Message); }
                Admin.AdminOutput.Json(o, new System.Text.Json.Nodes.JsonObject
                {
                    ["directories"] = new System.Text.Json.Nodes.JsonArray([.. states.Select(state => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
                    {
                        ["path"] = state.Path, ["metadataLogDir"] = state.Path == config.MetadataLogDir, ["exists"] = state.Exists,
                        ["formatted"] = state.Meta is not null, ["error"] = state.Error,
                        ["meta"] = state.Meta is null ? null : new System.Text.Json.Nodes.JsonObject(
                            state.Meta.ToProperties().Select(kv => KeyValuePair.Create(kv.Key, (System.Text.Json.Nodes.JsonNode?)kv.Value))),
                    })]),
                    ["ok"] = failure is null, ["problem"] = failure,
                });
                if (failure is not null) e.WriteLine($"fjord: {failure}");
                return failure is null ? 0 : 1;
            }
            foreach (var state in states)
            {
                string what = state.Error ?? (state.Meta?.ToString() ?? (state.Exists ? "not formatted" : "not formatted (does not exist)"));
                string role = state.Path == config.MetadataLogDir ? " (metadata log dir)" : "";
                o.WriteLine($"{state.Path}{role}: {what}");
            }
            StorageCheck.Verify(config);
            return 0;
        });
    }

    private static ServerConfig LoadConfig(string path, TextWriter e)
    {
        var config = ServerConfig.Load(path);
        foreach (var warning in config.Warnings) e.WriteLine($"fjord: warning: {path}: {warning}");
        return config;
    }

    /// <summary>Runs <paramref name="action"/>, turning the failures an operator can fix into exit code 1 and one line.</summary>
    private static int Guarded(TextWriter e, Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception ex) when (ex is ConfigException or PropertiesFormatException or StorageFormatException or StorageCheckException
                                       or MetaPropertiesException or StorageException or IOException or UnauthorizedAccessException)
        {
            e.WriteLine($"fjord: {OneLine(ex.Message)}");
            return 1;
        }
    }

    private static string OneLine(string text) => text.Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static int UsageError(TextWriter e, string problem)
    {
        e.WriteLine($"fjord storage: {problem}. Run 'fjord storage --help' for usage.");
        return 2;
    }

    /// <summary>Parses <c>--flag value</c>, <c>--flag=value</c> and <c>-f value</c>; every value is a list (repeatable flags).</summary>
    private static bool TryParse(string[] args, Flag[] known, out Dictionary<string, List<string>> flags, out string problem)
    {
        flags = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        problem = "";
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string? inlineValue = null;
            int eq = arg.StartsWith("--", StringComparison.Ordinal) ? arg.IndexOf('=', StringComparison.Ordinal) : -1;
            if (eq > 0)
            {
                inlineValue = arg[(eq + 1)..];
                arg = arg[..eq];
            }
            var flag = known.FirstOrDefault(f => f.Long == arg || f.Short == arg);
            if (flag is null)
            {
                problem = arg.StartsWith('-') ? $"unknown option '{arg}'" : $"unexpected argument '{arg}'";
                return false;
            }
            string value = "";
            if (flag.TakesValue)
            {
                if (inlineValue is not null) value = inlineValue;
                else if (i + 1 < args.Length) value = args[++i];
                else { problem = $"{flag.Long} needs a value"; return false; }
            }
            else if (inlineValue is not null)
            {
                problem = $"{flag.Long} takes no value";
                return false;
            }
            if (flags.TryGetValue(flag.Long, out var values))
            {
                if (!flag.Repeatable) { problem = $"{flag.Long} is given more than once"; return false; }
                values.Add(value);
            }
            else
            {
                flags[flag.Long] = [value];
            }
        }
        return true;
    }
}
