using System.Reflection;
using Fjord.Server;

namespace Fjord.Cli.Shell;

/// <summary>
/// <c>fjord metadata-shell</c>: what Kafka's <c>kafka-metadata-shell</c> does. Loads the cluster
/// metadata (<see cref="MetadataSources"/>: a snapshot file, a metadata log directory, or a live
/// quorum read as a Raft observer, at controllers named directly or by a broker's DescribeQuorum answer) into a virtual file system (<see cref="MetadataTree"/>) and runs
/// shell commands over it (<see cref="ShellSession"/>): one-shot when a command follows the options
/// (<c>-- ls /brokers</c>), line by line when stdin is not a terminal, else interactively with line
/// editing, history and tab completion (<see cref="LineEditor"/>).
/// Exit codes: 0 done, 1 the metadata could not be loaded or a command failed, 2 bad usage.
/// </summary>
public static class MetadataShellCommand
{
    private const string Usage = """
        usage: fjord metadata-shell (--snapshot FILE | --directory DIR | --bootstrap-controller HOST:PORT[,...] |
                                   --bootstrap-server HOST:PORT[,...]) [--] [COMMAND...]

        Browses the cluster metadata as a file system, as kafka-metadata-shell does.
          -s, --snapshot FILE                 a snapshot file (<end offset>-<epoch>.checkpoint)
          -d, --directory DIR                 a metadata log directory (__cluster_metadata-0): its newest snapshot
                                              and every log batch after it
          --bootstrap-controller HOST:PORT    a live quorum: the leader's log up to its high watermark, read as a
                                              Raft observer (Fetch / FetchSnapshot on the controller listener)
          --bootstrap-server HOST:PORT        a live quorum found through a broker: its DescribeQuorum (v2+) answer names
                                              the controllers' endpoints, which are then read as above
        With a COMMAND (e.g. -- ls /brokers; several separated by ';') it runs that and exits; without one it
        reads commands from stdin, interactively in a terminal (Tab completes, up/down browse the history).

        commands: ls [-l], cd, pwd, cat, find, tree, history, help, exit
        layout:   /brokers/<id>/{registration,isFenced,inControlledShutdown}  /controllers/<id>/registration
                  /topics/<name>/{id,name,<partition>/data}  /topicIds/<id>/name  /configs/<type>/<name>/<key>
                  /acls/byId/<id>  /clientQuotas/<entity>/<key>  /features/<name>  /producerIds  /scram
                  /delegationTokens  /metadataQuorum/{leader,offset,epoch,highWatermark}
                  /local/{source,offset,epoch,snapshot,batches,version}
        """;

    public static int Run(string[] args, TextWriter o, TextWriter e) =>
        Run(args, o, e, Console.IsInputRedirected ? Console.In : null);

    /// <summary>As <see cref="Run(string[], TextWriter, TextWriter)"/>; <paramref name="input"/> (when not null) is
    /// read line by line instead of the terminal when no command is given.</summary>
    public static int Run(string[] args, TextWriter o, TextWriter e, TextReader? input)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(e);
        string? snapshot = null, directory = null, bootstrap = null, brokers = null;
        var command = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                command.AddRange(args[(i + 1)..]);
                break;
            }
            string? inline = null;
            int eq = arg.StartsWith("--", StringComparison.Ordinal) ? arg.IndexOf('=', StringComparison.Ordinal) : -1;
            if (eq > 0) (arg, inline) = (arg[..eq], arg[(eq + 1)..]);
            switch (arg)
            {
                case "-h" or "--help":
                    o.WriteLine(Usage);
                    return 0;
                case "-s" or "--snapshot":
                    if (!Value(ref i, out snapshot)) return UsageError(e, "--snapshot needs a FILE");
                    break;
                case "-d" or "--directory":
                    if (!Value(ref i, out directory)) return UsageError(e, "--directory needs a DIR");
                    break;
                case "--bootstrap-controller":
                    if (!Value(ref i, out bootstrap)) return UsageError(e, "--bootstrap-controller needs HOST:PORT[,HOST:PORT...]");
                    break;
                case "--bootstrap-server":
                    if (!Value(ref i, out brokers)) return UsageError(e, "--bootstrap-server needs HOST:PORT[,HOST:PORT...]");
                    break;
                default:
                    if (arg.StartsWith('-') && command.Count == 0) return UsageError(e, $"unknown option '{arg}'");
                    command.AddRange(args[i..]);
                    i = args.Length;
                    break;
            }

            bool Value(ref int index, out string? value)
            {
                value = inline ?? (index + 1 < args.Length ? args[++index] : null);
                return !string.IsNullOrEmpty(value);
            }
        }
        int sources = (snapshot is null ? 0 : 1) + (directory is null ? 0 : 1) + (bootstrap is null ? 0 : 1) + (brokers is null ? 0 : 1);
        if (sources == 0) return UsageError(e, "one of --snapshot FILE, --directory DIR, --bootstrap-controller HOST:PORT or --bootstrap-server HOST:PORT is required");
        if (sources > 1) return UsageError(e, "--snapshot, --directory, --bootstrap-controller and --bootstrap-server exclude each other");
        var addresses = new List<HostPort>();
        if ((bootstrap ?? brokers) is { } list)
        {
            string flag = bootstrap is not null ? "--bootstrap-controller" : "--bootstrap-server";
            foreach (var text in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!HostPort.TryParse(text, out var address, out var problem))
                    return UsageError(e, $"{flag}: '{text}' is not HOST:PORT ({problem})");
                addresses.Add(address);
            }
            if (addresses.Count == 0) return UsageError(e, $"{flag} needs at least one HOST:PORT");
        }

        LoadedMetadata loaded;
        try
        {
            loaded = snapshot is not null ? MetadataSources.LoadSnapshot(snapshot)
                : directory is not null ? MetadataSources.LoadDirectory(directory)
                : bootstrap is not null ? MetadataSources.LoadQuorumAsync(addresses, CancellationToken.None).GetAwaiter().GetResult()
                : MetadataSources.LoadQuorumViaBrokerAsync(addresses, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is MetadataLoadException or KafkaClientException or IOException or UnauthorizedAccessException)
        {
            e.WriteLine($"fjord: {OneLine(ex.Message)}");
            return 1;
        }

        var session = new ShellSession(MetadataTree.Build(loaded, Version()));
        if (command.Count > 0)
        {
            // One argument is a whole line (it may hold ';' and quotes); several are words, re-quoted when they hold blanks.
            string line = command.Count == 1 ? command[0] : string.Join(' ', command.Select(Quote));
            return session.Execute(line, o, e) == ShellSession.Outcome.Failed ? 1 : 0;
        }
        if (input is not null) return RunScript(session, input, o, e);
        return RunInteractive(session, loaded, o, e);
    }

    /// <summary>Commands read line by line (stdin not a terminal): no prompt; exit 1 when any failed.</summary>
    private static int RunScript(ShellSession session, TextReader input, TextWriter o, TextWriter e)
    {
        bool failed = false;
        while (input.ReadLine() is { } line)
        {
            var outcome = session.Execute(line, o, e);
            if (outcome == ShellSession.Outcome.Exit) break;
            failed |= outcome == ShellSession.Outcome.Failed;
        }
        return failed ? 1 : 0;
    }

    private static int RunInteractive(ShellSession session, LoadedMetadata loaded, TextWriter o, TextWriter e)
    {
        var image = loaded.Image;
        o.WriteLine($"Loaded {loaded.Source}: up to offset {loaded.LastOffset} (epoch {loaded.LastEpoch}), {image.Cluster.Brokers.Count} brokers, {image.Topics.TopicsById.Count} topics.");
        o.WriteLine("Type help for the commands, exit or Ctrl-D to leave; Tab completes.");
        bool restore = false;
        try
        {
            try
            {
                Console.TreatControlCAsInput = true;
                restore = true;
            }
            catch (IOException)
            {
                // Not a terminal after all: Ctrl-C then ends the process, which is fine.
            }
            var editor = new LineEditor(ReadKey, o, session, WindowWidth);
            while (editor.ReadLine($"{session.WorkingDirectory} >> ") is { } line)
                if (session.Execute(line, o, e) == ShellSession.Outcome.Exit) break;
            return 0;
        }
        finally
        {
            if (restore) Console.TreatControlCAsInput = false;
        }

        // The terminal's width, read at every draw (a resized terminal is followed); 0 when unknown: no wrapping.
        static int WindowWidth()
        {
            try
            {
                return Console.WindowWidth;
            }
            catch (Exception ex) when (ex is IOException or PlatformNotSupportedException or InvalidOperationException or ArgumentOutOfRangeException)
            {
                return 0;
            }
        }

        static ConsoleKeyInfo? ReadKey()
        {
            try
            {
                return Console.ReadKey(intercept: true);
            }
            catch (InvalidOperationException)
            {
                return null; // stdin closed or not a terminal
            }
        }
    }

    private static string Quote(string word) =>
        word.Length > 0 && !word.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"') ? word
        : word.Contains('\'', StringComparison.Ordinal) ? $"\"{word}\"" : $"'{word}'";

    private static string Version() =>
        typeof(MetadataShellCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    private static string OneLine(string text) => text.Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static int UsageError(TextWriter e, string problem)
    {
        e.WriteLine($"fjord metadata-shell: {problem}. Run 'fjord metadata-shell --help' for usage.");
        return 2;
    }
}
