using System.Runtime.InteropServices;
using Fjord.Capture;

// Fjord.Capture: a fake broker on 127.0.0.1 that records the request frames of real Kafka clients.
//   Fjord.Capture --port <n|0> --out <dir> [--label <label>] [--timeout <seconds>] [--topics a,b,...]
//   Fjord.Capture --dump <frame.bin>...   (decodes captured frames and prints them as JSON)
// Prints "LISTENING 127.0.0.1:<port>" once it accepts connections, one line per request, and a
// summary when it stops (after the timeout, on SIGTERM or on Ctrl-C). Exit code 0, or 3 when a
// frame could not be decoded or re-encoded byte for byte, 2 for bad arguments.

const string usage = "usage: Fjord.Capture --port <n|0> --out <dir> [--label <label>] [--timeout <seconds>] [--topics a,b,...]\n" +
                     "       Fjord.Capture --dump <frame.bin>...";

if (args.Length > 0 && args[0] == "--dump")
    return Dump.Frames(args[1..]);

int? port = null;
string? output = null;
string label = "capture";
double timeoutSeconds = 60;
string[] topics = ["golden"];
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    try
    {
        switch (args[i])
        {
            case "--port": port = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
            case "--out": output = Next(); break;
            case "--label": label = Next(); break;
            case "--timeout": timeoutSeconds = double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
            case "--topics": topics = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
            case "-h" or "--help": Console.WriteLine(usage); return 0;
            default: throw new ArgumentException($"unknown argument {args[i]}");
        }
    }
    catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
    {
        Console.Error.WriteLine(e.Message);
        Console.Error.WriteLine(usage);
        return 2;
    }
}
if (port is null or < 0 or > 65535 || output is null || timeoutSeconds <= 0 || label.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
{
    Console.Error.WriteLine(usage);
    return 2;
}

using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; stop.Cancel(); });

await using var server = CaptureServer.Start(new CaptureOptions
{
    Port = port.Value,
    OutputDirectory = output,
    Label = label,
    Topics = topics,
    Log = Console.Out,
});
Console.WriteLine($"LISTENING 127.0.0.1:{server.Port}");
Console.Out.Flush();

try { await Task.Delay(Timeout.Infinite, stop.Token); }
catch (OperationCanceledException) { }

var frames = server.Captured;
var problems = server.Problems;
await server.DisposeAsync();
Console.WriteLine($"STOPPED: {frames.Count} frames captured, {problems.Count} problems");
foreach (var problem in problems) Console.WriteLine("PROBLEM " + problem);
return problems.Count == 0 ? 0 : 3;
