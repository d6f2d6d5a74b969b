using System.Diagnostics;
using Fjord.Common;
using Fjord.Storage.CrashWriter;

namespace Fjord.Storage.Tests.Crash;

/// <summary>
/// A child process appends to a log and is killed with SIGKILL at a random moment. On reopen (no
/// clean shutdown) every batch it reported flushed must be present and intact, the log must end on
/// a batch boundary, and it must accept appends again.
/// </summary>
public sealed class CrashRecoveryTests
{
    public static TheoryData<int> Seeds() => [101, 202, 303, 404, 505, 606];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Flushed_batches_survive_a_SIGKILL(int seed)
    {
        using var dir = new TempDirectory("crash");
        var logDir = Path.Combine(dir.Path, "crash-0");
        var random = new Random(seed);
        int segmentBytes = random.Next(2) == 0 ? 64 * 1024 : 1024 * 1024;

        var (flushedOffset, flushedBatches, output) = RunAndKill(logDir, seed, segmentBytes, killAfterMs: random.Next(20, 400));

        var lines = new List<string>();
        using var log = new LogHandle(PartitionLog.Open(logDir, new TopicPartition("crash", 0), LogConfig.Default with { SegmentBytes = segmentBytes, FileDeleteDelayMs = 0 },
            SystemClock.Instance, new LogOpenOptions(RecoveryPoint: flushedOffset, HadCleanShutdown: false, Log: lines.Add)));
        int survived = LogContents.AssertCrashBatches(log.Log, atLeast: flushedBatches);
        Assert.True(log.Log.LogEndOffset >= flushedOffset, $"log end {log.Log.LogEndOffset} is below the flushed offset {flushedOffset}\n{output}");

        // The recovered log takes appends again, continuing the same sequence.
        log.Log.AppendAsLeader(CrashBatches.Build(survived), leaderEpoch: 2);
        Assert.Equal(survived + 1, LogContents.AssertCrashBatches(log.Log, atLeast: survived + 1));
    }

    private static (long FlushedOffset, int FlushedBatches, string Output) RunAndKill(string logDir, int seed, int segmentBytes, int killAfterMs)
    {
        var writerDll = Path.Combine(AppContext.BaseDirectory, "Fjord.Storage.CrashWriter.dll");
        var start = new ProcessStartInfo("dotnet", [writerDll, logDir, seed.ToString(System.Globalization.CultureInfo.InvariantCulture), segmentBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var lines = new List<string>();
        var firstFlush = new TaskCompletionSource();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (lines) lines.Add(e.Data);
            if (e.Data.StartsWith("flushed ", StringComparison.Ordinal)) firstFlush.TrySetResult();
        };
        var errors = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (errors) errors.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            Assert.True(firstFlush.Task.Wait(TimeSpan.FromSeconds(60)), $"the writer never flushed; stderr: {errors}");
            Thread.Sleep(killAfterMs);
            Assert.False(process.HasExited, $"the writer exited by itself; stderr: {errors}");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true); // SIGKILL
            process.WaitForExit(30_000);
        }
        process.WaitForExit(); // drains the output handlers
        string[] snapshot;
        lock (lines) snapshot = lines.ToArray();
        var last = snapshot.Last(l => l.StartsWith("flushed ", StringComparison.Ordinal)).Split(' ');
        return (long.Parse(last[1], System.Globalization.CultureInfo.InvariantCulture), int.Parse(last[2], System.Globalization.CultureInfo.InvariantCulture), string.Join('\n', snapshot.TakeLast(5)));
    }

    private sealed class LogHandle(PartitionLog log) : IDisposable
    {
        public PartitionLog Log { get; } = log;
        public void Dispose() => Log.Close();
    }
}
