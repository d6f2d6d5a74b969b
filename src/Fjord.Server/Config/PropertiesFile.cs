using System.Globalization;
using System.Text;

namespace Fjord.Server;

/// <summary>One <c>key=value</c> of a properties file, with the line its logical line starts on.</summary>
public sealed record PropertyEntry(string Key, string Value, int Line);

/// <summary>A properties file that does not parse; <see cref="Line"/> is 1-based.</summary>
public sealed class PropertiesFormatException(string? source, int line, string problem)
    : Exception($"{source ?? "properties"}:{line}: {problem}")
{
    public string? File { get; } = source;
    public int Line { get; } = line;
    public string Problem { get; } = problem;
}

/// <summary>
/// Java <c>.properties</c> text, read the way <c>java.util.Properties.load</c> reads it (which is
/// how Kafka reads <c>server.properties</c> and <c>meta.properties</c>): one entry per logical line,
/// <c>key=value</c>, <c>key: value</c> or <c>key value</c>; <c>#</c> and <c>!</c> start comment lines;
/// a line ending in an odd number of backslashes continues on the next one (whose leading blanks are
/// dropped); escapes <c>\t \n \r \f \\ \uXXXX</c>, and a backslash before any other character stands
/// for that character (<c>\=</c>, <c>\:</c>, <c>\ </c>, <c>\#</c>).
/// </summary>
/// <remarks>
/// Differences from Java, on purpose: the text is UTF-8 (Java's <c>load(InputStream)</c> reads
/// ISO-8859-1 — identical for the ASCII every real config uses); trailing blanks of a value are
/// trimmed unless escaped (Kafka trims every value anyway); an entry without a key and a malformed
/// <c>\u</c> escape are errors naming the line. Later duplicates of a key win, as in Java.
/// Immutable once parsed.
/// </remarks>
public sealed class PropertiesFile
{
    private PropertiesFile(string? source, IReadOnlyList<PropertyEntry> entries)
    {
        Source = source;
        Entries = entries;
    }

    /// <summary>Where the text came from (a path), for messages; null when parsed from a string.</summary>
    public string? Source { get; }

    /// <summary>Every entry in file order, duplicates included.</summary>
    public IReadOnlyList<PropertyEntry> Entries { get; }

    /// <summary>The entries as a map; a key given twice keeps its last value.</summary>
    public IReadOnlyDictionary<string, string> ToDictionary()
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in Entries) map[entry.Key] = entry.Value;
        return map;
    }

    /// <summary>The line of the entry that sets <paramref name="key"/> (the last one), or null.</summary>
    public int? LineOf(string key)
    {
        for (int i = Entries.Count - 1; i >= 0; i--)
            if (Entries[i].Key == key) return Entries[i].Line;
        return null;
    }

    /// <summary>Reads and parses a file. I/O errors propagate as <see cref="IOException"/> and friends.</summary>
    public static PropertiesFile Load(string path) => Parse(File.ReadAllText(path, Encoding.UTF8), path);

    public static PropertiesFile Parse(string text, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lines = SplitLines(text);
        var entries = new List<PropertyEntry>();
        for (int i = 0; i < lines.Count; i++)
        {
            string line = SkipLeadingBlanks(lines[i]);
            if (line.Length == 0 || line[0] is '#' or '!') continue;
            int firstLine = i + 1;
            var logical = new StringBuilder();
            while (true)
            {
                if (!EndsWithContinuation(line))
                {
                    logical.Append(line);
                    break;
                }
                logical.Append(line, 0, line.Length - 1);
                if (i + 1 >= lines.Count) break; // a continuation at the end of the file continues into nothing
                line = SkipLeadingBlanks(lines[++i]);
            }
            entries.Add(ParseEntry(logical.ToString(), source, firstLine));
        }
        return new PropertiesFile(source, entries);
    }

    /// <summary>
    /// Writes properties the way <c>Properties.store</c> does: a comment block (each line prefixed
    /// with <c>#</c>), then one escaped <c>key=value</c> per line, LF line ends.
    /// </summary>
    public static string Format(IEnumerable<KeyValuePair<string, string>> properties, IEnumerable<string>? commentLines = null)
    {
        var text = new StringBuilder();
        if (commentLines is not null)
            foreach (var comment in commentLines) text.Append('#').Append(comment).Append('\n');
        foreach (var (key, value) in properties)
            text.Append(Escape(key, isKey: true)).Append('=').Append(Escape(value, isKey: false)).Append('\n');
        return text.ToString();
    }

    /// <summary>Escapes a key or value so that <see cref="Parse"/> reads it back unchanged.</summary>
    public static string Escape(string text, bool isKey)
    {
        var escaped = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            switch (c)
            {
                case ' ':
                    if (i == 0 || isKey) escaped.Append('\\');
                    escaped.Append(' ');
                    break;
                case '\t': escaped.Append("\\t"); break;
                case '\n': escaped.Append("\\n"); break;
                case '\r': escaped.Append("\\r"); break;
                case '\f': escaped.Append("\\f"); break;
                case '\\' or '=' or ':' or '#' or '!':
                    escaped.Append('\\').Append(c);
                    break;
                default:
                    if (c < 0x20 || c > 0x7e)
                        escaped.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else
                        escaped.Append(c);
                    break;
            }
        }
        // A value's trailing blanks would be trimmed on reading: keep the last one escaped.
        if (!isKey && escaped.Length > 0 && escaped[^1] == ' ' && (escaped.Length < 2 || escaped[^2] != '\\'))
            escaped.Insert(escaped.Length - 1, '\\');
        return escaped.ToString();
    }

    private static List<string> SplitLines(string text)
    {
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] is not ('\n' or '\r')) continue;
            lines.Add(text[start..i]);
            if (text[i] == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
            start = i + 1;
        }
        if (start < text.Length) lines.Add(text[start..]);
        if (lines.Count > 0 && lines[0].Length > 0 && lines[0][0] == '\uFEFF') lines[0] = lines[0][1..];
        return lines;
    }

    private static bool IsBlank(char c) => c is ' ' or '\t' or '\f';

    private static string SkipLeadingBlanks(string line)
    {
        int i = 0;
        while (i < line.Length && IsBlank(line[i])) i++;
        return line[i..];
    }

    private static bool EndsWithContinuation(string line)
    {
        int backslashes = 0;
        for (int i = line.Length - 1; i >= 0 && line[i] == '\\'; i--) backslashes++;
        return backslashes % 2 == 1;
    }

    private static PropertyEntry ParseEntry(string logical, string? source, int line)
    {
        // The key runs to the first unescaped '=', ':' or blank.
        int keyEnd = 0;
        bool separatorSeen = false;
        while (keyEnd < logical.Length)
        {
            char c = logical[keyEnd];
            if (c == '\\') { keyEnd += 2; continue; }
            if (c is '=' or ':') { separatorSeen = true; break; }
            if (IsBlank(c)) break;
            keyEnd++;
        }
        keyEnd = Math.Min(keyEnd, logical.Length);
        int valueStart = keyEnd;
        if (separatorSeen)
        {
            valueStart++;
        }
        else
        {
            while (valueStart < logical.Length && IsBlank(logical[valueStart])) valueStart++;
            if (valueStart < logical.Length && logical[valueStart] is '=' or ':') valueStart++;
        }
        while (valueStart < logical.Length && IsBlank(logical[valueStart])) valueStart++;

        string key = Unescape(logical[..keyEnd], source, line, trimEnd: false);
        if (key.Length == 0)
            throw new PropertiesFormatException(source, line, $"'{logical}' has no key");
        string value = Unescape(logical[valueStart..], source, line, trimEnd: true);
        return new PropertyEntry(key, value, line);
    }

    private static string Unescape(string raw, string? source, int line, bool trimEnd)
    {
        var text = new StringBuilder(raw.Length);
        int keep = 0; // length up to the last character that is not an unescaped blank
        for (int i = 0; i < raw.Length; i++)
        {
            char c = raw[i];
            if (c != '\\')
            {
                text.Append(c);
                if (!IsBlank(c)) keep = text.Length;
                continue;
            }
            if (++i >= raw.Length) break; // a lone trailing backslash stands for nothing
            char e = raw[i];
            switch (e)
            {
                case 't': text.Append('\t'); break;
                case 'n': text.Append('\n'); break;
                case 'r': text.Append('\r'); break;
                case 'f': text.Append('\f'); break;
                case 'u':
                    if (raw.Length - (i + 1) < 4)
                        throw new PropertiesFormatException(source, line, $"malformed \\uXXXX escape in '{raw}'");
                    var hex = raw.AsSpan(i + 1, 4);
                    if (!ushort.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort code))
                        throw new PropertiesFormatException(source, line, $"malformed \\uXXXX escape '\\u{hex}' in '{raw}'");
                    text.Append((char)code);
                    i += 4;
                    break;
                default: text.Append(e); break;
            }
            keep = text.Length;
        }
        if (trimEnd) text.Length = keep;
        return text.ToString();
    }
}
