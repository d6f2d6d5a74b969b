namespace Fjord.Cli.Admin;

/// <summary>What a running admin command has at hand: its flags, output writers, progress line, cancellation.</summary>
internal sealed class AdminContext(string command, AdminArgs args, TextWriter stdout, TextWriter stderr, Progress progress, CancellationToken ct) : IAsyncDisposable
{
    private AdminClient? _client;

    public string Command { get; } = command;
    public AdminArgs Args { get; } = args;
    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;
    public Progress Progress { get; } = progress;
    public CancellationToken Ct { get; } = ct;
    public bool Json { get; } = AdminOutput.IsJson(args);

    /// <summary>The cluster named by <c>--bootstrap-server</c> (connected on first use).</summary>
    public async Task<AdminClient> ClientAsync()
    {
        if (_client is not null) return _client;
        string bootstrap = Args.Required("--bootstrap-server", "(HOST:PORT of a broker)");
        Progress.Step($"connecting to {bootstrap}");
        _client = await AdminClient.ConnectAsync(bootstrap, $"fjord-{Command}", Args.Config, Ct).ConfigureAwait(false);
        return _client;
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null) await _client.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>
/// Runs an admin command: parses its flags (plus <c>--bootstrap-server</c>, <c>--output
/// table|json</c> and <c>--command-config FILE</c>, whose warnings go to stderr), prints the usage for <c>--help</c>, and maps failures to exit codes —
/// <see cref="UsageException"/> → 2 (message and a pointer to --help), <see cref="AdminException"/>
/// and other I/O failures → 1 with one line on stderr, success → what the command returns (0). Ctrl+C
/// cancels the command's token (a consumer then stops and exits 0).
/// </summary>
internal static class AdminRunner
{
    public static readonly string[] CommonValueFlags = ["--bootstrap-server", "--output", CommandConfig.Flag];

    public static int Run(string command, string usage, string[] args, TextWriter o, TextWriter e,
        IEnumerable<string> valueFlags, IEnumerable<string> switches, bool allowPositionals, Func<AdminContext, Task<int>> body)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            o.WriteLine(usage);
            return 0;
        }
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, ev) =>
        {
            ev.Cancel = true;
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var parsed = AdminArgs.Parse(args, CommonValueFlags.Concat(valueFlags), switches, allowPositionals);
            foreach (var warning in parsed.Config?.TakeWarnings() ?? []) e.WriteLine($"fjord {command}: {warning}");
            using var progress = new Progress(e, command);
            var context = new AdminContext(command, parsed, o, e, progress, cts.Token);
            try
            {
                return body(context).GetAwaiter().GetResult();
            }
            finally
            {
                context.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        catch (UsageException ex)
        {
            e.WriteLine($"fjord {command}: {OneLine(ex.Message)}");
            e.WriteLine($"Run 'fjord {command} --help' for usage.");
            return 2;
        }
        catch (Exception ex) when (ex is AdminException or Fjord.Protocol.ProtocolEncodeException or Fjord.Protocol.ProtocolDecodeException or IOException or TimeoutException or FormatException or ArgumentException or NotSupportedException)
        {
            e.WriteLine($"fjord {command}: {OneLine(ex.Message)}");
            return 1;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            e.WriteLine($"fjord {command}: interrupted");
            return 1;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static string OneLine(string text) => text.Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
