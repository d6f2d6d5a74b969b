using System.Globalization;
using System.Text;
using Fjord.Server;

namespace Fjord.Cli.Admin;

/// <summary>
/// <c>--command-config FILE</c>: Kafka's file of client settings for the admin commands and console
/// tools, in Java's properties format (read by <see cref="PropertiesFile"/>, as server.properties is). What Fjord's client honours:
/// <list type="bullet">
/// <item><c>bootstrap.servers</c>: used when <c>--bootstrap-server</c> is not given (the flag wins).</item>
/// <item><c>client.id</c>: the client id of every request (default <c>fjord-COMMAND</c>).</item>
/// <item><c>request.timeout.ms</c>: bounds each request (default 30000), including the ApiVersions
///   exchange that opens a connection.</item>
/// <item><c>socket.connection.setup.timeout.ms</c>: bounds opening a TCP connection (default 10000).</item>
/// <item><c>security.protocol</c>: only PLAINTEXT (the brokers serve neither TLS nor SASL).</item>
/// <item>console-consumer only: <c>group.id</c> (as <c>--group</c>), <c>auto.offset.reset</c>
///   (earliest|latest), <c>auto.commit.interval.ms</c>, <c>isolation.level</c>.</item>
/// </list>
/// Any <c>ssl.*</c> or <c>sasl.*</c> key, or another security protocol, is refused (a
/// <see cref="UsageException"/>, exit 2) rather than silently connecting in plain text. Other keys
/// are kept, and each is named once in a warning on stderr. An unreadable file, a malformed escape
/// or a bad number: a <see cref="UsageException"/> naming the file and line.
/// </summary>
internal sealed class CommandConfig
{
    public const string Flag = "--command-config";


    private static readonly HashSet<string> Honoured =
        ["bootstrap.servers", "client.id", "request.timeout.ms", "socket.connection.setup.timeout.ms", "security.protocol",
         "group.id", "auto.offset.reset", "auto.commit.interval.ms", "isolation.level"];

    private readonly Dictionary<string, string> _values;
    private List<string>? _warnings;

    private CommandConfig(string path, Dictionary<string, string> values, List<string> warnings)
    {
        Path = path;
        _values = values;
        _warnings = warnings;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, string> Values => _values;

    public string? BootstrapServers => Get("bootstrap.servers");
    public string? ClientId => Get("client.id");
    public TimeSpan? RequestTimeout { get; private init; }
    public TimeSpan? ConnectTimeout { get; private init; }
    public int? AutoCommitIntervalMs { get; private init; }

    public string? Get(string key) => _values.TryGetValue(key, out var v) ? v : null;

    /// <summary>The warnings not yet printed (unknown keys); each is handed out once.</summary>
    public IReadOnlyList<string> TakeWarnings() => Interlocked.Exchange(ref _warnings, null) ?? [];

    /// <summary>Reads and checks <paramref name="path"/>; every problem is a <see cref="UsageException"/>.</summary>
    public static CommandConfig Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageException($"{Flag} {path}: cannot read it: {e.Message}");
        }
        return FromText(path, text);
    }

    /// <summary>Parses and checks <paramref name="text"/> (the contents of <paramref name="path"/>).</summary>
    public static CommandConfig FromText(string path, string text)
    {
        PropertiesFile file;
        try
        {
            file = PropertiesFile.Parse(text, path);
        }
        catch (PropertiesFormatException e)
        {
            throw new UsageException($"{Flag} {e.Message}");
        }
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var warnings = new List<string>();
        foreach (var (key, value, line) in file.Entries)
        {
            bool repeated = !values.TryAdd(key, value);
            if (repeated) values[key] = value;
            string where = $"{Flag} {path}, line {line}";
            if (key.StartsWith("ssl.", StringComparison.Ordinal) || key.StartsWith("sasl.", StringComparison.Ordinal))
                throw new UsageException($"{where}: {key} is not supported: Fjord's brokers and tools speak PLAINTEXT only (no TLS, no SASL)");
            if (key == "security.protocol" && !string.Equals(value.Trim(), "PLAINTEXT", StringComparison.OrdinalIgnoreCase))
                throw new UsageException($"{where}: security.protocol={value} is not supported: only PLAINTEXT is (Fjord serves neither TLS nor SASL)");
            if (!Honoured.Contains(key) && !repeated) warnings.Add($"warning: {where}: '{key}' is not a setting fjord's client uses; ignored");
        }
        int? Ms(string key, int min)
        {
            if (!values.TryGetValue(key, out var text)) return null;
            if (!int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int ms) || ms < min)
                throw new UsageException($"{Flag} {path}: {key}={text} is not a whole number of milliseconds of at least {min}");
            return ms;
        }
        if (values.TryGetValue("auto.offset.reset", out var reset) && reset.Trim() is not ("earliest" or "latest"))
            throw new UsageException($"{Flag} {path}: auto.offset.reset={reset} is not supported (earliest or latest)");
        if (values.TryGetValue("isolation.level", out var iso) && iso.Trim() is not ("read_committed" or "read_uncommitted"))
            throw new UsageException($"{Flag} {path}: isolation.level={iso} is not read_committed or read_uncommitted");
        if (values.TryGetValue("bootstrap.servers", out var bs) && string.IsNullOrWhiteSpace(bs))
            throw new UsageException($"{Flag} {path}: bootstrap.servers is empty");
        int? request = Ms("request.timeout.ms", 1);
        int? connect = Ms("socket.connection.setup.timeout.ms", 1);
        int? commit = Ms("auto.commit.interval.ms", 0);
        return new CommandConfig(path, values, warnings)
        {
            RequestTimeout = request is { } r ? TimeSpan.FromMilliseconds(r) : null,
            ConnectTimeout = connect is { } c ? TimeSpan.FromMilliseconds(c) : null,
            AutoCommitIntervalMs = commit,
        };
    }
}
