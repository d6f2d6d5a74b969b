using System.Globalization;

namespace Fjord.Cli.Admin;

/// <summary>Bad usage (unknown flag, missing value, conflicting actions): the command exits 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>The command was understood but failed (broker error, unreachable cluster, timeout): exit 1.</summary>
internal sealed class AdminException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Kafka-style flags: <c>--name value</c> or <c>--name=value</c> for the flags that take a value
/// (repeatable: every occurrence is kept, in order), <c>--name</c> for switches, and bare words where
/// a command takes sub-commands. Anything else is a <see cref="UsageException"/>.
/// </summary>
internal sealed class AdminArgs
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _switches = new(StringComparer.Ordinal);

    public List<string> Positionals { get; } = [];

    /// <summary>The settings of <c>--command-config FILE</c>, or null when it was not given.</summary>
    public CommandConfig? Config { get; private set; }

    /// <summary>
    /// Parses <paramref name="args"/>; <paramref name="valueFlags"/> take a value, <paramref name="switches"/> do not.
    /// Every command also takes <c>--command-config FILE</c> (Kafka's file of client settings): it is
    /// read here (a problem with it is a <see cref="UsageException"/>) and becomes <see cref="Config"/>
    /// (the admin client is connected with it), and its <c>bootstrap.servers</c> answers for a missing
    /// <c>--bootstrap-server</c>.
    /// </summary>
    public static AdminArgs Parse(string[] args, IEnumerable<string> valueFlags, IEnumerable<string> switches, bool allowPositionals = false)
    {
        var takesValue = new HashSet<string>(valueFlags, StringComparer.Ordinal) { CommandConfig.Flag };
        var isSwitch = new HashSet<string>(switches, StringComparer.Ordinal);
        var result = new AdminArgs();
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (!allowPositionals) throw new UsageException($"unexpected argument '{arg}'");
                result.Positionals.Add(arg);
                continue;
            }
            string? inline = null;
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0) (arg, inline) = (arg[..eq], arg[(eq + 1)..]);
            if (takesValue.Contains(arg))
            {
                string value = inline ?? (i + 1 < args.Length ? args[++i] : throw new UsageException($"{arg} needs a value"));
                if (!result._values.TryGetValue(arg, out var list)) result._values[arg] = list = [];
                list.Add(value);
            }
            else if (isSwitch.Contains(arg))
            {
                if (inline is not null) throw new UsageException($"{arg} takes no value");
                result._switches.Add(arg);
            }
            else
            {
                throw new UsageException($"unknown option '{arg}'");
            }
        }
        if (result.Get(CommandConfig.Flag) is { } path)
        {
            result.Config = CommandConfig.Load(path);
        }
        return result;
    }

    private const string BootstrapFlag = "--bootstrap-server";

    public bool Has(string flag) => _switches.Contains(flag) || _values.ContainsKey(flag) || (flag == BootstrapFlag && Config?.BootstrapServers is not null);

    /// <summary>The last value given for <paramref name="flag"/>, or null (<c>--bootstrap-server</c>: else the command config's <c>bootstrap.servers</c>).</summary>
    public string? Get(string flag) =>
        _values.TryGetValue(flag, out var list) ? list[^1]
        : flag == BootstrapFlag ? Config?.BootstrapServers
        : null;

    public IReadOnlyList<string> All(string flag) => _values.TryGetValue(flag, out var list) ? list : [];

    public string Required(string flag, string why) => Get(flag) ?? throw new UsageException($"{flag} is required {why}");

    public int? Int(string flag, int min = int.MinValue)
    {
        var text = Get(flag);
        if (text is null) return null;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) || value < min)
            throw new UsageException($"{flag}: '{text}' is not a whole number{(min > int.MinValue ? $" of at least {min}" : "")}");
        return value;
    }

    public long? Long(string flag)
    {
        var text = Get(flag);
        if (text is null) return null;
        return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value)
            ? value : throw new UsageException($"{flag}: '{text}' is not a whole number");
    }

    /// <summary>Exactly one of <paramref name="actions"/> must be given; returns it.</summary>
    public string OneAction(params string[] actions)
    {
        var given = actions.Where(Has).ToList();
        return given.Count switch
        {
            1 => given[0],
            0 => throw new UsageException($"one of {string.Join(", ", actions)} is required"),
            _ => throw new UsageException($"only one of {string.Join(", ", given)} may be given"),
        };
    }

    /// <summary>Flags that make sense only with some actions: refuses <paramref name="flags"/> when <paramref name="allowed"/> is false.</summary>
    public void Forbid(bool allowed, string action, params string[] flags)
    {
        if (allowed) return;
        foreach (var f in flags)
            if (Has(f)) throw new UsageException($"{f} cannot be used with {action}");
    }

    /// <summary>
    /// Parses <c>k=v,k2=v2</c> lists (each occurrence of the flag may hold several, separated by commas;
    /// a value in square brackets may itself hold commas: <c>k=[a,b]</c>).
    /// </summary>
    public static List<KeyValuePair<string, string>> KeyValues(IEnumerable<string> texts, string flag)
    {
        var result = new List<KeyValuePair<string, string>>();
        foreach (var text in texts)
        {
            foreach (var item in SplitTopLevel(text))
            {
                int eq = item.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0) throw new UsageException($"{flag}: '{item}' is not key=value");
                string value = item[(eq + 1)..];
                if (value.Length >= 2 && value[0] == '[' && value[^1] == ']') value = value[1..^1];
                result.Add(new(item[..eq].Trim(), value));
            }
        }
        return result;
    }

    /// <summary>Splits on commas outside square brackets, dropping empty items.</summary>
    public static List<string> SplitTopLevel(string text)
    {
        var items = new List<string>();
        int depth = 0, start = 0;
        for (int i = 0; i <= text.Length; i++)
        {
            if (i == text.Length || (text[i] == ',' && depth == 0))
            {
                var item = text[start..i].Trim();
                if (item.Length > 0) items.Add(item);
                start = i + 1;
            }
            else if (text[i] == '[') depth++;
            else if (text[i] == ']' && depth > 0) depth--;
        }
        return items;
    }
}
