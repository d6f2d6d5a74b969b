using System.Collections.Concurrent;
using System.Diagnostics;

namespace Fjord.Cluster.Tests.Brokers;

/// <summary>
/// A client script run by Debian's <c>/usr/bin/python3</c> (the interpreter that sees
/// python3-confluent-kafka; the <c>python3</c> first on PATH does not). Output lines are kept;
/// <see cref="Dispose"/> kills the process if it still runs.
/// </summary>
internal sealed class ScriptProcess : IDisposable
{
    public const string Python = "/usr/bin/python3";

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _out = new();
    private readonly ConcurrentQueue<string> _err = new();

    private ScriptProcess(Process process) => _process = process;

    public static ScriptProcess Start(string script, params string[] args)
    {
        var info = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(script);
        foreach (var a in args) info.ArgumentList.Add(a);
        var process = new Process { StartInfo = info };
        var result = new ScriptProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) result._out.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) result._err.Enqueue(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    public bool HasExited => _process.HasExited;
    public IReadOnlyList<string> Lines => [.. _out];
    public string Transcript => $"stdout (last lines):\n{string.Join('\n', _out.TakeLast(20))}\nstderr:\n{string.Join('\n', _err.TakeLast(150))}";

    /// <summary>The last stdout line starting with <paramref name="prefix"/>, or null.</summary>
    public string? Last(string prefix) => _out.LastOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>Parses <c>key=value</c> words of a line.</summary>
    public static Dictionary<string, string> Fields(string line) =>
        line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => w.Contains('=', StringComparison.Ordinal))
            .Select(w => w.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);

    public async Task WaitForExitAsync(TimeSpan bound)
    {
        using var cts = new CancellationTokenSource(bound);
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { throw new TimeoutException($"python script did not finish within {bound.TotalSeconds} s\n{Transcript}"); }
    }

    public int ExitCode => _process.ExitCode;

    public void Dispose() => ChildProcess.KillAndDispose(_process);
}
