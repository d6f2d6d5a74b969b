using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Fjord.Clients.Tests;

/// <summary>The result of one client run: exit code and everything it printed.</summary>
public sealed record ClientRun(string Command, int Code, string Out, string Err)
{
    public override string ToString() => $"$ {Command}\nexit {Code}\n--- stdout ---\n{Tail(Out)}\n--- stderr ---\n{Tail(Err)}";

    private static string Tail(string s) => s.Length <= 6000 ? s : $"... ({s.Length - 6000} chars) ...{s[^6000..]}";

    /// <summary>The non-empty stdout lines.</summary>
    public IReadOnlyList<string> Lines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>
/// Runs the real clients of this machine: <c>kcat</c> and Debian's <c>/usr/bin/python3</c> (the
/// interpreter that sees <c>python3-kafka</c> and <c>python3-confluent-kafka</c>; the <c>python3</c>
/// first on PATH does not). Every run is bounded: a client still running at its bound is killed (by its
/// own process object) and the run fails with its output.
/// </summary>
public static class ExternalClient
{
    public const string Kcat = "/usr/bin/kcat";
    public const string Python = "/usr/bin/python3";

    public static readonly TimeSpan DefaultBound = TimeSpan.FromSeconds(25);

    public static async Task<ClientRun> RunAsync(string file, IEnumerable<string> args, byte[]? stdin = null, TimeSpan? bound = null)
    {
        if (!File.Exists(file)) throw new InvalidOperationException($"{file} is not installed (see docs/TESTING.md: apt-get install -y kcat python3-kafka python3-confluent-kafka)");
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        var command = $"{file} {string.Join(' ', info.ArgumentList.Select(a => a.Contains(' ') ? $"'{a}'" : a))}";
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            if (stdin is not null) await process.StandardInput.BaseStream.WriteAsync(stdin);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // the client exited without reading all of its input: its output says why
        }
        var limit = bound ?? DefaultBound;
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"client did not finish within {limit.TotalSeconds} s\n{new ClientRun(command, -1, await stdout, await stderr)}");
        }
        return new ClientRun(command, process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Waits (bounded) for a long-running client <paramref name="process"/> to exit; false at the bound.</summary>
    public static async Task<bool> WaitForExitAsync(System.Diagnostics.Process process, TimeSpan bound)
    {
        using var cts = new CancellationTokenSource(bound);
        try
        {
            await process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public static Task<ClientRun> KcatAsync(params string[] args) => RunAsync(Kcat, args);

    public static Task<ClientRun> KcatAsync(byte[] stdin, params string[] args) => RunAsync(Kcat, args, stdin);

    /// <summary>
    /// Runs <paramref name="script"/> with Debian's python; the script gets the bootstrap address as
    /// <c>B</c> and reports by printing one JSON document as its last stdout line (helper <c>out(obj)</c>).
    /// Returns that document; a non-zero exit fails with the whole run.
    /// </summary>
    public static async Task<(JsonElement Result, ClientRun Run)> PythonAsync(FjordNode node, string script, TimeSpan? bound = null)
    {
        var path = Path.Combine(node.ScratchDir, $"script-{Guid.NewGuid():N}.py");
        File.WriteAllText(path, Prelude + script, new UTF8Encoding(false));
        var run = await RunAsync(Python, [path, node.Bootstrap], bound: bound);
        if (run.Code != 0 || run.Lines.Count == 0) throw new InvalidOperationException($"python failed\n{run}");
        return (JsonDocument.Parse(run.Lines[^1]).RootElement.Clone(), run);
    }

    private const string Prelude = """
        import sys, json, time, base64
        B = sys.argv[1]
        def out(obj):
            print(json.dumps(obj, separators=(",", ":")))
            sys.stdout.flush()
        def deadline(seconds):
            return time.monotonic() + seconds

        """;
}
