using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Fjord.Tools.Tests;

/// <summary>
/// Python scripts with Debian's <c>/usr/bin/python3</c> (the interpreter that sees
/// <c>python3-confluent-kafka</c>), as <c>Fjord.Clients.Tests.ExternalClient</c> runs them: the script gets
/// the bootstrap address as <c>B</c> and its own arguments as <c>ARGS</c>, and reports with <c>out(obj)</c>
/// (one JSON line on stdout). <see cref="RunAsync"/> runs a script to its end; <see cref="Start"/> keeps one
/// running (live group members) until <see cref="StopAsync"/> writes a line on its stdin. Every run is
/// bounded; a script still running at its bound is killed by its own process object.
/// </summary>
public sealed class AdminPython : IAsyncDisposable
{
    public const string Python = "/usr/bin/python3";

    private const string Prelude = """
        import sys, json, time, threading
        B = sys.argv[1]
        ARGS = sys.argv[2:]
        def out(obj):
            print(json.dumps(obj, separators=(",", ":")))
            sys.stdout.flush()
        def deadline(seconds):
            return time.monotonic() + seconds

        """;

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Channel<string> _reports = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _err = new();
    private readonly Task _readOut;
    private readonly Task _readErr;

    private AdminPython(Process process)
    {
        _process = process;
        _readOut = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (_lines) _lines.Add(line);
                if (line.StartsWith('{')) _reports.Writer.TryWrite(line);
            }
            _reports.Writer.TryComplete();
        });
        _readErr = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync() is { } line)
                lock (_err) _err.AppendLine(line);
        });
    }

    /// <summary>Starts <paramref name="script"/> (after the prelude) with <paramref name="args"/>.</summary>
    public static AdminPython Start(AdminNode node, string script, params string[] args)
    {
        if (!File.Exists(Python)) throw new InvalidOperationException($"{Python} is not installed (see docs/TESTING.md: apt-get install -y python3-confluent-kafka)");
        var path = Path.Combine(node.ScratchDir, $"script-{Guid.NewGuid():N}.py");
        File.WriteAllText(path, Prelude + script, new UTF8Encoding(false));
        var info = new ProcessStartInfo(Python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(path);
        info.ArgumentList.Add(node.Bootstrap);
        foreach (var a in args) info.ArgumentList.Add(a);
        return new AdminPython(Process.Start(info) ?? throw new InvalidOperationException($"cannot start {Python}"));
    }

    /// <summary>Runs <paramref name="script"/> to its end (≤ <paramref name="bound"/>, default 25 s); its last JSON line.</summary>
    public static async Task<JsonElement> RunAsync(AdminNode node, string script, TimeSpan? bound, params string[] args)
    {
        await using var run = Start(node, script, args);
        run._process.StandardInput.Close();
        await run.WaitForExitAsync(bound ?? TimeSpan.FromSeconds(25));
        string? last;
        lock (run._lines) last = run._lines.LastOrDefault(l => l.StartsWith('{'));
        if (run._process.ExitCode != 0 || last is null) throw new InvalidOperationException($"python exited {run._process.ExitCode}\n{run.Transcript()}");
        return JsonDocument.Parse(last).RootElement.Clone();
    }

    /// <summary>The next JSON line the script prints, within <paramref name="bound"/>; fails with the transcript if the script ends first.</summary>
    public async Task<JsonElement> NextAsync(TimeSpan bound)
    {
        using var cts = new CancellationTokenSource(bound);
        try
        {
            return JsonDocument.Parse(await _reports.Reader.ReadAsync(cts.Token)).RootElement.Clone();
        }
        catch (ChannelClosedException)
        {
            await Task.WhenAny(_process.WaitForExitAsync(), Task.Delay(2000));
            throw new InvalidOperationException($"python ended before reporting (exit {(_process.HasExited ? _process.ExitCode : -1)})\n{Transcript()}");
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"python did not report within {bound.TotalSeconds} s\n{Transcript()}");
        }
    }

    /// <summary>Asks the script to finish (a line on its stdin), then waits (≤ <paramref name="bound"/>) for its last report.</summary>
    public async Task<JsonElement> StopAsync(TimeSpan bound)
    {
        try
        {
            await _process.StandardInput.WriteLineAsync("quit");
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // it exited already: its output says why
        }
        await WaitForExitAsync(bound);
        if (_process.ExitCode != 0) throw new InvalidOperationException($"python exited {_process.ExitCode}\n{Transcript()}");
        return await NextAsync(TimeSpan.FromSeconds(5));
    }

    private async Task WaitForExitAsync(TimeSpan bound)
    {
        using var cts = new CancellationTokenSource(bound);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            await Task.WhenAll(_readOut, _readErr);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"python did not finish within {bound.TotalSeconds} s\n{Transcript()}");
        }
    }

    public string Transcript()
    {
        string stdout;
        lock (_lines) stdout = string.Join('\n', _lines);
        lock (_err) return $"--- stdout ---\n{stdout}\n--- stderr ---\n{_err}";
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
