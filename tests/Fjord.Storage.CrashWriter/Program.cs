using Fjord.Common;
using Fjord.Storage;
using Fjord.Storage.CrashWriter;

// Usage: CrashWriter <log-dir> <seed> <segment-bytes>
// Appends deterministic batches (CrashBatches) as leader, flushing every few batches and printing
// "flushed <logEndOffset> <batches>" after each flush returns. It stops by itself after 60 s or
// 200,000 batches; the test kills it long before.
var directory = args[0];
int seed = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
int segmentBytes = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
var config = LogConfig.Default with { SegmentBytes = segmentBytes, FileDeleteDelayMs = 0 };
var log = PartitionLog.Open(directory, new TopicPartition("crash", 0), config, SystemClock.Instance, new LogOpenOptions());
var random = new Random(seed);
var stdout = Console.Out;
var deadline = Environment.TickCount64 + 60_000;
stdout.WriteLine("started");
stdout.Flush();
for (int sequence = 0; sequence < 200_000 && Environment.TickCount64 < deadline; sequence++)
{
    log.AppendAsLeader(CrashBatches.Build(sequence), leaderEpoch: 1);
    if (random.Next(4) == 0)
    {
        log.Flush();
        stdout.WriteLine($"flushed {log.LogEndOffset} {sequence + 1}");
        stdout.Flush();
    }
}
log.Close();
