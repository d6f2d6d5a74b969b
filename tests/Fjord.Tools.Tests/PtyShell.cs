using System.Diagnostics;
using System.Text;
using Fjord.Cluster.Tests;

namespace Fjord.Tools.Tests;

/// <summary>
/// Runs <c>fjord metadata-shell --snapshot FILE</c> in a pseudo-terminal (Debian python3's pty module),
/// typing what a test's <c>steps</c> say: Python lines calling <c>send(keys, token)</c>, which writes
/// the keys and waits (bounded) until <c>token</c> appears in the output after them. After the steps
/// the driver types <c>exit</c>, reads what is left, and prints every byte the terminal received
/// followed by <c>EXIT code</c>.
/// </summary>
internal static class PtyShell
{
    private const string Prelude = """
        import os, pty, sys, time, select, fcntl, termios, struct
        dll, snap, cols = sys.argv[1], sys.argv[2], int(sys.argv[3])
        pid, fd = pty.fork()
        if pid == 0:
            if cols > 0:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 40, cols, 0, 0))
            os.environ['TERM'] = 'xterm'
            os.execvp('dotnet', ['dotnet', dll, 'metadata-shell', '--snapshot', snap])
        out = b''
        def wait_for(token, start, timeout=40):
            global out
            deadline = time.time() + timeout
            while out.find(token, start) < 0:
                left = deadline - time.time()
                if left <= 0:
                    sys.stdout.buffer.write(b'TIMEOUT waiting for ' + token + b'\n' + out)
                    sys.exit(3)
                r, _, _ = select.select([fd], [], [], left)
                if r:
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        data = b''
                    if not data:
                        sys.stdout.buffer.write(b'EOF waiting for ' + token + b'\n' + out)
                        sys.exit(4)
                    out += data
            return out.find(token, start) + len(token)
        def send(keys, token):
            start = len(out)
            os.write(fd, keys)
            return wait_for(token, start)
        wait_for(b'/ >> ', 0)

        """;

    private const string Epilogue = """

        os.write(fd, b'exit\r')
        deadline = time.time() + 30
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 1)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                out += data
        _, status = os.waitpid(pid, 0)
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.write(b'\nEXIT %d\n' % os.waitstatus_to_exitcode(status))
        """;

    /// <summary>Runs the shell on <paramref name="snapshot"/> through <paramref name="steps"/> (unindented Python);
    /// <paramref name="columns"/> sets the terminal's width (0: the pty's default). Bounded at 120 s.</summary>
    public static async Task<(int ExitCode, string Output, string Errors)> RunAsync(string scratchDir, string snapshot, string steps, int columns = 0)
    {
        var script = Path.Combine(scratchDir, $"pty-driver-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(script, Prelude + steps + Epilogue);
        var info = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, StandardOutputEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(FjordProcess.CliDll);
        info.ArgumentList.Add(snapshot);
        info.ArgumentList.Add(columns.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120)))
        {
            try
            {
                await process.WaitForExitAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail("the pty driver did not finish within 120 s");
            }
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
