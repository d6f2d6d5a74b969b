using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fjord.Cli.Admin;

/// <summary>
/// Output of the admin commands: human tables (columns padded to their widest cell, two spaces
/// apart, header first) or, with <c>--output json</c>, one JSON document on stdout. Progress and
/// errors go to stderr, so stdout stays parseable.
/// </summary>
internal static class AdminOutput
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Writes an aligned table; a table without rows is its header alone.</summary>
    public static void Table(TextWriter o, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string?>> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select(h => h.Length).ToArray();
        foreach (var row in all)
            for (int i = 0; i < widths.Length && i < row.Count; i++)
                widths[i] = Math.Max(widths[i], (row[i] ?? "").Length);
        o.WriteLine(Line(headers, widths));
        foreach (var row in all) o.WriteLine(Line(row, widths));
    }

    private static string Line(IReadOnlyList<string?> cells, int[] widths)
    {
        var parts = new string[widths.Length];
        for (int i = 0; i < widths.Length; i++)
        {
            string cell = i < cells.Count ? cells[i] ?? "" : "";
            parts[i] = i == widths.Length - 1 ? cell : cell.PadRight(widths[i]);
        }
        return string.Join("  ", parts).TrimEnd();
    }

    public static void Json(TextWriter o, JsonNode node) => o.WriteLine(node.ToJsonString(Indented));

    /// <summary>Validates <c>--output</c>: true for json, false for the default table.</summary>
    public static bool IsJson(AdminArgs args) => args.Get("--output") switch
    {
        null or "table" => false,
        "json" => true,
        var other => throw new UsageException($"--output: '{other}' is not table or json"),
    };
}

/// <summary>
/// Prints one line on stderr when a step takes longer than a second (<c>fjord topics: waiting for
/// …</c>), at most once per step, so a slow cluster is visibly being waited on.
/// </summary>
internal sealed class Progress : IDisposable
{
    private readonly TextWriter _err;
    private readonly string _command;
    private readonly Timer _timer;
    private readonly object _lock = new();
    private string? _step;
    private long _stepStarted;
    private bool _printed;

    public Progress(TextWriter err, string command)
    {
        _err = err;
        _command = command;
        _timer = new Timer(_ => Tick(), null, 250, 250);
    }

    /// <summary>Starts a new step (what is being waited for, e.g. "the broker to see topic t").</summary>
    public void Step(string what)
    {
        lock (_lock)
        {
            _step = what;
            _stepStarted = Environment.TickCount64;
            _printed = false;
        }
    }

    /// <summary>Nothing is being waited for (e.g. the command waits for its input): no progress line.</summary>
    public void Idle()
    {
        lock (_lock) _step = null;
    }

    private void Tick()
    {
        lock (_lock)
        {
            if (_step is null || _printed || Environment.TickCount64 - _stepStarted < 1000) return;
            _printed = true;
            _err.WriteLine($"fjord {_command}: {_step}…");
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        lock (_lock) _step = null;
    }
}
