using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Fjord.Cluster.Tests;

/// <summary>
/// One real <c>fjord</c> process: <c>dotnet fjord.dll …</c> from this test project's output (the CLI
/// is a project reference, so it is the build under test, and no concurrent <c>./fjord</c> rebuild
/// of <c>.build/cli</c> can change it under a running test). Every output line is kept with its time;
/// <see cref="Dispose"/> kills the process if it still runs.
/// </summary>
internal sealed partial class FjordProcess : IDisposable
{
    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly ConcurrentQueue<(long Ms, string Stream, string Text)> _lines = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _errorClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private FjordProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    /// <summary>Path of the CLI under test.</summary>
    public static string CliDll
    {
        get
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "fjord.dll");
            if (!File.Exists(dll) || !File.Exists(Path.Combine(AppContext.BaseDirectory, "fjord.runtimeconfig.json")))
                throw new InvalidOperationException($"the fjord CLI is not in {AppContext.BaseDirectory} (it comes with the Fjord.Cli project reference)");
            return dll;
        }
    }

    public static FjordProcess Start(string name, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(CliDll);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        var process = new Process { StartInfo = info };
        var result = new FjordProcess(name, process);
        process.OutputDataReceived += (_, e) => result.OnLine("out", e.Data, result._outputClosed);
        process.ErrorDataReceived += (_, e) => result.OnLine("err", e.Data, result._errorClosed);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    /// <summary>Runs a short command to its end (bounded) and returns its exit code and output.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(TimeSpan bound, params string[] args)
    {
        using var process = Start(string.Join(' ', args.Take(2)), args);
        int code = await process.WaitForExitAsync(bound);
        return (code, process.Text("out"), process.Text("err"));
    }

    private void OnLine(string stream, string? line, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
            return;
        }
        _lines.Enqueue((_clock.ElapsedMilliseconds, stream, line));
    }

    /// <summary>The lines of one stream (<c>out</c> or <c>err</c>), without the time and stream columns.</summary>
    public string Text(string stream) => string.Join('\n', Lines(stream));

    public IReadOnlyList<string> Lines(string stream) => [.. _lines.Where(l => l.Stream == stream).Select(l => l.Text)];

    /// <summary>Everything printed so far, with milliseconds since the start and the stream.</summary>
    public string Transcript(int maxLines = 400)
    {
        var all = _lines.Select(l => $"{l.Ms,6} {l.Stream} {l.Text}").ToArray();
        var shown = all.Length <= maxLines ? all : [.. all.Take(maxLines / 4), $"... {all.Length - maxLines} lines ...", .. all.TakeLast(maxLines * 3 / 4)];
        return $"--- {Name} (pid {Pid}{(HasExited ? $", exit {_process.ExitCode}" : "")}) ---\n{string.Join('\n', shown)}";
    }

    /// <summary>Waits (bounded) until a stdout line satisfies <paramref name="match"/>; returns it.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan bound, string what)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var line = Lines("out").FirstOrDefault(match);
            if (line is not null) return line;
            if (HasExited && _outputClosed.Task.IsCompleted)
                throw new InvalidOperationException($"{Name} exited before printing {what}\n{Transcript()}");
            if (sw.Elapsed > bound) throw new TimeoutException($"{Name} did not print {what} within {bound.TotalSeconds} s\n{Transcript()}");
            await Task.Delay(20);
        }
    }

    /// <summary>Waits (bounded) for the process to exit and its output to be read; returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan bound)
    {
        using var cts = new CancellationTokenSource(bound);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            await Task.WhenAll(_outputClosed.Task, _errorClosed.Task).WaitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name} did not exit within {bound.TotalSeconds} s\n{Transcript()}");
        }
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no chance to flush, resign or close anything.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    /// <summary>SIGTERM: the graceful stop.</summary>
    public void Terminate()
    {
        if (kill(_process.Id, SigTerm) != 0 && !HasExited)
            throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    public void Dispose() => ChildProcess.KillAndDispose(_process);
}

/// <summary>Ending a test's child process, whatever state it is in.</summary>
public static class ChildProcess
{
    /// <summary>Kills the process and its children if it still runs, waits (bounded) for it to go, and
    /// disposes it. A process that never started is only disposed.</summary>
    public static void KillAndDispose(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // never started or already gone
        }
        process.Dispose();
    }
}
