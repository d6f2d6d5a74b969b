using System.Globalization;
using System.Text;

namespace Fjord.Cli.Admin;

/// <summary>
/// Java's <c>.properties</c> text format, as <c>java.util.Properties.load</c> reads it: natural
/// lines end at <c>\n</c>, <c>\r</c> or <c>\r\n</c>; leading blanks (space, tab, form feed) are
/// skipped; a line whose first non-blank character is <c>#</c> or <c>!</c> is a comment, and so is
/// a blank line; a line ending in an odd number of backslashes continues on the next line (whose
/// leading blanks are dropped; comment lines never continue). The key ends at the first unescaped
/// <c>=</c>, <c>:</c> or blank; blanks, then one <c>=</c> or <c>:</c>, then blanks separate it from
/// the value. Escapes in keys and values: <c>\t \n \r \f</c>, <c>\uXXXX</c>, and <c>\</c> before any
/// other character stands for that character. A later duplicate key replaces the earlier value.
/// <para>Differences: the text is read as UTF-8 (Java's <c>load(InputStream)</c> reads ISO-8859-1;
/// ASCII files and <c>\u</c> escapes read the same), and a malformed <c>\u</c> escape is a
/// <see cref="FormatException"/> naming the line (Java throws IllegalArgumentException).</para>
/// </summary>
public static class JavaProperties
{
    /// <summary>The entries of <paramref name="text"/> in file order (a duplicate key keeps its first position, last value), each with its first line number.</summary>
    public static List<(string Key, string Value, int Line)> Parse(string text)
    {
        var entries = new List<(string Key, string Value, int Line)>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        int pos = 0, lineNo = 0;
        while (pos < text.Length)
        {
            // One logical line: natural lines joined at continuations.
            lineNo++;
            int startLine = lineNo;
            pos = SkipBlanks(text, pos);
            if (pos >= text.Length) break;
            if (IsLineEnd(text[pos]))
            {
                pos = NextLine(text, pos);
                continue;
            }
            if (text[pos] is '#' or '!')
            {
                while (pos < text.Length && !IsLineEnd(text[pos])) pos++;
                pos = NextLine(text, pos);
                continue;
            }
            var logical = new StringBuilder();
            while (true)
            {
                int end = pos;
                while (end < text.Length && !IsLineEnd(text[end])) end++;
                int backslashes = 0;
                for (int i = end - 1; i >= pos && text[i] == '\\'; i--) backslashes++;
                bool continues = backslashes % 2 == 1;
                logical.Append(text, pos, continues ? end - pos - 1 : end - pos);
                pos = NextLine(text, end);
                if (!continues || pos >= text.Length) break;
                lineNo++;
                pos = SkipBlanks(text, pos);
            }
            var (key, value) = SplitEntry(logical.ToString(), startLine);
            if (index.TryGetValue(key, out int at)) entries[at] = (key, value, entries[at].Line);
            else
            {
                index[key] = entries.Count;
                entries.Add((key, value, startLine));
            }
        }
        return entries;
    }

    private static bool IsBlank(char c) => c is ' ' or '\t' or '\f';
    private static bool IsLineEnd(char c) => c is '\n' or '\r';

    private static int SkipBlanks(string text, int pos)
    {
        while (pos < text.Length && IsBlank(text[pos])) pos++;
        return pos;
    }

    /// <summary>The position after the line end at <paramref name="pos"/> (\r\n counts as one).</summary>
    private static int NextLine(string text, int pos)
    {
        if (pos >= text.Length) return pos;
        if (text[pos] == '\r' && pos + 1 < text.Length && text[pos + 1] == '\n') return pos + 2;
        return pos + 1;
    }

    private static (string Key, string Value) SplitEntry(string line, int lineNo)
    {
        int i = 0;
        while (i < line.Length)
        {
            char c = line[i];
            if (c == '\\') { i += 2; continue; }
            if (c is '=' or ':' || IsBlank(c)) break;
            i++;
        }
        int keyEnd = Math.Min(i, line.Length);
        int v = keyEnd;
        while (v < line.Length && IsBlank(line[v])) v++;
        if (v < line.Length && line[v] is '=' or ':')
        {
            v++;
            while (v < line.Length && IsBlank(line[v])) v++;
        }
        return (Unescape(line[..keyEnd], lineNo), Unescape(line[v..], lineNo));
    }

    private static string Unescape(string s, int lineNo)
    {
        if (!s.Contains('\\', StringComparison.Ordinal)) return s;
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c != '\\') { sb.Append(c); continue; }
            if (++i >= s.Length) break; // a lone trailing backslash (only at the end of the file) stands for nothing
            c = s[i];
            switch (c)
            {
                case 't': sb.Append('\t'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 'f': sb.Append('\f'); break;
                case 'u':
                    if (i + 4 >= s.Length || !ushort.TryParse(s.AsSpan(i + 1, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort code))
                        throw new FormatException($"line {lineNo}: malformed \\uxxxx escape");
                    sb.Append((char)code);
                    i += 4;
                    break;
                default: sb.Append(c); break;
            }
        }
        return sb.ToString();
    }
}

/// <summary>
/// <c>--command-config FILE</c>: Kafka's file of client settings for the admin commands and console
/// tools, in Java's properties format (<see cref="JavaProperties"/>). What Fjord's client honours:
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
        List<(string Key, string Value, int Line)> entries;
        try
        {
            entries = JavaProperties.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException($"{Flag} {path}: {e.Message}");
        }
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var warnings = new List<string>();
        foreach (var (key, value, line) in entries)
        {
            values[key] = value;
            string where = $"{Flag} {path}, line {line}";
            if (key.StartsWith("ssl.", StringComparison.Ordinal) || key.StartsWith("sasl.", StringComparison.Ordinal))
                throw new UsageException($"{where}: {key} is not supported: Fjord's brokers and tools speak PLAINTEXT only (no TLS, no SASL)");
            if (key == "security.protocol" && !string.Equals(value.Trim(), "PLAINTEXT", StringComparison.OrdinalIgnoreCase))
                throw new UsageException($"{where}: security.protocol={value} is not supported: only PLAINTEXT is (Fjord serves neither TLS nor SASL)");
            if (!Honoured.Contains(key)) warnings.Add($"warning: {where}: '{key}' is not a setting fjord's client uses; ignored");
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
